using Amazon.Runtime;
using Keywarden.Aws.Connection;
using Keywarden.Investigation.Analysis;
using Keywarden.Investigation.Loading;

namespace Keywarden.Investigation.Tests;

/// <summary>The LookupEvents source against the recorded-response fixture.</summary>
public sealed class LookupSourceTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(150);
    private readonly AttackScenario _scenario = new();

    /// <summary>Records when the client sent each request and to which region (from its SigV4 scope).</summary>
    private sealed class SendLog() : DelegatingHandler(new HttpClientHandler())
    {
        public System.Collections.Concurrent.ConcurrentQueue<(DateTime At, string Region)> Sent { get; } = new();

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var scope = request.Headers.TryGetValues("Authorization", out var values) ? values.First().Split('/') : [];
            Sent.Enqueue((DateTime.UtcNow, scope.Length > 2 ? scope[2] : ""));
            return base.SendAsync(request, cancellationToken);
        }
    }

    private readonly SendLog _sendLog = new();

    private LookupEventsSource Source(LookupFixture fixture) =>
        new(new AwsSettings { EndpointUrl = fixture.Endpoint, Region = "us-east-1" }, new BasicAWSCredentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), _sendLog)
        {
            MinInterval = Interval,
            BackoffBase = TimeSpan.FromMilliseconds(20),
        };

    // The fixture's events are dated 2025; a window that ends after them and starts within 90 days of "now" is needed.
    private TrailQuery Query(IReadOnlyList<string>? regions = null) =>
        new(_scenario.LeakedKey, new TimeWindow(DateTimeOffset.UtcNow.AddDays(-89), null), [], regions ?? []);

    private List<System.Text.Json.Nodes.JsonObject> RecentRecords()
    {
        // Shift the scenario into the last 90 days, as LookupEvents only keeps those.
        var shift = DateTimeOffset.UtcNow.AddDays(-10) - AttackScenario.Start;
        return [.. _scenario.Trail.Records.Select(r =>
        {
            var copy = r.DeepClone().AsObject();
            copy["eventTime"] = TrailRecords.Time(DateTimeOffset.Parse(r["eventTime"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture) + shift);
            return copy;
        })];
    }

    [Fact]
    public async Task Lookup_follows_the_lineage_in_every_enabled_region_and_us_east_1()
    {
        using var fixture = new LookupFixture(RecentRecords());
        var report = await Investigator.RunAsync(Source(fixture), Query());

        // The console session's key was minted by no recorded call: LookupEvents by access key cannot reach it.
        string[] expected = [_scenario.LeakedKey, _scenario.BackdoorKey, _scenario.SessionKey, _scenario.FederationKey, _scenario.RoleKey];
        Assert.Equal(expected.Order(StringComparer.Ordinal), report.Keys.Select(k => k.KeyId).Order(StringComparer.Ordinal));
        var requests = fixture.Requests.ToList();
        Assert.Single(requests, r => r.Service == "ec2");
        var regions = requests.Where(r => r.Service == "cloudtrail" && r.Key == _scenario.LeakedKey).Select(r => r.Region).Distinct().Order(StringComparer.Ordinal);
        Assert.Equal(["ap-south-1", "eu-north-1", "eu-west-1", "us-east-1", "us-east-2", "us-west-2"], regions);

        // GPU launches by the session key in the enabled regions it used (ap-south-1, eu-north-1 denied, us-east-1/2, us-west-2).
        var gpu = report.Detections.Where(d => d.RuleId == "KWI-IMP-001").Select(d => d.Region).Order(StringComparer.Ordinal);
        Assert.Equal(["ap-south-1", "eu-north-1", "us-east-1", "us-east-2", "us-west-2"], gpu);
        Assert.Contains(report.Detections, d => d.RuleId == "KWI-EVA-001" && d.ErrorCode == "AccessDenied");
        Assert.Contains(report.Notes, n => n.Contains("data events such as S3 object reads are absent", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Lookup_pages_through_results_retries_throttling_and_keeps_to_the_rate_limit()
    {
        using var fixture = new LookupFixture(RecentRecords());
        var report = await Investigator.RunAsync(Source(fixture), Query(["eu-west-1"]));
        var requests = fixture.Requests.Where(r => r.Service == "cloudtrail").ToList();

        Assert.DoesNotContain(fixture.Requests, r => r.Service == "ec2"); // --region given: no DescribeRegions
        Assert.Equal(["eu-west-1", "us-east-1"], requests.Select(r => r.Region).Distinct().Order(StringComparer.Ordinal));
        Assert.All(requests.GroupBy(r => r.Region), g => Assert.Equal(400, g.First().Status)); // each region's first call was throttled…
        Assert.Contains(requests, r => r.NextToken is not null && r.Status == 200); // …retried, and paged
        foreach (var region in _sendLog.Sent.Where(s => s.Region.Length > 0).GroupBy(s => s.Region))
        {
            var times = region.Select(r => r.At).Order().ToList();
            for (var i = 1; i < times.Count; i++)
            {
                // A few milliseconds of thread-pool scheduling sit between pacing and this log on a busy machine; unpaced calls would be ~1 ms apart.
                Assert.True(times[i] - times[i - 1] >= Interval - TimeSpan.FromMilliseconds(20), $"{region.Key}: two calls {(times[i] - times[i - 1]).TotalMilliseconds} ms apart");
                var inOneSecond = times.Count(t => t >= times[i] && t < times[i] + TimeSpan.FromSeconds(1));
                Assert.True(inOneSecond <= (int)(1000 / Interval.TotalMilliseconds) + 1, $"{region.Key}: {inOneSecond} calls within one second");
            }
        }

        var expected = _scenario.LineageEvents.Count(e => e["awsRegion"]!.GetValue<string>() is "us-east-1" or "eu-west-1" && e["userIdentity"]!["accessKeyId"]!.GetValue<string>() != _scenario.ConsoleKey);
        Assert.Equal(expected, report.Summary.EventCount);
    }

    [Fact]
    public async Task A_denied_lookup_is_one_clear_error()
    {
        using var fixture = new LookupFixture(RecentRecords(), deniedKey: _scenario.LeakedKey);
        var e = await Assert.ThrowsAsync<TrailInputException>(() => Investigator.RunAsync(Source(fixture), Query(["eu-west-1"])));
        Assert.StartsWith("LookupEvents failed: AccessDeniedException: cloudtrail.", e.Message, StringComparison.Ordinal);
        Assert.Contains("not authorized to perform: cloudtrail:LookupEvents", e.Message, StringComparison.Ordinal);
    }
}
