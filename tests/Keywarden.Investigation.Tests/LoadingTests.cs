using System.Text.Json.Nodes;
using Keywarden.Detection.Credentials;
using Keywarden.Investigation.Analysis;
using Keywarden.Investigation.Loading;

namespace Keywarden.Investigation.Tests;

public sealed class LoadingTests : IDisposable
{
    private readonly TempTree _tree = new();
    private readonly string _key = SyntheticCredentials.KeyId(new Random(1), "AKIA", "111122223333");

    private JsonObject[] Records(int count, int offset = 0)
    {
        var trail = new TrailRecords(seed: 1000 + offset); // distinct event IDs for each batch
        var caller = Caller.User(_key, "111122223333", "dev");
        for (var i = 0; i < count; i++)
        {
            trail.Add(caller, AttackScenario.Start.AddMinutes(offset + i), "ec2", "DescribeInstances", "us-east-1", "203.0.113.9", readOnly: true);
        }

        return [.. trail.Records];
    }

    private async Task<long> EventCount(string path)
    {
        var report = await Investigator.RunAsync(new LocalTrailSource(path), new TrailQuery(_key, TimeWindow.All, [], []));
        return report.Summary.EventCount;
    }

    [Fact]
    public async Task CloudTrail_files_plain_and_gzipped_are_read()
    {
        TrailRecords.WriteCloudTrailFile(_tree.Path("a.json"), Records(3), gzip: false);
        TrailRecords.WriteCloudTrailFile(_tree.Path("b.json.gz"), Records(4, 100));
        Assert.Equal(7, await EventCount(_tree.Root));
    }

    [Fact]
    public async Task A_gzipped_file_is_recognised_by_content_not_name()
    {
        TrailRecords.WriteCloudTrailFile(_tree.Path("delivered-without-extension"), Records(5));
        Assert.Equal(5, await EventCount(_tree.Path("delivered-without-extension")));
    }

    [Fact]
    public async Task Bare_arrays_and_json_lines_are_read()
    {
        TrailRecords.WriteArray(_tree.Path("array.json"), Records(3));
        TrailRecords.WriteLines(_tree.Path("lines.ndjson"), Records(2, 10));
        TrailRecords.WriteLines(_tree.Path("lines.ndjson.gz"), Records(2, 20), gzip: true);
        Assert.Equal(7, await EventCount(_tree.Root));
    }

    [Fact]
    public async Task Zip_archives_are_unpacked_and_read()
    {
        var records = Records(6);
        TrailRecords.WriteZip(_tree.Path("export.zip"), [("one.json", records[..3]), ("two.json", records[3..])]);
        Assert.Equal(6, await EventCount(_tree.Path("export.zip")));
    }

    [Fact]
    public async Task SIEM_exports_with_renamed_and_extra_fields_are_read()
    {
        TrailRecords.WriteLines(_tree.Path("siem.ndjson"), Records(4).Select(TrailRecords.AsSiemExport));
        var report = await Investigator.RunAsync(new LocalTrailSource(_tree.Root), new TrailQuery(_key, TimeWindow.All, [], []));
        Assert.Equal(4, report.Summary.EventCount);
        Assert.Equal("203.0.113.9", Assert.Single(report.Summary.SourceIps).Ip);
        Assert.Equal(AttackScenario.Start, report.Summary.FirstSeen);
    }

    [Fact]
    public async Task Duplicates_across_files_count_once()
    {
        var records = Records(5);
        TrailRecords.WriteCloudTrailFile(_tree.Path("first.json.gz"), records);
        TrailRecords.WriteCloudTrailFile(_tree.Path("again.json.gz"), records[1..3]);
        var report = await Investigator.RunAsync(new LocalTrailSource(_tree.Root), new TrailQuery(_key, TimeWindow.All, [], []));
        Assert.Equal(5, report.Summary.EventCount);
        Assert.Equal(7, report.Source.RecordsLoaded);
        Assert.Equal(5, report.Timeline.Count);
    }

    [Fact]
    public async Task A_key_with_digits_outside_base32_and_no_account_is_still_investigated()
    {
        var key = "AKIA0189" + new string('8', 12);
        var trail = new TrailRecords();
        trail.Add(Caller.User(key, "111122223333", "old"), AttackScenario.Start, "s3", "ListBuckets", "us-east-1", "203.0.113.9");
        TrailRecords.WriteCloudTrailFile(_tree.Path("old.json.gz"), trail.Records);
        var report = await Investigator.RunAsync(new LocalTrailSource(_tree.Root), new TrailQuery(key, TimeWindow.All, [], []));
        Assert.Equal(1, report.Summary.EventCount);
        Assert.Null(report.DecodedAccountId);
    }

    [Fact]
    public async Task A_missing_path_is_one_clear_error()
    {
        var e = await Assert.ThrowsAsync<TrailInputException>(() => EventCount(_tree.Path("nope")));
        Assert.EndsWith("nope: no such file or directory", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_named_file_that_holds_no_records_is_an_error_but_one_in_a_folder_is_skipped()
    {
        var text = _tree.Write("notes.txt", "hello\n");
        var e = await Assert.ThrowsAsync<TrailInputException>(() => EventCount(text));
        Assert.Contains("not CloudTrail records", e.Message, StringComparison.Ordinal);
        TrailRecords.WriteCloudTrailFile(_tree.Path("ok.json.gz"), Records(2));
        Assert.Equal(2, await EventCount(_tree.Root));
    }

    [Fact]
    public async Task A_broken_file_among_others_is_named_and_the_others_are_read()
    {
        TrailRecords.WriteCloudTrailFile(_tree.Path("ok.json.gz"), Records(2));
        _tree.Write("broken.json", "{\"Records\":[{\"eventID\":\"x\",");
        var report = await Investigator.RunAsync(new LocalTrailSource(_tree.Root), new TrailQuery(_key, TimeWindow.All, [], []));
        Assert.Equal(2, report.Summary.EventCount);
        Assert.StartsWith(_tree.Path("broken.json") + ": cannot read CloudTrail records", Assert.Single(report.Unreadable), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_broken_file_named_alone_is_an_error_that_names_it()
    {
        var broken = _tree.Write("broken.json", "{\"Records\":[{\"eventID\":\"x\",");
        var e = await Assert.ThrowsAsync<TrailInputException>(() => EventCount(broken));
        Assert.StartsWith(broken + ": cannot read CloudTrail records", e.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _tree.Dispose();
}
