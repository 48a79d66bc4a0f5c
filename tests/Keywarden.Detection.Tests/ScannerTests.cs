using Keywarden.Detection.Findings;
using Keywarden.Detection.Scanning;
using Keywarden.Detection.Suppression;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Detection.Tests;

public sealed class ScannerTests
{
    private readonly Random _random = new(99);

    [Fact]
    public void Directory_scan_names_files_relative_to_the_root_and_skips_dot_git_only()
    {
        using var tree = new TempTree();
        tree.Write("src/app/settings.py", $"KEY = '{KeyId(_random)}'");
        tree.Write(".env", $"AWS_ACCESS_KEY_ID={KeyId(_random)}");
        tree.Write("node_modules/pkg/index.js", $"k='{KeyId(_random)}'");
        tree.Write(".git/config", $"k={KeyId(_random)}");
        tree.Write(".gitignore", ".env\nnode_modules/\n");

        var report = Scan.Tree(tree.Root);
        Assert.Equal([".env", "node_modules/pkg/index.js", "src/app/settings.py"], report.Findings.Select(f => f.Path));
        Assert.Equal(4, report.Files);
    }

    [Fact]
    public void Respect_gitignore_skips_ignored_files_at_every_level()
    {
        using var tree = new TempTree();
        tree.Write(".gitignore", ".env\nbuild/\n");
        tree.Write(".env", $"k={KeyId(_random)}");
        tree.Write("build/out.txt", $"k={KeyId(_random)}");
        tree.Write("sub/.gitignore", "*.log\n!keep.log\n");
        tree.Write("sub/a.log", $"k={KeyId(_random)}");
        tree.Write("sub/keep.log", $"k={KeyId(_random)}");
        tree.Write("sub/code.py", $"k={KeyId(_random)}");
        tree.Write(".git/info/exclude", "private.txt\n");
        tree.Write("private.txt", $"k={KeyId(_random)}");

        var report = Scan.Tree(tree.Root, new ScanOptions { RespectGitignore = true });
        Assert.Equal(["sub/code.py", "sub/keep.log"], report.Findings.Select(f => f.Path));
    }

    [Fact]
    public void Exclude_patterns_skip_matching_paths()
    {
        using var tree = new TempTree();
        tree.Write("vendor/lib.js", $"k={KeyId(_random)}");
        tree.Write("a/b/fixture.min.js", $"k={KeyId(_random)}");
        tree.Write("src/main.js", $"k={KeyId(_random)}");

        var report = Scan.Tree(tree.Root, new ScanOptions { Exclude = ["vendor/", "*.min.js"] });
        Assert.Equal("src/main.js", Assert.Single(report.Findings).Path);
    }

    [Fact]
    public void Several_roots_are_named_as_given()
    {
        using var tree = new TempTree();
        tree.Write("one/a.txt", $"k={KeyId(_random)}");
        var single = tree.Write("two.txt", $"k={KeyId(_random)}");
        var report = new Scanner(new ScanOptions { Paths = [Path.Combine(tree.Root, "one"), single] }).Run();
        Assert.Equal([DisplayPath.Normalize(Path.Combine(tree.Root, "one")) + "/a.txt", DisplayPath.Normalize(single)], report.Findings.Select(f => f.Path));
    }

