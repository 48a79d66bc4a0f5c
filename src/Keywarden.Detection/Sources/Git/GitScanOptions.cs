namespace Keywarden.Detection.Sources.Git;

/// <summary>Which part of a repository to scan.</summary>
public sealed record GitScanOptions
{
    /// <summary>A repository directory (work tree or bare), or a URL (https, ssh, file://) to clone bare into a temporary directory.</summary>
    public string Repository { get; init; } = ".";

    /// <summary>Also scan unreachable (dangling) blobs.</summary>
    public bool AllObjects { get; init; }

    /// <summary>Only commits after this revision (reachable from any ref, not from it).</summary>
    public string? Since { get; init; }

    /// <summary>Only the commits of a range such as <c>A..B</c>.</summary>
    public string? Range { get; init; }

    /// <summary>git's own revision arguments (for pre-push ranges: <c>new --not old</c>); overrides the others.</summary>
    public IReadOnlyList<string>? Revisions { get; init; }

    /// <summary>The staged changes (index against HEAD) instead of history.</summary>
    public bool Staged { get; init; }

    /// <summary>Staged check: always ask <c>git diff --cached</c>, never read the index in process (tests compare the two).</summary>
    public bool StagedThroughGit { get; init; }
}
