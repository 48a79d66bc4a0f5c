using System.CommandLine;
using System.Runtime.CompilerServices;
using Keywarden.Detection.Credentials;
using Keywarden.Detection.Scanning;
using Keywarden.Detection.Sources;
using Keywarden.Detection.Sources.Git;
using Keywarden.Detection.Suppression;
using Keywarden.Detection.Writers;
using Spectre.Console;

namespace Keywarden.Cli.Commands;

/// <summary>`keywarden scan`: find AWS credentials in files, directories, archives and standard input.</summary>
internal static class ScanCommand
{
    /// <summary>Each worker is a task with its own buffers: past the cores there is nothing to gain, and a huge count exhausts memory.</summary>
    public const int MaxThreads = 256;

    public static Command Create(CliConsole console)
    {
        var paths = new Argument<string[]>("paths")
        {
            Description = "Files or directories to scan, or - for standard input (default: the current directory).",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var format = new Option<string>("--format", "-f")
        {
            Description = "Output format: text, json, jsonl, sarif or csv.",
            DefaultValueFactory = _ => "text",
        };
        format.AcceptOnlyFromAmong("text", "json", "jsonl", "sarif", "csv");
        var output = new Option<FileInfo?>("--output", "-o") { Description = "Write the report to FILE instead of standard output." };
        var showSecrets = new Option<bool>("--show-secrets") { Description = "Print raw secrets in the report (never do this in CI logs)." };
        var failOn = new Option<string[]>("--fail-on")
        {
            Description = "Classifications that make the exit code 1: live, canary, example, placeholder, any or none (comma-separated or repeated; default live).",
            AllowMultipleArgumentsPerToken = true,
        };
        var baseline = new Option<FileInfo?>("--baseline") { Description = "Ignore findings recorded in this baseline file." };
        var writeBaseline = new Option<FileInfo?>("--write-baseline") { Description = "Record the current findings in a baseline file." };
        var config = new Option<FileInfo?>("--config") { Description = $"Configuration file (default: {ScanConfig.FileName} in the scanned directory, if present)." };
        var respectGitignore = new Option<bool>("--respect-gitignore") { Description = "Skip files that .gitignore files ignore (by default every file is scanned: leaks hide in ignored .env files)." };
        var exclude = new Option<string[]>("--exclude") { Description = "Skip paths matching this .gitignore-style pattern (repeatable)." };
        var archiveDepth = OptionValues.Int("--archive-depth", "How deep to open archives inside archives (zip, jar, tar, tar.gz); 0 leaves archives closed.", 3, min: 0);
        var maxArchiveSize = OptionValues.Int("--max-archive-size", "Uncompressed MiB read from one archive before the rest is skipped with a warning.", 1024, min: 1);
        var maxFindings = OptionValues.Int("--max-findings", "Findings kept and reported; beyond it they are counted, with a warning, and still decide the exit code.", ScanOptions.DefaultMaxFindings, min: 1);
        var threads = OptionValues.Int("--threads", $"Worker threads (default: one per core, at most {MaxThreads}).", Math.Min(Environment.ProcessorCount, MaxThreads), min: 1, max: MaxThreads);
        var noProgress = new Option<bool>("--no-progress") { Description = "Do not show the progress display on a terminal." };
        var git = new Option<bool>("--git") { Description = "Scan the history of the git repository at PATH or URL (https, ssh, file://): every blob reachable from any ref, once." };
        var allObjects = new Option<bool>("--all-objects") { Description = "With --git: also scan unreachable (dangling) blobs." };
        var since = new Option<string?>("--since") { Description = "With --git: only commits after REV (reachable from a ref, not from REV)." };
        var range = new Option<string?>("--range") { Description = "With --git: only the commits of a range such as A..B." };
        var staged = new Option<bool>("--staged") { Description = "Scan what the index adds to HEAD (the pre-commit check)." };
        var prePush = new Option<bool>("--pre-push") { Description = "Scan the commits a push sends, reading git's pre-push lines from standard input." };
        var command = new Command("scan", "Find AWS access keys, secret keys and session tokens in files, archives and standard input.")
        {
            paths, format, output, showSecrets, failOn, baseline, writeBaseline, config, respectGitignore, exclude,
            archiveDepth, maxArchiveSize, maxFindings, threads, noProgress, git, allObjects, since, range, staged, prePush,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = new ScanSettings(
                Paths: parse.GetValue(paths) ?? [],
                Format: Enum.Parse<ReportFormat>(parse.GetValue(format)!, ignoreCase: true),
                Output: parse.GetValue(output)?.FullName,
                ShowSecrets: parse.GetValue(showSecrets),
                FailOn: parse.GetValue(failOn) ?? [],
                Baseline: parse.GetValue(baseline)?.FullName,
                WriteBaseline: parse.GetValue(writeBaseline)?.FullName,
                Config: parse.GetValue(config)?.FullName,
                RespectGitignore: parse.GetValue(respectGitignore),
                Exclude: parse.GetValue(exclude) ?? [],
                ArchiveDepth: parse.GetValue(archiveDepth),
                MaxArchiveMiB: parse.GetValue(maxArchiveSize),
                Threads: parse.GetValue(threads),
                Progress: !parse.GetValue(noProgress))
            {
                Git = parse.GetValue(git),
                AllObjects = parse.GetValue(allObjects),
                Since = parse.GetValue(since),
                Range = parse.GetValue(range),
                Staged = parse.GetValue(staged),
                PrePush = parse.GetValue(prePush),
                MaxFindings = parse.GetValue(maxFindings),
            };
            return await new ScanRunner(console, settings).RunAsync(cancellationToken);
        });
        return command;
    }
}

