using System.Buffers;
using System.Text;

namespace Keywarden.Detection.Sources;

/// <summary>
/// An input that could not be read as asked: larger than its cap, missing, a directory, unreadable.
/// <see cref="Reason"/> says why without naming the input (callers put the input first); the message
/// says both. Neither ever quotes the input's content.
/// </summary>
public sealed class InputException : IOException
{
    public InputException(string input, string reason, Exception? inner = null)
        : base($"{input}: {reason}", inner)
    {
        Input = input;
        Reason = reason;
    }

    /// <summary>What was read, as the user would name it ("config ./x.toml", "standard input").</summary>
    public string Input { get; }

    /// <summary>Why it could not be read ("larger than the 1 MiB limit", "is a directory").</summary>
    public string Reason { get; }

    /// <summary>True when the input was over its cap (as opposed to unreadable).</summary>
    public bool TooLarge { get; init; }
}

/// <summary>
/// Reads a whole input (a configuration, a baseline, a secret file, git's lines on stdin) within a cap, so
/// no input makes memory grow without bound (docs/limits.md): a 10 GB file, <c>/dev/zero</c> or an endless
/// pipe all stop at the cap with one <see cref="InputException"/>. Failures name their real cause: a
/// directory is "is a directory", not the "permission denied" that opening one reports on Linux.
/// </summary>
public static class BoundedInput
{
    /// <summary>The bytes of the file at <paramref name="path"/>; <paramref name="input"/> names it in errors.</summary>
    public static byte[] ReadAllBytes(string path, long cap, string input)
    {
        using var stream = Open(path, input);
        if (stream.CanSeek && stream.Length > cap)
        {
            throw TooLarge(input, cap);
        }

        return ReadAllBytes(stream, cap, input);
    }

    /// <summary>The text of the file (UTF-8, or UTF-16/32 by byte-order mark).</summary>
    public static string ReadAllText(string path, long cap, string input) => Decode(ReadAllBytes(path, cap, input));

    /// <summary>Everything <paramref name="stream"/> holds, up to <paramref name="cap"/> bytes.</summary>
    public static byte[] ReadAllBytes(Stream stream, long cap, string input)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            using var result = new MemoryStream();
            while (true)
            {
                int read;
                try
                {
                    read = stream.Read(buffer, 0, buffer.Length);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new InputException(input, Describe(e), e);
                }

                if (read == 0)
                {
                    return result.ToArray();
                }

                if (result.Length + read > cap)
                {
                    throw TooLarge(input, cap);
                }

                result.Write(buffer, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The text <paramref name="stream"/> holds, up to <paramref name="cap"/> bytes.</summary>
    public static string ReadAllText(Stream stream, long cap, string input) => Decode(ReadAllBytes(stream, cap, input));

    /// <summary>
    /// The first line of <paramref name="stream"/> (without its line ending), reading no further than the
    /// line's end or <paramref name="cap"/> bytes: a line longer than the cap is an error, not cut short.
    /// </summary>
    public static string ReadFirstLine(Stream stream, int cap, string input)
    {
        var line = new MemoryStream();
        Span<byte> one = stackalloc byte[1];
        while (true)
        {
            int read;
            try
            {
                read = stream.Read(one);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new InputException(input, Describe(e), e);
            }

            if (read == 0 || one[0] == (byte)'\n')
            {
                break;
            }

            if (line.Length >= cap)
            {
                throw TooLarge(input, cap);
            }

            line.WriteByte(one[0]);
        }

        var text = Decode(line.ToArray());
        return text.EndsWith('\r') ? text[..^1] : text;
    }

    /// <summary>The first line of the file at <paramref name="path"/>, as <see cref="ReadFirstLine(Stream, int, string)"/>.</summary>
    public static string ReadFirstLine(string path, int cap, string input)
    {
        using var stream = Open(path, input);
        return ReadFirstLine(stream, cap, input);
    }

    /// <summary>Opens <paramref name="path"/> for reading; an error names the real cause.</summary>
    public static FileStream Open(string path, string input)
    {
        if (Directory.Exists(path))
        {
            throw new InputException(input, "is a directory");
        }

        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException(input, Describe(e, path), e);
        }
    }

    /// <summary>The cause of a read failure in a few words, for "cannot read (…)" messages.</summary>
    /// <summary>
    /// Why a file could not be written at <paramref name="path"/>: "is a directory" (Linux reports
    /// creating a file over a directory as permission denied), "no such directory" for a missing folder
    /// on the way (rather than "no such file"), "permission denied", or the system's first line.
    /// </summary>
    public static string DescribeOutput(Exception e, string path) => e switch
    {
        _ when Directory.Exists(path) => "is a directory",
        DirectoryNotFoundException or FileNotFoundException => $"no such directory: {Path.GetDirectoryName(Path.GetFullPath(path))}",
        UnauthorizedAccessException => "permission denied",
        PathTooLongException => "path too long",
        _ => e.Message.Split('\n')[0].TrimEnd('.'),
    };

    public static string Describe(Exception e, string? path = null) => e switch
    {
        InputException input => input.Reason,
        FileNotFoundException or DirectoryNotFoundException => "no such file",
        UnauthorizedAccessException when path is not null && Directory.Exists(path) => "is a directory",
        UnauthorizedAccessException => "permission denied",
        PathTooLongException => "path too long",
        _ => e.Message.Split('\n')[0].TrimEnd('.'),
    };

    /// <summary>A byte count as the limits are documented: "64 KiB", "1 MiB", "512 MiB".</summary>
    public static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 when bytes % (1L << 30) == 0 => $"{bytes >> 30} GiB",
        >= 1L << 20 when bytes % (1L << 20) == 0 => $"{bytes >> 20} MiB",
        >= 1L << 10 when bytes % (1L << 10) == 0 => $"{bytes >> 10} KiB",
        _ => $"{bytes} bytes",
    };

    private static InputException TooLarge(string input, long cap) =>
        new(input, $"larger than the {Size(cap)} limit (see docs/limits.md)") { TooLarge = true };

    private static string Decode(byte[] bytes)
    {
        using var reader = new StreamReader(new MemoryStream(bytes, writable: false), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }
}
