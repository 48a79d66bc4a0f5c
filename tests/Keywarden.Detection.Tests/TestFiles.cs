using Keywarden.Detection.Findings;
using Keywarden.Detection.Scanning;

namespace Keywarden.Detection.Tests;

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