internal sealed record ScanSettings(
    string[] Paths,
    ReportFormat Format,
    string? Output,
    bool ShowSecrets,
    string[] FailOn,
    string? Baseline,
    string? WriteBaseline,
    string? Config,
    bool RespectGitignore,
    string[] Exclude,
    int ArchiveDepth,
    int MaxArchiveMiB,
    int Threads,
    bool Progress)
{
    public bool Git { get; init; }
    public bool AllObjects { get; init; }
    public string? Since { get; init; }
    public string? Range { get; init; }
    public bool Staged { get; init; }
    public bool PrePush { get; init; }
    public int MaxFindings { get; init; } = ScanOptions.DefaultMaxFindings;

    /// <summary>--staged through <c>git diff --cached</c> only (see <see cref="GitScanOptions.StagedThroughGit"/>): tests compare the two.</summary>
    internal bool StagedThroughGit { get; init; }

    /// <summary>Any mode that reads a git repository rather than files.</summary>
    public bool UsesGit => Git || Staged || PrePush || AllObjects || Since is not null || Range is not null;
}

/// <summary>Runs one scan: configuration, the scan with its progress display, the report, the exit code.</summary>
internal sealed class ScanRunner(CliConsole console, ScanSettings settings, TimeSpan? progressDelay = null)
{
    /// <summary>Quick scans finish before a progress display would be worth drawing.</summary>
    private readonly TimeSpan _progressDelay = progressDelay ?? TimeSpan.FromMilliseconds(500);

    /// <summary>Whether a progress display may be drawn: asked for, and standard error is a terminal.</summary>
    private bool ShowsProgress => settings.Progress && console.StderrIsTerminal;

    /// <summary>
    /// Whether findings are written as the scan finds them (jsonl, csv: no findings cap). Git history scans
    /// deduplicate across blobs, reporting each credential at its first appearance, so they collect; so does
    /// --write-baseline, whose file lists every finding.
    /// </summary>
    private bool StreamsReport => ReportWriters.Streams(settings.Format) && !settings.UsesGit && settings.WriteBaseline is null;

