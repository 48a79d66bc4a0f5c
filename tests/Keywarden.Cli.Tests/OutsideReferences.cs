using System.Text.RegularExpressions;

namespace Keywarden.Cli.Tests;

/// <summary>
/// Finds references in a repository's files to paths outside the repository: relative paths that climb
/// above the repository root (a ".." segment after the root in a shell variable, a path join or a Markdown
/// link), the parent folder of the root, and absolute paths to what sits beside the repository (its
/// siblings). A fresh clone has nothing beside it, so any of these breaks there. The examples are in
/// RepositoryStandsAloneTests, assembled at run time so that no file under tests/ holds one.
/// </summary>
/// <remarks>
/// A path is resolved from what it starts at: the repository root (<c>$REPO</c>, <c>RepoRoot()</c>, a
/// variable set from either or from <c>git rev-parse --show-toplevel</c>), the file's own folder (a bare
/// relative path, <c>$(MSBuildThisFileDirectory)</c>, <c>$(dirname "$0")</c>, a folder made from
/// <c>__file__</c>, a variable set from one of those), or anything else (a temporary folder, say), which is
/// left alone. Absolute paths to system tools (<c>/usr/bin/time</c>) are not references to the project's
/// neighbours and are not looked at. This reads text, not programs: it knows the forms this repository
/// uses (bash, C#, Python, MSBuild, Markdown), and a path built in a way it does not know goes unseen.
/// </remarks>
internal static partial class OutsideReferences
{
    internal sealed record Reference(string File, int Line, string Text, string Why)
    {
        public override string ToString() => $"{File}:{Line}: {Text.Trim()} ({Why})";
    }

    private enum Anchor
    {
        Unknown,
        RepoRoot,
        FileFolder,
    }

    private static readonly string[] SkippedFolders = ["bin", "obj", ".work", ".git", "TestResults"];

    /// <summary>Every reference to a path outside <paramref name="repoRoot"/> in the text files under <paramref name="folders"/>.</summary>
    public static IReadOnlyList<Reference> InFolders(string repoRoot, IEnumerable<string> folders)
    {
        var root = Path.GetFullPath(repoRoot).TrimEnd('/');
        var siblings = Siblings(root);
        var found = new List<Reference>();
        foreach (var folder in folders)
        {
            foreach (var file in TextFiles(Path.Combine(root, folder)))
            {
                var relative = Path.GetRelativePath(root, file).Replace('\\', '/');
                found.AddRange(InText(relative, File.ReadAllText(file), root, siblings));
            }
        }

        return found;
    }

