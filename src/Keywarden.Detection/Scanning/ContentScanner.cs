using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Keywarden.Detection.Credentials;
using Keywarden.Detection.Findings;
using Keywarden.Detection.Sources;

namespace Keywarden.Detection.Scanning;

/// <summary>
/// Scans one stream of content: sniffs what it is (text, UTF-16 text, an archive, or binary to skip),
/// then reads text in overlapping chunks of bounded size so a multi-GB file or a 100 MB line costs the
/// same few megabytes of memory. Not thread-safe: one instance per worker.
/// </summary>
internal sealed class ContentScanner
{
    internal const int ChunkChars = 1 << 20;
    private const int SniffBytes = 8000;
    private const int Overlap = 2 * TextScanner.Margin;

    private readonly ScanSession _session;
    private readonly byte[] _sniff = new byte[SniffBytes];

    // Allocated when first needed, and text buffers only as large as the text: three megabytes of
    // zeroed memory cost a pre-commit check of a few small files more than its scanning does.
    private byte[]? _bytes;
    private char[] _chars = [];
    private readonly TextScanner _text = new();
    private readonly List<RawDetection> _raw = [];
    private readonly Dictionary<string, int> _occurrences = new(StringComparer.Ordinal);

    public ContentScanner(ScanSession session) => _session = session;

    /// <summary>The place in the output of the item this worker scans, when findings are streamed (<see cref="FindingStream"/>).</summary>
    internal long Sequence { get; set; }

    /// <summary>Scans <paramref name="stream"/> as the content at <paramref name="path"/>; findings go to <paramref name="findings"/>.</summary>
    /// <param name="stream">The content.</param>
    /// <param name="path">How findings name it.</param>
    /// <param name="findings">Where findings are added.</param>
    /// <param name="depth">How many archives enclose this content.</param>
    /// <param name="budget">The uncompressed-byte budget of the enclosing top-level archive, if any.</param>
    public void Scan(Stream stream, string path, int depth, ArchiveBudget? budget, List<Finding> findings)
    {
        var sniffed = ReadFully(stream, _sniff);
        var kind = ContentSniffer.Sniff(_sniff.AsSpan(0, sniffed));
        switch (kind)
        {
            case ContentKind.Binary:
                _session.Progress.AddBinarySkipped();
                return;
            case ContentKind.Zip or ContentKind.Gzip or ContentKind.Tar:
                ScanArchive(kind, Replay(stream, sniffed), path, depth, budget, findings);
                return;
            default:
                ScanText(stream, ReadOnlyMemory<byte>.Empty, sniffed, kind, path, findings);
                return;
        }
    }

    /// <summary>
    /// Scans content already in memory (a blob read from a pack) without copying it through the read
    /// buffer: text is widened straight from <paramref name="data"/>.
    /// </summary>
    public void Scan(ReadOnlyMemory<byte> data, string path, List<Finding> findings)
    {
        var kind = ContentSniffer.Sniff(data.Span[..Math.Min(data.Length, SniffBytes)]);
        switch (kind)
        {
            case ContentKind.Binary:
                _session.Progress.AddBinarySkipped();
                return;
            case ContentKind.Zip or ContentKind.Gzip or ContentKind.Tar:
                var array = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(data, out var segment) ? segment : new ArraySegment<byte>(data.ToArray());
                ScanArchive(kind, new MemoryStream(array.Array!, array.Offset, array.Count, writable: false), path, depth: 0, budget: null, findings);
                return;
            default:
                ScanText(null, data, 0, kind, path, findings);
                return;
        }
    }

    private Stream Replay(Stream stream, int sniffed)
    {
        if (stream.CanSeek)
        {
            stream.Seek(-sniffed, SeekOrigin.Current);
            return stream;
        }

        return new ReplayStream(_sniff.AsSpan(0, sniffed).ToArray(), stream);
    }

