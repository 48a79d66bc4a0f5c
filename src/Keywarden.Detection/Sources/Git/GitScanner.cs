using System.Collections.Immutable;
using System.Diagnostics;
using Keywarden.Detection.Findings;
using Keywarden.Detection.Scanning;

namespace Keywarden.Detection.Sources.Git;

/// <summary>
/// Scans a git repository's history: every blob reachable from any ref is scanned exactly once, then
/// each credential gets its provenance: the oldest commit that introduced it (it is in the new blob of
/// a change and not in the old one), how many commits contain it, and whether a branch tip still does.
/// Or scans the staged changes only, reporting credentials the index adds to HEAD.
/// </summary>
public sealed class GitScanner(GitScanOptions git, ScanOptions options)
{
    public ScanReport Run(ScanProgress? progress = null, CancellationToken cancellationToken = default)
    {
        var stopwatch = Stopwatch.StartNew();
        var session = new ScanSession(options, progress ?? new ScanProgress(), cancellationToken);
        string? clone = null;
        try
        {
            var repository = git.Repository;
            if (IsUrl(repository))
            {
                clone = CloneBare(repository, cancellationToken);
                repository = clone;
            }
            else
            {
                // The staged check runs in a hook, where every process counts: git diff itself reports a non-repository.
                CheckRepository(repository, verify: !git.Staged, cancellationToken);
            }

            var findings = git.Staged ? ScanStaged(repository, session) : ScanHistory(repository, session);
            if (clone is null && git.Staged && options.OwnFiles.Count > 0)
            {
                WithoutOwnFiles(repository, findings, cancellationToken);
            }

            return Scanner.Finish(options, session, findings, stopwatch);
        }
        finally
        {
            if (clone is not null)
            {
                TryDelete(clone);
            }
        }
    }

    /// <summary>
    /// Drops findings in the baseline file (<see cref="ScanOptions.OwnFiles"/>) as it is staged in this
    /// repository (its path from the work tree's top). Staged findings are per path, so no other file's
    /// finding goes with it; a history scan reports each credential once, at its first appearance, which
    /// may be the baseline's own path, so there nothing is dropped.
    /// </summary>
    private void WithoutOwnFiles(string repository, List<Finding> findings, CancellationToken cancellationToken)
    {
        var top = GitCommand.Run(repository, ["rev-parse", "--show-toplevel"], cancellationToken, allowFailure: true).Trim();
        if (top.Length == 0)
        {
            return;
        }

        var own = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in options.OwnFiles)
        {
            var relative = Path.GetRelativePath(top, Path.GetFullPath(file));
            if (!relative.StartsWith("..", StringComparison.Ordinal) && !Path.IsPathRooted(relative))
            {
                own.Add(relative.Replace(Path.DirectorySeparatorChar, '/'));
            }
        }

