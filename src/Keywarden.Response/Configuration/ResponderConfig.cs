using Keywarden.Aws.Accounts;
using Keywarden.Aws.Containment;
using Keywarden.Detection.Sources;
using Keywarden.Detection.Suppression;
using Tomlyn;
using Tomlyn.Model;

namespace Keywarden.Response.Configuration;

/// <summary>The responder configuration is missing, malformed or contradictory; the message names the file and key.</summary>
public sealed class ResponderConfigException : Exception
{
    public ResponderConfigException() { }
    public ResponderConfigException(string message) : base(message) { }
    public ResponderConfigException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// How Keywarden responds for an organization: its own AWS access, the quarantine policy, the database,
/// and the account directory. Read from <c>--config FILE</c>, <c>KEYWARDEN_CONFIG</c>, or
/// <c>~/.config/keywarden/config.toml</c> when it exists; every key is documented in docs/configuration.md.
/// An unknown key is an error, so a typo never silently changes how a leak is handled.
/// </summary>
public sealed record ResponderConfig
{
    public string? Profile { get; init; }
    public string? Region { get; init; }
    public string? EndpointUrl { get; init; }
    public TimeSpan? Timeout { get; init; }
    public int? MaxRetries { get; init; }
    public string QuarantinePolicy { get; init; } = QuarantinePolicies.V3;
    public bool UseManagedPolicy { get; init; } = true;
    public string? Database { get; init; }
    public AccountDirectory Accounts { get; init; } = AccountDirectory.Empty;
    public PlaybookPolicy Policy { get; init; } = new();
    public IReadOnlyDictionary<string, PlaybookPolicy> AccountPolicies { get; init; } = new Dictionary<string, PlaybookPolicy>();
    public EmailSettings? Email { get; init; }

    /// <summary>Where the playbook reads CloudTrail for a case ([investigate] trail): a path, s3://bucket/prefix, or lookup. Null: not investigated.</summary>
    public string? InvestigateTrail { get; init; }

    /// <summary>How far back before the exposure the investigation looks ([investigate] days).</summary>
    public int InvestigateDays { get; init; } = 90;
    public WebhookSettings? Webhook { get; init; }

    /// <summary>Keywarden's AWS settings: what options and AWS_* variables gave, and this file's [aws] for the rest.</summary>
    public Keywarden.Aws.Connection.AwsSettings Apply(Keywarden.Aws.Connection.AwsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings with
        {
            Profile = settings.Profile ?? Profile,
            Region = settings.Region ?? Region,
            EndpointUrl = settings.EndpointUrl ?? EndpointUrl,
            Timeout = Timeout ?? settings.Timeout,
            MaxRetries = MaxRetries ?? settings.MaxRetries,
        };
    }

    /// <summary>The policy for a case in <paramref name="accountId"/>: the account's own, else the default.</summary>
    public PlaybookPolicy PolicyFor(string? accountId) =>
        accountId is not null && AccountPolicies.TryGetValue(accountId, out var policy) ? policy : Policy;

    /// <summary>Where the configuration was read from, or null for the built-in defaults.</summary>
    public string? Source { get; init; }

    public static ResponderConfig Default { get; } = new();

    /// <summary>~/.config/keywarden/config.toml (XDG_CONFIG_HOME honoured).</summary>
    public static string DefaultPath => Path.Combine(
        Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData, Environment.SpecialFolderOption.DoNotVerify), "keywarden", "config.toml");

    /// <summary>The explicit file (which must exist), else KEYWARDEN_CONFIG (must exist), else the default path if present, else defaults.</summary>
    public static ResponderConfig Load(string? explicitPath)
    {
        var path = explicitPath ?? Environment.GetEnvironmentVariable("KEYWARDEN_CONFIG");
        if (string.IsNullOrWhiteSpace(path))
        {
            return File.Exists(DefaultPath) ? LoadFile(DefaultPath) : Default;
        }

        return LoadFile(path);
    }

    private static ResponderConfig LoadFile(string path)
    {
        string text;
        try
        {
            text = BoundedInput.ReadAllText(path, InputLimits.ConfigBytes, $"config {path}");
        }
        catch (InputException e)
        {
            throw new ResponderConfigException(e.TooLarge ? e.Message : $"config {path}: cannot read ({e.Reason})", e);
        }

        return Parse(text, path);
    }

