using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Keywarden.Detection.Sources;

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

/// <summary>
/// A local file of CloudTrail records, its form and whether it is gzipped; <paramref name="Source"/> names
/// where it came from when that is not <paramref name="Path"/> (a zip member unpacked: archive.zip!member).
/// </summary>
public sealed record TrailFile(string Path, TrailForm Form, bool Gzip, string? Source = null)
{
    /// <summary>How messages name the file.</summary>
    public string Name => Source ?? Path;
}

/// <summary>Thrown for input a user can fix: a missing path, a file that holds no records. The message says what and where.</summary>
public sealed class TrailInputException : Exception
{
    public TrailInputException() { }
    public TrailInputException(string message) : base(message) { }
    public TrailInputException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>What a search for trail files set aside: files that hold no records, and files or folders that could not be read.</summary>
public sealed class TrailFileLog
{
    /// <summary>"path: why" of each file skipped because it holds no CloudTrail records (digests, other JSON, empty files).</summary>
    public List<string> Skipped { get; } = [];

    /// <summary>"path: why" of each file or folder that could not be read; the investigation of the rest is partial.</summary>
    public List<string> Unreadable { get; } = [];
}

/// <summary>
/// Finds the trail files under a path: looks inside each file (not at its name) for gzip, zip and the
/// JSON form. Zip archives are unpacked, streaming, into a work folder, because DuckDB cannot read
/// inside them. Digest files and files that hold no JSON are skipped when found in a folder; a file
/// named explicitly must be a trail file. Symbolic links to folders are not followed (a link can point
/// back up the tree), and a file whose size is 0 (empty, or a FIFO or device, which report no size) is
/// never opened, so a FIFO cannot make the walk wait for a writer.
/// </summary>
public static class TrailFileFinder
{
    /// <summary>Zip archives inside zip archives are opened to this depth, as `scan --archive-depth` does by default.</summary>
    public const int MaxZipDepth = 3;

    /// <summary>The bytes one zip archive may inflate to, nested archives included: scan's `--max-archive-size` default (1024 MiB).</summary>
    public const long DefaultMaxZipBytes = 1L << 30;

    public static IReadOnlyList<TrailFile> Find(string path, string workFolder, TrailFileLog? log = null, CancellationToken cancellationToken = default) =>
        Find(path, workFolder, log, DefaultMaxZipBytes, cancellationToken);

    /// <summary>
    /// The trail files at <paramref name="path"/>. Without a <paramref name="log"/>, any file of a folder that
    /// cannot be read is an error; with one, it is listed there and the others are still found.
    /// </summary>
    public static IReadOnlyList<TrailFile> Find(string path, string workFolder, TrailFileLog? log, long maxZipBytes, CancellationToken cancellationToken)
    {
        var found = new List<TrailFile>();
        var context = new FindContext(workFolder, found, log, maxZipBytes, cancellationToken);
        if (Directory.Exists(path))
        {
            foreach (var file in Walk(path, context).Order(StringComparer.Ordinal))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (IsDigestPath(file))
                {
                    continue;
                }

                Add(file, context, explicitlyNamed: false, depth: 0, budget: null);
            }
        }
        else if (File.Exists(path))
        {
            Add(path, context, explicitlyNamed: true, depth: 0, budget: null);
        }
        else
        {
            throw new TrailInputException($"{path}: no such file or directory");
        }

        return found;
    }

    private sealed record FindContext(string WorkFolder, List<TrailFile> Found, TrailFileLog? Log, long MaxZipBytes, CancellationToken CancellationToken)
    {
        public void Unreadable(string problem, Exception? e = null)
        {
            if (Log is null)
            {
                throw new TrailInputException(problem, e!);
            }

            Log.Unreadable.Add(problem);
        }

        public void Skipped(string problem) => Log?.Skipped.Add(problem);
    }

    /// <summary>Every file under <paramref name="root"/>, without following links to folders; a folder that cannot be listed is put in the log.</summary>
    internal static List<string> Walk(string root, TrailFileLog log, CancellationToken cancellationToken) =>
        Walk(root, new FindContext(root, [], log, DefaultMaxZipBytes, cancellationToken));

