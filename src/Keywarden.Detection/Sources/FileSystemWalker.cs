using System.IO.Enumeration;
using Keywarden.Detection.Scanning;
using MAB.DotIgnore;

namespace Keywarden.Detection.Sources;

/// <summary>A file to scan: where it is on disk and how findings name it.</summary>
internal readonly record struct FileItem(string FullPath, string DisplayPath, long Length);

/// <summary>
/// Walks a directory tree: every file except inside .git/ directories, without following symbolic links
/// (a link can point outside the tree or into a loop). Exclusions use .gitignore syntax; the tree's own
/// .gitignore files are honoured only when asked, because leaks hide in ignored files such as .env.
/// </summary>
internal sealed class FileSystemWalker
{
    private static readonly EnumerationOptions Shallow = new()
    {
        RecurseSubdirectories = false,
        IgnoreInaccessible = false,
        AttributesToSkip = 0,
        ReturnSpecialDirectories = false,
    };

    private readonly ScanSession _session;
    private readonly IgnoreList? _exclude;

    public FileSystemWalker(ScanSession session)
    {
        _session = session;
        if (session.Options.Exclude.Count > 0)
        {
            _exclude = new IgnoreList(session.Options.Exclude, MatchFlags.PATHNAME);
        }
    }

    /// <summary>Files below <paramref name="root"/>, named <paramref name="displayPrefix"/> + their path relative to the root.</summary>
    public IEnumerable<FileItem> Walk(string root, string displayPrefix)
    {
        var pending = new Stack<(string FullPath, string Relative, IgnoreChain? Ignores)>();
        IgnoreChain? rootIgnores = null;
        if (_session.Options.RespectGitignore)
        {
            rootIgnores = IgnoreChain.Load(_session, null, "", Path.Combine(root, ".git", "info", "exclude"), displayPrefix + ".git/info/exclude");
        }

        pending.Push((root, "", rootIgnores));
        while (pending.Count > 0)
        {
            var (directory, relative, ignores) = pending.Pop();
            if (_session.Options.RespectGitignore)
            {
                ignores = IgnoreChain.Load(_session, ignores, relative, Path.Combine(directory, ".gitignore"), displayPrefix + (relative.Length == 0 ? "" : relative + "/") + ".gitignore");
            }

            List<Entry> entries;
            try
            {
                entries = [.. new FileSystemEnumerable<Entry>(directory, ToEntry, Shallow)];
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _session.AddError(displayPrefix + (relative.Length == 0 ? "." : relative), $"cannot list directory: {ProblemText.Describe(e)}");
                continue;
            }

            entries.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
            // Directories are pushed in reverse so they pop in name order.
            for (var i = entries.Count - 1; i >= 0; i--)
            {
                var entry = entries[i];
                if (!entry.IsDirectory || entry.IsLink)
                {
                    continue;
                }

                var childRelative = relative.Length == 0 ? entry.Name : relative + "/" + entry.Name;
                if (entry.Name == ".git" || IsExcluded(childRelative, isDirectory: true, ignores))
                {
                    continue;
                }

                pending.Push((Path.Combine(directory, entry.Name), childRelative, ignores));
            }

            foreach (var entry in entries)
            {
                // Length 0: an empty file has nothing to scan, and a FIFO, socket or device also reports 0:
                // opening a FIFO would block the scan forever.
                if (entry.IsDirectory || entry.IsLink || entry.Length == 0)
                {
                    continue;
                }

                var childRelative = relative.Length == 0 ? entry.Name : relative + "/" + entry.Name;
                if (IsExcluded(childRelative, isDirectory: false, ignores))
                {
                    continue;
                }

                yield return new FileItem(Path.Combine(directory, entry.Name), displayPrefix + childRelative, entry.Length);
            }
        }
    }

    private bool IsExcluded(string relative, bool isDirectory, IgnoreChain? ignores) =>
        (_exclude is not null && _exclude.IsIgnored(relative, isDirectory)) || (ignores is not null && ignores.IsIgnored(relative, isDirectory));

    private static Entry ToEntry(ref FileSystemEntry entry) => new(
        entry.FileName.ToString(),
        entry.IsDirectory,
        (entry.Attributes & FileAttributes.ReparsePoint) != 0,
        entry.IsDirectory ? 0 : entry.Length);

    private readonly record struct Entry(string Name, bool IsDirectory, bool IsLink, long Length);

    /// <summary>The .gitignore files in effect for a directory: its own, then its ancestors'.</summary>
    private sealed class IgnoreChain
    {
        private readonly IgnoreChain? _parent;
        private readonly IgnoreList _list;
        private readonly string _base; // directory of the .gitignore, relative to the root

        private IgnoreChain(IgnoreChain? parent, IgnoreList list, string @base)
        {
            _parent = parent;
            _list = list;
            _base = @base;
        }

        /// <summary>
        /// The chain with <paramref name="file"/> added when it is a regular file: a symbolic link is not
        /// followed (it could point outside the tree, or at /dev/zero), and a FIFO, socket or device is
        /// not opened (it could block or never end). The file is read within <see cref="InputLimits.GitignoreBytes"/>.
        /// </summary>
        public static IgnoreChain? Load(ScanSession session, IgnoreChain? parent, string relative, string file, string displayPath)
        {
            var info = new FileInfo(file);
            if (!info.Exists || info.LinkTarget is not null || info.Length == 0)
            {
                return parent;
            }

            string text;
            try
            {
                text = BoundedInput.ReadAllText(file, InputLimits.GitignoreBytes, displayPath);
            }
            catch (InputException e)
            {
                // Not silent: without the file, what it ignores would be scanned, or the reverse.
                session.AddError(displayPath, e.TooLarge ? e.Reason : $"cannot read: {e.Reason}");
                return parent;
            }

            var lines = text.Split('\n');
            return new IgnoreChain(parent, new IgnoreList(lines.Select(l => l.TrimEnd('\r')), MatchFlags.PATHNAME), relative);
        }

        /// <summary>Ignored when any .gitignore in effect ignores the path (negations work within one file).</summary>
        public bool IsIgnored(string relative, bool isDirectory)
        {
            for (var chain = this; chain is not null; chain = chain._parent)
            {
                var local = chain._base.Length == 0 ? relative : relative[(chain._base.Length + 1)..];
                if (chain._list.IsIgnored(local, isDirectory))
                {
                    return true;
                }
            }

            return false;
        }
    }
}
