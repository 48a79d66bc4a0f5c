using Keywarden.Detection.Findings;
using Keywarden.Detection.Scanning;
using Keywarden.Detection.Sources.Git;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Detection.Tests;

public sealed class GitScannerTests : IDisposable
{
    private readonly Random _random = new(31);
    private readonly GitRepo _repo = new();

    private ScanReport History(GitScanOptions? git = null, ScanOptions? options = null) =>
        new GitScanner((git ?? new GitScanOptions()) with { Repository = (git?.Repository is { } r && r != ".") ? r : _repo.Path }, options ?? new ScanOptions()).Run();

    [Fact]
    public void History_scan_names_the_introducing_commit_and_whether_head_still_has_it()
    {
        _repo.Write("README.md", "hello\n");
        _repo.Commit("initial");
        var kept = KeyId(_random);
        var secret = SecretAccessKey(_random);
        _repo.Write("config/app.env", $"AWS_ACCESS_KEY_ID={kept}\nAWS_SECRET_ACCESS_KEY={secret}\n");
        var introduced = _repo.Commit("add config");
        var removed = KeyId(_random);
        _repo.Write("old.txt", $"key {removed}\n");
        var addedRemoved = _repo.Commit("temporary key");
        _repo.Append("README.md", "more\n");
        _repo.Commit("docs");
        File.Delete(Path.Combine(_repo.Path, "old.txt"));
        _repo.Commit("remove key");

        var report = History();
        var keptFinding = report.Findings.Single(f => f.KeyId == kept);
        Assert.Equal(introduced, keptFinding.Commit!.Sha);
        Assert.Equal("config/app.env", keptFinding.Path);
        Assert.Equal("add config", keptFinding.Commit.Message);
        Assert.Equal("dev@example.com", keptFinding.Commit.Email);
        Assert.True(keptFinding.InHead);
        Assert.Equal(4, keptFinding.Commits);
        Assert.Equal(SecretValue.HashOf(secret), keptFinding.Secret!.Sha256);

        var removedFinding = report.Findings.Single(f => f.KeyId == removed);
        Assert.Equal(addedRemoved, removedFinding.Commit!.Sha);
        Assert.False(removedFinding.InHead);
        Assert.Equal(2, removedFinding.Commits);
        Assert.Equal(2, report.Findings.Count);
        Assert.Empty(report.Errors);
    }

    [Fact]
    public void Keys_on_other_branches_tags_and_the_stash_are_found()
    {
        _repo.Write("a.txt", "a\n");
        _repo.Commit("initial");
        _repo.Git(["checkout", "-q", "-b", "feature"]);
        var onBranch = KeyId(_random);
        _repo.Write("b.txt", $"k={onBranch}\n");
        _repo.Commit("feature work");
        _repo.Git(["checkout", "-q", "main"]);
        var stashed = KeyId(_random);
        _repo.Write("a.txt", $"k={stashed}\n");
        _repo.Git(["stash", "-q"]);

        var report = History();
        Assert.True(report.Findings.Single(f => f.KeyId == onBranch).InHead);
        Assert.Contains(report.Findings, f => f.KeyId == stashed);
    }

    [Fact]
    public void The_oldest_introduction_wins_when_a_key_is_copied_and_merged()
    {
        _repo.Write("a.txt", "a\n");
        _repo.Commit("initial");
        var key = KeyId(_random);
        _repo.Git(["checkout", "-q", "-b", "feature"]);
        _repo.Write("feature.txt", $"k={key}\n");
        var first = _repo.Commit("feature adds key");
        _repo.Git(["checkout", "-q", "main"]);
        _repo.Write("later.txt", $"copy of {key}\n");
        _repo.Commit("main copies key");
        _repo.Git(["merge", "-q", "--no-edit", "feature"], new() { ["GIT_AUTHOR_DATE"] = "1800000000 +0000", ["GIT_COMMITTER_DATE"] = "1800000000 +0000" });

        var finding = Assert.Single(History().Findings);
        Assert.Equal(first, finding.Commit!.Sha);
        Assert.Equal("feature.txt", finding.Path);
    }

    [Fact]
    public void Range_and_since_report_only_keys_their_commits_add()
    {
        var old = KeyId(_random);
        _repo.Write("a.txt", $"old {old}\n");
        var baseCommit = _repo.Commit("old key");
        var fresh = KeyId(_random);
        _repo.Append("a.txt", $"new {fresh}\n");
        var tip = _repo.Commit("new key in the same file");

        var ranged = History(new GitScanOptions { Range = $"{baseCommit}..{tip}" });
        var finding = Assert.Single(ranged.Findings);
        Assert.Equal(fresh, finding.KeyId);
        Assert.Equal(tip, finding.Commit!.Sha);
        Assert.True(finding.InHead);

        Assert.Equal(fresh, Assert.Single(History(new GitScanOptions { Since = baseCommit }).Findings).KeyId);
        Assert.Equal(2, History().Findings.Count);
    }

