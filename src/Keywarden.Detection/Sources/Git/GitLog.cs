namespace Keywarden.Detection.Sources.Git;

/// <summary>A path's blob changing in a commit, relative to its first parent. A null blob: absent, or not a file (a submodule).</summary>
internal readonly record struct GitChange(string Path, string? OldBlob, string? NewBlob);

internal sealed record GitCommit(string Sha, IReadOnlyList<string> Parents, DateTimeOffset Date, string Author, string Email, string Subject, List<GitChange> Changes);

/// <summary>
/// Reads commits and the blobs each one changes with one <c>git log --raw</c>: tree diffs only, no
/// content diffs, parents before children. Merges are compared with their first parent.
/// </summary>
internal static class GitLog
{
    private const string ZeroSha = "0000000000000000000000000000000000000000";
    private const char RecordSeparator = '\u001e';
    private const char FieldSeparator = '\u001f';

    /// <param name="repository">The repository.</param>
    /// <param name="revisions">git's revision arguments.</param>
    /// <param name="cancellationToken">Stops the read.</param>
    /// <param name="onBlob">Called, on the reading thread, with each change's new blob as soon as it is parsed.</param>
    public static List<GitCommit> Read(string repository, IReadOnlyList<string> revisions, CancellationToken cancellationToken, Action<string>? onBlob = null)
    {
        var args = new List<string>
        {
            "log", "--reverse", "--topo-order", "--root", "--no-renames", "--raw", "--no-abbrev", "-z",
            "--diff-merges=first-parent", "--no-textconv", "--no-ext-diff",
            $"--format={RecordSeparator}%H %P{FieldSeparator}%ct{FieldSeparator}%an{FieldSeparator}%ae{FieldSeparator}%s",
        };
        args.AddRange(revisions);
        args.Add("--");

        var interned = new Dictionary<string, string>(StringComparer.Ordinal);
        string Intern(string s)
        {
            if (!interned.TryGetValue(s, out var existing))
            {
                interned[s] = s;
                existing = s;
            }

            return existing;
        }

        var commits = new List<GitCommit>();
        using var process = GitCommand.Start(GitCommand.StartInfo(repository, args));
        try
        {
            return ReadCommits(process, commits, Intern, onBlob, cancellationToken);
        }
        finally
        {
            GitCommand.Stop(process);
        }
    }

    private static List<GitCommit> ReadCommits(System.Diagnostics.Process process, List<GitCommit> commits, Func<string, string> Intern, Action<string>? onBlob, CancellationToken cancellationToken)
    {
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        GitCommit? current = null;
        string? pendingMeta = null;
        foreach (var raw in GitCommand.NulTokens(process.StandardOutput.BaseStream))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var token = raw.TrimStart('\n');
            if (pendingMeta is not null)
            {
                AddChange(current!, pendingMeta, Intern(token), Intern);
                pendingMeta = null;
                if (onBlob is not null && current!.Changes[^1].NewBlob is { } blob)
                {
                    onBlob(blob);
                }

                continue;
            }

            if (token.Length > 0 && token[0] == RecordSeparator)
            {
                current = ParseHeader(token[1..]);
                commits.Add(current);
            }
            else if (token.Length > 0 && token[0] == ':' && current is not null)
            {
                pendingMeta = token;
            }
        }

        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            var message = GitCommand.FirstLine(stderr.GetAwaiter().GetResult(), "git log failed");
            // An empty repository has no commits to read: not an error.
            if (message.Contains("does not have any commits", StringComparison.Ordinal) || message.Contains("bad default revision", StringComparison.Ordinal))
            {
                return commits;
            }

            throw new GitException(message);
        }

        return commits;
    }

    /// <summary>The blobs a diff changes, e.g. <c>diff --cached</c> for the staged changes.</summary>
    public static List<GitChange> ReadDiff(string repository, IReadOnlyList<string> diffArgs, CancellationToken cancellationToken)
    {
        var args = new List<string> { "diff", "--raw", "-z", "--no-renames", "--no-abbrev", "--no-textconv", "--no-ext-diff" };
        args.AddRange(diffArgs);
        var holder = new GitCommit("", [], default, "", "", "", []);
        using var process = GitCommand.Start(GitCommand.StartInfo(repository, args));
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        string? pendingMeta = null;
        foreach (var raw in GitCommand.NulTokens(process.StandardOutput.BaseStream))
        {
            var token = raw.TrimStart('\n');
            if (pendingMeta is not null)
            {
                AddChange(holder, pendingMeta, token, s => s);
                pendingMeta = null;
            }
            else if (token.StartsWith(':'))
            {
                pendingMeta = token;
            }
        }

        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new GitException(GitCommand.FirstLine(stderr.GetAwaiter().GetResult(), "git diff failed"));
        }

        return holder.Changes;
    }

    private static GitCommit ParseHeader(string header)
    {
        var fields = header.Split(FieldSeparator);
        var ids = fields[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var seconds = fields.Length > 1 && long.TryParse(fields[1], System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var t) ? t : 0;
        return new GitCommit(
            ids[0],
            ids.Length > 1 ? ids[1..] : [],
            DateTimeOffset.FromUnixTimeSeconds(seconds),
            fields.Length > 2 ? fields[2] : "",
            fields.Length > 3 ? fields[3] : "",
            fields.Length > 4 ? fields[4] : "",
            []);
    }

    /// <summary>Parses ":oldmode newmode oldsha newsha status" for the path that follows it.</summary>
    private static void AddChange(GitCommit commit, string meta, string path, Func<string, string> intern)
    {
        var parts = meta[1..].Split(' ');
        if (parts.Length < 5)
        {
            return;
        }

        commit.Changes.Add(new GitChange(path, BlobOrNull(parts[0], parts[2], intern), BlobOrNull(parts[1], parts[3], intern)));
    }

    /// <summary>Regular files and symbolic links are blobs; gitlinks (submodules, mode 160000) are commits of another repository.</summary>
    private static string? BlobOrNull(string mode, string sha, Func<string, string> intern) =>
        sha == ZeroSha || mode.StartsWith("160", StringComparison.Ordinal) || mode == "000000" ? null : intern(sha);
}
