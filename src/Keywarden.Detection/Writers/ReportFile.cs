using System.Text;

namespace Keywarden.Detection.Writers;

/// <summary>
/// Reports and baselines name keys (IDs, redactions, where they were found): a file a command writes with
/// --output is created readable by its owner only (0600), whatever the umask. A file that already exists
/// keeps the mode its owner gave it.
/// </summary>
public static class ReportFile
{
    public const UnixFileMode Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Creates (or truncates) <paramref name="path"/> for writing.</summary>
    public static FileStream Create(string path)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.Read };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = Mode;
        }

        return new FileStream(path, options);
    }

    /// <summary>Writes <paramref name="text"/> as UTF-8 (no byte order mark) to <paramref name="path"/>.</summary>
    public static async Task WriteAllTextAsync(string path, string text, CancellationToken cancellationToken)
    {
        await using var stream = Create(path);
        await stream.WriteAsync(new UTF8Encoding(false).GetBytes(text), cancellationToken);
    }
}