        findings.RemoveAll(f => own.Contains(f.Path));
    }

    /// <summary>https://, ssh://, git://, file:// and scp-like user@host:path addresses.</summary>
    public static bool IsUrl(string value) =>
        value.Contains("://", StringComparison.Ordinal) ||
        (value.Contains('@', StringComparison.Ordinal) && value.Contains(':', StringComparison.Ordinal) && !Directory.Exists(value));

    private static void CheckRepository(string path, bool verify, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(path))
        {
            throw new ScanInputException($"no such directory: {path}");
        }

        if (!verify)
        {
            return;
        }

        try
        {
            GitCommand.Run(path, ["rev-parse", "--git-dir"], cancellationToken);
        }
        catch (GitException e)
        {
            throw new ScanInputException($"not a git repository: {path} ({e.Message})", e);
        }
    }

    private static string CloneBare(string url, CancellationToken cancellationToken)
    {
        var directory = Path.Combine(Path.GetTempPath(), "keywarden-clone-" + Guid.NewGuid().ToString("N"));
        try
        {
            // --mirror: a bare clone with every ref (branches, tags, notes), as history scans need.
            GitCommand.Run(null, ["clone", "--mirror", "--quiet", "--", url, directory], cancellationToken);
            return directory;
        }
        catch (GitException e)
        {
            TryDelete(directory);
            // git's own message may repeat the URL, token and all, rewritten (insteadOf, a trailing
            // slash, percent-decoded): every URL in it is redacted (GitCommand.FirstLine), and so is any
            // bare copy of the user-info's parts.
            throw new ScanInputException($"cannot clone {RedactUrl(url)}: {WithoutUserInfo(e.Message, url)}");
        }
        catch
        {
            // Cancelled (Ctrl-C, SIGTERM) while git was writing: git is killed, its partial clone removed.
            TryDelete(directory);
            throw;
        }
    }

    /// <summary>A URL may carry a token (https://user:token@host/..., ?access_token=...): never show it.</summary>
    internal static string RedactUrl(string url) => Writers.UrlRedaction.Redact(url);

    /// <summary><paramref name="message"/> without the user name or password of <paramref name="url"/>, as given or percent-decoded.</summary>
    private static string WithoutUserInfo(string message, string url)
    {
        message = message.Replace(url, RedactUrl(url), StringComparison.Ordinal);
        if (Writers.UrlRedaction.UserInfo(url) is not { } userInfo)
        {
            return message;
        }

        foreach (var part in userInfo.Split(':').Append(userInfo))
        {
            foreach (var form in new[] { part, Uri.UnescapeDataString(part) })
            {
                if (form.Length >= 4)
                {
                    message = message.Replace(form, "***", StringComparison.Ordinal);
                }
            }
        }

        return message;
    }

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                // git writes pack files read-only, which Windows refuses to delete.
                foreach (var file in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories))
                {
                    File.SetAttributes(file, FileAttributes.Normal);
                }

                Directory.Delete(directory, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private List<Finding> ScanHistory(string repository, ScanSession session)
    {
        var ct = session.CancellationToken;
        if (GitCommand.Run(repository, ["rev-parse", "--is-shallow-repository"], ct, allowFailure: true).Trim() == "true")
        {
            session.AddWarning(".", "shallow repository: commits before the shallow boundary are not scanned (git fetch --unshallow to include them)");
        }

        foreach (var value in new[] { git.Range, git.Since })
        {
            if (value is not null && value.StartsWith('-'))
            {
                throw new ScanInputException($"not a revision: {value}");
            }
        }

        var revisions = git.Revisions ?? (git.Range is { } range ? [range] : git.Since is { } since ? ["--all", "--not", since] : ["--all"]);
        var fullHistory = revisions is ["--all"];
        var scanner = new BlobScanner(repository, session);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        List<GitCommit> commits;
        Dictionary<string, List<Finding>> blobFindings;
        using var store = fullHistory ? PackStore.TryOpen(ObjectsDirectory(repository, ct), repository, ct) : null;
        if (store is not null)
        {
            // Every reachable blob is the new side of some change in the log (root commits list all
            // their files; merges their first-parent diff), so the log names the blobs too, and they
            // are scanned while the log is still being read: read straight from the packs by every
            // core (see PackStore), in batches sorted by pack offset.
            using var packScan = new PackBlobScan(store, session);
            var log = Task.Run(
                () =>
                {
                    try
                    {
                        return GitLog.Read(repository, revisions, ct, blob =>
                        {
                            if (seen.Add(blob))
                            {
                                packScan.Add(blob);
                            }
                        });
                    }
                    finally
                    {
                        packScan.CompleteAdding();
                    }
                },
                ct);
            packScan.Run();
            commits = log.GetAwaiter().GetResult();
            blobFindings = packScan.Finish(scanner);
        }
        else if (fullHistory)
        {
            // Through git cat-file. Blobs stream from rev-list, newest first: the order git's packs are
            // delta-compressed in, so cat-file inflates fastest (measured: 5.2 s against 7.6 s oldest
            // first, on 20,000 commits).
            var log = Task.Run(() => GitLog.Read(repository, revisions, ct), ct);
            blobFindings = scanner.Scan(RevListBlobs(repository, revisions, seen, ct));
            commits = log.GetAwaiter().GetResult();
        }
        else
        {
            // A range also needs the blobs its changes replaced, to tell what a commit added.
            commits = GitLog.Read(repository, revisions, ct);
            var blobs = new List<string>();
            foreach (var change in commits.SelectMany(c => c.Changes))
            {
                foreach (var blob in new[] { change.NewBlob, change.OldBlob })
                {
                    if (blob is not null && seen.Add(blob))
                    {
                        blobs.Add(blob);
                    }
                }
            }

            blobFindings = scanner.Scan(blobs);
        }

        var credentials = CredentialsByBlob(blobFindings);

        // Introductions: the oldest commit whose change adds the credential to a path.
        var introduced = new Dictionary<string, (GitCommit Commit, int Order, string Path, Finding Finding)>(StringComparer.Ordinal);
        for (var i = 0; i < commits.Count; i++)
        {
            var commit = commits[i];
            foreach (var change in commit.Changes)
            {
                if (change.NewBlob is null || !credentials.TryGetValue(change.NewBlob, out var added))
                {
                    continue;
                }

                credentials.TryGetValue(change.OldBlob ?? "", out var before);
                foreach (var (identity, finding) in added)
                {
                    if (before is not null && before.ContainsKey(identity))
                    {
                        continue;
                    }

                    if (!introduced.TryGetValue(identity, out var best) || commit.Date < best.Commit.Date || (commit.Date == best.Commit.Date && i < best.Order))
                    {
                        introduced[identity] = (commit, i, change.Path, finding);
                    }
                }
            }
        }

        var (containing, states) = CountContainingCommits(commits, credentials);
        var inHead = CredentialsAtBranchTips(repository, session, states, credentials, introduced);

        var findings = new List<Finding>(introduced.Count);
        foreach (var (identity, (commit, _, path, finding)) in introduced)
        {
            findings.Add(finding with
            {
                Path = path,
                Commit = new CommitInfo(commit.Sha, commit.Author, commit.Email, commit.Date, commit.Subject, path),
                Commits = containing.GetValueOrDefault(identity),
                InHead = inHead.Contains(identity),
                Fingerprint = FindingFingerprint.Compute(finding.RuleId, path + "@" + commit.Sha, identity, finding.Secret?.Sha256, 1),
            });
        }

        // Blobs that only tags point at (a tag of a file or a tree) have no commit: reported by ref name.
        if (fullHistory)
        {
            findings.AddRange(ScanTaggedObjects(repository, session, seen, introduced.Keys));
        }

        if (git.AllObjects)
        {
            var reported = new HashSet<string>(introduced.Keys, StringComparer.Ordinal);
            foreach (var finding in ScanUnreachable(repository, session, seen))
            {
                // A dangling copy (an amended commit's blob, say) of a credential already reported adds nothing.
                if (reported.Add(Identity(finding)))
                {
                    findings.Add(finding);
                }
            }
        }

        if (scanner.Missing > 0)
        {
            session.AddError(".", $"{scanner.Missing} object{(scanner.Missing == 1 ? "" : "s")} could not be read (a partial or damaged clone?): their content was not scanned");
        }

        return findings;
    }

    private static string ObjectsDirectory(string repository, CancellationToken ct)
    {
        var path = GitCommand.Run(repository, ["rev-parse", "--git-path", "objects"], ct).Trim();
        return Path.GetFullPath(Path.Combine(repository, path));
    }

    /// <summary>Blob IDs reachable from the revisions, streamed from <c>git rev-list --objects</c>.</summary>
    private static IEnumerable<string> RevListBlobs(string repository, IReadOnlyList<string> revisions, HashSet<string> seen, CancellationToken ct)
    {
        using var process = GitCommand.Start(GitCommand.StartInfo(repository, ["rev-list", "--objects", "--missing=print", "--filter=object:type=blob", "--filter-provided-objects", .. revisions, "--"]));
        var stderr = process.StandardError.ReadToEndAsync(ct);
        while (process.StandardOutput.ReadLine() is { } line)
        {
            // A missing object is listed as "?<id>": cat-file then reports it missing, and it is counted.
            var id = line.StartsWith('?') ? line[1..] : line;
            if (id.Length >= 40)
            {
                var blob = id[..40];
                if (seen.Add(blob))
                {
                    yield return blob;
                }
            }
        }

        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new GitException(GitCommand.FirstLine(stderr.GetAwaiter().GetResult(), "git rev-list failed"));
        }
    }

    /// <summary>
    /// Walks commits parents-first, keeping for each only the paths whose blob holds a credential (shared
    /// structure, so memory grows with changes, not with commits × paths), and counts the commits whose
    /// tree contains each credential. Outside the walked range a parent's tree is unknown and counts as empty.
    /// </summary>
    private static (Dictionary<string, int> Containing, Dictionary<string, ImmutableDictionary<string, string>> States) CountContainingCommits(
        List<GitCommit> commits, Dictionary<string, Dictionary<string, Finding>> credentials)
    {
        var containing = new Dictionary<string, int>(StringComparer.Ordinal);
        var states = new Dictionary<string, ImmutableDictionary<string, string>>(StringComparer.Ordinal);
        var empty = ImmutableDictionary.Create<string, string>(StringComparer.Ordinal);
        var present = new HashSet<string>(StringComparer.Ordinal);
        foreach (var commit in commits)
        {
            var state = commit.Parents.Count > 0 && states.TryGetValue(commit.Parents[0], out var parent) ? parent : empty;
            foreach (var change in commit.Changes)
            {
                state = change.NewBlob is { } blob && credentials.ContainsKey(blob) ? state.SetItem(change.Path, blob) : state.Remove(change.Path);
            }

            states[commit.Sha] = state;
            present.Clear();
            foreach (var blob in state.Values)
            {
                present.UnionWith(credentials[blob].Keys);
            }

            foreach (var identity in present)
            {
                containing[identity] = containing.GetValueOrDefault(identity) + 1;
            }
        }

        return (containing, states);
    }

    /// <summary>Credentials present at the tip of any local or remote-tracking branch.</summary>
    private static HashSet<string> CredentialsAtBranchTips(
        string repository,
        ScanSession session,
        Dictionary<string, ImmutableDictionary<string, string>> states,
        Dictionary<string, Dictionary<string, Finding>> credentials,
        Dictionary<string, (GitCommit Commit, int Order, string Path, Finding Finding)> introduced)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        var refs = GitCommand.Run(repository, ["for-each-ref", "--format=%(objectname) %(objecttype) %(refname)", "refs/heads", "refs/remotes"], session.CancellationToken);
        var unknownTips = new List<string>();
        foreach (var line in refs.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(' ');
            if (parts.Length < 3 || parts[1] != "commit" || parts[2].EndsWith("/HEAD", StringComparison.Ordinal))
            {
                continue;
            }

            if (states.TryGetValue(parts[0], out var state))
            {
                foreach (var blob in state.Values)
                {
                    result.UnionWith(credentials[blob].Keys);
                }
            }
            else
            {
                unknownTips.Add(parts[0]);
            }
        }

        // A tip outside the walked range: look at the introducing paths in its tree directly.
        if (unknownTips.Count > 0 && introduced.Count > 0)
        {
            var names = unknownTips.Distinct(StringComparer.Ordinal)
                .SelectMany(tip => introduced.Values.Select(v => $"{tip}:{v.Path}"))
                .Distinct(StringComparer.Ordinal)
                .ToList();
            var quiet = new ScanSession(session.Options, new ScanProgress(), session.CancellationToken);
            foreach (var findings in new BlobScanner(repository, quiet).Scan(names).Values)
            {
                result.UnionWith(findings.Select(Identity));
            }
        }

        return result;
    }

    /// <summary>Objects reachable only from refs that point at a blob or a tree (directly or through an annotated tag).</summary>
    private static List<Finding> ScanTaggedObjects(string repository, ScanSession session, HashSet<string> seen, IEnumerable<string> reportedIdentities)
    {
        var refs = GitCommand.Run(repository, ["for-each-ref", "--format=%(objectname) %(objecttype) %(*objectname) %(*objecttype) %(refname)"], session.CancellationToken);
        var roots = new List<(string Id, string Ref)>();
        foreach (var line in refs.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(' ', 5);
            if (parts.Length < 5)
            {
                continue;
            }

            var (id, type) = parts[1] == "tag" ? (parts[2], parts[3]) : (parts[0], parts[1]);
            if (type is "blob" or "tree")
            {
                roots.Add((id, parts[4]));
            }
        }

        var findings = new List<Finding>();
        if (roots.Count == 0)
        {
            return findings;
        }

        var reported = new HashSet<string>(reportedIdentities, StringComparer.Ordinal);
        var scanner = new BlobScanner(repository, session);
        foreach (var (root, refName) in roots)
        {
            var listing = GitCommand.Run(repository, ["rev-list", "--objects", "--no-object-names", "--filter=object:type=blob", "--filter-provided-objects", "--end-of-options", root], session.CancellationToken);
            var blobs = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(seen.Add).ToList();
            foreach (var found in scanner.Scan(blobs).Values.SelectMany(f => f))
            {
                if (reported.Add(Identity(found)))
                {
                    findings.Add(found with { Path = refName, Commits = 0, InHead = false });
                }
            }
        }

        return findings;
    }

    private List<Finding> ScanUnreachable(string repository, ScanSession session, HashSet<string> reachable)
    {
        var listing = GitCommand.Run(repository, ["cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)"], session.CancellationToken);
        var unreachable = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' '))
            .Where(parts => parts.Length == 2 && parts[1] == "blob" && !reachable.Contains(parts[0]))
            .Select(parts => parts[0])
            .ToList();
        var findings = new List<Finding>();
        foreach (var (blob, found) in new BlobScanner(repository, session).Scan(unreachable))
        {
            // An unreachable blob has no path or commit: it is named by its object ID.
            findings.AddRange(found.Select(f => f with { Commits = 0, InHead = false }));
        }

        return findings;
    }

    private List<Finding> ScanStaged(string repository, ScanSession session)
    {
        // In process when the repository allows (see StagedChanges): a git process costs more than the check.
        using var staged = git.StagedThroughGit ? null : StagedChanges.TryRead(repository);
        var changes = staged?.Changes ?? [.. GitLog.ReadDiff(repository, ["--cached", "--diff-filter=ACMRT"], session.CancellationToken)];
        var blobs = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var change in changes)
        {
            foreach (var blob in (string?[])[change.NewBlob, change.OldBlob])
            {
                if (blob is not null && seen.Add(blob))
                {
                    blobs.Add(blob);
                }
            }
        }

        var credentials = CredentialsByBlob(ScanStagedBlobs(repository, session, blobs, staged?.Objects));
        var findings = new List<Finding>();
        foreach (var change in changes)
        {
            if (change.NewBlob is null || !credentials.TryGetValue(change.NewBlob, out var added))
            {
                continue;
            }

            credentials.TryGetValue(change.OldBlob ?? "", out var before);
            var occurrence = 0;
            foreach (var (identity, finding) in added)
            {
                if (before is null || !before.ContainsKey(identity))
                {
                    findings.Add(finding with
                    {
                        Path = change.Path,
                        Fingerprint = FindingFingerprint.Compute(finding.RuleId, change.Path, identity, finding.Secret?.Sha256, ++occurrence),
                    });
                }
            }
        }

        return findings;
    }

    /// <summary>
    /// The few blobs of a staged check, read directly: the index's new blobs are loose objects (`git add`
    /// writes them), HEAD's versions are usually packed, read from the packs when the index was read in
    /// process (<paramref name="objects"/>). What cannot be read that way goes through git cat-file.
    /// </summary>
    private static Dictionary<string, List<Finding>> ScanStagedBlobs(string repository, ScanSession session, List<string> blobs, GitObjects? objects)
    {
        var results = new Dictionary<string, List<Finding>>(StringComparer.Ordinal);
        var viaGit = new List<string>();
        var loose = blobs.Count > 0 && objects is null ? PackStore.LooseObjectsOfWorkTree(repository) : null;
        var content = new ContentScanner(session);
        foreach (var blob in blobs)
        {
            byte[]? data = null;
            var type = "";
            try
            {
                data = objects is not null ? objects.TryRead(blob, out type) : loose is not null ? PackStore.ReadLoose(loose, blob, out type) : null;
            }
            catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or LargeObjectException
                or ArgumentException or IndexOutOfRangeException or OverflowException)
            {
                // A damaged object: git cat-file reads it, or says what is wrong.
                data = null;
            }

            if (data is null || type != "blob")
            {
                viaGit.Add(blob);
                continue;
            }

            var findings = new List<Finding>();
            content.Scan(data, blob, findings);
            if (findings.Count > 0)
            {
                results[blob] = findings;
            }
        }

        if (viaGit.Count > 0)
        {
            foreach (var (blob, findings) in new BlobScanner(repository, session).Scan(viaGit))
            {
                results[blob] = findings;
            }
        }

        return results;
    }

    /// <summary>For each blob, its credentials by identity (the first occurrence of each).</summary>
    private static Dictionary<string, Dictionary<string, Finding>> CredentialsByBlob(Dictionary<string, List<Finding>> blobFindings)
    {
        var result = new Dictionary<string, Dictionary<string, Finding>>(StringComparer.Ordinal);
        foreach (var (blob, findings) in blobFindings)
        {
            var byIdentity = new Dictionary<string, Finding>(StringComparer.Ordinal);
            foreach (var finding in findings)
            {
                byIdentity.TryAdd(Identity(finding), finding);
            }

            result[blob] = byIdentity;
        }

        return result;
    }

    /// <summary>What makes two findings the same credential: rule, key ID, and the hashes of secret and token.</summary>
    internal static string Identity(Finding f) =>
        string.Concat(new[] { f.RuleId, "|", f.KeyId, "|", f.Secret?.Sha256, "|", f.SessionToken?.Sha256 });
}
