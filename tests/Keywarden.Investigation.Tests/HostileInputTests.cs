using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Keywarden.Detection.Credentials;
using Keywarden.Investigation.Analysis;
using Keywarden.Investigation.Loading;

namespace Keywarden.Investigation.Tests;

/// <summary>Issue 11 for investigate: names are names, errors stay errors, memory stays bounded. Every input is built here.</summary>
public sealed class HostileInputTests : IDisposable
{
    private readonly TempTree _tree = new();
    private readonly string _key = SyntheticCredentials.KeyId(new Random(7), "AKIA", "111122223333");
    private int _batch;

    /// <summary>Records of the key with event IDs no other batch uses.</summary>
    private JsonObject[] Records(int count, JsonObject? request = null)
    {
        var trail = new TrailRecords(seed: 5000 + ++_batch);
        var caller = Caller.User(_key, "111122223333", "dev");
        for (var i = 0; i < count; i++)
        {
            trail.Add(caller, AttackScenario.Start.AddMinutes((_batch * 100) + i), "ec2", "DescribeInstances", "us-east-1", "203.0.113.9", request: (JsonObject?)request?.DeepClone(), readOnly: true);
        }

        return [.. trail.Records];
    }

    private async Task<long> EventCount(string path)
    {
        var report = await Investigator.RunAsync(new LocalTrailSource(path), new TrailQuery(_key, TimeWindow.All, [], []));
        return report.Summary.EventCount;
    }

    private static readonly string[] LookAlikeNames =
        ["a[b].json", "ab.json", "b.json", "*.json", "?.json", "x.json", "{x,y}.json", "y.json", "a,b.json", "it's.json", "quote\".json", "[ab].json", "a.json", "back\\slash.json"];

    [Theory]
    [InlineData(TrailForm.Lines, false)]
    [InlineData(TrailForm.Array, false)]
    [InlineData(TrailForm.Lines, true)]
    public async Task Files_named_like_glob_patterns_are_each_read_as_exactly_that_file(TrailForm form, bool gzip)
    {
        var expected = 0;
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < LookAlikeNames.Length; i++)
        {
            var path = _tree.Path(LookAlikeNames[i]);
            var records = Records(i + 1);
            if (form == TrailForm.Lines)
            {
                TrailRecords.WriteLines(path, records, gzip);
            }
            else
            {
                TrailRecords.WriteArray(path, records, gzip);
            }

            counts[path] = i + 1;
            expected += i + 1;
        }

