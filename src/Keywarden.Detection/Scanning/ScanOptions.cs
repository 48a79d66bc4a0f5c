namespace Keywarden.Detection.Scanning;

/// <summary>What to scan and how. Defaults suit a developer's `keywarden scan .`.</summary>
public sealed record ScanOptions
{
    /// <summary>Files, directories, or "-" for standard input.</summary>
    public IReadOnlyList<string> Paths { get; init; } = ["."];

    /// <summary>Honour .gitignore files and .git/info/exclude (off by default: leaks hide in ignored .env files).</summary>
    public bool RespectGitignore { get; init; }

    /// <summary>Extra exclusions in .gitignore syntax, relative to each scanned root.</summary>
    public IReadOnlyList<string> Exclude { get; init; } = [];

    /// <summary>How deep archives inside archives are opened; 0 does not open archives at all.</summary>
    public int MaxArchiveDepth { get; init; } = 3;

    /// <summary>Uncompressed bytes read from one archive (members of nested archives included) before the rest is skipped.</summary>
    public long MaxArchiveBytes { get; init; } = 1L << 30;

    /// <summary>The default of <see cref="MaxFindings"/>: a real leak is a handful; each finding held costs about 1 KB.</summary>
    public const int DefaultMaxFindings = 100_000;

    /// <summary>
    /// Findings recorded before the rest are counted but not kept (with a warning): 1,000,000 copies of a key
    /// in a small zip must not hold a million findings in memory (docs/limits.md, "Scanning").
    /// </summary>
    public int MaxFindings { get; init; } = DefaultMaxFindings;

    /// <summary>Worker threads; defaults to one per core.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Known findings (by fingerprint) that are not reported.</summary>
    public Suppression.Baseline? Baseline { get; init; }

    /// <summary>
    /// Full paths of files Keywarden itself reads or writes for this scan (the baseline: it lists key
    /// IDs for its reviewers), never scanned, so a baseline does not flag itself wherever it lives.
    /// </summary>
    public IReadOnlyCollection<string> OwnFiles { get; init; } = [];

    /// <summary>Values (key IDs, secrets as "sha256:HEX") that are never reported.</summary>
    public IReadOnlyCollection<string> AllowedValues { get; init; } = [];
}
