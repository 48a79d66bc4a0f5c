using Keywarden.Detection.Credentials;

namespace Keywarden.Detection.Findings;

/// <summary>Where in a git history a credential first appeared. Filled by the git source; null for plain files.</summary>
public sealed record CommitInfo(string Sha, string Author, string Email, DateTimeOffset Date, string Message, string Path);

/// <summary>
/// One exposed credential at one place: a key ID (with its secret and session token when found nearby),
/// or a lone secret or session token next to an AWS keyword. Holds the secret only in memory.
/// </summary>
public sealed record Finding
{
    public required string RuleId { get; init; }
    public string? KeyId { get; init; }
    public required Classification Classification { get; init; }
    public string? AccountId { get; init; }

    /// <summary>Relative to the scanned root, '/' separators, no leading "./"; archive members as <c>a.zip!dir/file</c>.</summary>
    public required string Path { get; init; }

    /// <summary>1-based line of the key ID, or of the secret when there is no key ID.</summary>
    public required int Line { get; init; }

    /// <summary>1-based column in characters.</summary>
    public required int Column { get; init; }

    public SecretValue? Secret { get; init; }
    public SecretValue? SessionToken { get; init; }

    /// <summary>Stable across moves of the line: derived from rule, path and content, never from position.</summary>
    public required string Fingerprint { get; init; }

    public CommitInfo? Commit { get; init; }

    /// <summary>How many commits contain this credential (git scans only).</summary>
    public int? Commits { get; init; }

    /// <summary>Still present at the tip of a branch (git scans only).</summary>
    public bool? InHead { get; init; }
}
