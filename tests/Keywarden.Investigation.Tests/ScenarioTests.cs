using System.Text.Json;
using Keywarden.Investigation.Analysis;
using Keywarden.Investigation.Loading;
using Keywarden.Investigation.Reports;

namespace Keywarden.Investigation.Tests;

/// <summary>The attack scenario, written to a folder in every form a trail arrives in, investigated once.</summary>
public sealed class ScenarioFixture : IAsyncLifetime
{
    private readonly TempTree _tree = new();

    internal AttackScenario Scenario { get; } = new();

    public InvestigationReport Report { get; private set; } = null!;

    public string Folder => _tree.Root;

    public async Task InitializeAsync()
    {
        Scenario.WriteFolder(_tree.Root);
        Report = await Investigator.RunAsync(new LocalTrailSource(_tree.Root), new TrailQuery(Scenario.LeakedKey, TimeWindow.All, [], []));
    }

    public Task DisposeAsync()
    {
        _tree.Dispose();
        return Task.CompletedTask;
    }
}

public sealed class ScenarioTests(ScenarioFixture fixture) : IClassFixture<ScenarioFixture>
{
    private InvestigationReport Report => fixture.Report;
    private AttackScenario S => fixture.Scenario;

    [Fact]
    public void Lineage_follows_every_key_minted_from_the_leaked_key()
    {
        var keys = Report.Keys.ToDictionary(k => k.KeyId, StringComparer.Ordinal);
        Assert.Equal(6, keys.Count);
        Assert.Null(keys[S.LeakedKey].Parent);
        Assert.Equal("leaked", keys[S.LeakedKey].How);
        Assert.Equal((S.LeakedKey, "CreateAccessKey"), (keys[S.BackdoorKey].Parent, keys[S.BackdoorKey].How));
        Assert.Equal((S.LeakedKey, "GetSessionToken"), (keys[S.SessionKey].Parent, keys[S.SessionKey].How));
        Assert.Equal((S.SessionKey, "AssumeRole"), (keys[S.RoleKey].Parent, keys[S.RoleKey].How));
        Assert.Equal((S.LeakedKey, "GetFederationToken"), (keys[S.FederationKey].Parent, keys[S.FederationKey].How));
        Assert.Equal(S.FederationKey, keys[S.ConsoleKey].Parent);
        Assert.StartsWith("console sign-in as arn:aws:sts::", keys[S.ConsoleKey].How, StringComparison.Ordinal);
        Assert.DoesNotContain(S.AliceKey, keys.Keys);
        Assert.DoesNotContain(S.CiKey, keys.Keys);
    }

