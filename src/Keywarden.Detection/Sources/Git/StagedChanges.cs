using System.Text;
using Keywarden.Detection.Findings;

namespace Keywarden.Detection.Sources.Git;

/// <summary>
/// The staged changes, computed in process: what <c>git diff --cached --raw --no-renames
/// --diff-filter=ACMRT</c> lists (paths the index adds, modifies or changes the type of, relative to
/// HEAD), in the same order, for the pre-commit check. Starting git costs more than the whole check, so
/// the index is compared with HEAD's tree here, reading only the trees of directories whose cache-tree
/// entry does not already say they are unchanged. A repository this does not handle (see
/// <see cref="RepositoryLayout"/> and <see cref="GitIndex"/>) gives null, and the caller runs git.
/// </summary>
internal sealed class StagedChanges : IDisposable
{
    private const int TypeMask = 0xF000;
    private const int DirectoryType = 0x4000;
    private const int GitlinkType = 0xE000;

    private readonly IndexEntry[] _entries;
    private GitChange[] _changes = new GitChange[16];
    private int _count;

    private StagedChanges(GitObjects objects, IndexEntry[] entries)
    {
        Objects = objects;
        _entries = entries;
    }

    /// <summary>The repository's objects, to read the changed blobs from.</summary>
    public GitObjects Objects { get; }

    /// <summary>The changes in index order. An array: the check's start-up code stays free of generic code to compile.</summary>
    public GitChange[] Changes
    {
        get
        {
            var changes = new GitChange[_count];
            Array.Copy(_changes, changes, _count);
            return changes;
        }
    }

