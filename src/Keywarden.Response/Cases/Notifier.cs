using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using Keywarden.Detection.Writers;
using Keywarden.Response.Configuration;
using Keywarden.Storage;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Keywarden.Response.Cases;

/// <summary>A notification could not be delivered (this attempt); the message never holds a secret.</summary>
public sealed class NotificationException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// What the owner is told, by email (MailKit over SMTP) or webhook (a JSON POST): the case, the key,
/// the account and owner, where it was exposed, what was done and what to do next. Never the secret.
/// </summary>
public sealed class Notifier(EmailSettings? email, WebhookSettings? webhook)
{
    public static string Subject(CaseRecord record, string purpose)
    {
        ArgumentNullException.ThrowIfNull(record);
        var prefix = purpose.StartsWith("follow-up", StringComparison.Ordinal) ? $"Reminder {purpose["follow-up-".Length..]}: " : "";
        var owner = record.OwnerName is null ? "" : $" of {record.OwnerType} {record.OwnerName}";
        var account = record.AccountId is null ? "" : $" in account {record.AccountId}";
        return T($"[Keywarden {CaseReference.Of(record.Id)}] {prefix}{record.Severity}: exposed AWS access key {record.KeyId}{owner}{account} ({record.State})");
    }

    public static string Body(CaseRecord record, ContainmentRecord? containment)
    {
        ArgumentNullException.ThrowIfNull(record);
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Case {CaseReference.Of(record.Id)}: {T(record.Subject)}");
        text.AppendLine(CultureInfo.InvariantCulture, $"Severity: {record.Severity}. State: {record.State}.");
        text.AppendLine(CultureInfo.InvariantCulture, $"Access key: {record.KeyId}{(record.AccountId is null ? "" : $" (account {record.AccountId})")}");
        if (record.OwnerName is not null)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"Owner: {T(record.OwnerType)} {T(record.OwnerName)}{(record.OwnerArn is null ? "" : $" ({T(record.OwnerArn)})")}");
        }

        text.AppendLine();
        text.AppendLine("Where it was exposed:");
        foreach (var occurrence in record.Occurrences.OrderBy(o => o.DetectedAt))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  - {occurrence.DetectedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z, {T(occurrence.Source)}{(occurrence.Url is null ? "" : $": {T(occurrence.Url)}")}");
        }

        text.AppendLine();
        text.AppendLine("What Keywarden did:");
        foreach (var action in containment?.Actions.OrderBy(a => a.Sequence).ToList() ?? [])
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  - {action.CompletedAt?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "(not completed)"}Z {T(action.Kind)} {T(action.Target)}{(action.Parameter is null ? "" : $" {T(action.Parameter)}")}: {T(action.Status)}");
        }

        if (containment is null || containment.Actions.Count == 0)
        {
            text.AppendLine("  - nothing yet: see the case for why.");
        }

        var manual = record.Events.Where(e => e.Summary.StartsWith("to do by hand: ", StringComparison.Ordinal)).OrderBy(e => e.Id).ToList();
        if (manual.Count > 0 || record.State == CaseStates.ContainmentFailed)
        {
            text.AppendLine();
            text.AppendLine("Keywarden could NOT contain this key. Do this by hand, now:");
            foreach (var step in manual)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  - {T(step.Summary["to do by hand: ".Length..])}");
            }

            if (record.Events.LastOrDefault(e => e.Summary.StartsWith(CaseStates.ContainmentFailed + ":", StringComparison.Ordinal)) is { } why)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  Why: {T(why.Summary[(CaseStates.ContainmentFailed.Length + 2)..])}");
            }
        }

        text.AppendLine();
        text.AppendLine("What you need to do now:");
        foreach (var item in record.Checklist.OrderBy(i => i.Order).Where(i => !ChecklistStatuses.IsDone(i.Status)))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  [ ] {T(item.Title)}{(item.Evidence is null ? "" : $" — {T(item.Evidence)}")}");
        }

        if (record.Checklist.Count == 0)
        {
            text.AppendLine("  Rotate the key: create a new key, deploy it, then delete the exposed one. Review what the key did (keywarden investigate).");
        }

        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Rewriting history does not un-leak a key: rotate it. Track this case with: keywarden cases show {CaseReference.Of(record.Id)}");
        return text.ToString();
    }

    /// <summary>A field of the email's text: an owner's name, a URL, AWS's error text may hold a control character or a URL's token.</summary>
    private static string T(string? text) => TerminalText.Escape(UrlRedaction.RedactText(text));

    public async Task SendEmailAsync(NotificationRecord notification, string body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notification);
        var settings = email ?? throw new NotificationException("email is not configured ([notify.email])");
        if (!MailboxAddress.TryParse(settings.From, out var from) || !MailboxAddress.TryParse(notification.Recipient, out var to))
        {
            throw new NotificationException($"not an email address: {(MailboxAddress.TryParse(settings.From, out _) ? notification.Recipient : settings.From)}");
        }

        var message = new MimeMessage();
        message.From.Add(from);
        message.To.Add(to);
        message.Subject = notification.Subject;
        message.MessageId = notification.MessageId.Trim('<', '>');
        message.Body = new TextPart("plain") { Text = body };
        using var smtp = new SmtpClient { Timeout = 15000 };
        try
        {
            var security = settings.Security switch
            {
                "none" => SecureSocketOptions.None,
                "ssl" => SecureSocketOptions.SslOnConnect,
                _ => SecureSocketOptions.StartTls,
            };
            await smtp.ConnectAsync(settings.Host, settings.Port, security, cancellationToken);
            if (settings.Username is not null)
            {
                var password = settings.PasswordEnvironmentVariable is { } variable ? Environment.GetEnvironmentVariable(variable) ?? "" : "";
                await smtp.AuthenticateAsync(settings.Username, password, cancellationToken);
            }

            await smtp.SendAsync(message, cancellationToken);
            await smtp.DisconnectAsync(quit: true, cancellationToken);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or MailKit.ProtocolException or MailKit.CommandException or TimeoutException or AuthenticationException or SslHandshakeException
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new NotificationException($"SMTP {settings.Host}:{settings.Port}: {e.Message.Split('\n')[0].TrimEnd('.')}", e);
        }
    }

    public async Task SendWebhookAsync(NotificationRecord notification, CaseRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notification);
        ArgumentNullException.ThrowIfNull(record);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        var payload = new Dictionary<string, object?>
        {
            ["messageId"] = notification.MessageId,
            ["purpose"] = notification.Purpose,
            ["case"] = CaseReference.Of(record.Id),
            ["subject"] = notification.Subject,
            ["keyId"] = record.KeyId,
            ["accountId"] = record.AccountId,
            ["state"] = record.State,
            ["severity"] = record.Severity,
            ["owner"] = record.OwnerName is null ? null : new Dictionary<string, string?> { ["type"] = record.OwnerType, ["name"] = record.OwnerName, ["arn"] = record.OwnerArn },
            ["occurrences"] = record.Occurrences.Select(o => new Dictionary<string, object?> { ["source"] = o.Source, ["url"] = o.Url, ["detectedAt"] = o.DetectedAt }).ToList(),
        };
        try
        {
            using var response = await http.PostAsJsonAsync(notification.Recipient, payload, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw new NotificationException($"webhook answered HTTP {(int)response.StatusCode}");
            }
        }
        catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new NotificationException($"webhook: {e.Message.Split('\n')[0].TrimEnd('.')}", e);
        }
    }

    /// <summary>
    /// How a recipient is shown in events, reports and output: an email address as it is, a webhook URL
    /// as its scheme and host only (webhook URLs often carry a bearer token in their path).
    /// </summary>
    public static string Display(string channel, string recipient) =>
        channel == "webhook" && Uri.TryCreate(recipient, UriKind.Absolute, out var uri) ? $"{uri.Scheme}://{uri.Authority}/…" : recipient;

    /// <summary>The recipients a case notifies: (channel, recipient) for every configured channel the policy allows.</summary>
    public IReadOnlyList<(string Channel, string Recipient)> Recipients(PlaybookPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var list = new List<(string, string)>();
        var channels = policy.Notify ?? ["email", "webhook"];
        if (email is not null && channels.Contains("email"))
        {
            list.AddRange(email.To.Concat(policy.Recipients).Distinct(StringComparer.OrdinalIgnoreCase).Select(r => ("email", r)));
        }

        if (webhook is not null && channels.Contains("webhook"))
        {
            list.AddRange(webhook.Urls.Select(u => ("webhook", u)));
        }

        return list;
    }
}
