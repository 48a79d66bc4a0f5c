using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Keywarden.Investigation.Analysis;

namespace Keywarden.Investigation.Rules;

/// <summary>Evaluates a rule's event filter and conditions on one canonical record.</summary>
internal static partial class RuleMatcher
{
    public static readonly string[] KnownOps =
        ["equals", "in", "startsWith", "endsWith", "contains", "regex", "exists", "notExists", "numberAtLeast", "anyString", "anyStringContains", "foreignAccount", "differsFrom"];

    public static bool Matches(DetectionRule rule, TrailEvent e)
    {
        if (rule.EventSources is { } sources && !sources.Contains(e.EventSource ?? "", StringComparer.Ordinal))
        {
            return false;
        }

        if (rule.EventNames is { } names && !names.Contains(e.EventName, StringComparer.Ordinal))
        {
            return false;
        }

        if (rule.NameRegex is { } regex && !regex.IsMatch(e.EventName))
        {
            return false;
        }

        return (rule.All ?? []).All(c => Holds(c, e))
            && (rule.Any is not { Count: > 0 } any || any.Any(c => Holds(c, e)))
            && !(rule.None ?? []).Any(c => Holds(c, e));
    }

    public static bool Holds(RuleCondition condition, TrailEvent e)
    {
        var nodes = DocumentPath.Select(e.Record, condition.Path).Where(n => n.ValueKind is not JsonValueKind.Null and not JsonValueKind.Undefined).ToList();
        var values = condition.Values ?? (condition.Value is { } v ? [v] : []);
        IEnumerable<string?> Scalars() => nodes.Select(DocumentPath.AsText);
        return condition.Op switch
        {
            "exists" => nodes.Count > 0,
            "notExists" => nodes.Count == 0,
            "equals" or "in" => Scalars().Any(s => s is not null && values.Contains(s, StringComparer.OrdinalIgnoreCase)),
            "startsWith" => Scalars().Any(s => s is not null && values.Any(v => s.StartsWith(v, StringComparison.OrdinalIgnoreCase))),
            "endsWith" => Scalars().Any(s => s is not null && values.Any(v => s.EndsWith(v, StringComparison.OrdinalIgnoreCase))),
            "contains" => Scalars().Any(s => s is not null && values.Any(v => s.Contains(v, StringComparison.OrdinalIgnoreCase))),
            "regex" => Scalars().Any(s => s is not null && values.Any(v => Regex.IsMatch(s, v, RegexOptions.CultureInvariant | RegexOptions.IgnoreCase, TimeSpan.FromSeconds(1)))),
            "numberAtLeast" => Scalars().Any(s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && values.Any(v => n >= double.Parse(v, CultureInfo.InvariantCulture))),
            "anyString" => nodes.SelectMany(DocumentPath.Leaves).Any(s => values.Contains(s, StringComparer.OrdinalIgnoreCase)),
            "anyStringContains" => nodes.SelectMany(DocumentPath.Leaves).Any(s => values.Any(v => s.Contains(v, StringComparison.OrdinalIgnoreCase))),
            "foreignAccount" => nodes.SelectMany(DocumentPath.Leaves).Any(s => HasForeignAccount(s, e.Account)),
            "differsFrom" => Scalars().Any(s => s is not null && !DocumentPath.Select(e.Record, condition.OtherPath ?? "").Select(DocumentPath.AsText).Contains(s, StringComparer.Ordinal)),
            _ => throw new InvalidOperationException($"unknown condition op {condition.Op}"),
        };
    }

    /// <summary>A 12-digit account ID (alone or in an ARN) other than the event's own account.</summary>
    private static bool HasForeignAccount(string text, string? ownAccount) =>
        AccountId().Matches(text).Any(m => !string.Equals(m.Value, ownAccount, StringComparison.Ordinal));

    [GeneratedRegex(@"(?<![0-9])[0-9]{12}(?![0-9])", RegexOptions.CultureInvariant)]
    private static partial Regex AccountId();
}