    [Fact]
    public void Staged_scan_reports_only_what_the_index_adds()
    {
        var committed = KeyId(_random);
        _repo.Write("a.txt", $"committed {committed}\n");
        _repo.Commit("existing key");
        var staged = KeyId(_random);
        _repo.Append("a.txt", $"staged {staged}\n");
        _repo.Write("b.txt", "nothing\n");
        _repo.Git(["add", "a.txt", "b.txt"]);
        var unstaged = KeyId(_random);
        _repo.Write("c.txt", $"unstaged {unstaged}\n");

        var report = History(new GitScanOptions { Staged = true });
        var finding = Assert.Single(report.Findings);
        Assert.Equal(staged, finding.KeyId);
        Assert.Equal("a.txt", finding.Path);
        Assert.Equal(2, finding.Line);
        Assert.Null(finding.Commit);
    }

    [Fact]
    public void Staged_scan_works_before_the_first_commit()
    {
        var key = KeyId(_random);
        _repo.Write("a.txt", $"k={key}\n");
        _repo.Git(["add", "a.txt"]);
        Assert.Equal(key, Assert.Single(History(new GitScanOptions { Staged = true }).Findings).KeyId);
    }

    [Fact]
    public void A_bare_remote_is_cloned_from_a_file_url_and_scanned()
    {
        var key = KeyId(_random);
        _repo.Write("a.txt", $"k={key}\n");
        var sha = _repo.Commit("key");
        using var remote = new GitRepo(bare: true);
        _repo.Git(["push", "-q", remote.Path, "main"]);

        var report = new GitScanner(new GitScanOptions { Repository = "file://" + remote.Path }, new ScanOptions()).Run();
        var finding = Assert.Single(report.Findings);
        Assert.Equal(sha, finding.Commit!.Sha);
        Assert.True(finding.InHead);

        var missing = Assert.Throws<ScanInputException>(() => new GitScanner(new GitScanOptions { Repository = "file:///no/such/repo.git" }, new ScanOptions()).Run());
        Assert.StartsWith("cannot clone file:///no/such/repo.git", missing.Message, StringComparison.Ordinal);

        // A token in the URL never shows, even when git repeats the URL in its message.
        var token = "ghp" + new string('q', 20);
        var withToken = Assert.Throws<ScanInputException>(() => new GitScanner(new GitScanOptions { Repository = $"http://user:{token}@127.0.0.1:9/repo.git" }, new ScanOptions()).Run());
        Assert.DoesNotContain(token, withToken.Message, StringComparison.Ordinal);
        Assert.Null(withToken.InnerException);
    }

    [Fact]
    public void Url_credentials_are_never_shown() =>
        Assert.Equal("https://***@github.com/o/r.git", GitScanner.RedactUrl("https://user:token123@github.com/o/r.git"));

