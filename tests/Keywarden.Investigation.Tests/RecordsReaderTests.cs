using System.Text;
using System.Text.Json.Nodes;
using Keywarden.Detection.Credentials;
using Keywarden.Investigation.Analysis;
using Keywarden.Investigation.Loading;
using Keywarden.Investigation.Reports;

namespace Keywarden.Investigation.Tests;

/// <summary>
/// CloudTrail's own files are read in process (RecordsReader), the other forms by DuckDB: the two readers
/// must give the same investigation, down to the bytes of the json report.
/// </summary>
public sealed class RecordsReaderTests : IDisposable
{
    private const string Account = "111122223333";
    private readonly TempTree _tree = new();
    private readonly Random _random = new(77);

    private static async Task<string> JsonReport(string folder, string key, TimeWindow window, bool inProcess, long maxInMemory = RecordsReader.DefaultMaxInMemory)
    {
        var options = new InvestigationOptions { ReadRecordsInProcess = inProcess, MaxFileInMemory = maxInMemory };
        var report = await Investigator.RunAsync(new LocalTrailSource(folder), new TrailQuery(key, window, [], []), options);
        var output = new StringWriter();
        ReportWriters.Write(report, ReportFormat.Json, output);

        // A record without an eventID is given a random one by either reader.
        return System.Text.RegularExpressions.Regex.Replace(output.ToString(), "no-event-id-[0-9a-f-]{36}", "no-event-id");
    }

    [Fact]
    public async Task The_attack_scenario_reads_the_same_in_process_and_with_DuckDB()
    {
        var scenario = new AttackScenario();
        scenario.WriteFolder(_tree.Root);
        var inProcess = await JsonReport(_tree.Root, scenario.LeakedKey, TimeWindow.All, inProcess: true);
        Assert.Equal(await JsonReport(_tree.Root, scenario.LeakedKey, TimeWindow.All, inProcess: false), inProcess);
        Assert.Contains(scenario.ConsoleKey, inProcess, StringComparison.Ordinal);

        var window = new TimeWindow(AttackScenario.Start.AddHours(1), AttackScenario.Start.AddDays(2));
        Assert.Equal(
            await JsonReport(_tree.Root, scenario.LeakedKey, window, inProcess: false),
            await JsonReport(_tree.Root, scenario.LeakedKey, window, inProcess: true));
    }

