using System.Buffers.Binary;
using System.Text;

namespace Keywarden.Detection.Sources.Git;

/// <summary>
/// A git index (the staging area), read for the staged check. Format: git's
/// Documentation/gitformat-index.txt, versions 2, 3 and 4 (prefix-compressed paths), SHA-1 object names,
/// with the cache-tree extension ("TREE"), which names the tree of every directory whose entries have
/// not changed since it was written. Read by hand: the maintained .NET git library, LibGit2Sharp, wraps
/// the native libgit2, and a program doing nothing but that diff through it took 113 ms here against
/// 55 ms for an empty one, more than this whole check. What this reader does not handle returns null,
/// and git reads the index instead: split and sparse indexes (the mandatory "link" and "sdir"
/// extensions), merge conflicts, intent-to-add entries, and anything malformed (git then reports it in
/// its own words).
/// </summary>
internal sealed class GitIndex
{
    private const int IdLength = 20;
    private const int ExtendedFlag = 0x4000;
    private const int StageMask = 0x3000;
    private const int NameMask = 0x0FFF;
    private const int IntentToAddFlag = 0x2000;

    private GitIndex(IndexEntry[] entries, CacheTree? cacheTree)
    {
        Entries = entries;
        CacheTree = cacheTree;
    }

    /// <summary>Stage-0 entries in index order (paths compared as bytes).</summary>
    public IndexEntry[] Entries { get; }

    /// <summary>The root of the cache-tree extension, when the index has one.</summary>
    public CacheTree? CacheTree { get; }

    /// <summary>About 100 bytes an entry: 256 MiB is some 2.5 million files, ten times the largest monorepos' indexes.</summary>
    internal const long MaxBytes = 256L << 20;

    /// <summary>The index at <paramref name="path"/>; an empty index when there is no file (as git reads it); null when git must read it.</summary>
    public static GitIndex? TryRead(string path)
    {
        byte[] data;
        try
        {
            data = BoundedInput.ReadAllBytes(path, MaxBytes, path);
        }
        catch (InputException e) when (e.InnerException is FileNotFoundException)
        {
            return new GitIndex([], null);
        }
        catch (InputException e) when (e.TooLarge)
        {
            return null; // a bound on memory, however the file came to be this large: git reads it
        }

        try
        {
            return Parse(data);
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or IndexOutOfRangeException or OverflowException or FormatException)
        {
            return null; // truncated or malformed: git says what is wrong with it
        }
    }

