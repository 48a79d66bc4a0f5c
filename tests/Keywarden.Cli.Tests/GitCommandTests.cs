using System.Text.Json;
using Keywarden.Cli.Commands;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Cli.Tests;

public sealed class GitCommandTests : IDisposable
{
    private readonly Random _random = new(77);
    private readonly GitRepo _repo = new();

    [Fact]
    public async Task Scan_git_reports_commit_provenance_in_jsonl()
    {
        _repo.Write("a.txt", "a\n");
        _repo.Commit("initial");
        var key = KeyId(_random);
        _repo.Write("deploy.env", $"AWS_ACCESS_KEY_ID={key}\n");
        var sha = _repo.Commit("add deploy settings");

        var run = await Cli.RunAsync(["scan", "--git", _repo.Path, "-f", "jsonl"]);
        Assert.Equal(1, run.ExitCode);
        using var finding = JsonDocument.Parse(run.Stdout);
        var root = finding.RootElement;
        Assert.Equal(key, root.GetProperty("keyId").GetString());
        Assert.Equal(sha, root.GetProperty("commit").GetProperty("sha").GetString());
        Assert.Equal("add deploy settings", root.GetProperty("commit").GetProperty("message").GetString());
        Assert.Equal("deploy.env", root.GetProperty("commit").GetProperty("path").GetString());
        Assert.Equal(1, root.GetProperty("commits").GetInt32());
        Assert.True(root.GetProperty("inHead").GetBoolean());

        var text = await Cli.RunAsync(["scan", "--git", _repo.Path]);
        Assert.Contains($"first in {sha[..12]}", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("still in HEAD", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("rewriting history", text.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scan_staged_blocks_with_advice_on_stderr()
    {
        _repo.Write("a.txt", $"k={KeyId(_random)}\n");
        _repo.Git(["add", "a.txt"]);
        var run = await Cli.RunAsync(["scan", "--staged", _repo.Path]);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("keywarden: commit blocked: 1 live AWS credential in the staged changes.", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("keywarden:allow", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("git commit --no-verify", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Git_usage_errors_exit_2()
    {
        Assert.Equal(2, (await Cli.RunAsync(["scan", "--staged", "--range", "a..b", _repo.Path])).ExitCode);
        var range = await Cli.RunAsync(["scan", "--git", "--range", "main", _repo.Path]);
        Assert.Equal(2, range.ExitCode);
        Assert.Equal("keywarden: error: --range needs the form A..B (got 'main')\n", range.Stderr);
        using var tree = new TempTree();
        var notRepo = await Cli.RunAsync(["scan", "--git", tree.Root]);
        Assert.Equal(2, notRepo.ExitCode);
        Assert.StartsWith($"keywarden: error: not a git repository: {tree.Root}", notRepo.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, (await Cli.RunAsync(["scan", "--git", _repo.Path, "other"])).ExitCode);
        Assert.Equal(2, (await Cli.RunAsync(["scan", "--git", "--all-objects", "--range", "a..b", _repo.Path])).ExitCode);
        Assert.Equal(2, (await Cli.RunAsync(["scan", "--git", "--range=--output=/tmp/kw..x", _repo.Path])).ExitCode);
    }

    [Fact]
    public async Task A_secret_pasted_as_an_argument_is_not_echoed_in_the_usage_error()
    {
        var secret = SecretAccessKey(_random);
        var run = await Cli.RunAsync(["verify", KeyId(_random), secret]);
        Assert.Equal(2, run.ExitCode);
        Assert.DoesNotContain(secret, run.Stderr, StringComparison.Ordinal);
        Assert.Contains(secret[..4] + "…", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hook_install_chains_is_idempotent_and_uninstall_restores()
    {
        var hooks = Path.Combine(_repo.Path, ".git", "hooks");
        var previous = "#!/bin/sh\necho previous hook\n";
        File.WriteAllText(Path.Combine(hooks, "pre-commit"), previous);

        var first = await Cli.RunAsync(["hook", "install", _repo.Path, "--pre-push"]);
        Assert.Equal(0, first.ExitCode);
        Assert.Contains("your previous hook runs first", first.Stderr, StringComparison.Ordinal);
        var installed = File.ReadAllText(Path.Combine(hooks, "pre-commit"));
        Assert.Contains(HookInstaller.Marker, installed, StringComparison.Ordinal);
        Assert.Equal(previous, File.ReadAllText(Path.Combine(hooks, "pre-commit.keywarden-chained")));

        var second = await Cli.RunAsync(["hook", "install", _repo.Path, "--pre-push"]);
        Assert.Contains("already installed", second.Stderr, StringComparison.Ordinal);
        Assert.Equal(installed, File.ReadAllText(Path.Combine(hooks, "pre-commit")));
        Assert.Equal(previous, File.ReadAllText(Path.Combine(hooks, "pre-commit.keywarden-chained")));

        var removed = await Cli.RunAsync(["hook", "uninstall", _repo.Path]);
        Assert.Equal(0, removed.ExitCode);
        Assert.Equal(previous, File.ReadAllText(Path.Combine(hooks, "pre-commit")));
        Assert.False(File.Exists(Path.Combine(hooks, "pre-push")));
        Assert.False(File.Exists(Path.Combine(hooks, "pre-commit.keywarden-chained")));
        Assert.Contains("no Keywarden hook is installed", (await Cli.RunAsync(["hook", "uninstall", _repo.Path])).Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hook_install_force_rewrites_an_outdated_keywarden_hook_only()
    {
        var hook = Path.Combine(_repo.Path, ".git", "hooks", "pre-commit");
        await Cli.RunAsync(["hook", "install", _repo.Path]);
        var current = File.ReadAllText(hook);
        var outdated = current.Replace("scan --staged", "scan --staged --old-flag", StringComparison.Ordinal);
        File.WriteAllText(hook, outdated);

        Assert.Contains("already installed", (await Cli.RunAsync(["hook", "install", _repo.Path])).Stderr, StringComparison.Ordinal);
        Assert.Equal(outdated, File.ReadAllText(hook));

        var forced = await Cli.RunAsync(["hook", "install", _repo.Path, "--force"]);
        Assert.Contains("rewrote the pre-commit hook", forced.Stderr, StringComparison.Ordinal);
        Assert.Equal(current, File.ReadAllText(hook));
        Assert.False(File.Exists(hook + ".keywarden-chained"));
    }

    [Fact]
    public async Task Installed_hooks_block_a_commit_and_a_push_with_a_live_key()
    {
        Assert.Equal(0, (await Cli.RunAsync(["hook", "install", _repo.Path, "--pre-push"])).ExitCode);
        _repo.Write("ok.txt", "fine\n");
        _repo.Commit("clean commit passes");

        _repo.Write("leak.env", $"AWS_ACCESS_KEY_ID={KeyId(_random)}\n");
        var blocked = Assert.Throws<InvalidOperationException>(() => _repo.Commit("leak"));
        Assert.Contains("commit blocked", blocked.Message, StringComparison.Ordinal);

        _repo.Write("leak.env", $"AWS_ACCESS_KEY_ID={KeyId(_random)} # keywarden:allow\n");
        _repo.Commit("allowed false positive");

        // A key committed with --no-verify is still caught by the pre-push hook.
        _repo.Write("later.env", $"AWS_ACCESS_KEY_ID={KeyId(_random)}\n");
        _repo.Git(["add", "-A"]);
        _repo.Git(["commit", "-q", "--no-verify", "-m", "bypassed"]);
        using var remote = new GitRepo(bare: true);
        var push = Assert.Throws<InvalidOperationException>(() => _repo.Git(["push", "-q", "file://" + remote.Path, "main"]));
        Assert.Contains("push blocked", push.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _repo.Dispose();
}
