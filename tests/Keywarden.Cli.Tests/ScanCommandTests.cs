using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using Keywarden.Cli.Commands;
using Keywarden.Detection.Scanning;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Cli.Tests;

public sealed class ScanCommandTests : IDisposable
{
    private readonly Random _random = new(5);
    private readonly TempTree _tree = new();

    [Fact]
    public async Task Exit_code_is_0_without_live_findings_and_1_with_one()
    {
        _tree.Write("docs.md", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n");
        var clean = await Cli.RunAsync(["scan", _tree.Root]);
        Assert.Equal(0, clean.ExitCode);
        Assert.Contains("1 finding (1 example)", clean.Stdout, StringComparison.Ordinal);

        _tree.Write("app.env", $"AWS_ACCESS_KEY_ID={KeyId(_random)}\n");
        var dirty = await Cli.RunAsync(["scan", _tree.Root]);
        Assert.Equal(1, dirty.ExitCode);
        Assert.Contains("2 findings (1 live, 1 example)", dirty.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fail_on_changes_which_classifications_fail()
    {
        _tree.Write("docs.md", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n");
        _tree.Write("canary.ini", $"k = {KeyId(_random, "AKIA", "595918472158")}\n");
        Assert.Equal(0, (await Cli.RunAsync(["scan", _tree.Root])).ExitCode);
        Assert.Equal(1, (await Cli.RunAsync(["scan", _tree.Root, "--fail-on", "canary"])).ExitCode);
        Assert.Equal(1, (await Cli.RunAsync(["scan", _tree.Root, "--fail-on", "live,example"])).ExitCode);
        Assert.Equal(1, (await Cli.RunAsync(["scan", _tree.Root, "--fail-on", "any"])).ExitCode);
        _tree.Write("live.env", $"k = {KeyId(_random)}\n");
        Assert.Equal(0, (await Cli.RunAsync(["scan", _tree.Root, "--fail-on", "none"])).ExitCode);
        var bad = await Cli.RunAsync(["scan", _tree.Root, "--fail-on", "sometimes"]);
        Assert.Equal(2, bad.ExitCode);
        Assert.Equal("keywarden: error: --fail-on: unknown value 'sometimes' (expected live, canary, example, placeholder, any or none)\n", bad.Stderr);
    }

    [Fact]
    public async Task Output_option_writes_the_report_to_a_file_and_nothing_to_stdout()
    {
        _tree.Write("src/a.env", $"AWS_ACCESS_KEY_ID={KeyId(_random)}\n");
        var output = _tree.Path("report.json");
        var run = await Cli.RunAsync(["scan", _tree.Path("src"), "--format", "json", "--output", output]);
        Assert.Equal(1, run.ExitCode);
        Assert.Equal("", run.Stdout);
        using var document = JsonDocument.Parse(File.ReadAllText(output));
        Assert.Equal("a.env", document.RootElement.GetProperty("findings")[0].GetProperty("path").GetString());
        // The report names keys: readable by its owner only, as is a baseline.
        FileModes.AssertOwnerOnly(output);
        var baseline = _tree.Path("baseline.json");
        Assert.Equal(1, (await Cli.RunAsync(["scan", _tree.Path("src"), "--write-baseline", baseline])).ExitCode);
        FileModes.AssertOwnerOnly(baseline);

        var unwritable = await Cli.RunAsync(["scan", _tree.Path("src"), "--output", _tree.Path("no/such/dir/report.txt")]);
        Assert.Equal(2, unwritable.ExitCode);
        Assert.StartsWith("keywarden: error: cannot write the report to ", unwritable.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_secrets_prints_the_raw_secret()
    {
        var secret = SecretAccessKey(_random);
        _tree.Write("a.env", $"AWS_ACCESS_KEY_ID={KeyId(_random)}\nAWS_SECRET_ACCESS_KEY={secret}\n");
        Assert.DoesNotContain(secret, (await Cli.RunAsync(["scan", _tree.Root, "-f", "jsonl"])).Stdout, StringComparison.Ordinal);
        var shown = await Cli.RunAsync(["scan", _tree.Root, "-f", "jsonl", "--show-secrets"]);
        using var finding = JsonDocument.Parse(shown.Stdout);
        Assert.Equal(secret, finding.RootElement.GetProperty("secret").GetProperty("value").GetString());
    }

    [Fact]
    public async Task Baseline_written_then_used_hides_known_findings()
    {
        _tree.Write("src/a.env", $"AWS_ACCESS_KEY_ID={KeyId(_random)}\n");
        var baseline = _tree.Path("baseline.json");
        var first = await Cli.RunAsync(["scan", _tree.Path("src"), "--write-baseline", baseline]);
        Assert.Equal(1, first.ExitCode);
        Assert.DoesNotContain("AWS_ACCESS_KEY_ID", File.ReadAllText(baseline), StringComparison.Ordinal);

        var second = await Cli.RunAsync(["scan", _tree.Path("src"), "--baseline", baseline]);
        Assert.Equal(0, second.ExitCode);
        Assert.Contains("1 suppressed", second.Stdout, StringComparison.Ordinal);

        var newKey = KeyId(_random);
        _tree.Write("src/b.env", $"AWS_ACCESS_KEY_ID={newKey}\n");
        var third = await Cli.RunAsync(["scan", _tree.Path("src"), "--baseline", baseline, "-f", "jsonl"]);
        Assert.Equal(1, third.ExitCode);
        Assert.Contains(newKey, third.Stdout, StringComparison.Ordinal);
        Assert.Single(third.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        var missing = await Cli.RunAsync(["scan", _tree.Path("src"), "--baseline", _tree.Path("nope.json")]);
        Assert.Equal(2, missing.ExitCode);
        Assert.Equal($"keywarden: error: baseline {_tree.Path("nope.json")}: cannot read (no such file)\n", missing.Stderr);
    }

    [Fact]
    public async Task Config_file_in_the_scanned_directory_excludes_and_allows()
    {
        var allowed = KeyId(_random);
        _tree.Write("vendor/lib.js", $"k='{KeyId(_random)}'");
        _tree.Write("src/a.py", $"k='{allowed}'");
        _tree.Write(".keywarden.toml", $"[scan]\nexclude = [\"vendor/\"]\nallow = [\"{allowed}\"]\n");
        var run = await Cli.RunAsync(["scan", _tree.Root]);
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("No AWS credentials found", run.Stdout, StringComparison.Ordinal);

        var other = _tree.Write("other.toml", "[scan]\nexclude = []\n");
        Assert.Equal(1, (await Cli.RunAsync(["scan", _tree.Root, "--config", other])).ExitCode);
    }

    [Fact]
    public async Task Bad_config_is_one_clear_error_line_with_exit_code_2()
    {
        _tree.Write(".keywarden.toml", "[scan]\nexclude = \"vendor\"\n");
        var run = await Cli.RunAsync(["scan", _tree.Root]);
        Assert.Equal(2, run.ExitCode);
        Assert.Equal($"keywarden: error: config {Path.Combine(_tree.Root, ".keywarden.toml")}: scan.exclude must be an array of strings\n", run.Stderr);
        Assert.Equal("", run.Stdout);

        var missing = await Cli.RunAsync(["scan", _tree.Root, "--config", _tree.Path("none.toml")]);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("cannot read (no such file)", missing.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Respect_gitignore_and_exclude_options_skip_files()
    {
        _tree.Write(".gitignore", ".env\n");
        _tree.Write(".env", $"k={KeyId(_random)}");
        _tree.Write("gen/out.js", $"k={KeyId(_random)}");
        Assert.Equal(2, await CountFindings(["scan", _tree.Root]));
        Assert.Equal(1, await CountFindings(["scan", _tree.Root, "--respect-gitignore"]));
        Assert.Equal(0, await CountFindings(["scan", _tree.Root, "--respect-gitignore", "--exclude", "gen/"]));
    }

    [Fact]
    public async Task Archive_options_limit_depth_and_size()
    {
        var key = KeyId(_random);
        _tree.WriteBytes("outer.zip", Zip("inner.zip", Zip("k.txt", System.Text.Encoding.UTF8.GetBytes(key))));
        Assert.Equal(1, await CountFindings(["scan", _tree.Root]));
        var shallow = await Cli.RunAsync(["scan", _tree.Root, "--archive-depth", "1", "-f", "jsonl"]);
        Assert.Equal(0, shallow.ExitCode);
        Assert.Equal("", shallow.Stdout);
        Assert.Equal("keywarden: warning: outer.zip!inner.zip: archive not opened: nested deeper than --archive-depth 1\n", shallow.Stderr);
        Assert.Equal(0, await CountFindings(["scan", _tree.Root, "--archive-depth", "0"]));

        _tree.WriteBytes("big.zip", Zip("spaces.txt", System.Text.Encoding.ASCII.GetBytes(new string(' ', 3 * 1024 * 1024))));
        var limited = await Cli.RunAsync(["scan", _tree.Root, "--max-archive-size", "1", "-f", "json"]);
        Assert.Contains("keywarden: warning: big.zip: archive larger than the 1 MiB limit", limited.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, (await Cli.RunAsync(["scan", _tree.Root, "--max-archive-size", "0"])).ExitCode);
        Assert.Equal(2, (await Cli.RunAsync(["scan", _tree.Root, "--archive-depth", "-1"])).ExitCode);
    }

    [Fact]
    public async Task Threads_option_gives_the_same_findings()
    {
        for (var i = 0; i < 50; i++)
        {
            _tree.Write($"d/{i}.txt", $"k={KeyId(_random)}");
        }

        var one = await Cli.RunAsync(["scan", _tree.Root, "--threads", "1", "-f", "jsonl"]);
        var four = await Cli.RunAsync(["scan", _tree.Root, "--threads", "4", "-f", "jsonl"]);
        Assert.Equal(50, one.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal(one.Stdout, four.Stdout);
        Assert.Equal(2, (await Cli.RunAsync(["scan", _tree.Root, "--threads", "0"])).ExitCode);
    }

    [Fact]
    public async Task Stdin_is_scanned_with_a_dash()
    {
        var key = KeyId(_random);
        var run = await Cli.RunAsync(["scan", "-", "-f", "jsonl"], stdin: $"pasted: {key}\n");
        Assert.Equal(1, run.ExitCode);
        using var finding = JsonDocument.Parse(run.Stdout);
        Assert.Equal("<stdin>", finding.RootElement.GetProperty("path").GetString());
        Assert.Equal(key, finding.RootElement.GetProperty("keyId").GetString());
    }

    [Fact]
    public async Task Usage_errors_and_missing_paths_exit_2_with_one_line()
    {
        var unknown = await Cli.RunAsync(["scan", "--bogus"]);
        Assert.Equal(2, unknown.ExitCode);
        Assert.StartsWith("keywarden: error: ", unknown.Stderr, StringComparison.Ordinal);

        var format = await Cli.RunAsync(["scan", _tree.Root, "--format", "xml"]);
        Assert.Equal(2, format.ExitCode);
        Assert.Contains("xml", format.Stderr, StringComparison.Ordinal);

        var missing = await Cli.RunAsync(["scan", _tree.Path("absent")]);
        Assert.Equal(2, missing.ExitCode);
        Assert.Equal($"keywarden: error: no such file or directory: {_tree.Path("absent")}\n", missing.Stderr);
    }

    [Fact]
    public async Task Unreadable_input_exits_2_unless_a_live_key_was_found()
    {
        _tree.Write("ok.txt", "nothing here");
        var run = await Cli.RunAsync(["scan", _tree.Root, "/proc/self/mem"]);
        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith("keywarden: error: /proc/self/mem: cannot read", run.Stderr, StringComparison.Ordinal);

        _tree.Write("live.txt", $"k={KeyId(_random)}");
        Assert.Equal(1, (await Cli.RunAsync(["scan", _tree.Root, "/proc/self/mem"])).ExitCode);
    }

    [Fact]
    public async Task No_progress_display_when_stderr_is_not_a_terminal()
    {
        for (var i = 0; i < 20; i++)
        {
            _tree.Write($"{i}.txt", new string('x', 10000));
        }

        var run = await Cli.RunAsync(["scan", _tree.Root, "-f", "json"]);
        Assert.Equal("", run.Stderr);
        var quiet = await Cli.RunAsync(["scan", _tree.Root, "--no-progress"]);
        Assert.Equal("", quiet.Stderr);
    }

    [Fact]
    public async Task Progress_display_is_drawn_on_a_terminal_stderr_only()
    {
        // Standard input that takes a second to arrive: the scan is still running when the display starts.
        Stream SlowInput() => new SlowStream(System.Text.Encoding.UTF8.GetBytes("nothing to see\n"), TimeSpan.FromSeconds(1));
        var settings = new ScanSettings(["-"], Detection.Writers.ReportFormat.Jsonl, null, false, [], null, null, null, false, [], 3, 1024, 1, Progress: true);

        var stderr = new StringWriter();
        var stdout = new MemoryStream();
        var console = new CliConsole(SlowInput, stdout, stderr, StdoutIsTerminal: false, StderrIsTerminal: true);
        Assert.Equal(0, await new ScanRunner(console, settings, progressDelay: TimeSpan.Zero).RunAsync(CancellationToken.None));
        Assert.Contains("Scanning: ", stderr.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, stdout.Length);

        var off = new StringWriter();
        var quiet = new CliConsole(SlowInput, new MemoryStream(), off, StdoutIsTerminal: false, StderrIsTerminal: true);
        await new ScanRunner(quiet, settings with { Progress = false }, progressDelay: TimeSpan.Zero).RunAsync(CancellationToken.None);
        Assert.Equal("", off.ToString());

        var piped = new StringWriter();
        var notTerminal = new CliConsole(SlowInput, new MemoryStream(), piped, StdoutIsTerminal: false, StderrIsTerminal: false);
        await new ScanRunner(notTerminal, settings, progressDelay: TimeSpan.Zero).RunAsync(CancellationToken.None);
        Assert.Equal("", piped.ToString());
    }

    /// <summary>Returns its content only after a delay (every Read overload ends in the array one).</summary>
    private sealed class SlowStream(byte[] content, TimeSpan delay) : MemoryStream(content)
    {
        private bool _waited;

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (!_waited)
            {
                Thread.Sleep(delay);
                _waited = true;
            }

            return base.Read(buffer, offset, count);
        }

        public override int Read(Span<byte> buffer)
        {
            var array = new byte[buffer.Length];
            var n = Read(array, 0, array.Length);
            array.AsSpan(0, n).CopyTo(buffer);
            return n;
        }
    }

    [Fact]
    public void Progress_line_shows_files_bytes_findings_and_rate()
    {
        var line = ProgressLine.Format(new ScanProgress(), TimeSpan.FromSeconds(2));
        Assert.Equal("Scanning: 0 files, 0 B, 0 findings, 0 B/s", line);
    }

    [Fact]
    public async Task Published_command_separates_report_from_messages_as_a_process()
    {
        _tree.Write("a.env", $"AWS_ACCESS_KEY_ID={KeyId(_random)}\n");
        _tree.WriteBytes("broken.zip", [(byte)'P', (byte)'K', 3, 4, 1, 2, 3]);
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "keywarden.dll"), "scan", _tree.Root, "--format", "json"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.Equal(1, process.ExitCode);
        using var document = JsonDocument.Parse(await stdout);
        Assert.Equal(1, document.RootElement.GetProperty("summary").GetProperty("errors").GetInt32());
        Assert.StartsWith("keywarden: error: broken.zip: cannot read archive", await stderr, StringComparison.Ordinal);
    }

    private static async Task<int> CountFindings(string[] args)
    {
        var run = await Cli.RunAsync([.. args, "-f", "jsonl"]);
        return run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
    }

    private static byte[] Zip(string name, byte[] content)
    {
        using var memory = new MemoryStream();
        using (var zip = new ZipArchive(memory, ZipArchiveMode.Create, leaveOpen: true))
        using (var entry = zip.CreateEntry(name).Open())
        {
            entry.Write(content);
        }

        return memory.ToArray();
    }

    public void Dispose() => _tree.Dispose();
}