    /// <summary>Reads text from <paramref name="stream"/> (after the sniffed bytes), or from <paramref name="memory"/> when there is no stream.</summary>
    private void ScanText(Stream? stream, ReadOnlyMemory<byte> memory, int sniffed, ContentKind kind, string path, List<Finding> findings)
    {
        _occurrences.Clear();
        Decoder? decoder = kind switch
        {
            ContentKind.Utf16LittleEndian => Encoding.Unicode.GetDecoder(),
            ContentKind.Utf16BigEndian => Encoding.BigEndianUnicode.GetDecoder(),
            _ => null,
        };
        var utf8Columns = decoder is null;

        if (stream is not null)
        {
            _bytes ??= new byte[ChunkChars];
            _sniff.AsSpan(0, sniffed).CopyTo(_bytes);
        }

        var pendingBytes = sniffed;
        var memoryPosition = 0;
        var carried = 0;
        var first = true;
        var line = 1;   // line number of _chars[0]
        var column = 1; // column of _chars[0]
        long total = 0;
        while (true)
        {
            _session.CancellationToken.ThrowIfCancellationRequested();
            ReadOnlySpan<byte> block;
            bool eof;
            if (stream is null)
            {
                var n = Math.Min(ChunkChars, memory.Length - memoryPosition);
                block = memory.Span.Slice(memoryPosition, n);
                memoryPosition += n;
                eof = memoryPosition >= memory.Length;
            }
            else
            {
                var read = ReadFully(stream, _bytes!.AsSpan(pendingBytes));
                var byteCount = pendingBytes + read;
                pendingBytes = 0;
                eof = byteCount < _bytes!.Length;
                block = _bytes!.AsSpan(0, byteCount);
            }

            // A byte gives at most one character (Latin-1), UTF-16 fewer, plus what a decoder held back.
            EnsureChars(carried, carried + block.Length + 2);

            total += block.Length;
            int charCount;
            if (decoder is null)
            {
                // Latin-1 widens each byte to one char (vectorised), so offsets stay byte offsets and
                // every ASCII key, secret and keyword of UTF-8 text matches as itself.
                charCount = Encoding.Latin1.GetChars(block, _chars.AsSpan(carried));
            }
            else
            {
                charCount = decoder.GetChars(block, _chars.AsSpan(carried), flush: eof);
            }

            var length = carried + charCount;
            var text = _chars.AsSpan(0, length);
            var ownStart = first ? 0 : TextScanner.Margin;
            var ownEnd = eof ? length : length - TextScanner.Margin;
            _raw.Clear();
            _text.Scan(text, ownStart, ownEnd, _raw, latin1: decoder is null);
            if (_raw.Count > 0)
            {
                AddFindings(text, line, column, utf8Columns, path, findings);
            }

            // A full chunk always decodes to more than the overlap, so there is text to drop.
            if (eof)
            {
                break;
            }

            var drop = length - Overlap;
            (line, column) = Advance(text[..drop], line, column, utf8Columns);
            text[drop..].CopyTo(_chars);
            carried = Overlap;
            first = false;
        }

        _session.Progress.AddFile(total);
    }

