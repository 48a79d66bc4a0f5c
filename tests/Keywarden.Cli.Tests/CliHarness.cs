using System.Text;

namespace Keywarden.Cli.Tests;

internal sealed record CliRun(int ExitCode, string Stdout, string Stderr);

/// <summary>Runs the keywarden command in-process with captured standard streams.</summary>
internal static class Cli
{
    public static async Task<CliRun> RunAsync(string[] args, string? stdin = null)
    {
        var stdout = new MemoryStream();
        var stderr = new StringWriter();
        var console = new CliConsole(
            () => new MemoryStream(Encoding.UTF8.GetBytes(stdin ?? "")),
            stdout,
            stderr,
            StdoutIsTerminal: false,
            StderrIsTerminal: false);
        var code = await KeywardenApp.RunAsync(args, console, CancellationToken.None);
        return new CliRun(code, Encoding.UTF8.GetString(stdout.ToArray()), stderr.ToString());
    }

    /// <summary>The pre-commit hook's short path (<see cref="Commands.HookScan"/>); null when it does not take <paramref name="args"/>.</summary>
    public static CliRun? RunHookScan(string[] args)
    {
        var (console, stdout, stderr) = Capture();
        return Commands.HookScan.TryRun(args, console, CancellationToken.None) is { } code
            ? new CliRun(code, Encoding.UTF8.GetString(stdout.ToArray()), stderr.ToString())
            : null;
    }

    /// <summary>The scan <paramref name="settings"/> describe, run directly (tests give settings no command line can).</summary>
    public static CliRun RunScan(Commands.ScanSettings settings)
    {
        var (console, stdout, stderr) = Capture();
        var code = new Commands.ScanRunner(console, settings).Run(CancellationToken.None);
        return new CliRun(code, Encoding.UTF8.GetString(stdout.ToArray()), stderr.ToString());
    }

    private static (CliConsole Console, MemoryStream Stdout, StringWriter Stderr) Capture()
    {
        var stdout = new MemoryStream();
        var stderr = new StringWriter();
        return (new CliConsole(() => new MemoryStream(), stdout, stderr, StdoutIsTerminal: false, StderrIsTerminal: false), stdout, stderr);
    }

}
