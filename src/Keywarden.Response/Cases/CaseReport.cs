using System.Globalization;
using System.Net;
using System.Text;
using Keywarden.Detection.Writers;
using Keywarden.Storage;

namespace Keywarden.Response.Cases;

/// <summary>
/// The post-incident report AWS's playbooks ask for: the timeline, what was exposed where, what was
/// done and when, the checklist with its evidence, and fields for root cause and lessons learned.
/// Markdown or one self-contained HTML file. Holds key IDs and hashes, never a secret.
/// </summary>
public static class CaseReport
{
    private sealed record Section(string Title, List<string[]> Rows, string[] Header);

    public static string Markdown(CaseRecord record, ContainmentRecord? containment)
    {
        ArgumentNullException.ThrowIfNull(record);
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"# Post-incident report: {CaseReference.Of(record.Id)}, {Md(record.Subject)}");
        text.AppendLine();
        foreach (var (name, value) in Facts(record))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"- **{name}:** {Md(value)}");
        }

        foreach (var section in Sections(record, containment))
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"## {section.Title}");
            text.AppendLine();
            if (section.Rows.Count == 0)
            {
                text.AppendLine("None.");
                continue;
            }

            text.AppendLine("| " + string.Join(" | ", section.Header) + " |");
            text.AppendLine("|" + string.Concat(Enumerable.Repeat(" --- |", section.Header.Length)));
            foreach (var row in section.Rows)
            {
                text.AppendLine("| " + string.Join(" | ", row.Select(Md)) + " |");
            }
        }

        text.AppendLine();
        text.AppendLine("## Root cause");
        text.AppendLine();
        text.AppendLine(record.RootCause is null ? "_To be written: how the key came to be exposed._" : Md(record.RootCause));
        text.AppendLine();
        text.AppendLine("## Lessons learned");
        text.AppendLine();
        text.AppendLine(record.LessonsLearned is null ? "_To be written: what changes so it does not happen again (e.g. no long-term keys, pre-commit scanning)._" : Md(record.LessonsLearned));
        return text.ToString();
    }

    public static string Html(CaseRecord record, ContainmentRecord? containment)
    {
        ArgumentNullException.ThrowIfNull(record);
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>")
            .Append(H($"{CaseReference.Of(record.Id)}: {record.Subject}"))
            .Append("</title><style>body{font:14px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}")
            .Append("table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}")
            .Append("th{background:#f3f3f3}.critical{color:#b00020;font-weight:bold}.todo{color:#777;font-style:italic}</style></head><body>");
        html.Append("<h1>Post-incident report: ").Append(H(CaseReference.Of(record.Id))).Append("</h1><p>").Append(H(record.Subject)).Append("</p><ul>");
        foreach (var (name, value) in Facts(record))
        {
            html.Append("<li><b>").Append(H(name)).Append(":</b> ")
                .Append(name == "Severity" && value == "critical" ? "<span class=\"critical\">critical</span>" : H(value)).Append("</li>");
        }

        html.Append("</ul>");
        foreach (var section in Sections(record, containment))
        {
            html.Append("<h2>").Append(H(section.Title)).Append("</h2>");
            if (section.Rows.Count == 0)
            {
                html.Append("<p>None.</p>");
                continue;
            }

            html.Append("<table><tr>").Append(string.Concat(section.Header.Select(h => $"<th>{H(h)}</th>"))).Append("</tr>");
            foreach (var row in section.Rows)
            {
                html.Append("<tr>").Append(string.Concat(row.Select(c => $"<td>{H(c)}</td>"))).Append("</tr>");
            }

            html.Append("</table>");
        }

        html.Append("<h2>Root cause</h2>").Append(record.RootCause is null ? "<p class=\"todo\">To be written: how the key came to be exposed.</p>" : $"<p>{H(record.RootCause)}</p>");
        html.Append("<h2>Lessons learned</h2>").Append(record.LessonsLearned is null ? "<p class=\"todo\">To be written: what changes so it does not happen again.</p>" : $"<p>{H(record.LessonsLearned)}</p>");
        html.Append("</body></html>\n");
        return html.ToString();
    }

    private static IEnumerable<(string, string)> Facts(CaseRecord record)
    {
        yield return ("Case", CaseReference.Of(record.Id));
        yield return ("State", record.State);
        yield return ("Severity", record.Severity);
        yield return ("Access key", record.KeyId);
        if (record.SecretSha256 is not null)
        {
            yield return ("Secret (SHA-256)", record.SecretSha256);
        }

        yield return ("Account", record.AccountId ?? "unknown");
        yield return ("Owner", record.OwnerName is null ? "unknown" : $"{record.OwnerType} {record.OwnerName}{(record.OwnerArn is null ? "" : $" ({record.OwnerArn})")}");
        yield return ("Verification", record.Verification ?? "not yet");
        yield return ("Opened", Time(record.CreatedAt));
        yield return ("Closed", record.ClosedAt is { } closed ? Time(closed) : "open");
        if (record.ResolutionNote is not null)
        {
            yield return ("Resolution", record.ResolutionNote);
        }
    }

    private static IEnumerable<Section> Sections(CaseRecord record, ContainmentRecord? containment)
    {
        yield return new Section("Where it was exposed", [.. record.Occurrences.OrderBy(o => o.DetectedAt).Select(o => new[] { Time(o.DetectedAt), o.Source, o.Url ?? "", o.Reporter ?? "" })], ["detected", "source", "where", "reported by"]);
        yield return new Section("What was done", [.. (containment?.Actions ?? []).OrderBy(a => a.Sequence).Select(a => new[]
        {
            a.CompletedAt is { } at ? Time(at) : Time(a.StartedAt), a.Kind, $"{a.TargetType} {a.Target}", a.Parameter ?? "", $"{a.Before} → {a.After ?? "?"}", a.Status + (a.Error is null ? "" : $": {a.Error}"),
        })], ["when", "action", "on", "what", "before → after", "result"]);
        yield return new Section("Notifications", [.. record.Notifications.OrderBy(n => n.CreatedAt).Select(n => new[] { n.SentAt is { } at ? Time(at) : "", n.Purpose, n.Channel, Notifier.Display(n.Channel, n.Recipient), n.State + (n.LastError is null ? "" : $": {n.LastError}") })], ["sent", "purpose", "channel", "to", "result"]);
        yield return new Section("Remediation checklist", [.. record.Checklist.OrderBy(i => i.Order).Select(i => new[] { i.Title, i.Verification, i.Status, i.Evidence ?? "", i.ConfirmedBy ?? "", i.CheckedAt is { } at ? Time(at) : "" })], ["step", "verified by", "status", "evidence or note", "confirmed by", "checked"]);
        yield return new Section("Timeline", [.. record.Events.OrderBy(e => e.At).ThenBy(e => e.Id).Select(e => new[] { Time(e.At), e.Kind, e.Summary })], ["when (UTC)", "kind", "what"]);
    }

    private static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + "Z";

    /// <summary>HTML-encoded, with any URL's user-info, query values and fragment masked (an exposure's URL may carry a token).</summary>
    private static string H(string text) => WebUtility.HtmlEncode(UrlRedaction.RedactText(text));

    /// <summary>
    /// One Markdown cell or line: pipes escaped, a newline as a space, URLs redacted and every other
    /// control character shown as an escape (a reporter, an AWS error or a note can hold any of them).
    /// </summary>
    private static string Md(string text) =>
        TerminalText.Escape(UrlRedaction.RedactText(text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal)));
}
