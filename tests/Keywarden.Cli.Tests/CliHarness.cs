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

    public static string RepoRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Keywarden.slnx")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        return dir ?? throw new InvalidOperationException("repository root not found");
    }
}

/// <summary>A temporary directory for one test, removed afterwards.</summary>
internal sealed class TempTree : IDisposable
{
    public TempTree()
    {
        Root = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "kw-cli-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public string Path(string relative) => System.IO.Path.Combine(Root, relative);

    public string Write(string relative, string content) => WriteBytes(relative, Encoding.UTF8.GetBytes(content));

    public string WriteBytes(string relative, byte[] content)
    {
        var path = Path(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
