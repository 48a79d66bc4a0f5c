using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Cli.Tests;

/// <summary>Errors a user can cause are one line naming the real cause, and exit 2; never a stack trace.</summary>
public sealed class UsageErrorTests : IDisposable
{
    private readonly Random _random = new(23);
    private readonly TempTree _tree = new();

    [Theory]
    [InlineData("scan --threads abc", "--threads takes a whole number from 1 to 256 (got 'abc')")]
    [InlineData("scan --threads 100000", "--threads takes a whole number from 1 to 256 (got '100000')")]
    [InlineData("scan --archive-depth 99999999999", "--archive-depth takes a whole number of 0 or more (got '99999999999')")]
    [InlineData("scan --archive-depth -1", "--archive-depth takes a whole number of 0 or more (got '-1')")]
    [InlineData("scan --max-archive-size 0", "--max-archive-size takes a whole number of 1 or more (got '0')")]
    [InlineData("scan --max-archive-size 1e3", "--max-archive-size takes a whole number of 1 or more (got '1e3')")]
    [InlineData("scan --format xml", "Argument 'xml' not recognized. Must be one of: 'text', 'json', 'jsonl', 'sarif', 'csv'")]
    [InlineData("respond AKIAIOSFODNN7EXAMPLE --wait -5", "--wait takes a whole number of 0 or more (got '-5')")]
    [InlineData("cases work --wait 99999999999", "--wait takes a whole number of 0 or more (got '99999999999')")]
    [InlineData("respond AKIAIOSFODNN7EXAMPLE --detected-at yesterday", "--detected-at takes an ISO 8601 date or time such as 2025-01-31 or 2025-01-31T12:00:00Z (got 'yesterday')")]
    [InlineData("investigate AKIAIOSFODNN7EXAMPLE --trail . --since 99999999d", "--since and --until take an ISO 8601 date or time")]
    [InlineData("investigate AKIAIOSFODNN7EXAMPLE --trail . --until 2147483647m", "--since and --until take an ISO 8601 date or time")]
    public async Task A_bad_number_enum_or_time_is_one_usage_line_and_exit_2(string command, string message)
    {
        string[] args = command.Split(' ');
        var run = await Cli.RunAsync(args[0] is "respond" or "cases" ? [.. args, "--db", _tree.Path("never.db")] : args);
        Assert.Equal(2, run.ExitCode);
        var first = run.Stderr.Split('\n')[0];
        Assert.StartsWith($"keywarden: error: {message}", first, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(_tree.Path("never.db")));
    }