    [Fact]
    public void Every_expected_detection_fires_and_nothing_else()
    {
        var byRule = Report.Detections.GroupBy(d => d.RuleId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var expected = new Dictionary<string, int>(StringComparer.Ordinal)
        {
            ["KWI-DIS-001"] = 1, // first GetCallerIdentity
            ["KWI-DIS-002"] = 1, // ListBuckets (first)
            ["KWI-DIS-003"] = 1, // one burst of 25 Describe/List calls
            ["KWI-DIS-004"] = 1, // GetSendQuota
            ["KWI-PER-001"] = 1, // CreateUser
            ["KWI-PER-002"] = 1, // CreateAccessKey for backup-admin
            ["KWI-PER-003"] = 1, // CreateLoginProfile
            ["KWI-PER-004"] = 1, // CreateRole trusting a stranger's account (console session)
            ["KWI-PER-005"] = 1, // GetFederationToken
            ["KWI-PER-006"] = 1, // UpdateFunctionCode20150331v2
            ["KWI-PRV-001"] = 1, // AdministratorAccess
            ["KWI-EVA-001"] = 2, // StopLogging denied, then StopLogging
            ["KWI-EXF-001"] = 1, // snapshot shared
            ["KWI-EXF-003"] = 1, // bucket policy Principal *
            ["KWI-EXF-005"] = 1, // port 22 from 0.0.0.0/0
            ["KWI-IMP-001"] = 11, // p4d.24xlarge in 10 regions and a denied g5.48xlarge
            ["KWI-IMP-002"] = 1, // instances in many regions
            ["KWI-REG-001"] = 10, // ten GPU regions and eu-north-1, less us-east-1 which the account uses
            ["KWI-INI-001"] = 2, // GetSigninToken and ConsoleLogin
        };
        Assert.Equal(expected.OrderBy(p => p.Key, StringComparer.Ordinal), byRule.OrderBy(p => p.Key, StringComparer.Ordinal));
    }

    [Fact]
    public void A_failed_StopLogging_is_detected_with_its_error()
    {
        var failed = Report.Detections.Single(d => d.RuleId == "KWI-EVA-001" && d.ErrorCode is not null);
        Assert.Equal("AccessDenied", failed.ErrorCode);
        Assert.Equal(S.FailedStopLoggingId, failed.EventId);
        Assert.Equal("critical", failed.Severity);
        Assert.Equal("T1562.008", failed.Mitre);
        Assert.Equal(S.LeakedKey, failed.KeyId);
    }

    [Fact]
    public void Detections_carry_their_event_and_the_key_that_made_it()
    {
        var gpu = Report.Detections.Where(d => d.RuleId == "KWI-IMP-001").ToList();
        Assert.All(gpu, d => Assert.Equal(S.SessionKey, d.KeyId));
        Assert.Equal([.. AttackScenario.GpuRegions, "eu-north-1"], gpu.Select(d => d.Region!).ToArray());
        Assert.Contains("instanceType=p4d.24xlarge", gpu[0].Detail, StringComparison.Ordinal);
        var unusual = Report.Detections.Where(d => d.RuleId == "KWI-REG-001").Select(d => d.Region).ToHashSet();
        Assert.DoesNotContain("us-east-1", unusual);
        Assert.Contains("sa-east-1", unusual);
        var role = Report.Detections.Single(d => d.RuleId == "KWI-PER-004");
        Assert.Equal(S.ConsoleKey, role.KeyId);
        var share = Report.Detections.Single(d => d.RuleId == "KWI-EXF-001");
        Assert.Contains(AttackScenario.StrangerAccount, share.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Eradication_lists_everything_the_lineage_created_or_changed_with_its_event()
    {
        var items = Report.Eradication.Select(e => (e.ResourceType, e.ResourceId)).ToHashSet();
        var expected = new HashSet<(string, string)>
        {
            ("iam-user", AttackScenario.BackdoorUser),
            ("iam-access-key", S.BackdoorKey),
            ("iam-policy-attachment", AttackScenario.BackdoorUser),
            ("iam-login-profile", AttackScenario.BackdoorUser),
            ("cloudtrail-trail", AttackScenario.TrailArn),
            ("ebs-snapshot-share", AttackScenario.SnapshotId),
            ("s3-bucket-policy", AttackScenario.DataBucket),
            ("iam-role", AttackScenario.BackdoorRole),
            ("ec2-security-group-rule", AttackScenario.SecurityGroup),
            ("lambda-function-code", "billing-export"),
        };
        foreach (var (region, instance) in S.Instances)
        {
            expected.Add(("ec2-instance", instance));
        }

        Assert.Equal(expected.Order(), items.Order());
        Assert.Equal(expected.Count, Report.Eradication.Count);
        var trail = Report.Eradication.Single(e => e.ResourceType == "cloudtrail-trail");
        Assert.NotEqual(S.FailedStopLoggingId, trail.EventId); // only the StopLogging that worked needs undoing
        var instances = Report.Eradication.Where(e => e.ResourceType == "ec2-instance").ToList();
        Assert.Equal(AttackScenario.GpuRegions.Order(StringComparer.Ordinal), instances.Select(i => i.Region).Order(StringComparer.Ordinal));
        Assert.All(Report.Eradication, e => Assert.Equal(S.Account, e.Account));
        Assert.Contains("AdministratorAccess", Report.Eradication.Single(e => e.ResourceType == "iam-policy-attachment").Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Summary_counts_distinct_events_of_the_lineage_once_despite_duplicates()
    {
        var s = Report.Summary;
        Assert.Equal(S.LineageEvents.Count, s.EventCount);
        Assert.Equal(2, s.ErrorCount);
        Assert.Equal(Math.Round(2.0 / S.LineageEvents.Count, 4), s.ErrorRatio);
        Assert.Equal(S.LineageEvents.Min(e => DateTimeOffset.Parse(e["eventTime"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture)), s.FirstSeen);
        Assert.Equal(S.LineageEvents.Max(e => DateTimeOffset.Parse(e["eventTime"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture)), s.LastSeen);
        Assert.Equal([AttackScenario.AttackerIp, AttackScenario.SharedIp], s.SourceIps.Select(i => i.Ip).ToArray());
        Assert.Equal(2, s.SourceIps.Single(i => i.Ip == AttackScenario.SharedIp).Events);
        Assert.Equal([S.Account], s.Accounts.ToArray());
        Assert.Contains(s.Principals, p => p.KeyId == S.LeakedKey && p.Arn == $"arn:aws:iam::{S.Account}:user/deploy-bot" && p.Type == "IAMUser");
        Assert.Equal(11, s.Regions.Count);
        Assert.Equal(11, s.EventsByName.Single(c => c.Name == "RunInstances").Events);
        Assert.Contains(s.EventsByService, c => c.Name == "iam.amazonaws.com");
        Assert.Contains(s.UserAgents, c => c.Name.StartsWith("aws-cli/", StringComparison.Ordinal));
        Assert.Equal(Report.Detections.Count, s.DetectionsBySeverity.Values.Sum());
        Assert.Equal(S.LineageEvents.Count + 1, Report.Timeline.Count); // and the key-less ConsoleLogin
        Assert.Contains(Report.Timeline, t => t.EventId == S.ConsoleLoginId && t.RuleIds.Contains("KWI-INI-001"));
    }

    [Fact]
    public void Other_principals_from_the_attackers_addresses_are_flagged()
    {
        var pivot = Assert.Single(Report.IpPivot);
        Assert.Equal(AttackScenario.SharedIp, pivot.SourceIp);
        Assert.Equal($"arn:aws:iam::{S.Account}:user/ci-runner", pivot.Principal);
        Assert.Equal(S.CiKey, pivot.AccessKeyId);
        Assert.Equal(2, pivot.EventCount);
    }

    [Fact]
    public void Every_file_form_was_read_and_the_digest_and_readme_were_skipped()
    {
        Assert.Equal(S.Trail.Records.Count + 10, Report.Source.RecordsLoaded);
        Assert.Contains(Report.Notes, n => n.Contains("skipped 1 file", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(ReportFormat.Text)]
    [InlineData(ReportFormat.Md)]
    [InlineData(ReportFormat.Json)]
    [InlineData(ReportFormat.Html)]
    public void No_report_format_carries_a_session_token_or_secret(ReportFormat format)
    {
        var output = new StringWriter();
        ReportWriters.Write(Report, format, output);
        var text = output.ToString();
        Assert.Contains(S.LeakedKey, text, StringComparison.Ordinal);
        Assert.DoesNotContain(S.SessionToken, text, StringComparison.Ordinal);
        Assert.DoesNotContain(S.SessionToken[..24], text, StringComparison.Ordinal);
        Assert.DoesNotContain(S.Secret, text, StringComparison.Ordinal);
        Assert.DoesNotContain("HIDDEN_DUE_TO_SECURITY_REASONS", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_report_has_the_documented_fields()
    {
        using var doc = JsonDocument.Parse(ReportWriters.ToJson(Report));
        var root = doc.RootElement;
        foreach (var field in new[] { "keys", "summary", "detections", "eradication", "timeline", "ipPivot" })
        {
            Assert.True(root.TryGetProperty(field, out _), field);
        }

        var key = root.GetProperty("keys")[1];
        Assert.True(key.TryGetProperty("keyId", out _) && key.TryGetProperty("parent", out _) && key.TryGetProperty("how", out _));
        var detection = root.GetProperty("detections")[0];
        foreach (var field in new[] { "ruleId", "category", "severity", "eventName", "eventTime", "eventId", "keyId" })
        {
            Assert.True(detection.TryGetProperty(field, out _), field);
        }

        Assert.Equal(S.LineageEvents.Count, root.GetProperty("summary").GetProperty("eventCount").GetInt64());
        Assert.Matches("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$", detection.GetProperty("eventTime").GetString());
    }

    [Fact]
    public void Html_report_is_one_self_contained_file_with_a_timeline_chart()
    {
        var output = new StringWriter();
        ReportWriters.Write(Report, ReportFormat.Html, output);
        var html = output.ToString();
        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        Assert.Contains("<svg", html, StringComparison.Ordinal);
        Assert.Contains("<circle", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<link", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("src=", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotMatch("url\\(", html);
        Assert.Contains(AttackScenario.SnapshotId, html, StringComparison.Ordinal);
        Assert.Contains("KWI-EVA-001", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_time_window_limits_the_investigation()
    {
        var since = AttackScenario.Start.AddHours(12);
        var report = await Investigator.RunAsync(new LocalTrailSource(fixture.Folder), new TrailQuery(S.LeakedKey, new TimeWindow(since, null), [], []));
        Assert.All(report.Timeline, t => Assert.True(t.EventTime >= since));
        // The day-later events of the backdoor key are in the window, but the key's creation is not: lineage needs the minting call.
        Assert.Empty(report.Timeline);
        Assert.Contains(report.Notes, n => n.StartsWith("no event of", StringComparison.Ordinal));
    }
}