    private static List<string> Walk(string root, FindContext context)
    {
        var files = new List<string>();
        var pending = new Stack<string>();
        pending.Push(root);
        while (pending.TryPop(out var folder))
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            try
            {
                foreach (var entry in new DirectoryInfo(folder).EnumerateFileSystemInfos("*", new EnumerationOptions { IgnoreInaccessible = false, AttributesToSkip = FileAttributes.None, MatchType = MatchType.Simple }))
                {
                    if (entry is DirectoryInfo directory)
                    {
                        if (directory.LinkTarget is not null)
                        {
                            context.Skipped($"{entry.FullName}: a symbolic link to a folder (not followed)");
                            continue;
                        }

                        pending.Push(entry.FullName);
                    }
                    else if (entry.LinkTarget is not null && Directory.Exists(entry.FullName))
                    {
                        context.Skipped($"{entry.FullName}: a symbolic link to a folder (not followed)");
                    }
                    else
                    {
                        files.Add(entry.FullName);
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                context.Unreadable($"{folder}: cannot read the folder: {BoundedInput.Describe(e, folder)}", e);
            }
        }

        return files;
    }

    /// <summary>
    /// The size the file system states for <paramref name="path"/>, through symbolic links (FileInfo.Length is
    /// the link's own): 0 for an empty file, and for a FIFO or a device, which must not be opened to be read whole.
    /// </summary>
    internal static long StatedLength(string path)
    {
        var info = new FileInfo(path);
        return info.LinkTarget is null ? info.Length : info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo target ? target.Length : 0;
    }

    /// <summary>CloudTrail writes digest files beside the logs (CloudTrail-Digest/); they hold no records.</summary>
    internal static bool IsDigestPath(string path) =>
        path.Contains("CloudTrail-Digest", StringComparison.Ordinal) || path.Contains("CloudTrail-Insight", StringComparison.Ordinal);

    private static void Add(string path, FindContext context, bool explicitlyNamed, int depth, ZipBudget? budget, string? source = null)
    {
        var name = source ?? path;
        byte[] head;
        try
        {
            // A FIFO or a device reports size 0, as an empty file does: none is opened (a FIFO would wait for a writer).
            if (StatedLength(path) == 0)
            {
                if (explicitlyNamed)
                {
                    throw new TrailInputException($"{name}: empty, or not a regular file (a FIFO or a device): no CloudTrail records");
                }

                context.Skipped($"{name}: empty, or not a regular file");
                return;
            }

            using var stream = BoundedInput.Open(path, path);
            head = new byte[4];
            var read = stream.ReadAtLeast(head, 4, throwOnEndOfStream: false);
            head = head[..read];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var problem = $"{name}: cannot read: {BoundedInput.Describe(e, path)}";
            if (explicitlyNamed)
            {
                throw new TrailInputException(problem, e);
            }

            context.Unreadable(problem, e);
            return;
        }

        if (head is [0x50, 0x4B, 0x03, 0x04, ..] || head is [0x50, 0x4B, 0x05, 0x06, ..])
        {
            if (depth >= MaxZipDepth)
            {
                context.Skipped($"{name}: zip nested deeper than {MaxZipDepth}");
                return;
            }

            Unzip(path, context, depth, budget ?? new ZipBudget(path, context.MaxZipBytes));
            return;
        }

        var gzip = head is [0x1F, 0x8B, ..];
        TrailForm? form;
        try
        {
            form = SniffForm(path, gzip);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            var problem = $"{name}: cannot read: {Describe(e, path, gzip)}";
            if (explicitlyNamed)
            {
                throw new TrailInputException(problem, e);
            }

            context.Unreadable(problem, e);
            return;
        }

        if (form is null)
        {
            if (explicitlyNamed)
            {
                throw new TrailInputException($"{name}: not CloudTrail records (expected {{\"Records\":[...]}}, a JSON array or JSON lines)");
            }

            context.Skipped($"{name}: not CloudTrail records");
            return;
        }

        context.Found.Add(new TrailFile(path, form.Value, gzip, source));
    }

    /// <summary>Why a file could not be read, in a few words: a gzip file cut short says so.</summary>
    internal static string Describe(Exception e, string path, bool gzip) => e switch
    {
        EndOfStreamException or ICSharpCode.SharpZipLib.GZip.GZipException when gzip => "truncated or damaged gzip (the file ends before its compressed data does)",
        _ => BoundedInput.Describe(e, path),
    };

    /// <summary>
    /// Unpacks the members of a zip archive into the work folder, counting every inflated byte against the
    /// budget of the outermost archive. First the archives nested in it are unpacked (they are small) and the
    /// sizes all members state are added up: a bomb whose headers are honest stops there, before a byte of its
    /// data is written. Then the members are unpacked. SharpZipLib inflates a member to the end of its
    /// compressed data, so a header that under-states the size is not trusted (System.IO.Compression stops at
    /// the stated size, cutting the member short without a word): such a member stops at the budget instead.
    /// </summary>
    private static void Unzip(string path, FindContext context, int depth, ZipBudget budget)
    {
        var members = new List<ZipMember>();
        var nested = new List<string>();
        try
        {
            var stated = Explore(path, path, context, depth, budget, members, nested);
            budget.Check(stated);
            foreach (var archive in members.GroupBy(m => (m.Archive, m.Display)))
            {
                try
                {
                    using var zip = OpenZip(archive.Key.Archive);
                    foreach (var member in archive)
                    {
                        context.CancellationToken.ThrowIfCancellationRequested();
                        Extract(zip, zip.GetEntry(member.Name), $"{archive.Key.Display}!{member.Name}", context, budget);
                    }
                }
                catch (Exception e) when (e is ICSharpCode.SharpZipLib.SharpZipBaseException or InvalidDataException or EndOfStreamException)
                {
                    context.Unreadable($"{archive.Key.Display}: not a readable zip archive: {FirstLine(e.Message)}", e);
                }
            }
        }
        finally
        {
            foreach (var file in nested)
            {
                File.Delete(file);
            }
        }
    }

    private sealed record ZipMember(string Archive, string Display, string Name);

    private static ICSharpCode.SharpZipLib.Zip.ZipFile OpenZip(string path) => new(BoundedInput.Open(path, path), leaveOpen: false);

    /// <summary>
    /// Lists the members of <paramref name="path"/> that are not archives and unpacks those that are, to
    /// <see cref="MaxZipDepth"/>; returns the sizes the listed members state.
    /// </summary>
    private static long Explore(string path, string display, FindContext context, int depth, ZipBudget budget, List<ZipMember> members, List<string> nested)
    {
        long stated = 0;
        try
        {
            using var zip = OpenZip(path);
            var head = new byte[4];
            foreach (var entry in zip.Cast<ICSharpCode.SharpZipLib.Zip.ZipEntry>().Where(e => e.IsFile && !IsDigestPath(e.Name)))
            {
                context.CancellationToken.ThrowIfCancellationRequested();
                var name = $"{display}!{entry.Name}";
                if (entry.IsCrypted)
                {
                    context.Unreadable($"{name}: password-protected zip member");
                    continue;
                }

                using var source = zip.GetInputStream(entry);
                var length = source.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
                if (head.AsSpan(0, length) is not ([0x50, 0x4B, 0x03, 0x04, ..] or [0x50, 0x4B, 0x05, 0x06, ..]))
                {
                    members.Add(new ZipMember(path, display, entry.Name));
                    stated += Math.Max(0, entry.Size);
                    continue;
                }

                if (depth + 1 >= MaxZipDepth)
                {
                    context.Skipped($"{name}: zip nested deeper than {MaxZipDepth}");
                    continue;
                }

                Directory.CreateDirectory(context.WorkFolder);
                var inner = Path.Combine(context.WorkFolder, $"zip-{Guid.NewGuid():N}");
                nested.Add(inner);
                using (var destination = File.Create(inner))
                {
                    budget.Consume(length);
                    destination.Write(head, 0, length);
                    budget.Copy(source, destination, context.CancellationToken);
                }

                stated += Explore(inner, name, context, depth + 1, budget, members, nested);
            }
        }
        catch (Exception e) when (e is ICSharpCode.SharpZipLib.SharpZipBaseException or InvalidDataException or EndOfStreamException)
        {
            context.Unreadable($"{display}: not a readable zip archive: {FirstLine(e.Message)}", e);
        }

        return stated;
    }

    /// <summary>
    /// Writes a member out when its start can be a trail file (gzip or JSON): a member of zeros or text costs
    /// no disk. Every byte read counts against the budget.
    /// </summary>
    private static void Extract(ICSharpCode.SharpZipLib.Zip.ZipFile zip, ICSharpCode.SharpZipLib.Zip.ZipEntry entry, string display, FindContext context, ZipBudget budget)
    {
        var target = Path.Combine(context.WorkFolder, $"zip-{Guid.NewGuid():N}");
        using (var source = zip.GetInputStream(entry))
        {
            var head = new byte[SniffBytes];
            var length = source.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            budget.Consume(length);
            if (!MayHoldRecords(head.AsSpan(0, length)))
            {
                context.Skipped($"{display}: not CloudTrail records");
                return;
            }

            Directory.CreateDirectory(context.WorkFolder);
            using var destination = File.Create(target);
            destination.Write(head, 0, length);
            budget.Copy(source, destination, context.CancellationToken);
        }

        var before = context.Found.Count;
        Add(target, context, explicitlyNamed: false, depth: MaxZipDepth, budget, display);
        if (context.Found.Count == before || context.Found[^1].Path != target)
        {
            // Nothing reads a member that holds no records again.
            File.Delete(target);
        }
    }

    private static string FirstLine(string message) => message.Split('\n')[0].Trim().TrimEnd('.');

    /// <summary>The inflated bytes one outermost zip archive may write, nested archives included.</summary>
    private sealed class ZipBudget(string archive, long limit)
    {
        private readonly long _limit = limit;
        private long _remaining = limit;

        public void Check(long bytes)
        {
            if (bytes > _remaining)
            {
                throw Exceeded();
            }
        }

        public void Consume(int bytes)
        {
            _remaining -= bytes;
            if (_remaining < 0)
            {
                throw Exceeded();
            }
        }

        public void Copy(Stream source, Stream destination, CancellationToken cancellationToken)
        {
            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(81920);
            try
            {
                int read;
                while ((read = source.Read(buffer, 0, buffer.Length)) > 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    Consume(read);
                    destination.Write(buffer, 0, read);
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        private TrailInputException Exceeded() =>
            new($"{archive}: zip archive larger than the {BoundedInput.Size(_limit)} limit once unpacked, nested archives included (see docs/limits.md)");
    }

    private const int SniffBytes = 4 * 1024;

    /// <summary>Whether bytes can start a trail file: a gzip header, or JSON's first character after white space and a byte-order mark.</summary>
    private static bool MayHoldRecords(ReadOnlySpan<byte> head)
    {
        if (head is [0x1F, 0x8B, ..])
        {
            return true;
        }

        if (head.StartsWith(Encoding.UTF8.Preamble))
        {
            head = head[3..];
        }

        var start = head.IndexOfAnyExcept(" \t\r\n"u8);
        return start >= 0 && head[start] is (byte)'{' or (byte)'[';
    }

    /// <summary>Reads the start of the file: '[' is an array; '{' whose first property is "Records" is CloudTrail's form; another object starts JSON lines.</summary>
    internal static TrailForm? SniffForm(string path, bool gzip)
    {
        using var file = File.OpenRead(path);
        using Stream stream = gzip ? new GZipStream(file, CompressionMode.Decompress) : file;
        var buffer = new byte[SniffBytes];
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
