using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Keywarden.Investigation.Analysis;

namespace Keywarden.Investigation.Rules;

/// <summary>How a rule turns matching events into detections.</summary>
public enum RuleMode
{
    /// <summary>Every matching event is a detection.</summary>
    Each,

    /// <summary>Only the first matching event (e.g. the first GetCallerIdentity).</summary>
    First,

    /// <summary>At least <c>threshold.count</c> matching events within <c>threshold.windowSeconds</c> (a burst): one detection per burst.</summary>
    Threshold,

    /// <summary>Matching events in at least <c>regions</c> distinct regions: one detection, at the event that reaches it.</summary>
    Regions,

    /// <summary>The first matching event in each region the account does not normally use.</summary>
    UnusualRegion,
}

/// <summary>One condition on a path of the canonical record.</summary>
public sealed record RuleCondition
{
    public required string Path { get; init; }

    /// <summary>equals, in, startsWith, endsWith, contains, regex, exists, notExists, numberAtLeast, anyString, anyStringContains, foreignAccount, differsFrom.</summary>
    public required string Op { get; init; }

    public string? Value { get; init; }
    public IReadOnlyList<string>? Values { get; init; }

    /// <summary>For differsFrom: the other path.</summary>
    public string? OtherPath { get; init; }
}

public sealed record RuleThreshold(int Count, int WindowSeconds);

/// <summary>
/// A detection rule, as data (Rules/rules.json, embedded): what it matches, how bad it is, which MITRE
/// ATT&amp;CK technique it is, and example records it must and must not match (checked by a test). A rule
/// matches attempts whatever their errorCode unless it says otherwise: a denied StopLogging is still an
/// attempt to stop logging.
/// </summary>
public sealed record DetectionRule
{
    public required string Id { get; init; }
    public required string Title { get; init; }
    public required string Category { get; init; }
    public required string Severity { get; init; }
    public required string Mitre { get; init; }
    public string? Description { get; init; }
    public IReadOnlyList<string>? EventSources { get; init; }
    public IReadOnlyList<string>? EventNames { get; init; }
    public string? EventNameRegex { get; init; }
    public IReadOnlyList<RuleCondition>? All { get; init; }
    public IReadOnlyList<RuleCondition>? Any { get; init; }
    public IReadOnlyList<RuleCondition>? None { get; init; }
    public RuleMode Mode { get; init; } = RuleMode.Each;
    public RuleThreshold? Threshold { get; init; }
    public int Regions { get; init; }

    /// <summary>Paths whose values are shown with a detection (e.g. requestParameters.instanceType).</summary>
    public IReadOnlyList<string>? Detail { get; init; }

    public IReadOnlyList<JsonElement> MustMatch { get; init; } = [];
    public IReadOnlyList<JsonElement> MustNotMatch { get; init; } = [];

    [JsonIgnore]
    internal Regex? NameRegex { get; private set; }

    public static readonly string[] Severities = ["info", "low", "medium", "high", "critical"];

    internal static JsonSerializerOptions JsonOptions { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        ReadCommentHandling = JsonCommentHandling.Skip,
    };

    /// <summary>The rules shipped in the assembly.</summary>
    public static IReadOnlyList<DetectionRule> BuiltIn { get; } = LoadBuiltIn();

    private static List<DetectionRule> LoadBuiltIn()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Keywarden.Investigation.rules.json")
            ?? throw new InvalidOperationException("rules.json is not embedded");
        return Parse(stream);
    }

    internal static List<DetectionRule> Parse(Stream json)
    {
        var rules = JsonSerializer.Deserialize<List<DetectionRule>>(json, JsonOptions) ?? [];
        foreach (var rule in rules)
        {
            rule.Validate();
            rule.NameRegex = rule.EventNameRegex is { } pattern ? new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled) : null;
        }

        var duplicate = rules.GroupBy(r => r.Id, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        return duplicate is null ? rules : throw new InvalidOperationException($"rule {duplicate.Key} is defined twice");
    }

    private void Validate()
    {
        if (!Severities.Contains(Severity, StringComparer.Ordinal))
        {
            throw new InvalidOperationException($"rule {Id}: unknown severity {Severity}");
        }

        if (Mode == RuleMode.Threshold && Threshold is null)
        {
            throw new InvalidOperationException($"rule {Id}: threshold mode needs a threshold");
        }

        if (Mode == RuleMode.Regions && Regions < 2)
        {
            throw new InvalidOperationException($"rule {Id}: regions mode needs regions >= 2");
        }

        foreach (var condition in (All ?? []).Concat(Any ?? []).Concat(None ?? []))
        {
            if (!RuleMatcher.KnownOps.Contains(condition.Op, StringComparer.Ordinal))
            {
                throw new InvalidOperationException($"rule {Id}: unknown condition op {condition.Op}");
            }
        }
    }

    /// <summary>Whether one event matches the rule's event filter and conditions (modes aside).</summary>
    public bool Matches(TrailEvent e) => RuleMatcher.Matches(this, e);

    /// <summary>The event names whose request or response documents this rule reads (the loader keeps those).</summary>
    internal IEnumerable<string> NamesReadingDocuments()
    {
        var conditions = (All ?? []).Concat(Any ?? []).Concat(None ?? []).Select(c => c.Path).Concat(Detail ?? []);
        return conditions.Any(p => p.StartsWith("requestParameters", StringComparison.Ordinal) || p.StartsWith("responseElements", StringComparison.Ordinal))
            ? EventNames ?? []
            : [];
    }
}
