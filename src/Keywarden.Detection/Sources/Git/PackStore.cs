using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using Microsoft.Win32.SafeHandles;

namespace Keywarden.Detection.Sources.Git;

/// <summary>
/// Reads objects straight from a repository's pack files and loose objects, so several threads can
/// inflate at once (git cat-file inflates on one core). Written by hand: no maintained .NET package
/// reads git packs (LibGit2Sharp wraps libgit2, measured 3× slower here than cat-file). Format:
/// git's Documentation/gitformat-pack.txt (pack v2/v3, index v2). Repositories it does not handle
/// (SHA-256 object format, alternates, index v1) are read through cat-file instead.
/// </summary>
internal sealed class PackStore : IDisposable
{
    private readonly string _objects;
    private readonly List<Pack> _packs;

    private PackStore(string objects, List<Pack> packs)
    {
        _objects = objects;
        _packs = packs;
    }

    public IReadOnlyList<Pack> Packs => _packs;

    /// <summary>Opens the object store at <paramref name="objects"/>, or returns null when it needs git itself.</summary>
    public static PackStore? TryOpen(string objects, string repository, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(objects) || File.Exists(Path.Combine(objects, "info", "alternates")))
        {
            return null;
        }

        var format = GitCommand.Run(repository, ["config", "--get", "extensions.objectformat"], cancellationToken, allowFailure: true).Trim();
        if (format.Length > 0 && format != "sha1")
        {
            return null;
        }

