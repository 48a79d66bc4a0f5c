using System.Text.RegularExpressions;
using Keywarden.Cli.Commands;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Cli.Tests;

/// <summary>
/// The pre-commit hook's short path (<see cref="HookScan"/>) against the full command line and against
/// the staged check as it was, through <c>git diff --cached</c>: same standard output, standard error,
/// exit code and report file, on every shape of staged change.
/// </summary>
public sealed partial class HookScanTests : IDisposable
{
    private readonly Random _random = new(9090);
    private readonly GitRepo _repo = new();
    private readonly TempTree _outputs = new();

    public static TheoryData<string> Scenarios => [.. StagedScenarios.Names];

    private StagedValues Values => new(() => KeyId(_random), () => SecretAccessKey(_random));

    [Theory]
    [MemberData(nameof(Scenarios))]
    public async Task The_hook_path_prints_what_the_full_command_line_and_git_diff_print(string scenario)
    {
        var directory = StagedScenarios.Build(scenario, _repo, Values);
        string[] args = ["scan", "--staged", "--no-progress", directory];

        var hook = Cli.RunHookScan(args);
        var full = await Cli.RunAsync(args);
        var throughGit = Cli.RunScan(HookScan.TryParse(args)! with { StagedThroughGit = true });

        Assert.NotNull(hook);
        Assert.Equal(Normalize(throughGit), Normalize(hook));
        Assert.Equal(Normalize(full), Normalize(hook));
    }

    [Theory]
    [InlineData("added key in a new file", "--format", "json", 1)]
    [InlineData("added key in a new file", "-f", "jsonl", 1)]
    [InlineData("packed HEAD objects", "--format", "json", 1)]
    [InlineData("packed HEAD objects", "-f", "text", 1)]
    [InlineData("nothing staged", "--format", "jsonl", 0)]
    [InlineData("corrupt index", "--format", "json", 2)]
    public async Task Every_format_the_hook_path_takes_is_printed_the_same(string scenario, string option, string format, int exitCode)
    {
        var directory = StagedScenarios.Build(scenario, _repo, Values);
        string[] args = ["scan", option, format, "--staged", directory];

        var hook = Cli.RunHookScan(args);
        var full = await Cli.RunAsync(args);

        Assert.NotNull(hook);
        Assert.Equal(exitCode, hook.ExitCode);
        Assert.Equal(Normalize(full), Normalize(hook));
    }