    public static ResponderConfig Parse(string text, string path)
    {
        TomlTable table;
        try
        {
            table = TomlSerializer.Deserialize<TomlTable>(text) ?? new TomlTable();
        }
        catch (TomlException e)
        {
            throw new ResponderConfigException($"config {path}: {ParseErrors.Toml(e)}", e);
        }

        var config = new ResponderConfig { Source = path };
        foreach (var (section, value) in table)
        {
            var settings = value as TomlTable ?? throw new ResponderConfigException($"config {path}: '{section}' must be a table");
            config = section switch
            {
                "aws" => ReadAws(config, settings, path),
                "quarantine" => ReadQuarantine(config, settings, path),
                "storage" => ReadStorage(config, settings, path),
                "accounts" => config with { Accounts = ReadAccounts(settings, path) },
                "policy" => ReadPolicies(config, settings, path),
                "notify" => ReadNotify(config, settings, path),
                "investigate" => ReadInvestigate(config, settings, path),
                _ => throw new ResponderConfigException($"config {path}: unknown table '{section}' (expected aws, quarantine, storage, accounts, policy, notify, investigate)"),
            };
        }

        return config;
    }

    private static ResponderConfig ReadAws(ResponderConfig config, TomlTable table, string path)
    {
        foreach (var (key, value) in table)
        {
            config = key switch
            {
                "profile" => config with { Profile = Text(path, "aws.profile", value) },
                "region" => config with { Region = Text(path, "aws.region", value) },
                "endpoint_url" => config with { EndpointUrl = Text(path, "aws.endpoint_url", value) },
                "timeout_seconds" => config with { Timeout = TimeSpan.FromSeconds(Number(path, "aws.timeout_seconds", value, 1, 300)) },
                "max_retries" => config with { MaxRetries = (int)Number(path, "aws.max_retries", value, 0, 10) },
                _ => throw new ResponderConfigException($"config {path}: unknown key 'aws.{key}' (expected profile, region, endpoint_url, timeout_seconds, max_retries)"),
            };
        }

        return config;
    }

    private static ResponderConfig ReadQuarantine(ResponderConfig config, TomlTable table, string path)
    {
        foreach (var (key, value) in table)
        {
            config = key switch
            {
                "policy" => config with { QuarantinePolicy = PolicyName(path, Text(path, "quarantine.policy", value)) },
                "managed_policy" => config with { UseManagedPolicy = value as bool? ?? throw new ResponderConfigException($"config {path}: quarantine.managed_policy must be true or false") },
                _ => throw new ResponderConfigException($"config {path}: unknown key 'quarantine.{key}' (expected policy, managed_policy)"),
            };
        }

        return config;
    }

    private static ResponderConfig ReadStorage(ResponderConfig config, TomlTable table, string path)
    {
        foreach (var (key, value) in table)
        {
            config = key switch
            {
                "db" => config with { Database = Text(path, "storage.db", value) },
                _ => throw new ResponderConfigException($"config {path}: unknown key 'storage.{key}' (expected db)"),
            };
        }

        return config;
    }

    private static ResponderConfig ReadPolicies(ResponderConfig config, TomlTable table, string path)
    {
        var defaults = ReadPolicy(new PlaybookPolicy(), table, path, "policy", allowAccounts: true);
        var perAccount = new Dictionary<string, PlaybookPolicy>(StringComparer.Ordinal);
        if (table.TryGetValue("accounts", out var accounts))
        {
            foreach (var (id, value) in accounts as TomlTable ?? throw new ResponderConfigException($"config {path}: policy.accounts must be a table"))
            {
                if (id.Length != 12 || !id.All(char.IsAsciiDigit))
                {
                    throw new ResponderConfigException($"config {path}: policy.accounts.\"{id}\": an account ID is 12 digits");
                }

                perAccount[id] = ReadPolicy(defaults, value as TomlTable ?? throw new ResponderConfigException($"config {path}: policy.accounts.\"{id}\" must be a table"), path, $"policy.accounts.\"{id}\"", allowAccounts: false);
            }
        }

        return config with { Policy = defaults, AccountPolicies = perAccount };
    }

