using System.Text;
using Keywarden.Detection.Credentials;

namespace Keywarden.Investigation.Tests;

/// <summary>The built CLI as a child process on hostile inputs: one line, the documented exit code, peak RSS under 512 MB, no temp files left.</summary>
public sealed class HostileProcessTests : IDisposable
{
    private const long MaxRss = 512L << 20;
    private readonly TempTree _tree = new();
    private readonly string _key = SyntheticCredentials.KeyId(new Random(11), "AKIA", "111122223333");

    [Fact]
    public async Task A_nested_zip_bomb_stops_at_the_budget_in_one_line_with_bounded_memory_and_little_temp_use()
    {
        var bomb = HostileTrail.NestedBomb(fanOut: 16, memberBytes: 1 << 20); // 16^3 members of 1 MiB: 4 GiB
        Assert.InRange(bomb.Length, 1, 64 << 10);
        var path = _tree.WriteBytes("bomb.zip", bomb);
        var run = await ChildRun.RunAsync("investigate", _key, "--trail", path);
        Assert.Equal(2, run.ExitCode);
        Assert.Equal($"keywarden: error: {path}: zip archive larger than the 1 GiB limit once unpacked, nested archives included (see docs/limits.md)", run.Stderr.Trim());
        Assert.InRange(run.PeakRssBytes, 1, MaxRss);
        Assert.InRange(run.PeakTempBytes, 0, 64L << 20);
        Assert.Equal(0, run.TempEntriesLeft);
    }

    [Fact]
    public async Task A_nested_zip_bomb_that_understates_its_sizes_stops_at_the_budget_with_bounded_memory()
    {
        var path = _tree.WriteBytes("bomb.zip", HostileTrail.NestedBomb(fanOut: 16, memberBytes: 1 << 20, understateTo: 100));
        var run = await ChildRun.RunAsync("investigate", _key, "--trail", path);
        Assert.Equal(2, run.ExitCode);
        Assert.Equal($"keywarden: error: {path}: zip archive larger than the 1 GiB limit once unpacked, nested archives included (see docs/limits.md)", run.Stderr.Trim());
        Assert.InRange(run.PeakRssBytes, 1, MaxRss);
        Assert.InRange(run.PeakTempBytes, 0, (1L << 30) + (64L << 20)); // the budget, and no more
        Assert.Equal(0, run.TempEntriesLeft);
    }

    [Fact]
    public async Task Sigterm_while_a_zip_is_unpacked_exits_143_and_leaves_no_temp_files()
    {
        // The lying bomb writes up to the budget to the temp folder: a signal lands while it does.
        var path = _tree.WriteBytes("bomb.zip", HostileTrail.NestedBomb(fanOut: 16, memberBytes: 1 << 20, understateTo: 100));
        var run = await ChildRun.TerminateAsync(written: 8L << 20, "investigate", _key, "--trail", path);
        Assert.Equal(143, run.ExitCode);
        Assert.Equal("keywarden: error: interrupted", run.Stderr.Trim());
        Assert.Equal(0, run.TempEntriesLeft);
    }

    [Fact]
    public async Task A_truncated_gzip_with_a_huge_stated_size_is_one_line_with_bounded_memory()
    {
        var lines = string.Join('\n', Enumerable.Range(0, 5000).Select(i => $"{{\"eventID\":\"e{i}\",\"eventTime\":\"2025-01-01T00:00:00Z\"}}"));
        var cut = HostileTrail.Truncated(HostileTrail.Gzip(lines));
        BitConverter.TryWriteBytes(cut.AsSpan(cut.Length - 4), uint.MaxValue); // what DuckDB used to size its buffers by
        var path = _tree.WriteBytes("cut.json.gz", cut);
        var run = await ChildRun.RunAsync("investigate", _key, "--trail", path);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("truncated or damaged gzip", run.Stderr, StringComparison.Ordinal);
        Assert.Single(run.Stderr.Trim().Split('\n'));
        Assert.InRange(run.PeakRssBytes, 1, MaxRss);
        Assert.Equal(0, run.TempEntriesLeft);
    }

