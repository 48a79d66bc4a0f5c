using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Keywarden.Investigation.Analysis;
using Keywarden.Investigation.Rules;

namespace Keywarden.Investigation.Tests;

/// <summary>Every rule fires on each of its must-match examples and stays silent on each must-not-match example.</summary>
public sealed class RuleExampleTests
{
    public static TheoryData<string> RuleIds() => [.. DetectionRule.BuiltIn.Select(r => r.Id)];

    [Theory]
    [MemberData(nameof(RuleIds))]
    public void Rule_fires_on_its_must_match_examples_and_not_on_its_must_not_match_examples(string id)
    {
        var rule = DetectionRule.BuiltIn.Single(r => r.Id == id);
        Assert.NotEmpty(rule.MustMatch);
        Assert.NotEmpty(rule.MustNotMatch);
        foreach (var (example, index) in rule.MustMatch.Select((e, i) => (e, i)))
        {
            var (events, context) = Expand(example);
            Assert.True(RuleEngine.Evaluate([rule], events, context).Count > 0, $"{id}: must-match example {index} did not fire");
        }

        foreach (var (example, index) in rule.MustNotMatch.Select((e, i) => (e, i)))
        {
            var (events, context) = Expand(example);
            Assert.True(RuleEngine.Evaluate([rule], events, context).Count == 0, $"{id}: must-not-match example {index} fired");
        }
    }

    [Fact]
    public void Rules_cover_every_category_of_the_design_brief()
    {
        var categories = DetectionRule.BuiltIn.Select(r => r.Category).ToHashSet(StringComparer.Ordinal);
        string[] required = ["discovery", "persistence", "privilege-escalation", "defense-evasion", "credential-access", "exfiltration", "impact", "access-denied", "containment", "unusual-region"];
        Assert.Empty(required.Except(categories));
    }

    [Fact]
    public void Every_rule_names_a_MITRE_technique_and_a_known_severity()
    {
        Assert.All(DetectionRule.BuiltIn, r =>
        {
            Assert.Matches("^T[0-9]{4}(\\.[0-9]{3})?$", r.Mitre);
            Assert.Contains(r.Severity, DetectionRule.Severities);
        });
    }

    [Fact]
    public void A_denied_attempt_fires_and_the_detection_records_the_error()
    {
        var rule = DetectionRule.BuiltIn.Single(r => r.Id == "KWI-EVA-001");
        var e = TrailEvent.FromJson(JsonDocument.Parse("""{"eventID":"1","eventTime":"2025-01-01T00:00:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","errorCode":"AccessDenied","errorMessage":"not authorized"}""").RootElement);
        var detection = Assert.Single(RuleEngine.Evaluate([rule], [e], RuleContext.Empty));
        Assert.Equal("AccessDenied", detection.ErrorCode);
        Assert.Equal("not authorized", detection.ErrorMessage);
    }

    [Theory]
    [InlineData("UpdateFunctionCode20150331v2", "UpdateFunctionCode")]
    [InlineData("AddPermission20150331v2", "AddPermission")]
    [InlineData("ListFunctions20150331", "ListFunctions")]
    [InlineData("RunInstances", "RunInstances")]
    [InlineData("GetObject2", "GetObject2")]
    public void Event_names_lose_their_API_version_suffix(string raw, string normalized) =>
        Assert.Equal(normalized, TrailEvent.NormalizeEventName(raw));

    [Fact]
    public void A_rule_file_with_an_unknown_condition_is_refused()
    {
        var json = """[{"id":"X","title":"t","category":"c","severity":"high","mitre":"T1000","all":[{"path":"eventName","op":"like"}]}]""";
        var e = Assert.Throws<InvalidOperationException>(() => DetectionRule.Parse(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json))));
        Assert.Contains("unknown condition op like", e.Message, StringComparison.Ordinal);
    }

    /// <summary>An example is one record, or {"records":[...], "repeat": n, "spacingSeconds": s, "usualRegions": {account: [regions]}}.</summary>
    internal static (List<TrailEvent> Events, RuleContext Context) Expand(JsonElement example)
    {
        var node = JsonNode.Parse(example.GetRawText())!.AsObject();
        var records = node["records"] is JsonArray list ? list.Select(r => r!.AsObject()).ToList() : [node];
        var repeat = node["repeat"]?.GetValue<int>() ?? 1;
        var spacing = node["spacingSeconds"]?.GetValue<int>() ?? 1;
        var events = new List<TrailEvent>();
        var time = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
        for (var i = 0; i < repeat; i++)
        {
            foreach (var record in records)
            {
                var copy = record.DeepClone().AsObject();
                copy["eventID"] ??= $"example-{events.Count}";
                if (repeat > 1)
                {
                    copy["eventID"] = $"example-{events.Count}";
                }

                copy["eventTime"] ??= time.AddSeconds(events.Count * spacing).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
                events.Add(TrailEvent.FromJson(JsonDocument.Parse(copy.ToJsonString()).RootElement));
            }
        }

        var usual = new Dictionary<string, IReadOnlySet<string>>(StringComparer.Ordinal);
        if (node["usualRegions"] is JsonObject regions)
        {
            foreach (var (account, value) in regions)
            {
                usual[account] = value!.AsArray().Select(v => v!.GetValue<string>()).ToHashSet(StringComparer.Ordinal);
            }
        }

        return (events, new RuleContext(usual));
    }
}