    private static PlaybookPolicy ReadPolicy(PlaybookPolicy policy, TomlTable table, string path, string prefix, bool allowAccounts)
    {
        foreach (var (key, value) in table)
        {
            var name = $"{prefix}.{key}";
            policy = key switch
            {
                "accounts" when allowAccounts => policy,
                "verify" => policy with { Verify = Bool(path, name, value) },
                "quarantine_policy" => policy with { QuarantinePolicy = PolicyName(path, Text(path, name, value)) },
                "deactivate" => policy with
                {
                    Deactivate = Text(path, name, value) switch
                    {
                        "never" => DeactivateWhen.Never,
                        "immediately" => DeactivateWhen.Immediately,
                        "after-approval" => DeactivateWhen.AfterApproval,
                        _ => throw new ResponderConfigException($"config {path}: {name} must be never, immediately or after-approval"),
                    },
                },
                "revoke_sessions" => policy with { RevokeSessions = Bool(path, name, value) },
                "notify" => policy with { Notify = Strings(path, name, value, ["email", "webhook"]) },
                "recipients" => policy with { Recipients = Addresses(path, name, Strings(path, name, value, null)) },
                "follow_up_hours" => policy with { FollowUpInterval = TimeSpan.FromHours(Number(path, name, value, 1, 24 * 30)) },
                "follow_up_seconds" => policy with { FollowUpInterval = TimeSpan.FromSeconds(Number(path, name, value, 1, 3600 * 24 * 30)) },
                "escalate_after" => policy with { EscalateAfter = (int)Number(path, name, value, 1, 100) },
                "critical_when" => policy with { CriticalWhen = Strings(path, name, value, ["root", "admin"]) },
                _ => throw new ResponderConfigException($"config {path}: unknown key '{name}' (expected verify, quarantine_policy, deactivate, revoke_sessions, notify, recipients, follow_up_hours, escalate_after, critical_when{(allowAccounts ? ", accounts" : "")})"),
            };
        }

        return policy;
    }

    private static ResponderConfig ReadInvestigate(ResponderConfig config, TomlTable table, string path)
    {
        foreach (var (key, value) in table)
        {
            config = key switch
            {
                "trail" => config with { InvestigateTrail = Text(path, "investigate.trail", value) },
                "days" => config with { InvestigateDays = (int)Number(path, "investigate.days", value, 1, 3660) },
                _ => throw new ResponderConfigException($"config {path}: unknown key 'investigate.{key}' (expected trail, days)"),
            };
        }

        return config;
    }

    private static ResponderConfig ReadNotify(ResponderConfig config, TomlTable table, string path)
    {
        foreach (var (channel, value) in table)
        {
            var settings = value as TomlTable ?? throw new ResponderConfigException($"config {path}: notify.{channel} must be a table");
            config = channel switch
            {
                "email" => config with { Email = ReadEmail(settings, path) },
                "webhook" => config with { Webhook = ReadWebhook(settings, path) },
                _ => throw new ResponderConfigException($"config {path}: unknown table 'notify.{channel}' (expected email, webhook)"),
            };
        }

        return config;
    }

    private static EmailSettings ReadEmail(TomlTable table, string path)
    {
        string? host = null, from = null, security = null, username = null, passwordEnv = null;
        IReadOnlyList<string> to = [];
        long port = 0, attempts = 5, retrySeconds = 30;
        foreach (var (key, value) in table)
        {
            var name = $"notify.email.{key}";
            switch (key)
            {
                case "smtp_host": host = Text(path, name, value); break;
                case "smtp_port": port = Number(path, name, value, 1, 65535); break;
                case "security":
                    security = Text(path, name, value);
                    if (security is not ("none" or "starttls" or "ssl"))
                    {
                        throw new ResponderConfigException($"config {path}: {name} must be none, starttls or ssl");
                    }

                    break;
                case "from": from = Text(path, name, value); break;
                case "to": to = Strings(path, name, value, null); break;
                case "username": username = Text(path, name, value); break;
                case "password_env": passwordEnv = Text(path, name, value); break;
                case "attempts": attempts = Number(path, name, value, 1, 100); break;
                case "retry_seconds": retrySeconds = Number(path, name, value, 0, 86400); break;
                default: throw new ResponderConfigException($"config {path}: unknown key '{name}' (expected smtp_host, smtp_port, security, from, to, username, password_env, attempts, retry_seconds)");
            }
        }

        if (host is null || from is null)
        {
            throw new ResponderConfigException($"config {path}: notify.email needs smtp_host and from");
        }

        foreach (var address in to.Prepend(from))
        {
            if (!MimeKit.MailboxAddress.TryParse(address, out _))
            {
                throw new ResponderConfigException($"config {path}: notify.email: not an email address: {address}");
            }
        }

        security ??= "starttls";
        return new EmailSettings
        {
            Host = host,
            Port = port > 0 ? (int)port : security == "ssl" ? 465 : security == "starttls" ? 587 : 25,
            Security = security,
            From = from,
            To = to,
            Username = username,
            PasswordEnvironmentVariable = passwordEnv,
            Attempts = (int)attempts,
            RetryDelay = TimeSpan.FromSeconds(retrySeconds),
        };
    }

