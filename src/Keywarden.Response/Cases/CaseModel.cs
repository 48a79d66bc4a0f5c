using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Keywarden.Response.Cases;

/// <summary>
/// The states of a case (docs/cases.md): reported → verifying → contained | not-ours | invalid |
/// containment-failed → investigating → awaiting-remediation → resolved | false-positive.
/// </summary>
public static class CaseStates
{
    public const string Reported = "reported";
    public const string Verifying = "verifying";
    public const string Contained = "contained";
    public const string NotOurs = "not-ours";
    public const string Invalid = "invalid";
    public const string ContainmentFailed = "containment-failed";
    public const string Investigating = "investigating";
    public const string AwaitingRemediation = "awaiting-remediation";
    public const string Resolved = "resolved";
    public const string FalsePositive = "false-positive";

    /// <summary>States a case ends in: its key may open a new case if reported again.</summary>
    public static bool IsClosed(string state) => state is NotOurs or Invalid or Resolved or FalsePositive;
}

/// <summary>Where a report came from.</summary>
public static class SourceKinds
{
    public const string Scan = "scan";
    public const string GitHubPartner = "github-partner";
    public const string GitHubAlert = "github-alert";
    public const string AwsHealth = "aws-health";
    public const string Manual = "manual";

    public static IReadOnlyList<string> All { get; } = [Scan, GitHubPartner, GitHubAlert, AwsHealth, Manual];
}

/// <summary>
/// One report of an exposed key, the single entry point of the playbook. The secret and session token
/// are held in memory only (for sts:GetCallerIdentity); the case stores their SHA-256 and a redacted form.
/// </summary>
public sealed record ExposureReport(string KeyId, string Source, DateTimeOffset DetectedAt)
{
    public string? Secret { get; init; }
    public string? SessionToken { get; init; }
    public string? Url { get; init; }
    public string? Reporter { get; init; }

    /// <summary>Redacted: a record's default ToString would print the secret.</summary>
    public override string ToString() => $"ExposureReport {{ KeyId = {KeyId}, Source = {Source}, Url = {Url} }}";

    public static string Sha256(string value) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)));

    public static string Redact(string secret) => secret.Length <= 8 ? $"…({secret.Length})" : $"{secret[..4]}…({secret.Length})";
}

/// <summary>
/// Secrets of reports in this process, by case, for verification; never written anywhere. A worker in
/// another process, or after a restart, does not have them and verifies by key ID only.
/// </summary>
public sealed class SecretVault
{
    private readonly ConcurrentDictionary<long, (string Secret, string? Token)> _secrets = new();

    public void Put(long caseId, string secret, string? token) => _secrets[caseId] = (secret, token);

    public (string Secret, string? Token)? Get(long caseId) => _secrets.TryGetValue(caseId, out var value) ? value : null;

    public void Forget(long caseId) => _secrets.TryRemove(caseId, out _);
}

/// <summary>A case ID as people write it: KW-42.</summary>
public static class CaseReference
{
    public static string Of(long id) => $"KW-{id}";

    public static long? Parse(string text)
    {
        var digits = text.StartsWith("KW-", StringComparison.OrdinalIgnoreCase) ? text[3..] : text;
        return long.TryParse(digits, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) && id > 0 ? id : null;
    }
}

/// <summary>A case that does not exist.</summary>
public sealed class CaseNotFoundException(string reference) : Exception($"no case {reference}");

/// <summary>A request that the case's state does not allow (e.g. approving a deactivation nobody asked for).</summary>
public sealed class CaseStateException(string message) : Exception(message);