        Assert.Equal(expected, await EventCount(_tree.Root));
        foreach (var (path, count) in counts)
        {
            Assert.Equal(count, await EventCount(path));
        }
    }

    [Fact]
    public async Task A_folder_with_no_trail_files_says_no_events_were_read_with_exit_5()
    {
        var empty = Directory.CreateDirectory(_tree.Path("empty")).FullName;
        var run = await HostileTrail.RunAsync("investigate", _key, "--trail", empty);
        Assert.Equal(5, run.ExitCode);
        Assert.Equal($"keywarden: error: no CloudTrail events were read from {empty}: is it the right path?", run.Stderr.Trim());
        Assert.Contains("no CloudTrail events were read", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_folder_of_empty_files_says_no_events_were_read_with_exit_5()
    {
        _tree.Write("logs/a.json", "");
        _tree.Write("logs/b.json.gz", "");
        var run = await HostileTrail.RunAsync("investigate", _key, "--trail", _tree.Path("logs"), "--format", "json");
        Assert.Equal(5, run.ExitCode);
        Assert.Contains("no CloudTrail events were read", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Records_outside_the_time_window_only_also_say_no_events_were_read()
    {
        TrailRecords.WriteCloudTrailFile(_tree.Path("old.json.gz"), Records(3));
        var run = await HostileTrail.RunAsync("investigate", _key, "--trail", _tree.Root, "--since", "2099-01-01");
        Assert.Equal(5, run.ExitCode);
        Assert.Contains("no CloudTrail events were read from", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("in the time window", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task One_broken_file_among_many_is_named_and_the_rest_is_investigated_with_exit_6()
    {
        TrailRecords.WriteCloudTrailFile(_tree.Path("ok.json.gz"), Records(3));
        TrailRecords.WriteLines(_tree.Path("ok.ndjson"), Records(2));
        _tree.Write("broken.json", "{\"Records\":[{\"eventID\":\"x\",");
        _tree.WriteBytes("cut.json.gz", HostileTrail.Truncated(HostileTrail.Gzip(new JsonObject { ["Records"] = new JsonArray([.. Records(500)]) }.ToJsonString())));
        _tree.Write("bad.ndjson", "{\"eventID\": \"a\", \"eventTime\": \n");
        var run = await HostileTrail.RunAsync("investigate", _key, "--trail", _tree.Root, "--format", "json");
        Assert.Equal(6, run.ExitCode);
        var warnings = run.Stderr.Trim().Split('\n');
        Assert.Equal(3, warnings.Length);
        Assert.Contains(warnings, w => w.StartsWith($"keywarden: warning: {_tree.Path("broken.json")}: cannot read CloudTrail records", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.StartsWith($"keywarden: warning: {_tree.Path("bad.ndjson")}: cannot read CloudTrail records", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.StartsWith($"keywarden: warning: {_tree.Path("cut.json.gz")}: cannot read CloudTrail records: truncated or damaged gzip", StringComparison.Ordinal));
        using var report = JsonDocument.Parse(run.Stdout);
        Assert.Equal(5, report.RootElement.GetProperty("summary").GetProperty("eventCount").GetInt32());
        Assert.Contains(report.RootElement.GetProperty("notes").EnumerateArray(), n => n.GetString()!.StartsWith("the investigation is partial: 3 file(s)", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(TrailForm.Records, false)]
    [InlineData(TrailForm.Records, true)]
    [InlineData(TrailForm.Lines, false)]
    [InlineData(TrailForm.Lines, true)]
    public async Task A_truncated_gzip_is_named_as_truncated_not_out_of_memory(TrailForm form, bool trailerLooksReal)
    {
        var records = Records(2000);
        var content = form == TrailForm.Records
            ? new JsonObject { ["Records"] = new JsonArray([.. records]) }.ToJsonString()
            : string.Join('\n', records.Select(r => r.ToJsonString()));
        var cut = HostileTrail.Truncated(HostileTrail.Gzip(content));
        if (trailerLooksReal)
        {
            // The last four bytes state a size deflate could reach: the reader cannot rule the file out by its trailer.
            BitConverter.TryWriteBytes(cut.AsSpan(cut.Length - 4), (uint)(cut.Length * 3));
        }

        var path = _tree.WriteBytes("cut.json.gz", cut);
        var run = await HostileTrail.RunAsync("investigate", _key, "--trail", path);
        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith($"keywarden: error: {path}: cannot read CloudTrail records: truncated or damaged gzip", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("memory", run.Stderr, StringComparison.OrdinalIgnoreCase);
        Assert.Single(run.Stderr.Trim().Split('\n'));
    }

    [Theory]
    [InlineData(TrailForm.Lines)]
    [InlineData(TrailForm.Array)]
    [InlineData(TrailForm.Records)]
    public async Task Records_nested_100_levels_deep_are_read_in_every_form(TrailForm form)
    {
        // Deeper than System.Text.Json's default of 64, within the reader's 512.
        var records = Records(2, HostileTrail.Nested(100));
        var deep = new System.Text.Json.JsonSerializerOptions { MaxDepth = 1000 };
        var lines = records.Select(r => r.ToJsonString(deep)).ToList();
        var path = _tree.Write("deep.json", form switch
        {
            TrailForm.Lines => string.Join('\n', lines),
            TrailForm.Array => "[" + string.Join(",\n", lines) + "]",
            _ => "{\"Records\":[" + string.Join(",", lines) + "]}",
        });

        var run = await HostileTrail.RunAsync("investigate", _key, "--trail", path, "--format", "json");
        Assert.Equal("", run.Stderr);
        Assert.Equal(0, run.ExitCode);
        using var report = JsonDocument.Parse(run.Stdout);
        Assert.Equal(2, report.RootElement.GetProperty("summary").GetProperty("eventCount").GetInt32());
    }

    [Fact]
    public async Task A_json_lines_record_deeper_than_the_limit_is_named_and_the_rest_is_read()
    {
        var deep = Records(1, HostileTrail.Nested(600));
        var options = new System.Text.Json.JsonSerializerOptions { MaxDepth = 1000 };
        _tree.Write("lines.ndjson", string.Join('\n', Records(3).Concat(deep).Select(r => r.ToJsonString(options))));
        var run = await HostileTrail.RunAsync("investigate", _key, "--trail", _tree.Root, "--format", "json");
        Assert.Equal(6, run.ExitCode);
        Assert.Equal($"keywarden: warning: event {deep[0]["eventID"]}: nested deeper than 512 levels, not read", run.Stderr.Trim());
        using var report = JsonDocument.Parse(run.Stdout);
        Assert.Equal(3, report.RootElement.GetProperty("summary").GetProperty("eventCount").GetInt32());
    }

    [Fact]
    public async Task Symlinked_folders_in_a_trail_folder_are_not_followed()
    {
        TrailRecords.WriteCloudTrailFile(_tree.Path("trail/a.json.gz"), Records(2));
        TrailRecords.WriteLines(_tree.Path("elsewhere/b.ndjson"), Records(3));
        Directory.CreateSymbolicLink(_tree.Path("trail/elsewhere"), _tree.Path("elsewhere"));
        Directory.CreateSymbolicLink(_tree.Path("trail/loop"), _tree.Path("trail"));
        var report = await Investigator.RunAsync(new LocalTrailSource(_tree.Path("trail")), new TrailQuery(_key, TimeWindow.All, [], []));
        Assert.Equal(2, report.Summary.EventCount);
        Assert.Equal(2, report.Source.RecordsLoaded);
        Assert.Contains(report.Notes, n => n.Contains("a symbolic link to a folder (not followed)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_fifo_in_a_trail_folder_is_skipped_without_waiting_for_a_writer()
    {
        TrailRecords.WriteCloudTrailFile(_tree.Path("trail/a.json.gz"), Records(2));
        HostileTrail.MakeFifo(_tree.Path("trail/pipe.json"));
        var investigation = EventCount(_tree.Path("trail"));
        Assert.Same(investigation, await Task.WhenAny(investigation, Task.Delay(TimeSpan.FromSeconds(60))));
        Assert.Equal(2, await investigation);
    }

    [Fact]
    public async Task A_fifo_named_as_the_trail_is_one_line_not_a_wait()
    {
        var fifo = _tree.Path("pipe.json");
        HostileTrail.MakeFifo(fifo);
        var run = HostileTrail.RunAsync("investigate", _key, "--trail", fifo);
        Assert.Same(run, await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(60))));
        Assert.Equal(2, (await run).ExitCode);
        Assert.Equal($"keywarden: error: {fifo}: empty, or not a regular file (a FIFO or a device): no CloudTrail records", (await run).Stderr.Trim());
    }

    [Fact]
    public async Task A_zip_member_whose_header_understates_its_size_is_read_to_its_real_end()
    {
        var lines = string.Join('\n', Records(50).Select(r => r.ToJsonString()));
        _tree.WriteBytes("export.zip", HostileTrail.Understated(HostileTrail.Zip(("lines.ndjson", Encoding.UTF8.GetBytes(lines))), size: 100));
        Assert.Equal(50, await EventCount(_tree.Path("export.zip")));
    }

    [Fact]
    public async Task A_broken_zip_member_is_named_by_its_archive_and_member()
    {
        var zip = _tree.WriteBytes("export.zip", HostileTrail.Zip(
            ("good.ndjson", Encoding.UTF8.GetBytes(string.Join('\n', Records(4).Select(r => r.ToJsonString())))),
            ("bad.ndjson", Encoding.UTF8.GetBytes("{\"eventID\": \"a\", \"eventTime\": \n"))));
        var report = await Investigator.RunAsync(new LocalTrailSource(zip), new TrailQuery(_key, TimeWindow.All, [], []));
        Assert.Equal(4, report.Summary.EventCount);
        Assert.StartsWith($"{zip}!bad.ndjson: cannot read CloudTrail records: ", Assert.Single(report.Unreadable), StringComparison.Ordinal);
        Assert.DoesNotContain("keywarden-investigate", report.Unreadable[0], StringComparison.Ordinal);
    }

    [Fact]
    public void A_zip_member_whose_header_understates_its_size_stops_at_the_budget()
    {
        var member = Encoding.UTF8.GetBytes("[" + new string(' ', 4 << 20) + "]");
        var zip = _tree.WriteBytes("bomb.zip", HostileTrail.Understated(HostileTrail.Zip(("a.json", member)), size: 100));
        var e = Assert.Throws<TrailInputException>(() => TrailFileFinder.Find(zip, _tree.Path("work"), new TrailFileLog(), maxZipBytes: 1 << 20, CancellationToken.None));
        Assert.Equal($"{zip}: zip archive larger than the 1 MiB limit once unpacked, nested archives included (see docs/limits.md)", e.Message);
    }

    [Fact]
    public void A_nested_zip_bomb_with_honest_headers_stops_before_its_data_is_written()
    {
        var zip = _tree.WriteBytes("bomb.zip", HostileTrail.NestedBomb(fanOut: 16, memberBytes: 1 << 20));
        var work = _tree.Path("work");
        var e = Assert.Throws<TrailInputException>(() => TrailFileFinder.Find(zip, work, new TrailFileLog(), TrailFileFinder.DefaultMaxZipBytes, CancellationToken.None));
        Assert.Contains("zip archive larger than the 1 GiB limit", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFiles(work)); // the nested archives unpacked to be opened are removed too
    }

    [Fact]
    public async Task A_directory_given_as_the_report_file_is_named_as_a_directory()
    {
        TrailRecords.WriteCloudTrailFile(_tree.Path("trail/a.json.gz"), Records(2));
        var folder = Directory.CreateDirectory(_tree.Path("out")).FullName;
        var run = await HostileTrail.RunAsync("investigate", _key, "--trail", _tree.Path("trail"), "--output", folder);
        Assert.Equal(2, run.ExitCode);
        Assert.Equal($"keywarden: error: cannot write the report to {folder}: is a directory", run.Stderr.Trim());
    }

    public void Dispose() => _tree.Dispose();
}

/// <summary>`trail validate` on hostile files: FIFOs, devices, deep JSON, a directory or a file where the other is expected.</summary>
public sealed class HostileIntegrityTests : IDisposable
{
    private readonly TempTree _tree = new();
    private readonly DigestChain _chain;

    public HostileIntegrityTests() => _chain = new DigestChain(_tree.Path("trail"));

    private Integrity.IntegrityReport Validate() => Integrity.DigestValidator.Validate(_chain.Root, [_chain.Key]);

    [Fact]
    public async Task A_digest_that_is_a_fifo_is_reported_without_waiting_for_a_writer()
    {
        var digest = _chain.Path(_chain.DigestKeys[1]);
        File.Delete(digest);
        HostileTrail.MakeFifo(digest);
        var validation = Task.Run(Validate);
        Assert.Same(validation, await Task.WhenAny(validation, Task.Delay(TimeSpan.FromSeconds(60))));
        Assert.Contains((await validation).Problems, p => p is { Kind: "digest-unreadable", Detail: "empty, or not a regular file (a FIFO or a device)" } && p.Path == digest);
    }

    [Fact]
    public async Task A_signature_file_that_is_a_fifo_is_not_opened()
    {
        var sidecar = _chain.Path(_chain.DigestKeys[2]) + Integrity.DigestValidator.SignatureSuffix;
        File.Delete(sidecar);
        HostileTrail.MakeFifo(sidecar);
        var validation = Task.Run(Validate);
        Assert.Same(validation, await Task.WhenAny(validation, Task.Delay(TimeSpan.FromSeconds(60))));
        Assert.Equal("signature-unknown", Assert.Single((await validation).Problems).Kind);
    }

    [Fact]
    public void A_signature_file_larger_than_its_cap_is_a_digest_problem_not_a_read_of_it_all()
    {
        var sidecar = _chain.Path(_chain.DigestKeys[2]) + Integrity.DigestValidator.SignatureSuffix;
        using (var file = File.Create(sidecar))
        {
            file.SetLength(1L << 30); // sparse
        }

        var problem = Assert.Single(Validate().Problems, p => p.Kind == "digest-unreadable");
        Assert.Equal("larger than the 64 KiB limit (see docs/limits.md)", problem.Detail);
    }

    [Fact]
    public void A_digest_nested_deeper_than_the_json_limit_is_one_problem()
    {
        var digest = _chain.Path(_chain.DigestKeys[1]);
        DigestChain.WriteGzip(digest, Encoding.UTF8.GetBytes(HostileTrail.Text(100_000)));
        var problem = Assert.Single(Validate().Problems, p => p.Kind == "digest-unreadable");
        Assert.Equal(digest, problem.Path);
        Assert.DoesNotContain('\n', problem.Detail);
    }

    [Fact]
    public async Task A_directory_given_as_the_public_key_is_named_as_a_directory()
    {
        var folder = Directory.CreateDirectory(_tree.Path("keys")).FullName;
        var run = await HostileTrail.RunAsync("trail", "validate", _chain.Root, "--public-key", folder);
        Assert.Equal(2, run.ExitCode);
        Assert.Equal($"keywarden: error: public key {folder}: is a directory", run.Stderr.Trim());
    }

    [Fact]
    public async Task Dev_zero_given_as_the_public_key_stops_at_its_cap()
    {
        var run = await HostileTrail.RunAsync("trail", "validate", _chain.Root, "--public-key", "/dev/zero");
        Assert.Equal(2, run.ExitCode);
        Assert.Equal("keywarden: error: public key /dev/zero: larger than the 64 KiB limit (see docs/limits.md)", run.Stderr.Trim());
    }

    [Fact]
    public async Task A_file_given_as_the_trail_folder_is_named_as_a_file()
    {
        var file = _tree.Write("trail.json", "{}");
        var run = await HostileTrail.RunAsync("trail", "validate", file, "--public-key", "/dev/null");
        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith($"keywarden: error: {file}: is a file, not a folder", run.Stderr, StringComparison.Ordinal);
    }

    public void Dispose() => _tree.Dispose();
}
