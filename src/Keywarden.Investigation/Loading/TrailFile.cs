using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace Keywarden.Investigation.Loading;

/// <summary>How a file holds its records.</summary>
public enum TrailForm
{
    /// <summary>CloudTrail's own <c>{"Records":[...]}</c>.</summary>
    Records,

    /// <summary>A bare JSON array of records.</summary>
    Array,

    /// <summary>One record per line (NDJSON), or a single record.</summary>
    Lines,
}

/// <summary>A local file of CloudTrail records, its form and whether it is gzipped.</summary>
public sealed record TrailFile(string Path, TrailForm Form, bool Gzip);

/// <summary>Thrown for input a user can fix: a missing path, a file that holds no records. The message says what and where.</summary>
public sealed class TrailInputException : Exception
{
    public TrailInputException() { }
    public TrailInputException(string message) : base(message) { }
    public TrailInputException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// Finds the trail files under a path: looks inside each file (not at its name) for gzip, zip and the
/// JSON form. Zip archives are unpacked, streaming, into a work folder, because DuckDB cannot read
/// inside them. Digest files and files that hold no JSON are skipped when found in a folder; a file
/// named explicitly must be a trail file.
/// </summary>
public static class TrailFileFinder
{
    private const int MaxZipDepth = 3;

    public static IReadOnlyList<TrailFile> Find(string path, string workFolder, ICollection<string>? skipped = null, CancellationToken cancellationToken = default)
    {
        var found = new List<TrailFile>();
        if (Directory.Exists(path))
        {
            var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = false, AttributesToSkip = FileAttributes.None, MatchType = MatchType.Simple };
            foreach (var file in Directory.EnumerateFiles(path, "*", options).Order(StringComparer.Ordinal))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (IsDigestPath(file))
                {
                    continue;
                }

                Add(file, workFolder, found, skipped, explicitlyNamed: false, depth: 0);
            }
        }
        else if (File.Exists(path))
        {
            Add(path, workFolder, found, skipped, explicitlyNamed: true, depth: 0);
        }
        else
        {
            throw new TrailInputException($"{path}: no such file or directory");
        }

        return found;
    }

    /// <summary>CloudTrail writes digest files beside the logs (CloudTrail-Digest/); they hold no records.</summary>
    internal static bool IsDigestPath(string path) =>
        path.Contains("CloudTrail-Digest", StringComparison.Ordinal) || path.Contains("CloudTrail-Insight", StringComparison.Ordinal);

    private static void Add(string path, string workFolder, List<TrailFile> found, ICollection<string>? skipped, bool explicitlyNamed, int depth)
    {
        byte[] head;
        try
        {
            using var stream = File.OpenRead(path);
            head = new byte[4];
            var read = stream.ReadAtLeast(head, 4, throwOnEndOfStream: false);
            head = head[..read];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrailInputException($"{path}: {e.Message.TrimEnd('.')}", e);
        }

        if (head is [0x50, 0x4B, 0x03, 0x04, ..] || head is [0x50, 0x4B, 0x05, 0x06, ..])
        {
            if (depth >= MaxZipDepth)
            {
                skipped?.Add($"{path}: zip nested deeper than {MaxZipDepth}");
                return;
            }

            Unzip(path, workFolder, found, skipped, depth);
            return;
        }

        var gzip = head is [0x1F, 0x8B, ..];
        TrailForm? form;
        try
        {
            form = SniffForm(path, gzip);
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            if (explicitlyNamed)
            {
                throw new TrailInputException($"{path}: cannot read: {e.Message.TrimEnd('.')}", e);
            }

            skipped?.Add($"{path}: {e.Message.TrimEnd('.')}");
            return;
        }

        if (form is null)
        {
            if (explicitlyNamed)
            {
                throw new TrailInputException($"{path}: not CloudTrail records (expected {{\"Records\":[...]}}, a JSON array or JSON lines)");
            }

            skipped?.Add($"{path}: not CloudTrail records");
            return;
        }

        found.Add(new TrailFile(path, form.Value, gzip));
    }

    private static void Unzip(string path, string workFolder, List<TrailFile> found, ICollection<string>? skipped, int depth)
    {
        try
        {
            using var archive = ZipFile.OpenRead(path);
            var index = 0;
            foreach (var entry in archive.Entries)
            {
                if (entry.FullName.EndsWith('/') || IsDigestPath(entry.FullName))
                {
                    continue;
                }

                Directory.CreateDirectory(workFolder);
                var target = System.IO.Path.Combine(workFolder, $"zip-{Guid.NewGuid():N}-{index++}");
                using (var source = entry.Open())
                using (var destination = File.Create(target))
                {
                    source.CopyTo(destination);
                }

                Add(target, workFolder, found, skipped, explicitlyNamed: false, depth + 1);
            }
        }
        catch (InvalidDataException e)
        {
            throw new TrailInputException($"{path}: not a readable zip archive: {e.Message.TrimEnd('.')}", e);
        }
    }

    /// <summary>Reads the start of the file: '[' is an array; '{' whose first property is "Records" is CloudTrail's form; another object starts JSON lines.</summary>
    internal static TrailForm? SniffForm(string path, bool gzip)
    {
        using var file = File.OpenRead(path);
        using Stream stream = gzip ? new GZipStream(file, CompressionMode.Decompress) : file;
        var buffer = new byte[4 * 1024];
        var read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        var span = buffer.AsSpan(0, read);
        if (span.StartsWith(Encoding.UTF8.Preamble))
        {
            span = span[3..];
        }

        var start = 0;
        while (start < span.Length && span[start] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            start++;
        }

        if (start >= span.Length)
        {
            return null;
        }

        if (span[start] == (byte)'[')
        {
            return TrailForm.Array;
        }

        if (span[start] != (byte)'{')
        {
            return null;
        }

        var reader = new Utf8JsonReader(span[start..], isFinalBlock: read < buffer.Length, default);
        try
        {
            if (reader.Read() && reader.TokenType == JsonTokenType.StartObject && reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("Records"u8))
                {
                    return TrailForm.Records;
                }

                // A digest file is one object that starts with awsAccountId: no records.
                return reader.ValueTextEquals("awsAccountId"u8) ? null : TrailForm.Lines;
            }
        }
        catch (JsonException)
        {
            return null;
        }

        return null;
    }
}
