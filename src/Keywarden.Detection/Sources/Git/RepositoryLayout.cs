using System.Runtime.InteropServices;
using System.Text;

namespace Keywarden.Detection.Sources.Git;

/// <summary>
/// Where a work tree's git files are, found the way git finds them but without starting git: for the
/// staged check, where a git process costs more than the whole check. Only the plain cases are
/// answered (the directory is the top of a work tree, or <c>GIT_DIR</c> names the git directory, as git
/// does when it runs a hook from a linked worktree); anything else returns null and the caller asks git
/// itself, so git's own rules and messages still apply to every unusual repository.
/// </summary>
internal sealed record RepositoryLayout(string GitDirectory, string CommonDirectory, string IndexFile, string ObjectsDirectory)
{
    /// <summary>
    /// Variables that change where git looks or what it reads, beyond GIT_DIR and GIT_INDEX_FILE (which
    /// are followed). git sets GIT_INDEX_FILE for every pre-commit hook, and GIT_DIR in linked worktrees.
    /// </summary>
    private static readonly string[] UnsupportedEnvironment =
    [
        "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "GIT_NAMESPACE", "GIT_TEST_ASSUME_DIFFERENT_OWNER",
    ];

    /// <summary>The layout of the repository whose work tree is <paramref name="directory"/>, or null when git must decide.</summary>
    public static RepositoryLayout? TryFind(string directory)
    {
        foreach (var name in UnsupportedEnvironment)
        {
            if (Environment.GetEnvironmentVariable(name) is not null)
            {
                return null;
            }
        }

        var top = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        string gitDirectory;
        if (Environment.GetEnvironmentVariable("GIT_DIR") is { Length: > 0 } explicitDirectory)
        {
            // Named explicitly, the git directory is used as it is, and git checks no ownership.
            gitDirectory = Path.GetFullPath(explicitDirectory, top);
            if (!Directory.Exists(gitDirectory))
            {
                return null;
            }
        }
        else if (!TryDiscover(top, out gitDirectory))
        {
            return null;
        }

        var commonDirectory = gitDirectory;
        var commonFile = Path.Combine(gitDirectory, "commondir");
        if (File.Exists(commonFile))
        {
            // A linked worktree: HEAD and the index are its own, objects, refs and config are shared.
            var common = ReadText(commonFile).TrimEnd('\n', '\r');
            if (common.Length == 0)
            {
                return null;
            }

            commonDirectory = Path.GetFullPath(common, gitDirectory);
        }

        var objects = Path.Combine(commonDirectory, "objects");
        if (!File.Exists(Path.Combine(gitDirectory, "HEAD")) || !Directory.Exists(objects) || !Directory.Exists(Path.Combine(commonDirectory, "refs"))
            || File.Exists(Path.Combine(objects, "info", "alternates")) || !ConfigIsPlain(Path.Combine(commonDirectory, "config"), gitDirectory, top))
        {
            return null;
        }

        var index = Environment.GetEnvironmentVariable("GIT_INDEX_FILE") is { Length: > 0 } indexFile
            ? Path.GetFullPath(indexFile, top)
            : Path.Combine(gitDirectory, "index");
        return new RepositoryLayout(gitDirectory, commonDirectory, index, objects);
    }

    /// <summary>
    /// <paramref name="top"/>/.git, a directory or a "gitdir:" file (worktrees, submodules). Like git
    /// (safe.directory, git-config(1)), a repository someone else owns is not read here: git decides.
    /// </summary>
    private static bool TryDiscover(string top, out string gitDirectory)
    {
        gitDirectory = "";
        var dotGit = Path.Combine(top, ".git");
        string? gitFile = null;
        if (Directory.Exists(dotGit))
        {
            gitDirectory = dotGit;
        }
        else if (File.Exists(dotGit))
        {
            var text = ReadText(dotGit);
            if (!text.StartsWith("gitdir: ", StringComparison.Ordinal))
            {
                return false;
            }

            var target = text[8..].TrimEnd('\n', '\r');
            if (target.Length == 0)
            {
                return false;
            }

            gitFile = dotGit;
            gitDirectory = Path.GetFullPath(target, top);
            if (!Directory.Exists(gitDirectory))
            {
                return false;
            }
        }
        else
        {
            return false; // a subdirectory, a bare repository, or no repository: git's discovery and messages
        }

        return FileOwner.IsCurrentUser(top) && (gitFile is null || FileOwner.IsCurrentUser(gitFile)) && FileOwner.IsCurrentUser(gitDirectory);
    }

