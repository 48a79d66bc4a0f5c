using Keywarden.Detection.Scanning;
using Keywarden.Detection.Sources.Git;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Detection.Tests;

/// <summary>The in-process reading of the index against HEAD gives what <c>git diff --cached</c> gives, or gives way to git.</summary>
public sealed class StagedChangesTests : IDisposable
{
    private readonly Random _random = new(4242);
    private readonly GitRepo _repo = new();

    public static TheoryData<string> Scenarios => [.. StagedScenarios.Names];

    private StagedValues Values => new(() => KeyId(_random), () => SecretAccessKey(_random));

    [Theory]
    [MemberData(nameof(Scenarios))]
    public void Index_against_HEAD_lists_what_git_diff_cached_lists(string scenario)
    {
        var directory = StagedScenarios.Build(scenario, _repo, Values);

        using var staged = StagedChanges.TryRead(directory);
        if (StagedScenarios.ReadThroughGit.Contains(scenario))
        {
            Assert.Null(staged);
            return;
        }

        Assert.NotNull(staged);
        var git = GitLog.ReadDiff(directory, ["--cached", "--diff-filter=ACMRT"], CancellationToken.None);
        Assert.Equal(git, staged.Changes);
    }

    [Theory]
    [MemberData(nameof(Scenarios))]
    public void Staged_scan_reports_the_same_in_process_and_through_git(string scenario)
    {
        var directory = StagedScenarios.Build(scenario, _repo, Values);

        Assert.Equal(Scan(directory, throughGit: true), Scan(directory, throughGit: false));
    }

    [Fact]
    public void A_cached_tree_that_no_longer_covers_its_entries_is_not_trusted()
    {
        // The index's entries from after `git add d/b`, with the cache-tree from before it: the cached
        // ids still equal HEAD's trees, but cover one entry fewer than the index holds under them.
        _repo.Write("d/a", "one\n");
        _repo.Commit("init");
        var index = System.IO.Path.Combine(_repo.Path, ".git", "index");
        var before = File.ReadAllBytes(index);
        _repo.Write("d/b", $"AWS_ACCESS_KEY_ID={KeyId(_random)}\n");
        _repo.Git(["add", "d/b"]);
        var after = File.ReadAllBytes(index);
        var tree = "TREE"u8.ToArray();
        var oldTree = before.AsSpan().IndexOf(tree);
        var newEnd = after.AsSpan().IndexOf(tree) is var t and >= 0 ? t : after.Length - 20;
        Assert.True(oldTree > 0);
        byte[] body = [.. after[..newEnd], .. before[oldTree..^20]];
        File.WriteAllBytes(index, [.. body, .. System.Security.Cryptography.SHA1.HashData(body)]);

        var git = GitLog.ReadDiff(_repo.Path, ["--cached", "--diff-filter=ACMRT"], CancellationToken.None);
        Assert.Contains(git, c => c.Path == "d/b");
        using var staged = StagedChanges.TryRead(_repo.Path);
        Assert.NotNull(staged);
        Assert.Equal(git, staged.Changes);
    }

    [Fact]
    public void A_renamed_file_is_an_addition_and_deletions_are_not_listed()
    {
        StagedScenarios.Build("modified, deleted and renamed files", _repo, Values);
        using var staged = StagedChanges.TryRead(_repo.Path);
        Assert.NotNull(staged);
        // No renames: the new path is an addition (the old one a deletion, which the check does not list).
        var moved = Assert.Single(staged.Changes, c => c.Path == "new/name.txt");
        Assert.Null(moved.OldBlob);
        Assert.DoesNotContain(staged.Changes, c => c.Path is "b.txt" or "old/name.txt");
    }

    [Fact]
    public void A_gitlink_has_no_blob_on_either_side()
    {
        StagedScenarios.Build("submodule gitlink", _repo, Values);
        using var staged = StagedChanges.TryRead(_repo.Path);
        Assert.NotNull(staged);
        var added = Assert.Single(staged.Changes, c => c.Path == "vendor/other");
        Assert.Null(added.NewBlob);
        var typeChange = Assert.Single(staged.Changes, c => c.Path == "vendor/lib");
        Assert.Null(typeChange.OldBlob);
        Assert.NotNull(typeChange.NewBlob);
    }

    [Fact]
    public void A_path_that_is_not_UTF8_is_shown_with_replacement_characters()
    {
        StagedScenarios.Build("non-UTF-8 path", _repo, Values);
        using var staged = StagedChanges.TryRead(_repo.Path);
        Assert.NotNull(staged);
        Assert.Contains(staged.Changes, c => c.Path == "docs/caf\uFFFD.txt");
        Assert.Contains(staged.Changes, c => c.Path == "docs/na\u00EFve.txt");
    }

    [Fact]
    public void A_valid_cache_tree_equal_to_HEAD_means_nothing_is_staged()
    {
        StagedScenarios.Build("nothing staged", _repo, Values);
        using var staged = StagedChanges.TryRead(_repo.Path);
        Assert.NotNull(staged);
        Assert.Empty(staged.Changes);
    }

    [Fact]
    public void A_repository_owned_by_someone_else_is_left_to_git()
    {
        // git's safe.directory rule: only git decides whether to read it.
        _repo.Write("a.txt", "a\n");
        _repo.Commit("initial");
        Assert.NotNull(StagedChanges.TryRead(_repo.Path));
        if (Environment.UserName != "root" || !OperatingSystem.IsLinux())
        {
            return;
        }

        _repo.Shell("chown 12345 .git");
        Assert.Null(StagedChanges.TryRead(_repo.Path));
    }

    /// <summary>What a staged scan reports, or the error it stops with.</summary>
    private static string Scan(string directory, bool throughGit)
    {
        try
        {
            return Describe(new GitScanner(new GitScanOptions { Repository = directory, Staged = true, StagedThroughGit = throughGit }, new ScanOptions()).Run());
        }
        catch (GitException e)
        {
            return $"git: {e.Message}";
        }
    }

    /// <summary>Everything a report says except how long it took.</summary>
    private static string Describe(ScanReport report) => string.Join('\n',
        [
            $"files {report.Files}, bytes {report.Bytes}, binary {report.BinarySkipped}, archives {report.Archives}, suppressed {report.Suppressed}",
            .. report.Findings.Select(f => $"{f.Path}:{f.Line}:{f.Column} {f.RuleId} {f.KeyId} {f.Classification} {f.Secret?.Sha256} {f.SessionToken?.Sha256} {f.Fingerprint}"),
            .. report.AllFindings.Select(f => $"all {f.Path}:{f.Line} {f.Fingerprint}"),
            .. report.Errors.Select(e => $"error {e.Path}: {e.Message}"),
            .. report.Warnings.Select(w => $"warning {w.Path}: {w.Message}"),
        ]);

    public void Dispose() => _repo.Dispose();
}
