using System.Collections.Concurrent;
using System.Diagnostics;
using Keywarden.Detection.Findings;
using Keywarden.Detection.Sources;
using Keywarden.Detection.Suppression;
using Keywarden.Detection.Writers;

namespace Keywarden.Detection.Scanning;

/// <summary>Thrown for a scan that cannot start: a path that does not exist.</summary>
public sealed class ScanInputException : Exception
{
    public ScanInputException() { }
    public ScanInputException(string message) : base(message) { }
    public ScanInputException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// Scans files, directories and standard input in parallel, one worker per core, each with its own
/// buffers, and returns the findings in path and line order, or writes them as they are final to an
/// <see cref="IFindingWriter"/> in walk order (<see cref="FindingStream"/>).
/// </summary>
public sealed class Scanner
{
    public const string StdinPath = "<stdin>";

    private readonly ScanOptions _options;
    private readonly Func<Stream> _openStdin;

    public Scanner(ScanOptions options, Func<Stream>? openStdin = null)
    {
        _options = options;
        _openStdin = openStdin ?? Console.OpenStandardInput;
    }

    /// <param name="progress">Counters the progress display reads.</param>
    /// <param name="cancellationToken">Stops the scan.</param>
    /// <param name="output">
    /// Where findings go as soon as they are final, with no findings cap (the report then holds none of
    /// them, only their count and classifications); null collects them, up to <see cref="ScanOptions.MaxFindings"/>.
    /// </param>
    public ScanReport Run(ScanProgress? progress = null, CancellationToken cancellationToken = default, IFindingWriter? output = null)
    {
        var stopwatch = Stopwatch.StartNew();
        progress ??= new ScanProgress();
        var session = new ScanSession(_options, progress, cancellationToken)
        {
            Stream = output is null ? null : new FindingStream(output, _options),
        };
        var roots = ResolveRoots();
        var all = new List<Finding>();

        foreach (var root in roots)
        {
            if (root.IsStdin)
            {
                var worker = new ContentScanner(session);
                using var stdin = _openStdin();
                ScanItem(worker, session, all, session.Stream?.Begin() ?? 0, () => ScanOne(worker, session, stdin, StdinPath, all));
            }
            else if (root.IsDirectory)
            {
                ScanDirectory(session, root, all);
            }
            else if (!IsOwnFile(_options, root.FullPath))
            {
                var worker = new ContentScanner(session);
                ScanItem(worker, session, all, session.Stream?.Begin() ?? 0, () => ScanFile(worker, session, new FileItem(root.FullPath, root.DisplayPrefix, 0), all));
            }
        }

        return Finish(_options, session, all, stopwatch);
    }

    /// <summary>Scans one item in its place in the stream, if findings are streamed, and marks it done however the scan ends.</summary>
    private static void ScanItem(ContentScanner worker, ScanSession session, List<Finding> findings, long sequence, Action scan)
    {
        worker.Sequence = sequence;
        try
        {
            scan();
        }
        finally
        {
            if (session.Stream is { } stream)
            {
                // What the last chunk found before an error ended the read is written too.
                if (findings.Count > 0)
                {
                    stream.Add(sequence, findings, session);
                }

                stream.Complete(sequence);
            }
        }
    }

    /// <summary>Applies the allow list and baseline, orders the findings and summarises the scan.</summary>
    internal static ScanReport Finish(ScanOptions options, ScanSession session, List<Finding> all, Stopwatch stopwatch)
    {
        var allowed = new AllowList(options.AllowedValues);
        var reported = new List<Finding>(all.Count);
        foreach (var finding in all)
        {
            if (allowed.Allows(finding) || (options.Baseline?.Contains(finding) ?? false))
            {
                session.AddSuppressed();
            }
            else
            {
                reported.Add(finding);
            }
        }

        reported.Sort(FindingOrder.Instance);
        all.Sort(FindingOrder.Instance);
        var progress = session.Progress;
        return new ScanReport
        {
            Streamed = session.Stream?.Written ?? 0,
            StreamedClassifications = session.Stream?.Classifications ?? 0,
            StreamFailure = session.Stream?.Failure,
            Findings = reported,
            AllFindings = all,
            Files = progress.Files,
            Bytes = progress.Bytes,
            BinarySkipped = progress.BinarySkipped,
            Archives = progress.Archives,
            Suppressed = session.Suppressed,
            Errors = session.Errors,
            Warnings = session.Warnings,
            Elapsed = stopwatch.Elapsed,
            Dropped = session.Dropped,
            DroppedClassifications = session.DroppedClassifications,
        };
    }

