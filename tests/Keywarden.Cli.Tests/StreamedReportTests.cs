using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Cli.Tests;

/// <summary>jsonl and csv reports written finding by finding as the scan goes (docs/output-formats.md, "Streamed formats").</summary>
public sealed class StreamedReportTests : IDisposable
{
    private readonly Random _random = new(31);
    private readonly TempTree _tree = new();

    [Fact]
    public async Task Streamed_jsonl_is_in_walk_order_and_the_same_at_one_and_at_eight_threads()
    {
        // A slow first file (32 MiB to read, keys at its end), then small files whose findings, more than a
        // worker may hold (FindingStream.MaxHeld), the other workers find first.
        var filler = new string('x', 1023) + "\n";
        _tree.Write("a/large.txt", string.Concat(Enumerable.Repeat(filler, 32 * 1024)) + string.Concat(Enumerable.Range(0, 5).Select(_ => $"{KeyId(_random)}\n")));
        var expected = new List<string> { "a/large.txt" };
        for (var i = 0; i < 200; i++)
        {
            var path = $"b/{i / 20:D2}/f{i:D3}.txt";
            _tree.Write(path, string.Concat(Enumerable.Range(0, 100).Select(_ => $"key = {KeyId(_random)}\n")));
            expected.Add(path);
        }

        var single = await Cli.RunAsync(["scan", _tree.Root, "--format", "jsonl", "--threads", "1"]);
        var parallel = await Cli.RunAsync(["scan", _tree.Root, "--format", "jsonl", "--threads", "8"]);

        Assert.Equal(1, parallel.ExitCode);
        Assert.Equal(single.Stdout, parallel.Stdout);
        var paths = parallel.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => System.Text.Json.JsonDocument.Parse(line).RootElement.GetProperty("path").GetString()).ToList();
        Assert.Equal(20_005, paths.Count);
        Assert.Equal(expected, paths.Distinct());
    }

    [Fact]
    public async Task A_report_written_inside_the_scanned_tree_is_never_scanned()
    {
        // The report, streamed while the walk goes on, is past its write buffer before the walk reaches z/.
        _tree.Write("a/keys.txt", string.Concat(Enumerable.Range(0, 100).Select(_ => $"key = {KeyId(_random)}\n")));
        _tree.Write("z/placeholder.txt", "nothing\n");

        var run = await Cli.RunAsync(["scan", _tree.Root, "--format", "jsonl", "--threads", "1", "--output", _tree.Path("z/report.jsonl")]);

        Assert.Equal(1, run.ExitCode);
        Assert.Equal("", run.Stderr);
        Assert.Equal(100, File.ReadAllLines(_tree.Path("z/report.jsonl")).Length);
    }

    [Fact]
    public async Task A_streamed_report_that_cannot_be_written_is_one_error_and_exit_2()
    {
        _tree.Write("key.txt", string.Concat(Enumerable.Range(0, 2_000).Select(_ => $"{KeyId(_random)}\n")));

        var run = await Cli.RunAsync(["scan", _tree.Root, "--format", "jsonl", "--output", "/dev/full"]);

        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith("keywarden: error: cannot write the report to /dev/full: ", run.Stderr, StringComparison.Ordinal);
        Assert.Single(run.Stderr.TrimEnd('\n').Split('\n'));
    }

    public void Dispose() => _tree.Dispose();
}