        return Open(objects, loadIndexes: true);
    }

    /// <summary>Opens the packs of <paramref name="objects"/> when the caller has checked the repository's format itself; null when one cannot be read.</summary>
    /// <param name="objects">The objects folder.</param>
    /// <param name="loadIndexes">
    /// True: each pack index is read into memory (a history scan looks up every object). False: only
    /// its fan-out table is, and lookups read the index file (a staged check looks up a few objects,
    /// and reading a large repository's index whole would take longer than the check).
    /// </param>
    internal static PackStore? Open(string objects, bool loadIndexes)
    {
        var packs = new List<Pack>();
        try
        {
            foreach (var idx in Directory.EnumerateFiles(Path.Combine(objects, "pack"), "*.idx"))
            {
                var pack = Path.ChangeExtension(idx, ".pack");
                if (!File.Exists(pack))
                {
                    continue;
                }

                var opened = Pack.TryOpen(idx, pack, loadIndexes);
                if (opened is null)
                {
                    packs.ForEach(p => p.Dispose());
                    return null;
                }

                packs.Add(opened);
            }
        }
        catch (DirectoryNotFoundException)
        {
            // No packs yet: loose objects only.
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // A pack removed by a concurrent gc, an unreadable or truncated index: git itself copes.
            packs.ForEach(p => p.Dispose());
            return null;
        }

        return new PackStore(objects, packs);
    }

    public bool TryLocate(ReadOnlySpan<byte> id, out int pack, out long offset)
    {
        for (var i = 0; i < _packs.Count; i++)
        {
            if (_packs[i].TryFind(id, out offset))
            {
                pack = i;
                return true;
            }
        }

        pack = -1;
        offset = 0;
        return false;
    }

    /// <summary>A loose object's content, or null when there is none.</summary>
    public byte[]? ReadLoose(string id, out string type) => ReadLoose(_objects, id, out type);

    /// <summary>The loose objects folder of an ordinary work tree (SHA-1, no alternates), found without starting git; else null.</summary>
    public static string? LooseObjectsOfWorkTree(string repository)
    {
        var gitDir = Path.Combine(repository, ".git");
        var objects = Path.Combine(gitDir, "objects");
        var config = Path.Combine(gitDir, "config");
        try
        {
            return Directory.Exists(objects)
                && !(File.Exists(config) && RepositoryLayout.ReadText(config).Contains("objectformat", StringComparison.OrdinalIgnoreCase))
                ? objects
                : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>A loose object's content from <paramref name="objects"/>, or null when there is none.</summary>
    public static byte[]? ReadLoose(string objects, string id, out string type)
    {
        type = "";
        if (id.Length != 40)
        {
            return null;
        }

        var path = Path.Combine(objects, id[..2], id[2..]);
        if (!File.Exists(path))
        {
            return null;
        }

        // Inflated as it is read, and never past what the header declares (plus one byte, to tell a
        // longer object): a 2 MB object of zeros inflates to 2 GB, and a header can claim any size, so
        // nothing is allocated before the size is checked against PackObjectReader.LargeObject (the
        // caller then reads the object through git cat-file, which streams it).
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        using var zlib = new ZLibStream(file, CompressionMode.Decompress);
        Span<byte> head = stackalloc byte[32];
        var headerLength = 0;
        while (true)
        {
            if (headerLength == head.Length || zlib.Read(head.Slice(headerLength, 1)) == 0)
            {
                throw new InvalidDataException($"loose object {id}: no header");
            }

            if (head[headerLength] == 0)
            {
                break;
            }

            headerLength++;
        }

        // "type size": a truncated object inflates short without an error, so its size is checked.
        var header = System.Text.Encoding.ASCII.GetString(head[..headerLength]).Split(' ');
        if (header.Length != 2 || !long.TryParse(header[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var size))
        {
            throw new InvalidDataException($"loose object {id}: no header");
        }

        if (size > PackObjectReader.LargeObject)
        {
            throw new LargeObjectException();
        }

        var content = GC.AllocateUninitializedArray<byte>((int)size);
        Span<byte> beyond = stackalloc byte[1];
        if (zlib.ReadAtLeast(content, content.Length, throwOnEndOfStream: false) != content.Length || zlib.Read(beyond) != 0)
        {
            throw new InvalidDataException($"loose object {id}: size does not match its header");
        }

        type = header[0];
        return content;
    }

    public void Dispose() => _packs.ForEach(p => p.Dispose());

    /// <summary>One pack and its index (v2): object IDs sorted, with their offsets.</summary>
    internal sealed class Pack : IDisposable
    {
        private const int IdsStart = 8 + 1024;

        /// <summary>The whole index, or null when it is read from <see cref="_indexFile"/> as needed.</summary>
        private readonly byte[]? _index;
        private readonly SafeFileHandle? _indexFile;
        private readonly uint[] _fanout;
        private readonly int _count;
        private readonly long _dataEnd;
        private long[]? _sortedOffsets;

        private Pack(byte[]? index, SafeFileHandle? indexFile, uint[] fanout, SafeFileHandle handle, long dataEnd)
        {
            _index = index;
            _indexFile = indexFile;
            _fanout = fanout;
            _count = (int)fanout[255];
            Handle = handle;
            _dataEnd = dataEnd;
        }

        public SafeFileHandle Handle { get; }

        /// <summary>Where the last entry ends: the pack's trailing checksum.</summary>
        public long DataEnd => _dataEnd;

        public static Pack? TryOpen(string idxPath, string packPath, bool loadIndex = true)
        {
            byte[]? index = null;
            SafeFileHandle? indexFile = null;
            Span<byte> head = stackalloc byte[IdsStart];
            long indexLength;
            if (loadIndex)
            {
                index = File.ReadAllBytes(idxPath);
                indexLength = index.Length;
                index.AsSpan(0, (int)Math.Min(index.Length, IdsStart)).CopyTo(head);
            }
            else
            {
                indexFile = File.OpenHandle(idxPath, FileMode.Open, FileAccess.Read, FileShare.Read);
                try
                {
                    indexLength = RandomAccess.GetLength(indexFile);
                    RandomAccess.Read(indexFile, head, 0);
                }
                catch
                {
                    indexFile.Dispose();
                    throw;
                }
            }

            // Index v2: "\377tOc", version 2, a 256-entry fan-out table, IDs, CRCs, 4-byte offsets, 8-byte offsets.
            var fanout = new uint[256];
            for (var i = 0; i < fanout.Length; i++)
            {
                fanout[i] = BinaryPrimitives.ReadUInt32BigEndian(head[(8 + (i * 4))..]);
            }

            if (indexLength < IdsStart || head[0] != 0xFF || head[1] != (byte)'t' || head[2] != (byte)'O' || head[3] != (byte)'c'
                || BinaryPrimitives.ReadUInt32BigEndian(head[4..]) != 2
                || fanout[255] > int.MaxValue || indexLength < IdsStart + ((long)fanout[255] * 28) + 40)
            {
                indexFile?.Dispose();
                return null; // not v2, or truncated: IDs (20), CRCs (4) and offsets (4) per object, two checksums
            }

            SafeFileHandle? handle = null;
            try
            {
                handle = File.OpenHandle(packPath, FileMode.Open, FileAccess.Read, FileShare.Read);
                return new Pack(index, indexFile, fanout, handle, RandomAccess.GetLength(handle) - 20);
            }
            catch
            {
                handle?.Dispose();
                indexFile?.Dispose();
                throw;
            }
        }

        /// <summary><paramref name="length"/> bytes of the index at <paramref name="position"/>: from memory, or read into <paramref name="scratch"/>.</summary>
        private ReadOnlySpan<byte> IndexBytes(long position, int length, Span<byte> scratch)
        {
            if (_index is not null)
            {
                return _index.AsSpan((int)position, length);
            }

            return RandomAccess.Read(_indexFile!, scratch[..length], position) == length
                ? scratch[..length]
                : throw new InvalidDataException("pack index truncated");
        }

        /// <summary>
        /// Every entry's offset, sorted, to find where an entry ends. Built on first use: sorting the
        /// offsets of a large pack takes milliseconds that a staged check, which reads a few objects
        /// with <see cref="PackObjectReader"/>'s bounded reads, does not spend.
        /// </summary>
        private long[] SortedOffsets => LazyInitializer.EnsureInitialized(ref _sortedOffsets, () =>
        {
            var offsets = new long[_count];
            for (var i = 0; i < _count; i++)
            {
                offsets[i] = OffsetAt(i);
            }

            Array.Sort(offsets);
            return offsets;
        });

        private long OffsetAt(int i)
        {
            Span<byte> scratch = stackalloc byte[8];
            var offsets = IdsStart + ((long)_count * 24); // after IDs (20) and CRC32s (4)
            var small = BinaryPrimitives.ReadUInt32BigEndian(IndexBytes(offsets + (i * 4L), 4, scratch));
            if ((small & 0x80000000) == 0)
            {
                return small;
            }

            var large = offsets + (_count * 4L) + ((small & 0x7FFFFFFF) * 8L);
            return (long)BinaryPrimitives.ReadUInt64BigEndian(IndexBytes(large, 8, scratch));
        }

        public bool TryFind(ReadOnlySpan<byte> id, out long offset)
        {
            Span<byte> scratch = stackalloc byte[20];
            var first = id[0];
            var lo = first == 0 ? 0 : (int)_fanout[first - 1];
            var hi = (int)_fanout[first] - 1;
            while (lo <= hi)
            {
                var mid = (lo + hi) >>> 1;
                var c = IndexBytes(IdsStart + (mid * 20L), 20, scratch).SequenceCompareTo(id);
                if (c == 0)
                {
                    offset = OffsetAt(mid);
                    return true;
                }

                if (c < 0)
                {
                    lo = mid + 1;
                }
                else
                {
                    hi = mid - 1;
                }
            }

            offset = 0;
            return false;
        }

        /// <summary>Where the entry at <paramref name="offset"/> ends: the next entry's offset, or the pack's checksum.</summary>
        public long EndOf(long offset)
        {
            var sorted = SortedOffsets;
            var i = Array.BinarySearch(sorted, offset);
            return i >= 0 && i + 1 < sorted.Length ? sorted[i + 1] : _dataEnd;
        }

        public void Dispose()
        {
            Handle.Dispose();
            _indexFile?.Dispose();
        }
    }
}

/// <summary>
/// Reads objects from packs for one thread: inflates entries and applies delta chains, keeping recently
/// used bases in a small cache (deltas of neighbouring versions share them).
/// </summary>
/// <param name="store">The packs.</param>
/// <param name="exactEntryLengths">
/// True: an entry's length comes from the pack's sorted offsets (built once per pack, worth it for a
/// history scan). False: at most zlib's bound for the entry's size is read, which needs no offsets table
/// (a staged check reads a handful of objects).
/// </param>
internal sealed class PackObjectReader(PackStore store, bool exactEntryLengths = true)
{
    /// <summary>
    /// Objects larger than this are left to git cat-file, which streams them. Each worker may hold one
    /// object this size (and a delta's base and result), so with two workers it keeps a scan's peak memory
    /// well under 512 MB (docs/limits.md, "Scanning").
    /// </summary>
    public const long LargeObject = 64L * 1024 * 1024;

    private const int CacheBudget = 64 * 1024 * 1024;
    // Keyed by pack and offset (pack << 48 | offset), and created on first use: generic collections over
    // reference types only, whose code ReadyToRun precompiles, so a staged check compiles none at start-up.
    private Dictionary<long, CachedBase>? _cache;
    private Queue<CachedBase>? _cacheOrder;
    private long _cached;
    private byte[] _raw = new byte[1 << 16];

    /// <summary>
    /// The object at a pack offset: its type (1 commit, 2 tree, 3 blob, 4 tag) and content. The content
    /// is in a pooled buffer (<see cref="PackObject.Return"/> it after use) unless it came from the cache.
    /// </summary>
    public PackObject Read(int packIndex, long offset) => Read(packIndex, offset, depth: 0, asBase: false);

    private PackObject Read(int packIndex, long offset, int depth, bool asBase)
    {
        if (_cache is not null && _cache.TryGetValue(CacheKey(packIndex, offset), out var hit))
        {
            return new PackObject(hit.Type, hit.Data, hit.Data.Length, Pooled: false);
        }

        if (depth > 10_000)
        {
            throw new InvalidDataException("delta chain too deep");
        }

        var pack = store.Packs[packIndex];
        var entryLength = exactEntryLengths ? pack.EndOf(offset) - offset : BoundedLength(pack, offset);
        // Small entries (deflate expands at most ~1000×, so under 1 MiB cannot exceed LargeObject) are read
        // in one call; a larger one has its header read first, so an object too large for memory is never read whole.
        var length = (int)Math.Min(entryLength, int.MaxValue);
        if (entryLength > 1024 * 1024)
        {
            Span<byte> head = stackalloc byte[16];
            RandomAccess.Read(pack.Handle, head, offset);
            if (EntrySize(head, out _, out _) > LargeObject || entryLength > LargeObject)
            {
                throw new LargeObjectException();
            }
        }

        if (_raw.Length < length)
        {
            _raw = new byte[Math.Max(length, _raw.Length * 2)];
        }

        var raw = _raw.AsSpan(0, length);
        if (RandomAccess.Read(pack.Handle, raw, offset) < length)
        {
            throw new InvalidDataException("pack entry truncated");
        }

        // Entry header: type in bits 4-6 of the first byte, size as a little-endian base-128 number.
        var size = EntrySize(raw, out var type, out var p);
        if (size > LargeObject)
        {
            throw new LargeObjectException();
        }

        int c;
        PackObject result;
        switch (type)
        {
            case 1 or 2 or 3 or 4:
                result = Inflate(type, _raw, p, length - p, (int)size, pooled: !asBase);
                break;
            case 6: // OFS_DELTA: base at a negative offset in this pack
                {
                    c = raw[p++];
                    long back = c & 0x7F;
                    while ((c & 0x80) != 0)
                    {
                        c = raw[p++];
                        back = ((back + 1) << 7) | (long)(c & 0x7F);
                    }

                    // The delta is inflated before the base is read: reading the base reuses the raw buffer.
                    var delta = Inflate(0, _raw, p, length - p, (int)size, pooled: true);
                    result = Patch(Read(packIndex, offset - back, depth + 1, asBase: true), delta, pooled: !asBase);
                    break;
                }

            case 7: // REF_DELTA: base named by ID
                {
                    Span<byte> baseId = stackalloc byte[20];
                    raw.Slice(p, 20).CopyTo(baseId);
                    var delta = Inflate(0, _raw, p + 20, length - p - 20, (int)size, pooled: true);
                    if (!store.TryLocate(baseId, out var basePack, out var baseOffset))
                    {
                        delta.Return();
                        throw new InvalidDataException("delta base missing");
                    }

                    result = Patch(Read(basePack, baseOffset, depth + 1, asBase: true), delta, pooled: !asBase);
                    break;
                }

            default:
                throw new InvalidDataException($"unknown pack entry type {type}");
        }

        // Only objects something was built from are kept: in a pack of whole objects nothing is cached.
        if (asBase)
        {
            Remember(packIndex, offset, result);
        }

        if (_raw.Length > 16 * 1024 * 1024)
        {
            _raw = new byte[1 << 16]; // one huge entry must not pin its buffer for the rest of the scan
        }

        return result;
    }

    /// <summary>
    /// How much of a pack to read for the entry at <paramref name="offset"/> without knowing where it ends:
    /// its header, a delta's base reference, and deflate's worst case for its inflated size (zlib's
    /// compressBound: n + n/4096 + n/16384 + n/2^25 + 13; git writes packs with zlib). An entry that
    /// inflates short of its size is corrupt either way: the caller reads it through git instead.
    /// </summary>
    private static long BoundedLength(PackStore.Pack pack, long offset)
    {
        Span<byte> head = stackalloc byte[16];
        var read = RandomAccess.Read(pack.Handle, head, offset);
        var size = EntrySize(head[..read], out _, out var headerLength);
        var bound = headerLength + 20 + size + (size >> 12) + (size >> 14) + (size >> 25) + 64;
        return Math.Min(bound, pack.DataEnd - offset);
    }

    private static long EntrySize(ReadOnlySpan<byte> entry, out int type, out int headerLength)
    {
        var p = 0;
        int c = entry[p++];
        type = (c >> 4) & 7;
        long size = c & 15;
        var shift = 4;
        while ((c & 0x80) != 0 && p < entry.Length && shift < 57)
        {
            c = entry[p++];
            size |= (long)(c & 0x7F) << shift;
            shift += 7;
        }

        headerLength = p;
        return size;
    }

    private PackObject Patch(PackObject source, PackObject delta, bool pooled)
    {
        try
        {
            return new PackObject(source.Type, ApplyDelta(source.Data.AsSpan(0, source.Length), delta.Data.AsSpan(0, delta.Length), pooled, out var length), length, pooled);
        }
        finally
        {
            delta.Return();
        }
    }

    private static long CacheKey(int pack, long offset) => ((long)pack << 48) | offset;

    private void Remember(int pack, long offset, PackObject entry)
    {
        if (entry.Length > CacheBudget / 8)
        {
            return;
        }

        _cache ??= [];
        _cacheOrder ??= new();
        var cached = new CachedBase(CacheKey(pack, offset), entry.Data, entry.Type);
        _cache[cached.Key] = cached;
        _cacheOrder.Enqueue(cached);
        _cached += entry.Length;
        while (_cached > CacheBudget && _cacheOrder.TryDequeue(out var old))
        {
            if (_cache.Remove(old.Key, out var evicted))
            {
                _cached -= evicted.Data.Length;
            }
        }
    }

    private sealed record CachedBase(long Key, byte[] Data, int Type);

    private static PackObject Inflate(int type, byte[] buffer, int offset, int count, int size, bool pooled)
    {
        // Every byte is written by the inflater: no need to zero a gigabyte of buffers first.
        var output = pooled ? ArrayPool<byte>.Shared.Rent(Math.Max(size, 1)) : GC.AllocateUninitializedArray<byte>(size);
        using var zlib = new ZLibStream(new MemoryStream(buffer, offset, count, writable: false), CompressionMode.Decompress);
        zlib.ReadExactly(output.AsSpan(0, size));
        return new PackObject(type, output, size, pooled);
    }

    /// <summary>Git's delta format: base size, result size, then copy (from the base) and insert instructions.</summary>
    private static byte[] ApplyDelta(ReadOnlySpan<byte> source, ReadOnlySpan<byte> delta, bool pooled, out int length)
    {
        var p = 0;
        ReadSize(delta, ref p); // base size
        var declared = ReadSize(delta, ref p);
        if (declared > LargeObject)
        {
            throw new LargeObjectException();
        }

        var resultSize = (int)declared;
        length = resultSize;
        var result = pooled ? ArrayPool<byte>.Shared.Rent(Math.Max(resultSize, 1)) : GC.AllocateUninitializedArray<byte>(resultSize);
        var q = 0;
        while (p < delta.Length)
        {
            int op = delta[p++];
            if ((op & 0x80) != 0)
            {
                long copyOffset = 0;
                long copySize = 0;
                for (var bit = 0; bit < 4; bit++)
                {
                    if ((op & (1 << bit)) != 0)
                    {
                        copyOffset |= (long)delta[p++] << (8 * bit);
                    }
                }

                for (var bit = 0; bit < 3; bit++)
                {
                    if ((op & (0x10 << bit)) != 0)
                    {
                        copySize |= (long)delta[p++] << (8 * bit);
                    }
                }

                if (copySize == 0)
                {
                    copySize = 0x10000;
                }

                source.Slice((int)copyOffset, (int)copySize).CopyTo(result.AsSpan(q));
                q += (int)copySize;
            }
            else if (op != 0)
            {
                delta.Slice(p, op).CopyTo(result.AsSpan(q));
                p += op;
                q += op;
            }
            else
            {
                throw new InvalidDataException("invalid delta instruction");
            }
        }

        return q == resultSize ? result : throw new InvalidDataException("delta result size mismatch");
    }

    private static long ReadSize(ReadOnlySpan<byte> data, ref int p)
    {
        long value = 0;
        var shift = 0;
        int c;
        do
        {
            c = data[p++];
            value |= (long)(c & 0x7F) << shift;
            shift += 7;
        }
        while ((c & 0x80) != 0);
        return value;
    }
}

/// <summary>An object read from a pack; a pooled buffer goes back to the pool with <see cref="Return"/>.</summary>
internal readonly record struct PackObject(int Type, byte[] Data, int Length, bool Pooled)
{
    public void Return()
    {
        if (Pooled)
        {
            ArrayPool<byte>.Shared.Return(Data);
        }
    }
}

/// <summary>An object too large to inflate into memory: read it through git cat-file instead.</summary>
internal sealed class LargeObjectException : Exception
{
    public LargeObjectException() : base("object too large to read into memory") { }
    public LargeObjectException(string message) : base(message) { }
    public LargeObjectException(string message, Exception inner) : base(message, inner) { }
}