    [Fact]
    public async Task A_cloudtrail_file_that_inflates_past_its_cap_is_one_line_with_bounded_memory()
    {
        var path = _tree.Path("huge.json.gz");
        using (var file = File.Create(path))
        using (var gzip = new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionLevel.SmallestSize))
        {
            gzip.Write("{\"Records\":["u8);
            var spaces = new byte[1 << 20];
            Array.Fill(spaces, (byte)' ');
            for (var i = 0; i < 600; i++)
            {
                gzip.Write(spaces);
            }

            gzip.Write("]}"u8);
        }

        var run = await ChildRun.RunAsync("investigate", _key, "--trail", path);
        Assert.Equal(2, run.ExitCode);
        Assert.Equal($"keywarden: error: {path}: a {{\"Records\":[...]}} file larger than the 256 MiB limit once inflated (see docs/limits.md)", run.Stderr.Trim());
        Assert.InRange(run.PeakRssBytes, 1, MaxRss);
        Assert.Equal(0, run.TempEntriesLeft);
    }

    [Fact]
    public async Task Deep_json_and_look_alike_names_run_with_bounded_memory_and_leave_no_temp_files()
    {
        _tree.Write("trail/*.ndjson", $"{{\"eventID\":\"a\",\"eventTime\":\"2025-01-01T00:00:00Z\",\"requestParameters\":{HostileTrail.Text(100_000)}}}\n");
        _tree.Write("trail/[x].json", "[" + HostileTrail.Text(100_000) + "]");
        _tree.Write("trail/deep.json", "{\"Records\":[" + HostileTrail.Text(100_000) + "]}");
        var run = await ChildRun.RunAsync("investigate", _key, "--trail", _tree.Path("trail"));
        Assert.DoesNotContain("unexpected", run.Stderr, StringComparison.Ordinal);
        Assert.Contains(run.ExitCode, new[] { 2, 5, 6 });
        Assert.All(run.Stderr.Trim().Split('\n'), line => Assert.StartsWith("keywarden: ", line, StringComparison.Ordinal));
        Assert.InRange(run.PeakRssBytes, 1, MaxRss);
        Assert.Equal(0, run.TempEntriesLeft);
    }

    [Fact]
    public async Task Trail_validate_on_a_digest_of_dev_zero_and_a_huge_digest_is_bounded()
    {
        var digests = _tree.Path("bucket/AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2025/01/01");
        Directory.CreateDirectory(digests);
        File.CreateSymbolicLink(Path.Combine(digests, "111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20250101T000000Z.json.gz"), "/dev/zero");
        using (var huge = File.Create(Path.Combine(digests, "111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20250101T010000Z.json")))
        {
            huge.Write(Encoding.UTF8.GetBytes("{\"a\":\""));
            huge.SetLength(200L << 20); // sparse: 200 MiB of NULs
        }

        var run = await ChildRun.RunAsync("trail", "validate", _tree.Path("bucket"), "--public-key", _tree.Write("key.pem", "not a key"));
        Assert.Equal(2, run.ExitCode); // the key file is checked first
        Assert.Equal($"keywarden: error: {_tree.Path("key.pem")}: not an RSA public key (PEM or DER)", run.Stderr.Trim());

        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        var key = _tree.Write("real.pem", rsa.ExportSubjectPublicKeyInfoPem());
        run = await ChildRun.RunAsync("trail", "validate", _tree.Path("bucket"), "--public-key", key);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("digest-unreadable", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("empty, or not a regular file", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("larger than the 64 MiB limit", run.Stdout, StringComparison.Ordinal);
        Assert.Equal("", run.Stderr);
        Assert.InRange(run.PeakRssBytes, 1, MaxRss);
    }

    public void Dispose() => _tree.Dispose();
}