    [Fact]
    public async Task Output_paths_name_a_directory_or_a_missing_folder_as_such()
    {
        _tree.Write("src/a.txt", "nothing here\n");
        var folder = _tree.Path("out");
        Directory.CreateDirectory(folder);
        var missing = _tree.Path("no/such/report.txt");

        Assert.Equal($"keywarden: error: cannot write the report to {folder}: is a directory\n", (await Cli.RunAsync(["scan", _tree.Path("src"), "-o", folder])).Stderr);
        Assert.Equal($"keywarden: error: cannot write the report to {missing}: no such directory: {_tree.Path("no/such")}\n", (await Cli.RunAsync(["scan", _tree.Path("src"), "--output", missing])).Stderr);
        Assert.Equal($"keywarden: error: baseline {folder}: cannot write (is a directory)\n", (await Cli.RunAsync(["scan", _tree.Path("src"), "--write-baseline", folder])).Stderr);
        Assert.Equal($"keywarden: error: baseline {missing}: cannot write (no such directory: {_tree.Path("no/such")})\n", (await Cli.RunAsync(["scan", _tree.Path("src"), "--write-baseline", missing])).Stderr);
        _tree.Write("trail/records.json", "{\"Records\":[]}");
        var investigate = await Cli.RunAsync(["investigate", "AKIAIOSFODNN7EXAMPLE", "--trail", _tree.Path("trail"), "-o", folder]);
        Assert.EndsWith($"cannot write the report to {folder}: is a directory\n", investigate.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Input_files_given_as_directories_are_named_as_directories()
    {
        _tree.Write("src/a.txt", "nothing here\n");
        var folder = _tree.Path("dir");
        Directory.CreateDirectory(folder);
        Assert.Equal($"keywarden: error: config {folder}: cannot read (is a directory)\n", (await Cli.RunAsync(["scan", _tree.Path("src"), "--config", folder])).Stderr);
        Assert.Equal($"keywarden: error: baseline {folder}: cannot read (is a directory)\n", (await Cli.RunAsync(["scan", _tree.Path("src"), "--baseline", folder])).Stderr);
        var trail = await Cli.RunAsync(["trail", "validate", _tree.Path("src"), "--public-key", folder]);
        Assert.Equal(2, trail.ExitCode);
        Assert.Contains($"public key {folder}: is a directory", trail.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_baseline_written_into_the_scanned_folder_does_not_flag_itself()
    {
        _tree.Write("src/app.env", $"AWS_ACCESS_KEY_ID={KeyId(_random)}\n");
        var baseline = _tree.Path("src/nested/keywarden-baseline.json");
        Directory.CreateDirectory(Path.GetDirectoryName(baseline)!);
        Assert.Equal(1, (await Cli.RunAsync(["scan", _tree.Path("src"), "--write-baseline", baseline])).ExitCode);
        Assert.Contains("AKIA", File.ReadAllText(baseline), StringComparison.Ordinal);

        var again = await Cli.RunAsync(["scan", _tree.Path("src"), "--baseline", baseline]);
        Assert.Equal(0, again.ExitCode);
        Assert.Contains("No AWS credentials found", again.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, (await Cli.RunAsync(["scan", baseline, "--baseline", baseline])).ExitCode);
        Assert.Equal(0, (await Cli.RunAsync(["scan", _tree.Path("src"), "--baseline", baseline, "--write-baseline", baseline])).ExitCode);
    }

    [Fact]
    public async Task A_copy_of_a_baseline_flags_nothing_wherever_it_lives()
    {
        var key = KeyId(_random);
        _tree.Write("src/app.env", $"AWS_ACCESS_KEY_ID={key}\n");
        var baseline = _tree.Path("baseline.json");
        Assert.Equal(1, (await Cli.RunAsync(["scan", _tree.Path("src"), "--write-baseline", baseline])).ExitCode);
        Assert.Contains(key, File.ReadAllText(baseline), StringComparison.Ordinal);
        _tree.Write("elsewhere/old-baseline.json", File.ReadAllText(baseline));

        var copy = await Cli.RunAsync(["scan", _tree.Path("elsewhere")]);

        Assert.Equal(0, copy.ExitCode);
        Assert.Contains("No AWS credentials found", copy.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_baseline_committed_with_its_key_does_not_flag_itself_in_a_history_scan()
    {
        using var repo = new GitRepo();
        var key = KeyId(_random);
        repo.Write("app.env", $"AWS_ACCESS_KEY_ID={key}\n");
        var baseline = Path.Combine(repo.Path, ".keywarden-baseline.json");
        Assert.Equal(1, (await Cli.RunAsync(["scan", repo.Path, "--write-baseline", baseline])).ExitCode);
        repo.Commit("app and its baseline");
        repo.Write("app.env", "AWS_ACCESS_KEY_ID=\n");
        repo.Commit("key removed");

        var history = await Cli.RunAsync(["scan", "--git", repo.Path, "--format", "jsonl"]);

        Assert.Equal(1, history.ExitCode);
        var finding = Assert.Single(history.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("\"app.env\"", finding, StringComparison.Ordinal);
        Assert.DoesNotContain("keywarden-baseline", finding, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_staged_baseline_does_not_block_the_commit_it_is_staged_in()
    {
        using var repo = new GitRepo();
        repo.Write("app.env", $"AWS_ACCESS_KEY_ID={KeyId(_random)}\n");
        repo.Git(["add", "-A"]);
        var baseline = Path.Combine(repo.Path, ".keywarden-baseline.json");
        Assert.Equal(1, (await Cli.RunAsync(["scan", "--staged", repo.Path, "--write-baseline", baseline])).ExitCode);
        repo.Git(["add", "-A"]);
        var staged = await Cli.RunAsync(["scan", "--staged", repo.Path, "--baseline", baseline]);
        Assert.Equal(0, staged.ExitCode);

        // The key in app.env by the baseline, and the baseline's own line by the marker it carries.
        Assert.Contains("2 suppressed", staged.Stdout, StringComparison.Ordinal);
    }

    public void Dispose() => _tree.Dispose();
}
