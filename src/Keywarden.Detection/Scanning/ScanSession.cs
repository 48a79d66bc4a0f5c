using System.Collections.Concurrent;
using Keywarden.Detection.Findings;
using Keywarden.Detection.Suppression;

namespace Keywarden.Detection.Scanning;

/// <summary>State shared by the workers of one scan: options, counters, problems, cancellation.</summary>
internal sealed class ScanSession(ScanOptions options, ScanProgress progress, CancellationToken cancellationToken)
{
    private readonly ConcurrentQueue<ScanProblem> _errors = new();
    private readonly ConcurrentQueue<ScanProblem> _warnings = new();
    private int _suppressed;
    private int _recorded;
    private int _dropped;
    private int _droppedClassifications;
    private AllowList? _allowList;

    public ScanOptions Options { get; } = options;
    public ScanProgress Progress { get; } = progress;
    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>Where findings go as soon as they are final, with no cap; null when the scan collects them.</summary>
    public FindingStream? Stream { get; init; }

    public IReadOnlyList<ScanProblem> Errors => ByPath(_errors);
    public IReadOnlyList<ScanProblem> Warnings => ByPath(_warnings);
    public int Suppressed => Volatile.Read(ref _suppressed);

    public void AddError(string path, string message) => _errors.Enqueue(new ScanProblem(path, message));

    public void AddWarning(string path, string message) => _warnings.Enqueue(new ScanProblem(path, message));

    public void AddSuppressed(int count = 1) => Interlocked.Add(ref _suppressed, count);

    /// <summary>Findings found after <see cref="ScanOptions.MaxFindings"/> was reached, and not kept.</summary>
    public int Dropped => Volatile.Read(ref _dropped);

    /// <summary>The classifications among <see cref="Dropped"/> findings (one bit each), so the exit code still counts them.</summary>
    public int DroppedClassifications => Volatile.Read(ref _droppedClassifications);

    /// <summary>
    /// True when <paramref name="finding"/> may be kept: findings are streamed (a streamed report holds none,
    /// so it needs no cap), or fewer than <see cref="ScanOptions.MaxFindings"/> were kept.
    /// Beyond the cap it is only counted, and its classification kept unless the allow list or baseline would
    /// have suppressed it (the rest of suppression happens after the scan, which a dropped finding never reaches).
    /// </summary>
    public bool TryRecord(Finding finding)
    {
        if (Stream is not null || Interlocked.Increment(ref _recorded) <= Options.MaxFindings)
        {
            return true;
        }

        if (Interlocked.Increment(ref _dropped) == 1)
        {
            AddWarning(".", $"more than {Options.MaxFindings:N0} findings (--max-findings): the rest are counted, not reported");
        }

        var allowList = LazyInitializer.EnsureInitialized(ref _allowList, () => new AllowList(Options.AllowedValues));
        if (allowList.Allows(finding) || (Options.Baseline?.Contains(finding) ?? false))
        {
            AddSuppressed();
        }
        else
        {
            Interlocked.Or(ref _droppedClassifications, 1 << (int)finding.Classification);
        }

        return false;
    }

    /// <summary>Problems ordered by path (a stable sort); none, usually, which needs no LINQ loaded.</summary>
    private static IReadOnlyList<ScanProblem> ByPath(ConcurrentQueue<ScanProblem> problems) =>
        problems.IsEmpty ? [] : Sorted(problems);

    // A method of its own: precompiled code loads what a method refers to when it is first called.
    private static List<ScanProblem> Sorted(ConcurrentQueue<ScanProblem> problems) => [.. problems.OrderBy(p => p.Path, StringComparer.Ordinal)];
}

/// <summary>Turns an exception a user's input can cause into one short clause, without a stack trace.</summary>
internal static class ProblemText
{
    public static string Describe(Exception e) => e switch
    {
        UnauthorizedAccessException => "permission denied",
        FileNotFoundException or DirectoryNotFoundException => "no such file or directory",
        PathTooLongException => "path too long",
        _ => e.Message.TrimEnd('.'),
    };
}
