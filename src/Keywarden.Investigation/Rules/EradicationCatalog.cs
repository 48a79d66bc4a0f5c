using System.Reflection;
using System.Text.Json;
using Keywarden.Investigation.Analysis;
using Keywarden.Investigation.Reports;

namespace Keywarden.Investigation.Rules;

/// <summary>
/// What a successful call leaves behind that must be undone, as data (Rules/eradication.json): the event
/// names, the resource type, where the resource's name or ID is in the record, and what to do about it.
/// </summary>
public sealed record EradicationEntry
{
    public required IReadOnlyList<string> EventNames { get; init; }
    public required string ResourceType { get; init; }
    public required IReadOnlyList<string> IdPaths { get; init; }
    public required string Action { get; init; }

    /// <summary>Conditions the event must meet (e.g. ModifySnapshotAttribute that adds a permission).</summary>
    public IReadOnlyList<RuleCondition>? When { get; init; }

    /// <summary>Extra paths shown with the resource (e.g. the policy attached).</summary>
    public IReadOnlyList<string>? Detail { get; init; }
}

public static class EradicationCatalog
{
    public static IReadOnlyList<EradicationEntry> BuiltIn { get; } = Load();

    private static List<EradicationEntry> Load()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Keywarden.Investigation.eradication.json")
            ?? throw new InvalidOperationException("eradication.json is not embedded");
        return JsonSerializer.Deserialize<List<EradicationEntry>>(stream, DetectionRule.JsonOptions) ?? [];
    }

    /// <summary>Everything the events created or changed, one item per resource and event, for successful calls only.</summary>
    public static IReadOnlyList<EradicationItem> Build(IReadOnlyList<TrailEvent> events, IReadOnlyList<EradicationEntry>? catalog = null)
    {
        ArgumentNullException.ThrowIfNull(events);
        catalog ??= BuiltIn;
        var items = new List<EradicationItem>();
        foreach (var e in events)
        {
            if (e.ErrorCode is not null)
            {
                continue;
            }

            foreach (var entry in catalog)
            {
                if (!entry.EventNames.Contains(e.EventName, StringComparer.Ordinal) || (entry.When ?? []).Any(c => !RuleMatcher.Holds(c, e)))
                {
                    continue;
                }

                var ids = entry.IdPaths.SelectMany(p => DocumentPath.Select(e.Record, p)).Select(DocumentPath.AsText).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
                if (ids.Count == 0)
                {
                    ids.Add("(not recorded)");
                }

                var detail = entry.Detail is { Count: > 0 }
                    ? string.Join("; ", entry.Detail.SelectMany(p => DocumentPath.Select(e.Record, p).Select(DocumentPath.AsText).OfType<string>().Select(v => $"{p[(p.LastIndexOf('.') + 1)..].Replace("[*]", "", StringComparison.Ordinal)}={v}")).Distinct(StringComparer.Ordinal))
                    : null;
                items.AddRange(ids.Select(id => new EradicationItem(e.Account ?? "(unknown)", e.AwsRegion ?? "(unknown)", entry.ResourceType, id, entry.Action,
                    string.IsNullOrEmpty(detail) ? null : detail, e.RawEventName, e.EventTime, e.EventId, e.AccessKeyId)));
            }
        }

        return [.. items.OrderBy(i => i.Account, StringComparer.Ordinal).ThenBy(i => i.Region, StringComparer.Ordinal).ThenBy(i => i.EventTime).ThenBy(i => i.ResourceId, StringComparer.Ordinal)];
    }
}