    [Fact]
    public void A_folder_that_is_not_a_repository_is_one_clear_error()
    {
        using var tree = new TempTree();
        var e = Assert.Throws<ScanInputException>(() => new GitScanner(new GitScanOptions { Repository = tree.Root }, new ScanOptions()).Run());
        Assert.StartsWith($"not a git repository: {tree.Root}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_objects_are_an_error_and_everything_else_is_reported()
    {
        var lost = KeyId(_random);
        var kept = KeyId(_random);
        _repo.Write("lost.txt", $"k={lost}\n");
        _repo.Write("kept.txt", $"k={kept}\n");
        _repo.Commit("two keys");
        var blob = _repo.Git(["rev-parse", "HEAD:lost.txt"]).Trim();
        File.Delete(Path.Combine(_repo.Path, ".git", "objects", blob[..2], blob[2..]));

        var report = History();
        Assert.Equal(kept, Assert.Single(report.Findings).KeyId);
        Assert.Contains(report.Errors, e => e.Message.StartsWith("1 object could not be read", StringComparison.Ordinal));
    }

    [Fact]
    public void A_corrupt_object_is_an_error_and_everything_else_is_reported()
    {
        var kept = KeyId(_random);
        _repo.Write("kept.txt", $"k={kept}\n");
        _repo.Write("broken.txt", $"k={KeyId(_random)}\n");
        _repo.Commit("two keys");
        var blob = _repo.Git(["rev-parse", "HEAD:broken.txt"]).Trim();
        var path = Path.Combine(_repo.Path, ".git", "objects", blob[..2], blob[2..]);
        File.SetAttributes(path, FileAttributes.Normal);
        File.WriteAllBytes(path, [0x78, 0x9C, 1, 2, 3, 4, 5, 6, 7, 8]);

        var report = History();
        Assert.Equal(kept, Assert.Single(report.Findings).KeyId);
        var error = Assert.Single(report.Errors);
        Assert.True(error.Message.StartsWith("git cat-file stopped", StringComparison.Ordinal) || error.Message.StartsWith("1 object could not be read", StringComparison.Ordinal), error.Message);
    }

    [Fact]
    public void Shallow_clones_warn_that_older_history_is_not_scanned()
    {
        _repo.Write("a.txt", "1\n");
        _repo.Commit("one");
        var key = KeyId(_random);
        _repo.Write("b.txt", $"k={key}\n");
        _repo.Commit("two");
        using var shallow = new GitRepo();
        Directory.Delete(shallow.Path, recursive: true);
        _repo.Git(["clone", "-q", "--depth", "1", "file://" + _repo.Path, shallow.Path]);

        var report = new GitScanner(new GitScanOptions { Repository = shallow.Path }, new ScanOptions()).Run();
        Assert.Contains(report.Findings, f => f.KeyId == key);
        Assert.Contains(report.Warnings, w => w.Message.StartsWith("shallow repository", StringComparison.Ordinal));
    }

    [Fact]
    public void All_objects_adds_dangling_blobs()
    {
        _repo.Write("a.txt", "a\n");
        _repo.Commit("initial");
        var dangling = KeyId(_random);
        _repo.Write("tmp.txt", $"k={dangling}\n");
        _repo.Git(["add", "tmp.txt"]);
        _repo.Git(["rm", "-q", "--cached", "tmp.txt"]);
        File.Delete(Path.Combine(_repo.Path, "tmp.txt"));

        Assert.Empty(History().Findings);
        var finding = Assert.Single(History(new GitScanOptions { AllObjects = true }).Findings);
        Assert.Equal(dangling, finding.KeyId);
        Assert.Null(finding.Commit);
        Assert.False(finding.InHead);
    }

    [Fact]
    public void Submodules_and_non_utf8_paths_do_not_break_the_scan()
    {
        var key = KeyId(_random);
        _repo.Write("a.txt", $"k={key}\n");
        _repo.Commit("initial");
        var head = _repo.Git(["rev-parse", "HEAD"]).Trim();
        _repo.Git(["update-index", "--add", "--cacheinfo", $"160000,{head},vendor/sub"]);
        // A file name with a byte that is not UTF-8 (0xFF), made by the shell: .NET strings cannot name it.
        using (var shell = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("sh", ["-c", $"printf 'k={KeyId(_random)}\\n' > \"$(printf 'bad-\\377.txt')\""]) { WorkingDirectory = _repo.Path })!)
        {
            shell.WaitForExit();
        }

        _repo.Commit("submodule and odd name");

        var report = History();
        Assert.Equal(2, report.Findings.Count);
        Assert.Contains(report.Findings, f => f.Path == "bad-\uFFFD.txt");
        Assert.Empty(report.Errors);
    }

    [Fact]
    public void Pre_push_lines_become_a_range_of_new_commits()
    {
        var zero = new string('0', 40);
        _repo.Write("a.txt", "a\n");
        var first = _repo.Commit("one");
        _repo.Write("a.txt", "b\n");
        var second = _repo.Commit("two");
        Assert.Equal([second, "--not", first], PrePushRange.Parse($"refs/heads/main {second} refs/heads/main {first}\n", _repo.Path, CancellationToken.None));
        Assert.Equal([second, "--not", "--remotes"], PrePushRange.Parse($"refs/heads/new {second} refs/heads/new {zero}\n", _repo.Path, CancellationToken.None));
        Assert.Empty(PrePushRange.Parse($"(delete) {zero} refs/heads/old {first}\n", _repo.Path, CancellationToken.None));
        var unknown = new string('a', 40);
        Assert.Equal([second, "--not", "--remotes"], PrePushRange.Parse($"refs/heads/main {second} refs/heads/main {unknown}\n", _repo.Path, CancellationToken.None));
    }

    [Fact]
    public void Packed_deltified_and_loose_objects_give_the_same_findings_as_loose_ones()
    {
        // Many versions of a few files, so `git gc --aggressive` stores most blobs as deltas (OFS_DELTA)
        // of each other; then a few more commits stay loose next to the pack.
        var keys = new List<string>();
        var text = new System.Text.StringBuilder();
        for (var i = 0; i < 60; i++)
        {
            text.Append(string.Concat(Enumerable.Repeat($"line {i} of some ordinary configuration text\n", 20)));
            if (i % 6 == 0)
            {
                var key = KeyId(_random);
                keys.Add(key);
                text.Append($"aws_access_key_id = {key}\naws_secret_access_key = {SecretAccessKey(_random)}\n");
            }

            _repo.Write("config/big.txt", text.ToString());
            _repo.Write($"notes/{i % 3}.txt", text.ToString()[..Math.Min(text.Length, 5000)]);
            _repo.Commit($"edit {i}");
        }

        var loose = History().Findings.Select(Describe).Order(StringComparer.Ordinal).ToList();
        _repo.Git(["gc", "-q", "--aggressive", "--prune=now"]);
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(_repo.Path, ".git", "objects", "pack"), "*.pack"));
        var packed = History().Findings.Select(Describe).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(loose, packed);
        Assert.Equal(keys.Count, packed.Count);