    /// <summary>
    /// The references to outside paths in one file's text; <paramref name="relativeFile"/> is its path from the
    /// root. With <paramref name="repoRoot"/>, a relative path that names nothing from the file's folder is also
    /// read from the root (prose and scripts often mean the root when they name a sibling of it).
    /// </summary>
    public static IReadOnlyList<Reference> InText(string relativeFile, string text, string? repoRoot = null, IReadOnlyList<string>? siblings = null)
    {
        var found = new List<Reference>();
        var folderDepth = relativeFile.Count(c => c == '/');
        var (repoNames, folderNames) = Aliases(text);

        void Add(int index, string why)
        {
            var lineStart = text.LastIndexOf('\n', Math.Max(0, index - 1)) + 1;
            if (index == 0)
            {
                lineStart = 0;
            }

            var lineEnd = text.IndexOf('\n', index);
            var line = text[lineStart..(lineEnd < 0 ? text.Length : lineEnd)];
            var number = text.AsSpan(0, index).Count('\n') + 1;
            if (!found.Any(r => r.Line == number))
            {
                found.Add(new Reference(relativeFile, number, line, why));
            }
        }

        bool Escapes(Anchor anchor, int lowest) => anchor switch
        {
            Anchor.RepoRoot => lowest < 0,
            Anchor.FileFolder => folderDepth + lowest < 0,
            _ => false,
        };

        // 1. Slash paths with a ".." segment, after a variable, an MSBuild property or nothing.
        foreach (Match m in DotDotSegment().Matches(text))
        {
            var start = m.Index;
            while (start > 0 && IsPathChar(text[start - 1]))
            {
                start--;
            }

            var end = m.Index + 2;
            while (end < text.Length && IsPathChar(text[end]))
            {
                end++;
            }

            var token = text[start..end];
            if (!token.Contains('/', StringComparison.Ordinal) && !token.Contains('\\', StringComparison.Ordinal))
            {
                continue; // a lone "..": an argument of a path join (below) or not a path at all
            }

            var anchor = SlashAnchor(text, start, ref token, repoNames, folderNames);
            var lowest = Lowest(token.Split('/', '\\'));
            if (Escapes(anchor, lowest))
            {
                Add(m.Index, anchor == Anchor.RepoRoot ? "climbs above the repository root" : "climbs above the repository root from this file's folder");
            }
            else if (anchor == Anchor.FileFolder && lowest < 0 && repoRoot is not null && !ExistsFrom(repoRoot, relativeFile, token))
            {
                Add(m.Index, "names nothing from this file's folder, and climbs above the repository root from the root");
            }
        }

        // 2. Path joins (Path.Combine, os.path.join) with ".." or os.pardir among their arguments.
        foreach (Match m in PathJoin().Matches(text))
        {
            var args = Arguments(text, m.Index + m.Length);
            if (args.Count < 2)
            {
                continue;
            }

            var anchor = ExpressionAnchor(args[0], repoNames, folderNames);
            var segments = args.Skip(1).SelectMany(a => IsParentArgument(a) ? [".."] : StringLiteral(a)?.Split('/', '\\') ?? ["name"]);
            if (Escapes(anchor, Lowest(segments)))
            {
                Add(m.Index, "a path join that climbs above the repository root");
            }
        }

        // 3. The parent of the root (GetParent, GetDirectoryName, dirname of a root expression).
        foreach (Match m in ParentOf().Matches(text))
        {
            if (ExpressionAnchor(m.Groups["of"].Value, repoNames, folderNames) == Anchor.RepoRoot)
            {
                Add(m.Index, "the folder that holds the repository");
            }
        }

        // 4. Absolute paths to what sits beside the repository.
        foreach (var sibling in siblings ?? [])
        {
            for (var i = text.IndexOf(sibling, StringComparison.Ordinal); i >= 0; i = text.IndexOf(sibling, i + 1, StringComparison.Ordinal))
            {
                var after = i + sibling.Length;
                if ((i == 0 || !IsPathChar(text[i - 1])) && (after == text.Length || !IsNameChar(text[after])))
                {
                    Add(i, "an absolute path beside the repository");
                }
            }
        }

        return found.OrderBy(r => r.Line).ToList();
    }

    private static bool ExistsFrom(string repoRoot, string relativeFile, string token)
    {
        var folder = Path.GetDirectoryName(Path.Combine(repoRoot, relativeFile))!;
        var full = Path.GetFullPath(Path.Combine(folder, token.Replace('\\', '/').TrimStart('/').TrimEnd('.', ',', ':')));
        return File.Exists(full) || Directory.Exists(full);
    }

    private static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.';

    private static bool IsPathChar(char c) => IsNameChar(c) || c is '/' or '\\';

    /// <summary>The lowest depth a walk over <paramref name="segments"/> reaches: each ".." goes up one, each name down one.</summary>
    private static int Lowest(IEnumerable<string> segments)
    {
        int depth = 0, lowest = 0;
        foreach (var s in segments)
        {
            if (s is "" or ".")
            {
                continue;
            }

            depth += s == ".." ? -1 : 1;
            lowest = Math.Min(lowest, depth);
        }

        return lowest;
    }