    /// <summary>The staged changes of the work tree at <paramref name="repository"/>, or null when git must compute them.</summary>
    public static StagedChanges? TryRead(string repository)
    {
        RepositoryLayout? layout;
        GitIndex? index;
        try
        {
            layout = RepositoryLayout.TryFind(repository);
            index = layout is null ? null : GitIndex.TryRead(layout.IndexFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return null;
        }

        if (layout is null || index is null)
        {
            return null;
        }

        var objects = new GitObjects(layout.ObjectsDirectory);
        try
        {
            var staged = new StagedChanges(objects, index.Entries);
            var headTree = HeadTree(layout, objects);
            staged.Compare(headTree, index.CacheTree, "", 0, index.Entries.Length);
            return staged;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or LargeObjectException or FormatException
            or ArgumentException or IndexOutOfRangeException or OverflowException)
        {
            // A missing or damaged object, an odd HEAD: git reports it in its own words.
            objects.Dispose();
            return null;
        }
    }

    public void Dispose() => Objects.Dispose();

    /// <summary>
    /// Compares the index entries [<paramref name="from"/>, <paramref name="to"/>), all under the directory
    /// <paramref name="prefix"/>, with that directory's tree in HEAD (null: HEAD has no such directory).
    /// </summary>
    private void Compare(byte[]? tree, CacheTree? cache, string prefix, int from, int to)
    {
        // As git does, a cached tree is trusted only if it still covers exactly the entries under it.
        if (tree is not null && cache?.Id is { } cached && cache.EntryCount == to - from && cached.AsSpan().SequenceEqual(tree))
        {
            return; // the index still writes exactly HEAD's tree here: nothing under it is staged
        }

        var headEntries = tree is null ? null : ReadTree(tree);
        var i = from;
        while (i < to)
        {
            var entry = _entries[i];
            var slash = entry.Path.IndexOf('/', prefix.Length);
            if (slash < 0)
            {
                var name = entry.Path[prefix.Length..];
                if (headEntries is not null && headEntries.TryGetValue(name, out var head) && (head.Mode & TypeMask) != DirectoryType)
                {
                    if (head.Mode != entry.Mode || !head.Id.AsSpan().SequenceEqual(entry.Id))
                    {
                        Add(entry, head);
                    }
                }
                else
                {
                    Add(entry, null);
                }

                i++;
                continue;
            }

            // A subdirectory: its entries are contiguous in index order (they share the prefix "name/").
            var childPrefix = entry.Path[..(slash + 1)];
            var end = i + 1;
            while (end < to && _entries[end].Path.StartsWith(childPrefix, StringComparison.Ordinal))
            {
                end++;
            }

            var directory = entry.Path[prefix.Length..slash];
            if (headEntries is not null && headEntries.TryGetValue(directory, out var subtree) && (subtree.Mode & TypeMask) == DirectoryType)
            {
                Compare(subtree.Id, cache?.Child(directory), childPrefix, i, end);
            }
            else
            {
                for (var k = i; k < end; k++)
                {
                    Add(_entries[k], null);
                }
            }

            i = end;
        }
    }

    /// <summary>One line of the raw diff, as <see cref="GitLog"/> parses it: gitlinks and absent sides have no blob.</summary>
    private void Add(IndexEntry entry, TreeEntry? head)
    {
        // Paths as `git diff -z` prints them and GitLog reads them: UTF-8 (U+FFFD for bytes that are not), leading newlines dropped.
        var path = Encoding.UTF8.GetString(entry.Name).TrimStart('\n');
        var oldBlob = head is null || (head.Mode & TypeMask) == GitlinkType ? null : Hex.Lower(head.Id);
        var newBlob = (entry.Mode & TypeMask) == GitlinkType || entry.Id.AsSpan().IndexOfAnyExcept((byte)0) < 0 ? null : Hex.Lower(entry.Id);
        if (_count == _changes.Length)
        {
            var larger = new GitChange[_count * 2];
            Array.Copy(_changes, larger, _count);
            _changes = larger;
        }

        _changes[_count++] = new GitChange(path, oldBlob, newBlob);
    }

    /// <summary>A tree's entries by name, with git's canonical modes (tree-walk.c's canon_mode).</summary>
    private Dictionary<string, TreeEntry> ReadTree(byte[] id)
    {
        var data = Objects.TryRead(Hex.Lower(id), out var type, packedFirst: true);
        if (data is null || type != "tree")
        {
            throw new InvalidDataException("tree not found");
        }

        var entries = new Dictionary<string, TreeEntry>(StringComparer.Ordinal);
        var p = 0;
        while (p < data.Length)
        {
            var mode = 0;
            while (p < data.Length && data[p] != ' ')
            {
                var digit = data[p++] - '0';
                mode = digit is >= 0 and <= 7 ? checked((mode * 8) + digit) : throw new InvalidDataException("bad tree entry mode");
            }

            var nul = ++p >= data.Length ? -1 : GitIndex.IndexOf(data, 0, p, data.Length);
            if (nul < 0 || nul == p || nul + 21 > data.Length)
            {
                throw new InvalidDataException("truncated tree");
            }

            var name = Encoding.Latin1.GetString(data, p, nul - p);
            if (!entries.TryAdd(name, new TreeEntry(CanonicalMode(mode), data.AsSpan(nul + 1, 20).ToArray())))
            {
                throw new InvalidDataException("duplicate tree entry");
            }

            p = nul + 21;
        }

        return entries;
    }

    private static int CanonicalMode(int mode) => (mode & TypeMask) switch
    {
        0x8000 => 0x8000 | ((mode & 0x40) != 0 ? 0x1ED : 0x1A4), // 100755 when the owner may execute, else 100644
        0xA000 => 0xA000,
        DirectoryType => DirectoryType,
        _ => GitlinkType,
    };

    /// <summary>HEAD's tree, or null on an unborn branch (before the first commit everything staged is added).</summary>
    private static byte[]? HeadTree(RepositoryLayout layout, GitObjects objects)
    {
        if (ResolveHead(layout) is not { } commit)
        {
            return null;
        }

        var data = objects.TryRead(commit, out var type, packedFirst: true);
        if (data is null || type != "commit" || data.Length < 46 || !data.AsSpan().StartsWith("tree "u8) || data[45] != '\n')
        {
            throw new InvalidDataException("HEAD is not a readable commit");
        }

        var tree = new byte[20];
        return Hex.TryDecode(Encoding.ASCII.GetString(data, 5, 40), tree) ? tree : throw new InvalidDataException("HEAD's commit names no tree");
    }

    /// <summary>HEAD's commit ID: through symbolic refs, loose refs and packed-refs; null when the branch has no commit yet.</summary>
    private static string? ResolveHead(RepositoryLayout layout)
    {
        var content = RepositoryLayout.ReadText(Path.Combine(layout.GitDirectory, "HEAD"));
        for (var depth = 0; depth < 5; depth++)
        {
            if (!content.StartsWith("ref:", StringComparison.Ordinal))
            {
                return ObjectId(content) ?? throw new InvalidDataException("HEAD names no object");
            }

            var name = content[4..].Trim();
            if (!name.StartsWith("refs/", StringComparison.Ordinal) || name.Contains("..", StringComparison.Ordinal)
                || name.Contains('\\', StringComparison.Ordinal) || name.EndsWith('/'))
            {
                throw new InvalidDataException("unusual ref name");
            }

            // Refs of one worktree live in its own git directory; branches are shared (git-worktree(1)).
            var perWorktree = name.StartsWith("refs/worktree/", StringComparison.Ordinal) || name.StartsWith("refs/bisect/", StringComparison.Ordinal)
                || name.StartsWith("refs/rewritten/", StringComparison.Ordinal);
            var loose = Path.Combine(perWorktree ? layout.GitDirectory : layout.CommonDirectory, name);
            if (File.Exists(loose))
            {
                content = RepositoryLayout.ReadText(loose);
                continue;
            }

            return perWorktree ? throw new InvalidDataException("per-worktree ref not found") : PackedRef(layout.CommonDirectory, name);
        }

        throw new InvalidDataException("symbolic refs nested too deeply");
    }

    /// <summary>The ID packed-refs gives <paramref name="name"/> ("ID SP name" lines; '#' header and '^' peeled lines skipped), or null.</summary>
    private static string? PackedRef(string commonDirectory, string name)
    {
        var path = Path.Combine(commonDirectory, "packed-refs");
        if (!File.Exists(path))
        {
            return null;
        }

        foreach (var line in RepositoryLayout.ReadText(path).Split('\n'))
        {
            if (line.Length > 41 && line[40] == ' ' && line.AsSpan(41).SequenceEqual(name))
            {
                return ObjectId(line) ?? throw new InvalidDataException("bad packed ref");
            }
        }

        return null;
    }

    /// <summary>40 hex digits at the start of <paramref name="text"/>, followed by nothing or white space.</summary>
    private static string? ObjectId(string text)
    {
        if (text.Length < 40 || (text.Length > 40 && !char.IsWhiteSpace(text[40])))
        {
            return null;
        }

        foreach (var c in text.AsSpan(0, 40))
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return null;
            }
        }