        var late = KeyId(_random);
        _repo.Append("config/big.txt", $"late {late}\n");
        _repo.Commit("loose commit after the pack");
        var mixed = History();
        Assert.Contains(mixed.Findings, f => f.KeyId == late);
        Assert.Equal(keys.Count + 1, mixed.Findings.Count);
        Assert.Empty(mixed.Errors);

        static string Describe(Finding f) => $"{f.KeyId} {f.Path}:{f.Line} {f.Commit?.Sha} {f.Commits} {f.InHead} {f.Secret?.Sha256}";
    }

    [Fact]
    public void A_repository_with_alternates_is_read_through_git_itself()
    {
        var key = KeyId(_random);
        _repo.Write("a.txt", $"k={key}\n");
        var sha = _repo.Commit("key");
        _repo.Git(["gc", "-q"]);
        using var shared = new GitRepo();
        Directory.Delete(shared.Path, recursive: true);
        _repo.Git(["clone", "-q", "--shared", _repo.Path, shared.Path]);
        Assert.True(File.Exists(Path.Combine(shared.Path, ".git", "objects", "info", "alternates")));

        var finding = Assert.Single(new GitScanner(new GitScanOptions { Repository = shared.Path }, new ScanOptions()).Run().Findings);
        Assert.Equal(key, finding.KeyId);
        Assert.Equal(sha, finding.Commit!.Sha);
    }

    [Fact]
    public void Replace_refs_cannot_hide_history()
    {
        var hidden = KeyId(_random);
        _repo.Write("a.txt", $"k={hidden}\n");
        _repo.Commit("key");
        File.Delete(Path.Combine(_repo.Path, "a.txt"));
        _repo.Commit("removed");
        _repo.Write("b.txt", "b\n");
        var tip = _repo.Commit("later");
        _repo.Git(["replace", "--graft", tip]); // makes `git log` stop at the tip
        Assert.Single(_repo.Git(["log", "--oneline"]).Split('\n', StringSplitOptions.RemoveEmptyEntries));

        Assert.Equal(hidden, Assert.Single(History().Findings).KeyId);
    }

    [Fact]
    public void A_range_whose_file_is_gone_at_the_tip_is_checked_without_error_even_with_spaces_in_the_path()
    {
        _repo.Write("README", "r\n");
        var start = _repo.Commit("start");
        var key = KeyId(_random);
        _repo.Write("config/dev creds.env", $"AWS_ACCESS_KEY_ID={key}\n");
        var added = _repo.Commit("creds with a space in the name");
        File.Delete(Path.Combine(_repo.Path, "config", "dev creds.env"));
        _repo.Commit("removed at the tip");

        var report = History(new GitScanOptions { Range = $"{start}..{added}" });
        var finding = Assert.Single(report.Findings);
        Assert.Equal("config/dev creds.env", finding.Path);
        Assert.False(finding.InHead);
        Assert.Empty(report.Errors);
    }

    [Fact]
    public void A_tag_of_a_file_is_scanned_and_named_by_its_ref()
    {
        _repo.Write("a.txt", "a\n");
        _repo.Commit("initial");
        var key = KeyId(_random);
        var blobFile = Path.Combine(_repo.Path, "..", Path.GetFileName(_repo.Path) + ".blob");
        File.WriteAllText(blobFile, $"k={key}\n");
        try
        {
            var blob = _repo.Git(["hash-object", "-w", blobFile]).Trim();
            _repo.Git(["tag", "-a", "keyfile", blob, "-m", "a tag of a blob"]);
        }
        finally
        {
            File.Delete(blobFile);
        }

        var finding = Assert.Single(History().Findings);
        Assert.Equal(key, finding.KeyId);
        Assert.Equal("refs/tags/keyfile", finding.Path);
        Assert.Null(finding.Commit);
    }

    [Fact]
    public void Option_like_revisions_are_refused()
    {
        _repo.Write("a.txt", "a\n");
        _repo.Commit("initial");
        Assert.Throws<ScanInputException>(() => History(new GitScanOptions { Range = "--output=/tmp/x..y" }));
        Assert.Throws<ScanInputException>(() => History(new GitScanOptions { Since = "--all" }));
    }

    public void Dispose() => _repo.Dispose();
}
