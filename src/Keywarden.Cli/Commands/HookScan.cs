using Keywarden.Detection.Writers;

namespace Keywarden.Cli.Commands;

/// <summary>
/// The staged check as the pre-commit hook runs it (<c>keywarden scan --staged --no-progress</c>, see
/// <see cref="HookInstaller"/>), taken without building the command tree. The hook runs on every
/// commit, and parsing through System.CommandLine (every command with its options, validators and
/// asynchronous invocation, compiled at start-up because ReadyToRun cannot precompile its generic code)
/// takes longer than the check itself. Only command lines made of the tokens below are taken; anything
/// else (another option, <c>--opt=value</c>, a response file, help, a repeated option) is left to
/// <see cref="KeywardenApp"/>. Both run the same <see cref="ScanRunner"/>, so the output and exit codes
/// are the same either way.
/// </summary>
internal static class HookScan
{
    /// <summary>The exit code of the staged check, or null when <paramref name="args"/> is not a command line this parser takes.</summary>
    public static int? TryRun(string[] args, CliConsole console, CancellationToken cancellationToken)
    {
        if (TryParse(args) is not { } settings)
        {
            return null;
        }

        try
        {
            return new ScanRunner(console, settings).Run(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return KeywardenApp.Interrupted(console);
        }
        catch (Exception e) when (KeywardenApp.ShowsUnexpected)
        {
            return KeywardenApp.Unexpected(e, args, console);
        }
    }

    /// <summary>
    /// <c>scan --staged</c> with, in any order and at most once each, <c>--no-progress</c>,
    /// <c>--format</c>/<c>-f</c> <c>text|json|jsonl</c>, <c>--output</c>/<c>-o</c> FILE and one repository
    /// path; the settings System.CommandLine would give them, or null.
    /// </summary>
    internal static ScanSettings? TryParse(string[] args)
    {
        if (args.Length < 2 || args[0] != "scan")
        {
            return null;
        }

        var staged = false;
        var noProgress = false;
        string? format = null;
        string? output = null;
        string? path = null;
        for (var i = 1; i < args.Length; i++)
        {
            var arg = args[i];
            switch (arg)
            {
                case "--staged" when !staged:
                    staged = true;
                    break;
                case "--no-progress" when !noProgress:
                    noProgress = true;
                    break;
                case "--format" or "-f" when format is null && i + 1 < args.Length && args[i + 1] is "text" or "json" or "jsonl":
                    format = args[++i];
                    break;
                case "--output" or "-o" when output is null && i + 1 < args.Length && IsValue(args[i + 1]):
                    output = args[++i];
                    break;
                default:
                    // "true" or "false" after a flag would be the flag's value to System.CommandLine.
                    if (path is not null || !IsValue(arg) || bool.TryParse(arg, out _))
                    {
                        return null;
                    }

                    path = arg;
                    break;
            }
        }

        if (!staged)
        {
            return null;
        }

        // The defaults of ScanCommand's options.
        return new ScanSettings(
            Paths: path is null ? [] : [path],
            Format: format switch
            {
                "json" => ReportFormat.Json,
                "jsonl" => ReportFormat.Jsonl,
                _ => ReportFormat.Text,
            },
            Output: output is null ? null : new FileInfo(output).FullName,
            ShowSecrets: false,
            FailOn: [],
            Baseline: null,
            WriteBaseline: null,
            Config: null,
            RespectGitignore: false,
            Exclude: [],
            ArchiveDepth: 3,
            MaxArchiveMiB: 1024,
            Threads: Environment.ProcessorCount,
            Progress: !noProgress)
        {
            Staged = true,
        };
    }

    /// <summary>
    /// A token System.CommandLine would take as a plain value: not an option or "--", not a response
    /// file (@file), not one of its help aliases (/h, /?), not empty, and a valid path.
    /// </summary>
    private static bool IsValue(string token) =>
        token.Length > 0 && token[0] is not ('-' or '@') && token is not ("/h" or "/?") && !token.Contains('\0', StringComparison.Ordinal) && token.Trim().Length > 0;
}