    /// <summary>
    /// The repository's config asks for nothing this reader does not do: no extensions (another object
    /// format, ref storage, worktree config, partial clone), no includes (which could hold them), not
    /// bare, and no core.worktree other than <paramref name="top"/> (submodules name theirs). Other keys
    /// do not change what <c>git diff --cached --raw</c> reports.
    /// </summary>
    private static bool ConfigIsPlain(string path, string gitDirectory, string top)
    {
        if (!File.Exists(path))
        {
            return true;
        }

        var section = "";
        foreach (var raw in ReadText(path).Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';')
            {
                continue;
            }

            if (line[0] == '[')
            {
                var end = line.IndexOf(']', StringComparison.Ordinal);
                var rest = end < 0 ? "x" : line[(end + 1)..].TrimStart();
                if (rest.Length > 0 && rest[0] is not ('#' or ';'))
                {
                    return false; // a key on the header's line, or no closing bracket: let git read it
                }

                section = line[1..end].Trim().ToLowerInvariant();
                if (section.StartsWith("extensions", StringComparison.Ordinal) || section.StartsWith("include", StringComparison.Ordinal))
                {
                    return false;
                }

                continue;
            }

            if (section != "core")
            {
                continue;
            }

            var equals = line.IndexOf('=', StringComparison.Ordinal);
            var key = (equals < 0 ? line : line[..equals]).Trim().ToLowerInvariant();
            var value = equals < 0 ? "true" : line[(equals + 1)..].Trim();
            if (key is not ("bare" or "worktree" or "repositoryformatversion"))
            {
                continue;
            }

            if (value.Contains('"', StringComparison.Ordinal) || value.Contains('\\', StringComparison.Ordinal)
                || value.Contains('#', StringComparison.Ordinal) || value.Contains(';', StringComparison.Ordinal))
            {
                return false;
            }

            var plain = key switch
            {
                "bare" => value.ToLowerInvariant() is "false" or "no" or "off" or "0",
                "repositoryformatversion" => value is "0" or "1",
                _ => Path.TrimEndingDirectorySeparator(Path.GetFullPath(value, gitDirectory)) == top,
            };
            if (!plain)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>HEAD, refs, config and .git files are a few bytes; packed-refs of a large repository runs to tens of MB.</summary>
    internal const long TextFileBytes = 64L << 20;

    /// <summary>
    /// A small text file of the repository, as UTF-8 without a byte order mark. Read whole, as bytes:
    /// the readers and streams behind File.ReadAllText cost the check start-up time it need not spend.
    /// Within <see cref="TextFileBytes"/>: beyond it (an <see cref="InputException"/>, an IOException) the
    /// caller leaves the repository to git.
    /// </summary>
    internal static string ReadText(string path)
    {
        var text = Encoding.UTF8.GetString(BoundedInput.ReadAllBytes(path, TextFileBytes, path));
        return text.StartsWith('\uFEFF') ? text[1..] : text;
    }

    /// <summary>
    /// Whether a path belongs to the effective user, as git's ownership check asks (lstat's st_uid
    /// against geteuid; see is_path_owned_by_current_uid in git's setup.c). .NET has no API for a file's
    /// owner, so statx(2) is called directly; its buffer layout is the same on every Linux architecture.
    /// Elsewhere, or when the call fails, the answer is no and git decides.
    /// </summary>
    private static class FileOwner
    {
        private const int AtFdCwd = -100;
        private const int AtSymlinkNoFollow = 0x100;
        private const uint StatxUid = 0x8;
        private const int UidOffset = 20;

        public static bool IsCurrentUser(string path)
        {
            if (!OperatingSystem.IsLinux())
            {
                return false;
            }

            try
            {
                var buffer = new byte[256];
                return Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxUid, buffer) == 0
                    && BitConverter.ToUInt32(buffer, UidOffset) == GetEffectiveUserId();
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                return false;
            }
        }

        // glibc's soname, resolved by dlopen alone (already loaded): "libc" would first be probed for in
        // the application's and the runtime's folders under several names.
        [DllImport("libc.so.6", EntryPoint = "geteuid")]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        private static extern uint GetEffectiveUserId();

        [DllImport("libc.so.6", EntryPoint = "statx")]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        private static extern int Statx(int directory, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte[] buffer);
    }
}
