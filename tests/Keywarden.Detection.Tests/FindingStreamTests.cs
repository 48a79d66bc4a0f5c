using Keywarden.Detection.Credentials;
using Keywarden.Detection.Findings;
using Keywarden.Detection.Scanning;
using Keywarden.Detection.Writers;

namespace Keywarden.Detection.Tests;

/// <summary>The streamed report's order and bound when workers finish files out of walk order.</summary>
public sealed class FindingStreamTests
{
    private readonly Recorder _written = new();
    private readonly FindingStream _stream;
    private readonly ScanSession _session = new(new ScanOptions(), new ScanProgress(), CancellationToken.None);

    public FindingStreamTests() => _stream = new FindingStream(_written, new ScanOptions());

    [Fact]
    public void A_file_finished_before_the_ones_ahead_of_it_in_the_walk_is_written_after_them()
    {
        var first = _stream.Begin();
        var second = _stream.Begin();

        _stream.Add(second, Findings("second", 2), _session);
        _stream.Complete(second);
        Assert.Empty(_written.Paths);

        _stream.Add(first, Findings("first", 1), _session);
        Assert.Equal(["first"], _written.Paths);

        _stream.Complete(first);
        Assert.Equal(["first", "second", "second"], _written.Paths);
        Assert.Equal(3, _stream.Written);
    }

    [Fact]
    public async Task A_worker_that_would_hold_more_than_the_bound_waits_until_the_files_before_its_own_are_written()
    {
        var first = _stream.Begin();
        var second = _stream.Begin();

        var ahead = Task.Run(() => _stream.Add(second, Findings("second", FindingStream.MaxHeld + 1), _session));
        await Task.Delay(200);
        Assert.False(ahead.IsCompleted);
        Assert.Empty(_written.Paths);

        _stream.Complete(first);
        await ahead.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(FindingStream.MaxHeld + 1, _written.Paths.Count);
    }

    private static List<Finding> Findings(string path, int count) =>
        [.. Enumerable.Range(1, count).Select(line => new Finding
        {
            RuleId = "KW1001",
            Classification = Classification.Example,
            Path = path,
            Line = line,
            Column = 1,
            Fingerprint = $"{path}{line}",
        })];

    private sealed class Recorder : IFindingWriter
    {
        public List<string> Paths { get; } = [];

        public void Write(Finding finding) => Paths.Add(finding.Path);

        public void Dispose() { }
    }
}