    /// <summary>
    /// What a slash path starts at. <paramref name="token"/> runs over path characters only, so a path after
    /// <c>$NAME</c> arrives as NAME and the rest after a <c>$</c> (the first segment is then the variable, and is
    /// dropped from the token), and a path after <c>${NAME}</c> or <c>$(dirname "$0")</c> arrives as the rest
    /// after the expression.
    /// </summary>
    private static Anchor SlashAnchor(string text, int start, ref string token, HashSet<string> repoNames, HashSet<string> folderNames)
    {
        var before = text[..start];
        if (before.EndsWith('$'))
        {
            var slash = token.IndexOfAny(['/', '\\']);
            var name = token[..slash];
            token = token[slash..];
            return NameAnchor(name, repoNames, folderNames);
        }

        var expression = TrailingExpression().Match(before);
        if (expression.Success)
        {
            return ExpressionAnchor(expression.Value, repoNames, folderNames);
        }

        // A bare relative path (a Markdown link, a cd to the parent): from the file's own folder. After
        // anything else (a quoted variable, say), the start is unknown.
        return start == 0 || before[^1] is ' ' or '\t' or '\n' or '(' or '[' or '"' or '\'' or '=' or '<' or '`' or ',' or ':'
            ? Anchor.FileFolder
            : Anchor.Unknown;
    }

    private static Anchor NameAnchor(string name, HashSet<string> repoNames, HashSet<string> folderNames) =>
        repoNames.Contains(name) ? Anchor.RepoRoot : folderNames.Contains(name) ? Anchor.FileFolder : Anchor.Unknown;

    /// <summary>What an expression (a join's first argument, a variable's value) denotes.</summary>
    private static Anchor ExpressionAnchor(string expression, HashSet<string> repoNames, HashSet<string> folderNames)
    {
        var e = expression.Trim().Trim('"', '\'');
        if (RepoRootExpression().IsMatch(e))
        {
            return Anchor.RepoRoot;
        }

        if (FileFolderExpression().IsMatch(e))
        {
            return Anchor.FileFolder;
        }

        var name = VariableName().Match(e);
        return name.Success ? NameAnchor(name.Groups["name"].Value, repoNames, folderNames) : Anchor.Unknown;
    }

    /// <summary>Names this file gives to the repository root and to its own folder.</summary>
    private static (HashSet<string> Repo, HashSet<string> Folder) Aliases(string text)
    {
        HashSet<string> repo = new(StringComparer.Ordinal) { "REPO", "REPO_ROOT", "repoRoot", "repo_root" };
        HashSet<string> folder = new(StringComparer.Ordinal);
        foreach (Match m in Assignment().Matches(text))
        {
            var value = m.Groups["value"].Value;
            var name = m.Groups["name"].Value;
            if (RepoRootExpression().IsMatch(value))
            {
                repo.Add(name);
            }
            else if (FileFolderExpression().IsMatch(value))
            {
                folder.Add(name);
            }
        }

        return (repo, folder);
    }

    private static bool IsParentArgument(string argument) =>
        argument.Trim() is "\"..\"" or "'..'" or "os.pardir" or "@\"..\"";

    private static string? StringLiteral(string argument)
    {
        var a = argument.Trim();
        return a.Length >= 2 && (a[0] == '"' || a[0] == '\'') && a[^1] == a[0] ? a[1..^1] : null;
    }

    /// <summary>The top-level arguments of a call whose opening parenthesis ends at <paramref name="from"/>.</summary>
    private static List<string> Arguments(string text, int from)
    {
        var args = new List<string>();
        int depth = 0, start = from;
        char quote = '\0';
        for (var i = from; i < text.Length; i++)
        {
            var c = text[i];
            if (quote != '\0')
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == quote)
                {
                    quote = '\0';
                }

                continue;
            }