    private static GitIndex? Parse(byte[] data)
    {
        if (data.Length < 12 + IdLength || data[0] != 'D' || data[1] != 'I' || data[2] != 'R' || data[3] != 'C')
        {
            return null;
        }

        var version = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(4));
        var count = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(8));
        if (version is < 2 or > 4 || count > (uint)(data.Length / 62))
        {
            return null; // an entry takes at least 62 bytes
        }

        var entries = new IndexEntry[count];
        var end = data.Length - IdLength;
        var p = 12;
        var previous = Array.Empty<byte>();
        for (var i = 0; i < entries.Length; i++)
        {
            var start = p;
            var mode = (int)BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(p + 24));
            var id = data.AsSpan(p + 40, IdLength).ToArray();
            int flags = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(p + 60));
            p += 62;
            if ((flags & ExtendedFlag) != 0)
            {
                if (version < 3)
                {
                    return null;
                }

                int extended = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(p));
                p += 2;
                if ((extended & IntentToAddFlag) != 0)
                {
                    return null; // `git add -N`: git diff --cached treats these as absent
                }
            }

            if ((flags & StageMask) != 0)
            {
                return null; // a merge in progress: only git's own rules for unmerged paths will do
            }

            byte[] name;
            if (version == 4)
            {
                // Prefix compression: drop N bytes from the end of the previous path, append the suffix.
                var drop = ReadOffset(data, ref p);
                var nul = IndexOf(data, 0, p, end);
                if (drop > previous.Length || nul < 0)
                {
                    return null;
                }

                name = new byte[previous.Length - (int)drop + (nul - p)];
                previous.AsSpan(0, previous.Length - (int)drop).CopyTo(name);
                data.AsSpan(p, nul - p).CopyTo(name.AsSpan(previous.Length - (int)drop));
                p = nul + 1;
            }
            else
            {
                var nul = IndexOf(data, 0, p, end);
                if (nul < 0)
                {
                    return null;
                }

                name = data.AsSpan(p, nul - p).ToArray();
                // Entries are padded with NULs to a multiple of 8 bytes, the name's NUL included.
                p = start + ((nul + 1 - start + 7) & ~7);
            }

            var declared = flags & NameMask;
            if (name.Length == 0 || (declared != NameMask && declared != name.Length) || ((mode >> 12) & 0xF) == 0x4 || p > end)
            {
                return null; // a directory entry belongs to a sparse index
            }

            if (i > 0 && name.AsSpan().SequenceCompareTo(previous) <= 0)
            {
                return null; // unsorted or duplicated: git refuses such an index
            }

            entries[i] = new IndexEntry(Encoding.Latin1.GetString(name), name, mode, id);
            previous = name;
        }

        CacheTree? cacheTree = null;
        while (p < end)
        {
            if (end - p < 8)
            {
                return null;
            }

            var signature = data.AsSpan(p, 4);
            var size = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(p + 4));
            p += 8;
            if (size > (uint)(end - p))
            {
                return null;
            }

            if (signature[0] is < (byte)'A' or > (byte)'Z')
            {
                return null; // a mandatory extension (split index "link", sparse index "sdir")
            }

            if (signature.SequenceEqual("TREE"u8))
            {
                var q = p;
                cacheTree = CacheTree.Parse(data, ref q, p + (int)size);
                if (cacheTree is null)
                {
                    return null;
                }
            }

            p += (int)size;
        }

        return new GitIndex(entries, cacheTree);
    }

    /// <summary>
    /// The first <paramref name="value"/> in [<paramref name="from"/>, <paramref name="to"/>), or -1. A loop:
    /// Array.IndexOf's vectorised code for bytes is compiled at run time on this project's CPUs.
    /// </summary>
    internal static int IndexOf(byte[] data, byte value, int from, int to)
    {
        for (var i = from; i < to; i++)
        {
            if (data[i] == value)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>The variable-length number of index v4 paths, encoded like a pack's OFS_DELTA offset.</summary>
    private static long ReadOffset(byte[] data, ref int p)
    {
        int c = data[p++];
        long value = c & 0x7F;
        while ((c & 0x80) != 0)
        {
            c = data[p++];
            value = checked(((value + 1) << 7) | (long)(c & 0x7F));
        }

        return value;
    }
}

/// <summary>
/// An index entry: its path as bytes (<paramref name="Name"/>) and as Latin-1 characters
/// (<paramref name="Path"/>: one character per byte, so non-UTF-8 names survive and compare as bytes),
/// its mode and object ID.
/// </summary>
internal sealed record IndexEntry(string Path, byte[] Name, int Mode, byte[] Id);

/// <summary>
/// One directory of the cache-tree extension: the tree object the directory's index entries would
/// write, when it is still valid (git invalidates a directory and its parents when an entry changes).
/// </summary>
internal sealed class CacheTree
{
    private readonly Dictionary<string, CacheTree> _children;

    private CacheTree(byte[]? id, int entryCount, Dictionary<string, CacheTree> children)
    {
        Id = id;
        EntryCount = entryCount;
        _children = children;
    }

    /// <summary>How many index entries the cached tree covers (git trusts a node only when they still match).</summary>
    public int EntryCount { get; }

    /// <summary>The directory's tree, or null when invalidated.</summary>
    public byte[]? Id { get; }

    public CacheTree? Child(string name) => _children.GetValueOrDefault(name);

    /// <summary>"name NUL entry-count SP subtree-count LF [id]" then the subtrees, depth first.</summary>
    internal static CacheTree? Parse(byte[] data, ref int p, int end)
    {
        var nul = GitIndex.IndexOf(data, 0, p, end);
        var newline = nul < 0 ? -1 : GitIndex.IndexOf(data, (byte)'\n', nul, end);
        if (newline < 0)
        {
            return null;
        }

        var counts = Encoding.ASCII.GetString(data, nul + 1, newline - nul - 1).Split(' ');
        if (counts.Length != 2
            || !int.TryParse(counts[0], System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var entryCount)
            || !int.TryParse(counts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var subtrees))
        {
            return null;
        }

        p = newline + 1;
        byte[]? id = null;
        if (entryCount >= 0)
        {
            if (end - p < 20)
            {
                return null;
            }

            id = data.AsSpan(p, 20).ToArray();
            p += 20;
        }

        var children = new Dictionary<string, CacheTree>(StringComparer.Ordinal);
        for (var i = 0; i < subtrees; i++)
        {
            var nameStart = p;
            var nameEnd = GitIndex.IndexOf(data, 0, p, end);
            if (nameEnd < 0 || Parse(data, ref p, end) is not { } child)
            {
                return null;
            }

            children[Encoding.Latin1.GetString(data, nameStart, nameEnd - nameStart)] = child;
        }

        return new CacheTree(id, entryCount, children);
    }
}