    private void AddFindings(ReadOnlySpan<char> text, int baseLine, int baseColumn, bool utf8Columns, string path, List<Finding> findings)
    {
        var line = baseLine;
        var counted = 0;
        var added = 0;
        foreach (var raw in _raw)
        {
            line += text[counted..raw.Anchor].Count('\n');
            counted = raw.Anchor;
            var lineStart = text[..raw.Anchor].LastIndexOf('\n');
            var column = lineStart >= 0
                ? CountColumns(text[(lineStart + 1)..raw.Anchor], utf8Columns) + 1
                : baseColumn + CountColumns(text[..raw.Anchor], utf8Columns);

            if (raw.Allowed)
            {
                _session.AddSuppressed();
                continue;
            }

            var secret = raw.Secret is null ? null : new SecretValue(raw.Secret);
            var token = raw.SessionToken is null ? null : new SecretValue(raw.SessionToken);
            var accountId = raw.KeyId is null ? null : AccessKeyId.DecodeAccountId(raw.KeyId);
            var identity = raw.KeyId ?? secret?.Sha256 ?? token!.Sha256;
            var occurrenceKey = string.Concat(new[] { raw.RuleId, "|", identity, "|", secret?.Sha256 });
            _occurrences[occurrenceKey] = (_occurrences.TryGetValue(occurrenceKey, out var seen) ? seen : 0) + 1;

            var finding = new Finding
            {
                RuleId = raw.RuleId,
                KeyId = raw.KeyId,
                Classification = Classifier.Classify(raw.KeyId, raw.Secret, accountId),
                AccountId = accountId,
                Path = path,
                Line = line,
                Column = column,
                Secret = secret,
                SessionToken = token,
                Fingerprint = FindingFingerprint.Compute(raw.RuleId, path, identity, secret?.Sha256, _occurrences[occurrenceKey]),
            };
            if (_session.TryRecord(finding))
            {
                findings.Add(finding);
                added++;
            }
        }

        _session.Progress.AddFindings(added);
        if (_session.Stream is { } stream && findings.Count > 0)
        {
            // Final: a later chunk never pairs with what this one found.
            stream.Add(Sequence, findings, _session);
        }
    }

    /// <summary>Grows the text buffer to hold <paramref name="needed"/> characters (at most a chunk and its overlap), keeping the first <paramref name="keep"/>.</summary>
    private void EnsureChars(int keep, int needed)
    {
        needed = Math.Min(needed, ChunkChars + Overlap);
        if (_chars.Length >= needed)
        {
            return;
        }

        var larger = new char[Math.Min(Math.Max(needed, Math.Max(4096, _chars.Length * 2)), ChunkChars + Overlap)];
        _chars.AsSpan(0, keep).CopyTo(larger);
        _chars = larger;
    }

    /// <summary>Line and column of the character after <paramref name="dropped"/>.</summary>
    private static (int Line, int Column) Advance(ReadOnlySpan<char> dropped, int line, int column, bool utf8Columns)
    {
        var newlines = dropped.Count('\n');
        if (newlines == 0)
        {
            return (line, column + CountColumns(dropped, utf8Columns));
        }

        var last = dropped.LastIndexOf('\n');
        return (line + newlines, CountColumns(dropped[(last + 1)..], utf8Columns) + 1);
    }

    /// <summary>Characters in <paramref name="span"/>: for UTF-8 read as Latin-1, bytes that start a code point.</summary>
    private static int CountColumns(ReadOnlySpan<char> span, bool utf8)
    {
        if (!utf8)
        {
            return span.Length;
        }

        var continuation = 0;
        foreach (var c in span)
        {
            if (c is >= (char)0x80 and < (char)0xC0)
            {
                continuation++;
            }
        }

        return span.Length - continuation;
    }

