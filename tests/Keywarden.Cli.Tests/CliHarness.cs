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

}