    private void ScanDirectory(ScanSession session, Root root, List<Finding> all)
    {
        var walker = new FileSystemWalker(session);
        var gate = new object();
        var parallel = new ParallelOptions
        {
            MaxDegreeOfParallelism = Math.Max(1, _options.Threads),
            CancellationToken = session.CancellationToken,
        };
        var items = walker.Walk(root.FullPath, root.DisplayPrefix);
        if (_options.OwnFiles.Count > 0)
        {
            items = items.Where(item => !IsOwnFile(_options, item.FullPath));
        }

        // Streamed findings keep the walk's order: each worker takes one file at a time, numbered as the walk
        // yields it, so the files before any worker's own are all being scanned or done.
        var stream = session.Stream;
        var numbered = stream is null
            ? Partitioner.Create(items.Select(item => (Item: item, Sequence: 0L)))
            : Partitioner.Create(items.Select(item => (Item: item, Sequence: stream.Begin())), EnumerablePartitionerOptions.NoBuffering);
        Parallel.ForEach(
            numbered,
            parallel,
            () => (Worker: new ContentScanner(session), Findings: new List<Finding>()),
            (next, _, local) =>
            {
                ScanItem(local.Worker, session, local.Findings, next.Sequence, () => ScanFile(local.Worker, session, next.Item, local.Findings));
                return local;
            },
            local =>
            {
                lock (gate)
                {
                    all.AddRange(local.Findings);
                }
            });
    }

    internal static bool IsOwnFile(ScanOptions options, string fullPath)
    {
        foreach (var own in options.OwnFiles)
        {
            if (string.Equals(Path.GetFullPath(own), Path.GetFullPath(fullPath), OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static void ScanFile(ContentScanner worker, ScanSession session, FileItem item, List<Finding> findings)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(item.FullPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            session.AddError(item.DisplayPath, $"cannot read file: {ProblemText.Describe(e)}");
            return;
        }

        using (stream)
        {
            ScanOne(worker, session, stream, item.DisplayPath, findings);
        }
    }

    private static void ScanOne(ContentScanner worker, ScanSession session, Stream stream, string displayPath, List<Finding> findings)
    {
        try
        {
            worker.Scan(stream, displayPath, depth: 0, budget: null, findings);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // What was found before the read failed is kept.
            session.AddError(displayPath, $"cannot read: {ProblemText.Describe(e)}");
        }
    }

    private sealed record Root(string FullPath, string DisplayPrefix, bool IsDirectory, bool IsStdin);

    /// <summary>
    /// Checks every path before scanning any. One directory: findings are named relative to it. Several
    /// paths: relative to the current directory, as given.
    /// </summary>
    private List<Root> ResolveRoots()
    {
        var roots = new List<Root>();
        var paths = _options.Paths.Count == 0 ? ["."] : _options.Paths;
        var single = paths.Count == 1;
        foreach (var path in paths)
        {
            if (path == "-")
            {
                roots.Add(new Root("-", StdinPath, false, true));
                continue;
            }

            var full = Path.GetFullPath(path);
            var shown = DisplayPath.Normalize(path);
            if (Directory.Exists(full))
            {
                roots.Add(new Root(full, single || shown.Length == 0 ? "" : shown + "/", true, false));
            }
            else if (File.Exists(full))
            {
                roots.Add(new Root(full, shown, false, false));
            }
            else
            {
                throw new ScanInputException($"no such file or directory: {path}");
            }
        }

        return roots;
    }

    internal sealed class FindingOrder : IComparer<Finding>
    {
        public static readonly FindingOrder Instance = new();

        public int Compare(Finding? x, Finding? y)
        {
            var c = string.CompareOrdinal(x!.Path, y!.Path);
            if (c == 0)
            {
                c = x.Line.CompareTo(y.Line);
            }

            if (c == 0)
            {
                c = x.Column.CompareTo(y.Column);
            }

            return c;
        }
    }
}

/// <summary>Paths as findings show them: '/' separators, no leading "./".</summary>
public static class DisplayPath
{
    public static string Normalize(string path)
    {
        var p = path.Replace('\\', '/');
        while (p.StartsWith("./", StringComparison.Ordinal))
        {
            p = p[2..];
        }

        while (p.Contains("//", StringComparison.Ordinal))
        {
            p = p.Replace("//", "/", StringComparison.Ordinal);
        }

        if (p == ".")
        {
            return "";
        }

        return p.Length > 1 ? p.TrimEnd('/') : p;
    }
}