            switch (c)
            {
                case '"' or '\'':
                    quote = c;
                    break;
                case '(' or '[' or '{':
                    depth++;
                    break;
                case ')' or ']' or '}' when depth > 0:
                    depth--;
                    break;
                case ')':
                    args.Add(text[start..i]);
                    return args;
                case ',' when depth == 0:
                    args.Add(text[start..i]);
                    start = i + 1;
                    break;
            }
        }

        return args;
    }

    /// <summary>Absolute paths of what sits beside the repository (hidden entries left out), for rule 4.</summary>
    private static List<string> Siblings(string root)
    {
        var parent = Path.GetDirectoryName(root);
        // Beside a repository at / or straight in the temporary folder, "siblings" are the system's own folders.
        if (parent is null || parent == "/" || Path.GetFullPath(parent).TrimEnd('/') == Path.GetTempPath().TrimEnd('/'))
        {
            return [];
        }

        try
        {
            return Directory.EnumerateFileSystemEntries(parent)
                .Where(p => p != root && !Path.GetFileName(p).StartsWith('.'))
                .ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static IEnumerable<string> TextFiles(string folder)
    {
        if (!Directory.Exists(folder))
        {
            yield break;
        }

        foreach (var dir in Directory.EnumerateDirectories(folder))
        {
            if (SkippedFolders.Contains(Path.GetFileName(dir), StringComparer.Ordinal))
            {
                continue;
            }

            foreach (var file in TextFiles(dir))
            {
                yield return file;
            }
        }

        foreach (var file in Directory.EnumerateFiles(folder))
        {
            var head = new byte[8000];
            int read;
            using (var stream = File.OpenRead(file))
            {
                read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            }

            if (Array.IndexOf(head, (byte)0, 0, read) < 0)
            {
                yield return file;
            }
        }
    }

    // ".." as a whole path segment: not part of "...", "x..y" (a git range) or a name.
    [GeneratedRegex(@"(?<![\w.\-])\.\.(?![\w.\-])")]
    private static partial Regex DotDotSegment();

    [GeneratedRegex(@"(?:\bPath\.(?:Combine|Join)|\bos\.path\.join|\bJoin-Path)\s*\(")]
    private static partial Regex PathJoin();

    [GeneratedRegex(@"(?:\bGetParent|\bGetDirectoryName|\bos\.path\.dirname|\bdirname)\s*\(?\s*(?<of>(?:\w+\.)*RepoRoot\(\)|""?\$\{?\w+\}?""?|\w+)")]
    private static partial Regex ParentOf();

    // NAME=..., var NAME = ..., string NAME = ..., NAME = ... (shell, C#, Python), up to the end of the line.
    [GeneratedRegex(@"(?m)(?:\b(?:var|string|readonly|local|export)\s+)?\b(?<name>[A-Za-z_]\w*)\s*=\s*(?<value>[^\n;]+)")]
    private static partial Regex Assignment();

    [GeneratedRegex(@"(?:\bRepoRoot\(\)|--show-toplevel|^\$\{?(?:REPO|REPO_ROOT)\}?$)")]
    private static partial Regex RepoRootExpression();

    [GeneratedRegex(@"(?:\$\(MSBuildThisFileDirectory\)|\$\(MSBuildProjectDirectory\)|\bdirname\s+""?\$\{?(?:0|BASH_SOURCE(?:\[0\])?)\}?""?|\b__file__\b|^__dir__$)")]
    private static partial Regex FileFolderExpression();

    // The variable an expression consists of: $NAME, ${NAME}, "$NAME", NAME.
    [GeneratedRegex(@"^\$?\{?(?<name>[A-Za-z_]\w*)\}?$")]
    private static partial Regex VariableName();

    // An expression that ends right before a path token: ${NAME}, $(Property), $(dirname "$0"), $(git ... --show-toplevel).
    [GeneratedRegex(@"(?:\$\{\w+\}|\$\(\w+\)|\$\((?:[^()]|\$\([^()]*\))*\))$")]
    private static partial Regex TrailingExpression();
}
