using System.Collections.Concurrent;

namespace Keywarden.Detection.Scanning;

/// <summary>State shared by the workers of one scan: options, counters, problems, cancellation.</summary>
internal sealed class ScanSession(ScanOptions options, ScanProgress progress, CancellationToken cancellationToken)
{
    private readonly ConcurrentQueue<ScanProblem> _errors = new();
    private readonly ConcurrentQueue<ScanProblem> _warnings = new();
    private int _suppressed;

    public ScanOptions Options { get; } = options;
    public ScanProgress Progress { get; } = progress;
    public CancellationToken CancellationToken { get; } = cancellationToken;

    public IReadOnlyList<ScanProblem> Errors => ByPath(_errors);
    public IReadOnlyList<ScanProblem> Warnings => ByPath(_warnings);
    public int Suppressed => Volatile.Read(ref _suppressed);

    public void AddError(string path, string message) => _errors.Enqueue(new ScanProblem(path, message));

    public void AddWarning(string path, string message) => _warnings.Enqueue(new ScanProblem(path, message));

    public void AddSuppressed(int count = 1) => Interlocked.Add(ref _suppressed, count);

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