        return text[..40].ToLowerInvariant();
    }

    private sealed record TreeEntry(int Mode, byte[] Id);
}

/// <summary>
/// The objects of one repository, read without git: loose objects, then the packs (opened on first
/// need, read with bounded entry lengths: see <see cref="PackObjectReader"/>).
/// </summary>
internal sealed class GitObjects(string objectsDirectory) : IDisposable
{
    private PackStore? _packs;
    private PackObjectReader? _reader;
    private bool _opened;

    /// <summary>An object's content and type ("blob", "tree", "commit", "tag"); null when it is in neither place. Throws when it cannot be read.</summary>
    /// <param name="id">The object ID, 40 hex digits.</param>
    /// <param name="type">The object's type.</param>
    /// <param name="packedFirst">Look in the packs before the loose objects: true for HEAD's trees and commit, which are usually packed (`git add` writes blobs loose).</param>
    public byte[]? TryRead(string id, out string type, bool packedFirst = false)
    {
        if (!packedFirst && PackStore.ReadLoose(objectsDirectory, id, out type) is { } loose)
        {
            return loose;
        }

        return TryReadPacked(id, out type) ?? (packedFirst ? PackStore.ReadLoose(objectsDirectory, id, out type) : null);
    }

    private byte[]? TryReadPacked(string id, out string type)
    {
        type = "";
        if (!_opened)
        {
            _opened = true;
            _packs = PackStore.Open(objectsDirectory, loadIndexes: false);
            _reader = _packs is null ? null : new PackObjectReader(_packs, exactEntryLengths: false);
        }

        if (_packs is null || _reader is null)
        {
            throw new InvalidDataException("a pack index this reader does not handle");
        }

        Span<byte> raw = stackalloc byte[20];
        if (!Hex.TryDecode(id, raw) || !_packs.TryLocate(raw, out var pack, out var offset))
        {
            return null;
        }

        var found = _reader.Read(pack, offset);
        try
        {
            type = found.Type switch
            {
                1 => "commit",
                2 => "tree",
                3 => "blob",
                4 => "tag",
                _ => "",
            };
            return found.Data.AsSpan(0, found.Length).ToArray();
        }
        finally
        {
            found.Return();
        }
    }

    public void Dispose() => _packs?.Dispose();
}
