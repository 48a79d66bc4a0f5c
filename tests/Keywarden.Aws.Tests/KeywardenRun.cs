using System.Text;
using Keywarden.Cli;

namespace Keywarden.Aws.Tests;

internal sealed record Run(int Code, string Stdout, string Stderr)
{
    public string All => Stdout + Stderr;

    public System.Text.Json.JsonElement Json => System.Text.Json.JsonDocument.Parse(Stdout).RootElement.Clone();
}

/// <summary>Runs the keywarden command in-process with captured standard streams.</summary>
internal static class Keywarden
{
    public static async Task<Run> RunAsync(string[] args, string? stdin = null)
    {
        var stdout = new MemoryStream();
        var stderr = new StringWriter();
        var console = new CliConsole(() => new MemoryStream(Encoding.UTF8.GetBytes(stdin ?? "")), stdout, stderr, false, false);
        var code = await KeywardenApp.RunAsync(args, console, CancellationToken.None);
        return new Run(code, Encoding.UTF8.GetString(stdout.ToArray()), stderr.ToString());
    }
}