    private void ScanArchive(ContentKind kind, Stream stream, string path, int depth, ArchiveBudget? budget, List<Finding> findings)
    {
        if (depth >= _session.Options.MaxArchiveDepth)
        {
            if (_session.Options.MaxArchiveDepth > 0)
            {
                _session.AddWarning(path, $"archive not opened: nested deeper than --archive-depth {_session.Options.MaxArchiveDepth}");
            }

            return;
        }

        _session.Progress.AddArchive();
        budget ??= new ArchiveBudget(_session.Options.MaxArchiveBytes);
        try
        {
            switch (kind)
            {
                case ContentKind.Zip:
                    ScanZip(stream, path, depth, budget, findings);
                    break;
                case ContentKind.Gzip:
                    // The gzip layer is transparent: a .tar.gz's members are named a.tar.gz!member.
                    using (var gzip = new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true))
                    using (var counted = new BudgetStream(gzip, budget))
                    {
                        Scan(counted, path, depth, budget, findings);
                    }

                    break;
                case ContentKind.Tar:
                    ScanTar(stream, path, depth, budget, findings);
                    break;
            }
        }
        catch (ArchiveBudgetExceededException)
        {
            _session.AddWarning(path, $"archive larger than the {_session.Options.MaxArchiveBytes / (1024 * 1024)} MiB limit (--max-archive-size): the rest was not scanned");
        }
        catch (Exception e) when (e is InvalidDataException or IOException or EndOfStreamException or FormatException or NotSupportedException or ICSharpCode.SharpZipLib.SharpZipBaseException)
        {
            _session.AddError(path, $"cannot read archive: {ProblemText.Describe(e)}");
        }
    }

    private void ScanZip(Stream stream, string path, int depth, ArchiveBudget budget, List<Finding> findings)
    {
        using var seekable = Seekable(stream, budget);
        foreach (var member in ZipMembers.List(seekable))
        {
            _session.CancellationToken.ThrowIfCancellationRequested();
            var memberPath = MemberPath(path, member.Name);
            if (member.Open is null)
            {
                _session.AddWarning(memberPath, member.Unreadable!);
                continue;
            }

            using var entryStream = new BudgetStream(member.Open(), budget);
            Scan(entryStream, memberPath, depth + 1, budget, findings);
            if (entryStream.BytesRead > member.DeclaredSize)
            {
                // Read to the real end all the same; a header that under-states its member is worth knowing about.
                _session.AddWarning(memberPath, $"the zip headers declare {member.DeclaredSize:N0} bytes, the data holds more: read to its end");
            }
        }
    }

    private void ScanTar(Stream stream, string path, int depth, ArchiveBudget budget, List<Finding> findings)
    {
        using var tar = new TarReader(stream, leaveOpen: true);
        while (tar.GetNextEntry(copyData: false) is { } entry)
        {
            _session.CancellationToken.ThrowIfCancellationRequested();
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile) || entry.DataStream is null)
            {
                continue;
            }

            using var entryStream = new BudgetStream(entry.DataStream, budget);
            Scan(entryStream, MemberPath(path, entry.Name), depth + 1, budget, findings);
        }
    }

    /// <summary>Zip needs to seek: a zip inside an archive is copied to memory, or to a temporary file when large.</summary>
    private static Stream Seekable(Stream stream, ArchiveBudget budget)
    {
        if (stream.CanSeek)
        {
            return new NonClosingStream(stream);
        }

        const long InMemoryLimit = 64L * 1024 * 1024;
        var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = stream.Read(chunk)) > 0)
        {
            budget.Consume(read);
            if (buffer.Length + read > InMemoryLimit)
            {
                var file = new FileStream(Path.GetTempFileName(), FileMode.Create, FileAccess.ReadWrite, FileShare.None, 81920, FileOptions.DeleteOnClose);
                try
                {
                    buffer.Position = 0;
                    buffer.CopyTo(file);
                    file.Write(chunk, 0, read);
                    CopyRest(stream, file, budget);
                    file.Position = 0;
                    return file;
                }
                catch
                {
                    // Over the budget, cancelled, or a damaged archive: DeleteOnClose removes it only when closed.
                    file.Dispose();
                    throw;
                }
            }

            buffer.Write(chunk, 0, read);
        }

        buffer.Position = 0;
        return buffer;
    }

    private static void CopyRest(Stream source, Stream destination, ArchiveBudget budget)
    {
        var chunk = new byte[81920];
        int read;
        while ((read = source.Read(chunk)) > 0)
        {
            budget.Consume(read);
            destination.Write(chunk, 0, read);
        }
    }

    private static string MemberPath(string archivePath, string member) =>
        string.Concat(archivePath, "!", member.Replace('\\', '/').TrimStart('/'));

    /// <summary>Reads until <paramref name="buffer"/> is full or the stream ends.</summary>
    internal static int ReadFully(Stream stream, Span<byte> buffer)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var read = stream.Read(buffer[total..]);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }
}
