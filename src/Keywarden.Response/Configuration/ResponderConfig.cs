using Keywarden.Aws.Accounts;
using Keywarden.Aws.Containment;
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
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var reason = e is FileNotFoundException or DirectoryNotFoundException ? "no such file" : e is UnauthorizedAccessException ? "permission denied" : e.Message.TrimEnd('.');
            throw new ResponderConfigException($"config {path}: cannot read ({reason})", e);
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
            var line = e.Message.Split('\n')[0].Trim();
            throw new ResponderConfigException($"config {path}: {(line.Length == 0 ? "not valid TOML" : line)}", e);
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
                _ => throw new ResponderConfigException($"config {path}: unknown table '{section}' (expected aws, quarantine, storage, accounts)"),
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
                "policy" => config with { QuarantinePolicy = Policy(path, Text(path, "quarantine.policy", value)) },
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

    private static string Policy(string path, string value)
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