    [Fact]
    public async Task A_named_pipe_in_the_tree_does_not_block_the_scan()
    {
        using var tree = new TempTree();
        tree.Write("a.txt", $"k={KeyId(_random)}");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [Path.Combine(tree.Root, "pipe")])!)
        {
            await mkfifo.WaitForExitAsync();
        }

        var scan = Task.Run(() => Scan.Tree(tree.Root));
        Assert.Same(scan, await Task.WhenAny(scan, Task.Delay(TimeSpan.FromSeconds(20))));
        Assert.Single((await scan).Findings);
    }

    [Fact]
    public void Stdin_is_named_stdin()
    {
        var finding = Assert.Single(Scan.Text($"k={KeyId(_random)}"));
        Assert.Equal("<stdin>", finding.Path);
    }

    [Fact]
    public void Missing_path_fails_before_scanning()
    {
        var e = Assert.Throws<ScanInputException>(() => new Scanner(new ScanOptions { Paths = ["/no/such/place"] }).Run());
        Assert.Equal("no such file or directory: /no/such/place", e.Message);
    }

    [Fact]
    public void Read_error_is_reported_and_other_files_are_still_scanned()
    {
        using var tree = new TempTree();
        tree.Write("a.txt", $"k={KeyId(_random)}");
        // Reading /proc/self/mem at offset 0 fails with EIO, even for root.
        var report = new Scanner(new ScanOptions { Paths = [tree.Root, "/proc/self/mem"] }).Run();
        Assert.Single(report.Findings);
        var error = Assert.Single(report.Errors);
        Assert.Equal("/proc/self/mem", error.Path);
    }

    [Fact]
    public void Allow_list_suppresses_key_ids_and_hashed_secrets()
    {
        var allowedKey = KeyId(_random);
        var secret = SecretAccessKey(_random);
        var filler = string.Concat(Enumerable.Repeat("filler filler filler\n", 60)); // more than the pairing window
        var text = $"a={allowedKey}\n{filler}aws_secret_access_key={secret}\n{filler}b={KeyId(_random)}\n";
        var options = new ScanOptions { AllowedValues = [allowedKey, "sha256:" + SecretValue.HashOf(secret)] };
        var report = new Scanner(options with { Paths = ["-"] }, () => new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text))).Run();
        var remaining = Assert.Single(report.Findings);
        Assert.NotEqual(allowedKey, remaining.KeyId);
        Assert.Null(remaining.Secret);
        Assert.Equal(2, report.Suppressed);
    }

    [Fact]
    public void Baseline_round_trip_hides_known_findings_but_not_new_ones()
    {
        using var tree = new TempTree();
        tree.Write("a.txt", $"k={KeyId(_random)}");
        var baselinePath = Path.Combine(tree.Root, "..", Path.GetFileName(tree.Root) + ".baseline.json");
        try
        {
            Baseline.Write(baselinePath, Scan.Tree(tree.Root).Findings);
            var baseline = Baseline.Load(baselinePath);
            tree.Write("a.txt", $"\n\nmoved: k={File.ReadAllText(Path.Combine(tree.Root, "a.txt"))[2..]}");
            var newKey = KeyId(_random);
            tree.Write("b.txt", $"k={newKey}");
            var report = Scan.Tree(tree.Root, new ScanOptions { Baseline = baseline });
            Assert.Equal(newKey, Assert.Single(report.Findings).KeyId);
            Assert.Equal(1, report.Suppressed);
        }
        finally
        {
            File.Delete(baselinePath);
        }
    }

    [Fact]
    public void Bad_baseline_and_config_files_give_one_clear_message()
    {
        using var tree = new TempTree();
        var bad = tree.Write("bad.json", "{ not json");
        Assert.StartsWith($"baseline {bad}: not valid JSON", Assert.Throws<ConfigurationException>(() => Baseline.Load(bad)).Message, StringComparison.Ordinal);
        Assert.Equal($"baseline {tree.Root}/none.json: cannot read (no such file)", Assert.Throws<ConfigurationException>(() => Baseline.Load(Path.Combine(tree.Root, "none.json"))).Message);
        Assert.Equal("config x.toml: not valid TOML (line 1, column 6)", Assert.Throws<ConfigurationException>(() => ScanConfig.Parse("[scan\n", "x.toml")).Message);
        Assert.Equal("config x.toml: unknown key 'scan.exclud' (expected exclude, allow, respect_gitignore)", Assert.Throws<ConfigurationException>(() => ScanConfig.Parse("[scan]\nexclud = []\n", "x.toml")).Message);
        Assert.Equal("config x.toml: scan.allow must be an array of strings", Assert.Throws<ConfigurationException>(() => ScanConfig.Parse("[scan]\nallow = 3\n", "x.toml")).Message);
    }

    [Fact]
    public void Config_file_reads_exclude_allow_and_gitignore_settings()
    {
        var config = ScanConfig.Parse("[scan]\nexclude = [\"vendor/\"]\nallow = [\"sha256:ab\"]\nrespect_gitignore = true\n", "x.toml");
        Assert.Equal(["vendor/"], config.Exclude);
        Assert.Equal(["sha256:ab"], config.Allow);
        Assert.True(config.RespectGitignore);
    }

    [Fact]
    public void Parallel_scan_of_many_files_finds_every_key_once()
    {
        using var tree = new TempTree();
        var keys = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 300; i++)
        {
            var key = KeyId(_random);
            keys.Add(key);
            tree.Write($"d{i % 7}/f{i}.txt", $"line\nk={key}\n");
        }

        var report = Scan.Tree(tree.Root, new ScanOptions { Threads = 4 });
        Assert.Equal(300, report.Findings.Count);
        Assert.True(keys.SetEquals(report.Findings.Select(f => f.KeyId!)));
        Assert.Equal(report.Findings.OrderBy(f => f.Path, StringComparer.Ordinal).Select(f => f.Path), report.Findings.Select(f => f.Path));
    }
}
