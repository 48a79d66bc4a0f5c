using Keywarden.Detection.Findings;
using Keywarden.Detection.Scanning;

namespace Keywarden.Detection.Tests;

/// <summary>A temporary directory for one test, removed afterwards.</summary>
internal sealed class TempTree : IDisposable
{
    public TempTree()
    {
        Root = Path.Combine(Path.GetTempPath(), "kw-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public string Write(string relative, string content)
    {
        var path = Path.Combine(Root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    public string WriteBytes(string relative, byte[] content)
    {
        var path = Path.Combine(Root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
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

internal static class Scan
{
    /// <summary>Scans <paramref name="text"/> as one file's content.</summary>
    public static IReadOnlyList<Finding> Text(string text) => Stream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text)));

    public static IReadOnlyList<Finding> Stream(Stream stream, ScanOptions? options = null)
    {
        options = (options ?? new ScanOptions()) with { Paths = ["-"] };
        return new Scanner(options, () => stream).Run().Findings;
    }

    public static ScanReport Tree(string root, ScanOptions? options = null) =>
        new Scanner((options ?? new ScanOptions()) with { Paths = [root] }).Run();
}
