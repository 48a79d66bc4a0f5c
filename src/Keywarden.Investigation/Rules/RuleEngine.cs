using Keywarden.Investigation.Analysis;

namespace Keywarden.Investigation.Rules;

/// <summary>What rules need beyond the events: the regions each account normally uses.</summary>
public sealed record RuleContext(IReadOnlyDictionary<string, IReadOnlySet<string>> UsualRegions)
{
    public static RuleContext Empty { get; } = new(new Dictionary<string, IReadOnlySet<string>>(StringComparer.Ordinal));
}

/// <summary>Runs rules over the investigation's events (in time order) and applies each rule's mode.</summary>
public static class RuleEngine
{
    public static IReadOnlyList<Reports.Detection> Evaluate(IEnumerable<DetectionRule> rules, IReadOnlyList<TrailEvent> events, RuleContext context)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(context);
        var detections = new List<Reports.Detection>();
        foreach (var rule in rules)
        {
            var matching = events.Where(rule.Matches).ToList();
            if (matching.Count == 0)
            {
                continue;
            }

            switch (rule.Mode)
            {
                case RuleMode.Each:
                    detections.AddRange(matching.Select(e => Detect(rule, e, 1)));
                    break;
                case RuleMode.First:
                    detections.Add(Detect(rule, matching[0], 1));
                    break;
                case RuleMode.Threshold:
                    detections.AddRange(Bursts(rule, matching));
                    break;
                case RuleMode.Regions:
                    var seen = new List<string>();
                    Reports.Detection? reached = null;
                    foreach (var e in matching.Where(e => e.AwsRegion is not null))
                    {
                        if (!seen.Contains(e.AwsRegion!, StringComparer.Ordinal))
                        {
                            seen.Add(e.AwsRegion!);
                            if (seen.Count == rule.Regions)
                            {
                                reached = Detect(rule, e, 0);
                            }
                        }
                    }

                    if (reached is not null)
                    {
                        detections.Add(reached with { Count = matching.Count, Detail = $"{seen.Count} regions: {string.Join(", ", seen)}" });
                    }

                    break;
                case RuleMode.UnusualRegion:
                    var flagged = new HashSet<(string, string)>();
                    foreach (var e in matching)
                    {
                        if (e.AwsRegion is not { } region || e.Account is not { } account || !context.UsualRegions.TryGetValue(account, out var usual) || usual.Count == 0)
                        {
                            continue;
                        }

                        if (!usual.Contains(region) && flagged.Add((account, region)))
                        {
                            detections.Add(Detect(rule, e, matching.Count(m => m.AwsRegion == region && m.Account == account)) with
                            {
                                Detail = $"region {region}; account {account} normally uses {string.Join(", ", usual.Order(StringComparer.Ordinal))}",
                            });
                        }
                    }

                    break;
            }
        }

        return [.. detections.OrderBy(d => d.EventTime).ThenBy(d => d.RuleId, StringComparer.Ordinal).ThenBy(d => d.EventId, StringComparer.Ordinal)];
    }

    private static IEnumerable<Reports.Detection> Bursts(DetectionRule rule, List<TrailEvent> matching)
    {
        var window = TimeSpan.FromSeconds(rule.Threshold!.WindowSeconds);
        foreach (var byKey in matching.GroupBy(e => e.AccessKeyId ?? "", StringComparer.Ordinal))
        {
            var list = byKey.Where(e => e.EventTime is not null).ToList();
            var start = 0;
            Reports.Detection? open = null;
            for (var i = 0; i < list.Count; i++)
            {
                while (list[i].EventTime - list[start].EventTime > window)
                {
                    start++;
                }

                if (open is not null)
                {
                    if (list[i].EventTime - list[i - 1].EventTime > window)
                    {
                        yield return open;
                        open = null;
                    }
                    else
                    {
                        open = open with { Count = open.Count + 1 };
                        continue;
                    }
                }

                if (i - start + 1 >= rule.Threshold.Count)
                {
                    open = Detect(rule, list[i], i - start + 1);
                }
            }

            if (open is not null)
            {
                yield return open;
            }
        }
    }

    private static Reports.Detection Detect(DetectionRule rule, TrailEvent e, int count)
    {
        var detail = rule.Detail is { Count: > 0 } paths
            ? string.Join("; ", paths.Select(p => (Path: p, Values: DocumentPath.Select(e.Record, p).Select(DocumentPath.AsText).OfType<string>().Distinct(StringComparer.Ordinal).ToList()))
                .Where(x => x.Values.Count > 0)
                .Select(x => $"{x.Path[(x.Path.LastIndexOf('.') + 1)..].Replace("[*]", "", StringComparison.Ordinal)}={string.Join(",", x.Values)}"))
            : null;
        return new Reports.Detection(rule.Id, rule.Title, rule.Category, rule.Severity, rule.Mitre, e.RawEventName, e.EventSource, e.EventTime, e.EventId, e.AccessKeyId,
            e.Account, e.AwsRegion, e.SourceIp, e.ErrorCode, e.ErrorMessage, count, string.IsNullOrEmpty(detail) ? null : detail);
    }
}