    [Fact]
    public async Task Unusual_but_valid_CloudTrail_files_read_the_same_in_process_and_with_DuckDB()
    {
        var leaked = SyntheticCredentials.KeyId(_random, "AKIA", Account);
        var minted = SyntheticCredentials.KeyId(_random, "ASIA", Account);
        var other = SyntheticCredentials.KeyId(_random, "AKIA", Account);
        var trail = new TrailRecords(seed: 5);
        var user = Caller.User(leaked, Account, "deploy");
        var session = Caller.Session(minted, Account, $"arn:aws:sts::{Account}:federated-user/x", "FederatedUser", null);
        var t = AttackScenario.Start;
        trail.Add(user, t, "sts", "GetCallerIdentity", "us-east-1", "203.0.113.5", readOnly: true);

        // A SIEM pipeline that re-wrote CloudTrail's form but kept the document as a JSON string.
        var mint = trail.Add(user, t.AddMinutes(1), "sts", "GetFederationToken", "us-east-1", "203.0.113.5", new JsonObject { ["name"] = "x" });
        mint["responseElements"] = new JsonObject
        {
            ["credentials"] = new JsonObject { ["accessKeyId"] = minted },
            ["federatedUser"] = new JsonObject { ["arn"] = $"arn:aws:sts::{Account}:federated-user/x" },
        }.ToJsonString();
        trail.Add(session, t.AddMinutes(2), "ec2", "RunInstances", "ap-south-1", "203.0.113.5");

        // Epoch milliseconds, no eventID, numbers and booleans where text is usual.
        var noId = trail.Add(user, t.AddMinutes(3), "iam", "ListUsers", "us-east-1", "203.0.113.5", readOnly: true);
        noId.Remove("eventID");
        noId["eventTime"] = t.AddMinutes(3).ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        // Another principal from the attacker's address, and the account's usual region.
        trail.Add(Caller.User(other, Account, "alice"), t.AddMinutes(4), "s3", "ListBuckets", "us-east-1", "203.0.113.5", readOnly: true);
        trail.Add(Caller.User(other, Account, "alice"), t.AddMinutes(5), "s3", "ListBuckets", "eu-west-1", "198.51.100.1", readOnly: true);

        // Escapes where CloudTrail never writes them, a BOM, an extra top-level field.
        var json = new JsonObject { ["Records"] = new JsonArray([.. trail.Records.Select(r => r.DeepClone())]) }.ToJsonString()
            .Replace("\"us-east-1\"", "\"us\\u002Deast-1\"", StringComparison.Ordinal);
        json = json[..^1] + ",\"deliveredBy\":{\"note\":[1,2,3]}}";
        Directory.CreateDirectory(_tree.Path("AWSLogs"));
        File.WriteAllBytes(_tree.Path("AWSLogs/odd.json"), [.. Encoding.UTF8.Preamble, .. Encoding.UTF8.GetBytes(json)]);

        var inProcess = await JsonReport(_tree.Root, leaked, TimeWindow.All, inProcess: true);
        Assert.Equal(await JsonReport(_tree.Root, leaked, TimeWindow.All, inProcess: false), inProcess);
        Assert.Contains($"\"keyId\": \"{minted}\"", inProcess, StringComparison.Ordinal);
        Assert.Contains("\"eventCount\": 4", inProcess, StringComparison.Ordinal);
        Assert.Contains("RunInstances", inProcess, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_that_inflates_beyond_the_memory_limit_is_left_to_DuckDB()
    {
        // Two gzip members: the trailer gives only the last one's size (here: padding), so the file looks
        // small enough to hold until it is inflated.
        var key = SyntheticCredentials.KeyId(_random, "AKIA", Account);
        var trail = new TrailRecords(seed: 11);
        for (var i = 0; i < 40; i++)
        {
            trail.Add(Caller.User(key, Account, "dev"), AttackScenario.Start.AddMinutes(i), "ec2", "DescribeInstances", "us-east-1", "203.0.113.9", readOnly: true);
        }

        var json = Encoding.UTF8.GetBytes(new JsonObject { ["Records"] = new JsonArray([.. trail.Records.Select(r => r.DeepClone())]) }.ToJsonString());
        var padding = Encoding.UTF8.GetBytes(new string(' ', 30_000));
        var path = _tree.Path("multi.json.gz");
        using (var file = File.Create(path))
        {
            foreach (var part in new[] { json[..^10], [.. json[^10..], .. padding] })
            {
                using var member = new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true);
                member.Write(part);
            }
        }

        const long limit = 40_000;
        Assert.InRange(TrailStore.UncompressedSize(path, gzip: true), 1, limit);
        Assert.True(json.Length + padding.Length > limit);
        var small = await JsonReport(_tree.Root, key, TimeWindow.All, inProcess: true, maxInMemory: limit);
        Assert.Contains("\"eventCount\": 40", small, StringComparison.Ordinal);
        Assert.Equal(await JsonReport(_tree.Root, key, TimeWindow.All, inProcess: true), small);
    }

    [Fact]
    public async Task Trails_merged_into_one_file_are_read_whole()
    {
        // `cat a.json.gz b.json.gz > ab.json.gz`: a multi-member gzip holding two {"Records":[...]} objects.
        var key = SyntheticCredentials.KeyId(_random, "AKIA", Account);
        var parts = new List<byte[]>();
        for (var part = 0; part < 2; part++)
        {
            var trail = new TrailRecords(seed: 20 + part);
            for (var i = 0; i < 3 + part; i++)
            {
                trail.Add(Caller.User(key, Account, "dev"), AttackScenario.Start.AddMinutes(10 * part + i), "iam", "ListUsers", "us-east-1", "203.0.113.9", readOnly: true);
            }

            var path = _tree.Path($"part{part}.json.gz");
            TrailRecords.WriteCloudTrailFile(path, trail.Records);
            parts.Add(File.ReadAllBytes(path));
            File.Delete(path);
        }

        File.WriteAllBytes(_tree.Path("merged.json.gz"), [.. parts[0], .. parts[1]]);
        var inProcess = await JsonReport(_tree.Root, key, TimeWindow.All, inProcess: true);
        Assert.Contains("\"eventCount\": 7", inProcess, StringComparison.Ordinal);
        Assert.Equal(await JsonReport(_tree.Root, key, TimeWindow.All, inProcess: false), inProcess);
    }

    [Fact]
    public async Task A_record_with_a_lone_surrogate_names_its_file()
    {
        var key = SyntheticCredentials.KeyId(_random, "AKIA", Account);
        var trail = new TrailRecords(seed: 9);
        trail.Add(Caller.User(key, Account, "dev"), AttackScenario.Start, "ec2", "DescribeInstances", "us-east-1", "203.0.113.9", readOnly: true, userAgent: "agent-MARK");
        var json = new JsonObject { ["Records"] = new JsonArray([.. trail.Records.Select(r => r.DeepClone())]) }.ToJsonString().Replace("agent-MARK", "agent-\\ud800", StringComparison.Ordinal);
        _tree.Write("surrogate.json", json);
        var e = await Assert.ThrowsAsync<TrailInputException>(() => JsonReport(_tree.Root, key, TimeWindow.All, inProcess: true));
        Assert.Contains("surrogate.json: cannot read CloudTrail records", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_truncated_gzip_is_named_in_the_error()
    {
        var key = SyntheticCredentials.KeyId(_random, "AKIA", Account);
        var trail = new TrailRecords(seed: 9);
        trail.Add(Caller.User(key, Account, "dev"), AttackScenario.Start, "ec2", "DescribeInstances", "us-east-1", "203.0.113.9", readOnly: true);
        var path = _tree.Path("cut.json.gz");
        TrailRecords.WriteCloudTrailFile(path, trail.Records);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length * 2 / 3)]);
        var e = await Assert.ThrowsAsync<TrailInputException>(() => JsonReport(_tree.Root, key, TimeWindow.All, inProcess: true));
        Assert.Contains("cut.json.gz: cannot read", e.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _tree.Dispose();
}