    [Theory]
    [InlineData("--output", "json")]
    [InlineData("-o", "text")]
    public async Task A_report_file_is_written_the_same(string option, string format)
    {
        var directory = StagedScenarios.Build("packed HEAD objects", _repo, Values);
        var hookFile = _outputs.Path("hook.out");
        var fullFile = _outputs.Path("full.out");

        var hook = Cli.RunHookScan(["scan", "--staged", "--no-progress", option, hookFile, "--format", format, directory]);
        var full = await Cli.RunAsync(["scan", "--staged", "--no-progress", option, fullFile, "--format", format, directory]);

        Assert.NotNull(hook);
        Assert.Equal(Normalize(full), Normalize(hook));
        Assert.Equal(1, hook.ExitCode);
        Assert.Equal(Normalize(File.ReadAllText(fullFile)), Normalize(File.ReadAllText(hookFile)));
        Assert.Contains("commit blocked", hook.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_report_file_that_cannot_be_written_fails_the_same()
    {
        var directory = StagedScenarios.Build("added key in a new file", _repo, Values);
        var missing = _outputs.Path("no/such/dir/report.json");

        var hook = Cli.RunHookScan(["scan", "--staged", "-o", missing, directory]);
        var full = await Cli.RunAsync(["scan", "--staged", "-o", missing, directory]);

        Assert.NotNull(hook);
        Assert.Equal(2, hook.ExitCode);
        Assert.Equal(Normalize(full), Normalize(hook));
    }

    [Fact]
    public async Task A_directory_that_is_not_a_repository_fails_the_same()
    {
        using var plain = new TempTree();
        string[] args = ["scan", "--staged", "--no-progress", plain.Root];

        var hook = Cli.RunHookScan(args);
        var full = await Cli.RunAsync(args);

        Assert.NotNull(hook);
        Assert.Equal(2, hook.ExitCode);
        Assert.Equal(full, hook);
    }

    [Fact]
    public async Task The_installed_hook_blocks_commit_a_commit_with_paths_and_commits_in_a_worktree()
    {
        // git runs the hook with GIT_INDEX_FILE set (a temporary index for -a and for paths) and, in a
        // linked worktree, with GIT_DIR: the staged check must read the index git is about to commit.
        _repo.Write("a.txt", "a\n");
        _repo.Write("b.txt", "b\n");
        _repo.Commit("initial");
        Assert.Equal(0, (await Cli.RunAsync(["hook", "install", _repo.Path])).ExitCode);

        _repo.Append("a.txt", $"k={KeyId(_random)}\n");
        Assert.Contains("commit blocked", Assert.Throws<InvalidOperationException>(() => _repo.Git(["commit", "-q", "-a", "-m", "all"])).Message, StringComparison.Ordinal);
        Assert.Contains("commit blocked", Assert.Throws<InvalidOperationException>(() => _repo.Git(["commit", "-q", "-m", "path", "a.txt"])).Message, StringComparison.Ordinal);
        _repo.Git(["checkout", "--", "a.txt"]);
        _repo.Append("b.txt", "harmless\n");
        _repo.Git(["commit", "-q", "-m", "clean path", "b.txt"]);

        _repo.Git(["worktree", "add", "-q", "-b", "side", "wt"]);
        var worktree = Path.Combine(_repo.Path, "wt");
        File.AppendAllText(Path.Combine(worktree, "a.txt"), $"k={KeyId(_random)}\n");
        _repo.Git(["add", "a.txt"], cwd: worktree);
        Assert.Contains("commit blocked", Assert.Throws<InvalidOperationException>(() => _repo.Git(["commit", "-q", "-m", "leak"], cwd: worktree)).Message, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(worktree, "a.txt"), "a\nclean\n");
        _repo.Git(["add", "a.txt"], cwd: worktree);
        _repo.Git(["commit", "-q", "-m", "clean"], cwd: worktree);
    }

    [Theory]
    [InlineData("scan", "--staged")]
    [InlineData("scan", "--staged", "--no-progress")]
    [InlineData("scan", "--no-progress", "--staged", "-f", "jsonl", "-o", "report.jsonl")]
    [InlineData("scan", "repo", "--staged", "--format", "text")]
    public void The_hook_path_takes_the_hook_command_lines(params string[] args) =>
        Assert.NotNull(HookScan.TryParse(args));

    [Theory]
    [InlineData("scan")]
    [InlineData("scan", "--git")]
    [InlineData("scan", "--staged", "--staged")]
    [InlineData("scan", "--staged", "--no-progress", "--no-progress")]
    [InlineData("scan", "--staged", "--format", "sarif")]
    [InlineData("scan", "--staged", "--format", "JSON")]
    [InlineData("scan", "--staged", "--format=json")]
    [InlineData("scan", "--staged", "-f")]
    [InlineData("scan", "--staged", "-o")]
    [InlineData("scan", "--staged", "-o", "--no-progress")]
    [InlineData("scan", "--staged", "--fail-on", "any")]
    [InlineData("scan", "--staged", "--show-secrets")]
    [InlineData("scan", "--staged", "--config", "x.toml")]
    [InlineData("scan", "--staged", "a", "b")]
    [InlineData("scan", "--staged", "false")]
    [InlineData("scan", "--staged", "@args.rsp")]
    [InlineData("scan", "--staged", "--", "repo")]
    [InlineData("scan", "--staged", "--help")]
    [InlineData("scan", "--staged", "/h")]
    [InlineData("scan", "--staged", "/?")]
    [InlineData("scan", "--staged", "")]
    [InlineData("--version")]
    [InlineData("hook", "install")]
    public void Other_command_lines_are_left_to_the_full_parser(params string[] args) =>
        Assert.Null(HookScan.TryParse(args));

    [Fact]
    public void The_hook_path_gives_the_defaults_of_the_scan_command()
    {
        var settings = HookScan.TryParse(["scan", "--staged", "-o", "out.json", "-f", "json", "repo"]);
        Assert.NotNull(settings);
        Assert.True(settings.Staged);
        Assert.True(settings.Progress);
        Assert.Equal(new[] { "repo" }, settings.Paths);
        Assert.Equal(Path.GetFullPath("out.json"), settings.Output);
        Assert.Equal(Detection.Writers.ReportFormat.Json, settings.Format);
        Assert.Equal(3, settings.ArchiveDepth);
        Assert.Equal(1024, settings.MaxArchiveMiB);
        Assert.Equal(Environment.ProcessorCount, settings.Threads);
        Assert.Empty(settings.FailOn);
        Assert.False(settings.ShowSecrets);
    }

    /// <summary>Output without the scan's duration, the one part that differs between runs.</summary>
    private static string Normalize(string text) => Elapsed().Replace(text, "ELAPSED");

    private static CliRun Normalize(CliRun run) => run with { Stdout = Normalize(run.Stdout), Stderr = Normalize(run.Stderr) };

    [GeneratedRegex(@"in \d+\.\d\d s|""elapsedMs"": \d+")]
    private static partial Regex Elapsed();

    public void Dispose()
    {
        _repo.Dispose();
        _outputs.Dispose();
    }
}