    private static WebhookSettings ReadWebhook(TomlTable table, string path)
    {
        var settings = new WebhookSettings();
        foreach (var (key, value) in table)
        {
            var name = $"notify.webhook.{key}";
            settings = key switch
            {
                "urls" => settings with
                {
                    // The position, not the value: a webhook URL often carries its own secret (a token in the path).
                    Urls = Strings(path, name, value, null).Select((u, i) => Uri.TryCreate(u, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? u : throw new ResponderConfigException($"config {path}: {name}[{i}] is not an http(s) URL")).ToList(),
                },
                "attempts" => settings with { Attempts = (int)Number(path, name, value, 1, 100) },
                "retry_seconds" => settings with { RetryDelay = TimeSpan.FromSeconds(Number(path, name, value, 0, 86400)) },
                _ => throw new ResponderConfigException($"config {path}: unknown key '{name}' (expected urls, attempts, retry_seconds)"),
            };
        }

        return settings;
    }

    private static List<string> Addresses(string path, string name, List<string> addresses) =>
        addresses.All(a => MimeKit.MailboxAddress.TryParse(a, out _)) ? addresses
            : throw new ResponderConfigException($"config {path}: {name}: not an email address: {addresses.First(a => !MimeKit.MailboxAddress.TryParse(a, out _))}");

    private static bool Bool(string path, string name, object value) =>
        value as bool? ?? throw new ResponderConfigException($"config {path}: {name} must be true or false");

    private static List<string> Strings(string path, string name, object value, string[]? allowed)
    {
        var list = new List<string>();
        foreach (var item in value as TomlArray ?? throw new ResponderConfigException($"config {path}: {name} must be an array of strings"))
        {
            var text = item as string ?? throw new ResponderConfigException($"config {path}: {name} must be an array of strings");
            if (allowed is not null && !allowed.Contains(text))
            {
                throw new ResponderConfigException($"config {path}: {name}: '{text}' is not one of {string.Join(", ", allowed)}");
            }

            list.Add(text);
        }

        return list;
    }

    private static AccountDirectory ReadAccounts(TomlTable table, string path)
    {
        var entries = new List<AccountEntry>();
        foreach (var (id, value) in table)
        {
            if (id.Length != 12 || !id.All(char.IsAsciiDigit))
            {
                throw new ResponderConfigException($"config {path}: accounts.\"{id}\": an account ID is 12 digits (quote it: [accounts.\"012345678901\"])");
            }

            var account = value as TomlTable ?? throw new ResponderConfigException($"config {path}: accounts.\"{id}\" must be a table");
            var entry = new AccountEntry(id);
            foreach (var (key, setting) in account)
            {
                var name = $"accounts.\"{id}\".{key}";
                entry = key switch
                {
                    "name" => entry with { Name = Text(path, name, setting) },
                    "role_arn" => entry with { RoleArn = RoleArn(path, name, id, Text(path, name, setting)) },
                    "external_id" => entry with { ExternalId = Text(path, name, setting) },
                    _ => throw new ResponderConfigException($"config {path}: unknown key '{name}' (expected name, role_arn, external_id)"),
                };
            }

            if (entry.ExternalId is not null && entry.RoleArn is null)
            {
                throw new ResponderConfigException($"config {path}: accounts.\"{id}\" has external_id but no role_arn");
            }

            entries.Add(entry);
        }

        return new AccountDirectory(entries);
    }

    private static string RoleArn(string path, string name, string accountId, string arn)
    {
        var owner = KeyOwner.FromArn(arn);
        if (owner is not { Kind: PrincipalKind.Role } || !arn.Contains(":role/", StringComparison.Ordinal))
        {
            throw new ResponderConfigException($"config {path}: {name} is not a role ARN (arn:aws:iam::{accountId}:role/NAME)");
        }

        if (owner.AccountId != accountId)
        {
            throw new ResponderConfigException($"config {path}: {name} is a role in account {owner.AccountId}, not {accountId}");
        }

        return arn;
    }

    private static string PolicyName(string path, string value)
    {
        var name = value.StartsWith("AWSCompromisedKeyQuarantine", StringComparison.Ordinal) ? value : "AWSCompromisedKeyQuarantine" + value;
        return QuarantinePolicies.Names.Contains(name)
            ? name
            : throw new ResponderConfigException($"config {path}: quarantine.policy must be {string.Join(" or ", QuarantinePolicies.Names)}");
    }

    private static long Number(string path, string name, object value, long min, long max) =>
        value is long number && number >= min && number <= max ? number : throw new ResponderConfigException($"config {path}: {name} must be a whole number from {min} to {max}");

    private static string Text(string path, string name, object value) =>
        value is string { Length: > 0 } text ? text : throw new ResponderConfigException($"config {path}: {name} must be a non-empty string");
}