    private Stream? _reportFile;
    private IFindingWriter? _findingWriter;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        if (!ShowsProgress)
        {
            return Run(cancellationToken);
        }

        if (!TryPrepare(out var options, out var failOn) || !TryOpenStream())
        {
            return ExitCodes.Error;
        }

        ScanReport report;
        try
        {
            report = await ScanWithProgressAsync(options, cancellationToken);
        }
        catch (Exception e) when (e is ScanInputException or GitException or InputException)
        {
            return ScanFailed(e);
        }
        finally
        {
            if (cancellationToken.IsCancellationRequested)
            {
                CloseStream();
            }
        }

        return Complete(report, failOn);
    }

    /// <summary>
    /// The same run on the calling thread, with no progress display (none is drawn unless standard error
    /// is a terminal): no tasks, so the pre-commit hook's path (<see cref="HookScan"/>) starts no more
    /// machinery than it needs.
    /// </summary>
    public int Run(CancellationToken cancellationToken)
    {
        if (ShowsProgress)
        {
            return RunAsync(cancellationToken).GetAwaiter().GetResult();
        }

        if (!TryPrepare(out var options, out var failOn) || !TryOpenStream())
        {
            return ExitCodes.Error;
        }

        ScanReport report;
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            report = Runner(options, new ScanProgress(), cancellationToken)?.Invoke() ?? ScanReport.Empty;
        }
        catch (Exception e) when (e is ScanInputException or GitException or InputException)
        {
            return ScanFailed(e);
        }

        return Complete(report, failOn);
    }

    /// <summary>Checks the settings and loads configuration; false after printing what is wrong.</summary>
    private bool TryPrepare(out ScanOptions options, out FailOn failOn)
    {
        options = null!;
        if (!TryParseFailOn(settings.FailOn, out failOn, out var badValue))
        {
            console.Error($"--fail-on: unknown value '{badValue}' (expected live, canary, example, placeholder, any or none)");
            return false;
        }

        // Loops rather than LINQ here and below: loading and compiling LINQ's generic code costs the
        // pre-commit hook, which takes this path too, a few milliseconds of start-up.
        if (Array.IndexOf(settings.Paths, "-") != Array.LastIndexOf(settings.Paths, "-"))
        {
            console.Error("standard input (-) can be scanned only once");
            return false;
        }

        if (ValidateGitOptions() is { } usage)
        {
            console.Error(usage);
            return false;
        }

        try
        {
            options = BuildOptions();
        }
        catch (ConfigurationException e)
        {
            console.Error(e.Message);
            return false;
        }

        return true;
    }

    private int ScanFailed(Exception e)
    {
        CloseStream();
        console.Error(e is GitException ? $"git: {e.Message}" : e.Message);
        return ExitCodes.Error;
    }

    /// <summary>Writes the baseline and the report, lists problems, and gives the exit code.</summary>
    private int Complete(ScanReport report, FailOn failOn)
    {
        if (settings.WriteBaseline is { } baselinePath)
        {
            try
            {
                Baseline.Write(baselinePath, report.AllFindings);
            }
            catch (ConfigurationException e)
            {
                console.Error(e.Message);
                return ExitCodes.Error;
            }
        }

        if (StreamsReport ? !TryFinishStream(report) : !TryWriteReport(report))
        {
            return ExitCodes.Error;
        }

        foreach (var problem in report.Errors)
        {
            console.Error($"{problem.Path}: {problem.Message}");
        }

        foreach (var problem in report.Warnings)
        {
            console.Warning($"{problem.Path}: {problem.Message}");
        }

        // Findings beyond --max-findings were not kept, and streamed ones were written, not kept: what
        // they were still decides the exit code.
        var blocked = false;
        var uncollected = report.DroppedClassifications | report.StreamedClassifications;
        if (uncollected != 0)
        {
            foreach (var classification in ClassificationNames.All())
            {
                blocked |= (uncollected & (1 << (int)classification)) != 0 && failOn.Contains(classification);
            }
        }

        foreach (var finding in report.Findings)
        {
            blocked |= failOn.Contains(finding.Classification);
        }

        if (blocked)
        {
            if (settings.Staged || settings.PrePush)
            {
                HookAdvice.PrintBlocked(console, report, settings.PrePush);
            }

            return ExitCodes.Findings;
        }

        return report.Errors.Count > 0 ? ExitCodes.Error : ExitCodes.Success;
    }

    private ScanOptions BuildOptions()
    {
        var config = LoadConfig();
        return new ScanOptions
        {
            Paths = settings.Paths.Length == 0 ? ["."] : settings.Paths,
            RespectGitignore = settings.RespectGitignore || (config.RespectGitignore ?? false),
            Exclude = [.. config.Exclude, .. settings.Exclude],
            AllowedValues = config.Allow,
            Baseline = settings.Baseline is null ? null : Baseline.Load(settings.Baseline),
            // The baseline lists key IDs for its reviewers, and so does the report (written while the scan
            // runs, when it streams): neither may be reported itself.
            OwnFiles = OwnFiles(),
            MaxArchiveDepth = settings.ArchiveDepth,
            MaxArchiveBytes = (long)settings.MaxArchiveMiB * 1024 * 1024,
            Threads = settings.Threads,
            MaxFindings = settings.MaxFindings,
        };
    }

    private List<string> OwnFiles()
    {
        var own = new List<string>();
        foreach (var path in (ReadOnlySpan<string?>)[settings.Baseline, settings.WriteBaseline, settings.Output])
        {
            if (path is not null)
            {
                own.Add(path);
            }
        }

        return own;
    }

    /// <summary>--config FILE must exist; otherwise .keywarden.toml in the first scanned directory (or the current one) is used when present.</summary>
    private ScanConfig LoadConfig()
    {
        if (settings.Config is { } explicitPath)
        {
            return ScanConfig.Load(explicitPath);
        }

        var directory = ".";
        foreach (var path in settings.Paths)
        {
            if (path != "-" && Directory.Exists(path))
            {
                directory = path;
                break;
            }
        }

        // A discovered config is part of the scanned tree, and the walk follows no symbolic link: a link
        // could point outside the tree or at /dev/zero, and a FIFO would block (length 0, like an empty file).
        var candidate = new FileInfo(Path.Combine(directory, ScanConfig.FileName));
        if (!candidate.Exists || candidate.Length == 0)
        {
            return ScanConfig.Empty;
        }

        if (candidate.LinkTarget is not null)
        {
            console.Warning($"config {candidate.FullName}: a symbolic link, not followed (give the file with --config to use it)");
            return ScanConfig.Empty;
        }

        return ScanConfig.Load(candidate.FullName);
    }

    private string? ValidateGitOptions()
    {
        if (!settings.UsesGit)
        {
            return null;
        }

        if (settings.Paths.Length > 1 || Array.IndexOf(settings.Paths, "-") >= 0)
        {
            return "git scans take one repository (a directory or URL), not several paths or standard input";
        }

        if ((settings.Staged ? 1 : 0) + (settings.PrePush ? 1 : 0) + (settings.Since is not null || settings.Range is not null ? 1 : 0) > 1)
        {
            return "choose one of --staged, --pre-push, or --since/--range";
        }

        if (settings.Since is not null && settings.Range is not null)
        {
            return "choose one of --since and --range";
        }

        if (settings.Range is { } range && (!range.Contains("..", StringComparison.Ordinal) || range.StartsWith('-')))
        {
            return $"--range needs the form A..B (got '{range}')";
        }

        if (settings.Since is { } since && since.StartsWith('-'))
        {
            return $"--since needs a revision (got '{since}')";
        }

        if (settings.AllObjects && (settings.Staged || settings.PrePush || settings.Since is not null || settings.Range is not null))
        {
            return "--all-objects goes with a whole-history scan, not with --staged, --pre-push, --since or --range";
        }

        return null;
    }

    private GitScanOptions GitOptions(CancellationToken cancellationToken)
    {
        var repository = settings.Paths.Length > 0 ? settings.Paths[0] : ".";
        var options = new GitScanOptions
        {
            Repository = repository,
            AllObjects = settings.AllObjects,
            Since = settings.Since,
            Range = settings.Range,
            Staged = settings.Staged,
            StagedThroughGit = settings.StagedThroughGit,
        };
        if (settings.PrePush)
        {
            string lines;
            using (var stdin = console.OpenStdin())
            {
                lines = BoundedInput.ReadAllText(stdin, InputLimits.PrePushBytes, "--pre-push (standard input)");
            }

            options = options with { Revisions = PrePushRange.Parse(lines, repository, cancellationToken) };
        }

        return options;
    }

    /// <summary>The scan to run, or null when there is nothing to read (a push that only deletes refs sends no commits).</summary>
    private Func<ScanReport>? Runner(ScanOptions options, ScanProgress progress, CancellationToken cancellationToken)
    {
        if (settings.UsesGit)
        {
            var git = GitOptions(cancellationToken);
            if (git.Revisions is [])
            {
                return null;
            }

            return () => new GitScanner(git, options).Run(progress, cancellationToken);
        }

        var scanner = new Scanner(options, console.OpenStdin);
        return () => scanner.Run(progress, cancellationToken, _findingWriter);
    }

    private async Task<ScanReport> ScanWithProgressAsync(ScanOptions options, CancellationToken cancellationToken)
    {
        var progress = new ScanProgress();
        if (Runner(options, progress, cancellationToken) is not { } run)
        {
            return ScanReport.Empty;
        }

        var scan = Task.Run(run, cancellationToken);
        var stderr = CliConsole.CreateAnsi(console.Stderr, terminal: true);
        var started = DateTime.UtcNow;
        if (await Task.WhenAny(scan, Task.Delay(_progressDelay, cancellationToken)) == scan)
        {
            return await scan;
        }

        await stderr.Status().Spinner(Spinner.Known.Dots).StartAsync(ProgressLine.Format(progress, DateTime.UtcNow - started, settings.UsesGit ? "objects" : "files"), async context =>
        {
            while (!scan.IsCompleted)
            {
                context.Status(Markup.Escape(ProgressLine.Format(progress, DateTime.UtcNow - started, settings.UsesGit ? "objects" : "files")));
                await Task.WhenAny(scan, Task.Delay(200, cancellationToken));
            }
        });
        return await scan;
    }

    /// <summary>For a streamed report, opens its destination before the scan; false after printing why it cannot be written.</summary>
    private bool TryOpenStream()
    {
        if (!StreamsReport)
        {
            return true;
        }

        var options = new ReportOptions(settings.ShowSecrets, KeywardenApp.Version);
        try
        {
            _reportFile = settings.Output is { } path ? File.Create(path) : null;
            _findingWriter = ReportWriters.CreateStreaming(settings.Format, options, _reportFile ?? console.Stdout);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            CloseStream();
            console.Error(CannotWrite(e));
            return false;
        }
    }

    /// <summary>Flushes and closes a streamed report; false after printing the error that stopped it, if any.</summary>
    private bool TryFinishStream(ScanReport report)
    {
        var failure = report.StreamFailure ?? CloseStream();
        if (failure is null)
        {
            return true;
        }

        console.Error(CannotWrite(failure));
        return false;
    }

    /// <summary>Closes the streamed report's writer and file; the error closing them, if any.</summary>
    private Exception? CloseStream()
    {
        var writer = _findingWriter;
        var file = _reportFile;
        _findingWriter = null;
        _reportFile = null;
        try
        {
            using (file)
            {
                writer?.Dispose();
                if (file is null)
                {
                    console.Stdout.Flush();
                }
            }

            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return e;
        }
    }

    private string CannotWrite(Exception e) =>
        $"cannot write the report to {settings.Output ?? "standard output"}: {(settings.Output is { } path ? BoundedInput.DescribeOutput(e, path) : BoundedInput.Describe(e))}";

    private bool TryWriteReport(ScanReport report)
    {
        var options = new ReportOptions(settings.ShowSecrets, KeywardenApp.Version);
        try
        {
            if (settings.Output is { } path)
            {
                using var file = ReportFile.Create(path);
                Write(report, options, file, terminal: false);
            }
            else
            {
                Write(report, options, console.Stdout, console.StdoutIsTerminal);
                console.Stdout.Flush();
            }

            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            console.Error(CannotWrite(e));
            return false;
        }
    }

    private void Write(ScanReport report, ReportOptions options, Stream stream, bool terminal)
    {
        if (settings.Format == ReportFormat.Text)
        {
            using var writer = new StreamWriter(stream, leaveOpen: true);
            if (terminal)
            {
                WriteToTerminal(report, options, writer);
            }
            else
            {
                new TextReportWriter(options).WritePlain(report, writer);
            }

            return;
        }

        ReportWriters.Create(settings.Format, options).Write(report, stream);
    }

    /// <summary>Colour through Spectre.Console. Not inlined: output to a pipe or file never loads Spectre.Console.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void WriteToTerminal(ScanReport report, ReportOptions options, TextWriter writer) =>
        new TextReportWriter(options).Write(report, CliConsole.CreateAnsi(writer, terminal: true));

    internal static bool TryParseFailOn(IEnumerable<string> values, out FailOn failOn, out string? bad)
    {
        failOn = default;
        bad = null;
        var any = false;
        foreach (var value in values)
        {
            if (!TryAddFailOn(value, ref failOn, ref any, out bad))
            {
                return false;
            }
        }

        if (!any)
        {
            failOn = failOn.With(Classification.Live);
        }

        return true;
    }

    /// <summary>One --fail-on argument: classifications separated by commas.</summary>
    private static bool TryAddFailOn(string argument, ref FailOn failOn, ref bool any, out string? bad)
    {
        bad = null;
        foreach (var value in argument.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            any = true;
            if (string.Equals(value, "any", StringComparison.OrdinalIgnoreCase))
            {
                foreach (var c in ClassificationNames.All())
                {
                    failOn = failOn.With(c);
                }
            }
            else if (string.Equals(value, "none", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            else if (ClassificationNames.TryParse(value, out var c))
            {
                failOn = failOn.With(c);
            }
            else
            {
                bad = value;
                return false;
            }
        }

        return true;
    }
}

/// <summary>
/// The classifications --fail-on counts, one bit each: a set without generic collection code over the
/// enum, which ReadyToRun cannot precompile and the pre-commit hook would compile at start-up.
/// </summary>
internal readonly struct FailOn(int bits)
{
    public bool Contains(Classification classification) => (bits & (1 << (int)classification)) != 0;

    public FailOn With(Classification classification) => new(bits | (1 << (int)classification));
}

/// <summary>The progress display's text: files, bytes, findings and rate.</summary>
internal static class ProgressLine
{
    /// <param name="progress">The scan's counters.</param>
    /// <param name="elapsed">Time since the scan started.</param>
    /// <param name="unit">"files", or "objects" for git scans (each blob is counted once).</param>
    public static string Format(ScanProgress progress, TimeSpan elapsed, string unit = "files")
    {
        var seconds = Math.Max(elapsed.TotalSeconds, 0.001);
        var rate = TextReportWriter.FormatBytes((long)(progress.Bytes / seconds));
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"Scanning: {progress.Files:N0} {unit}, {TextReportWriter.FormatBytes(progress.Bytes)}, {progress.Findings:N0} findings, {rate}/s");
    }
}
