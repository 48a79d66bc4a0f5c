using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Keywarden.Detection.Writers;

namespace Keywarden.Investigation.Reports;

/// <summary>The report formats of `keywarden investigate`.</summary>
public enum ReportFormat
{
    Text,
    Md,
    Json,
    Html,
}

/// <summary>Renders an <see cref="InvestigationReport"/>. The report holds no request or response documents, so no secret can reach it.</summary>
public static class ReportWriters
{
    /// <summary>Timeline rows shown in text and Markdown (every row is in json and html).</summary>
    public const int TimelineRowsInText = 500;

    public static void Write(InvestigationReport report, ReportFormat format, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(output);
        switch (format)
        {
            case ReportFormat.Json:
                output.Write(ToJson(report));
                output.WriteLine();
                break;
            // Every field of a record can be the attacker's (userAgent, userName, errorMessage, even
            // eventName in a forged file): text and Markdown show control characters escaped and URLs
            // redacted, line by line. HTML escapes for itself; JSON keeps the exact data.
            case ReportFormat.Md:
                MarkdownReport.Write(report, new TerminalTextWriter(output));
                break;
            case ReportFormat.Html:
                HtmlReport.Write(report, output);
                break;
            default:
                TextReport.Write(report, new TerminalTextWriter(output));
                break;
        }
    }

    internal static JsonSerializerOptions JsonOptions { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new TimeConverter() },
    };

    public static string ToJson(InvestigationReport report) => JsonSerializer.Serialize(report, JsonOptions);

    /// <summary>CloudTrail's own time format: UTC, seconds, Z.</summary>
    public static string Time(DateTimeOffset? time) => time?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture) ?? "-";

    private sealed class TimeConverter : JsonConverter<DateTimeOffset>
    {
        public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            DateTimeOffset.Parse(reader.GetString()!, CultureInfo.InvariantCulture);

        public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) => writer.WriteStringValue(Time(value));
    }
}

internal static class TextReport
{
    public static void Write(InvestigationReport r, TextWriter o)
    {
        var s = r.Summary;
        o.WriteLine($"Investigation of {r.KeyId}{(r.DecodedAccountId is { } a ? $" (account {a}, decoded from the key ID)" : " (no account encoded in the key ID)")}");
        o.WriteLine($"source: {r.Source.Source}: {r.Source.Files} file(s), {r.Source.RecordsLoaded} records{Window(r)}");
        o.WriteLine();
        o.WriteLine("KEYS (lineage)");
        foreach (var k in r.Keys)
        {
            o.WriteLine(k.Parent is null ? $"  {k.KeyId}  leaked key" : $"  {k.KeyId}  from {k.Parent} by {k.How} at {ReportWriters.Time(k.EventTime)}{(k.EventId is { } id ? $" (event {id})" : "")}");
        }

        o.WriteLine();
        o.WriteLine("SUMMARY");
        o.WriteLine($"  first seen {ReportWriters.Time(s.FirstSeen)}, last seen {ReportWriters.Time(s.LastSeen)}");
        o.WriteLine($"  events {s.EventCount}, errors {s.ErrorCount} ({s.ErrorRatio.ToString("P1", CultureInfo.InvariantCulture)})");
        o.WriteLine($"  accounts: {Join(s.Accounts)}");
        o.WriteLine($"  principals: {Join(s.Principals.Select(p => $"{p.Arn ?? p.Type ?? "?"} ({p.KeyId})"))}");
        o.WriteLine($"  regions: {Join(s.Regions.Select(c => $"{c.Name} {c.Events}"))}");
        o.WriteLine($"  services: {Join(s.EventsByService.Select(c => $"{c.Name} {c.Events}"))}");
        o.WriteLine($"  events by name: {Join(s.EventsByName.Take(25).Select(c => $"{c.Name} {c.Events}"))}{(s.EventsByName.Count > 25 ? ", …" : "")}");
        o.WriteLine($"  user agents: {Join(s.UserAgents.Take(10).Select(c => $"{c.Name} ({c.Events})"))}");
        o.WriteLine("  source IPs:");
        foreach (var ip in s.SourceIps)
        {
            o.WriteLine($"    {ip.Ip}  {ip.Events} events, {ReportWriters.Time(ip.FirstSeen)} → {ReportWriters.Time(ip.LastSeen)}");
        }

        o.WriteLine();
        o.WriteLine($"DETECTIONS ({r.Detections.Count}: {string.Join(", ", s.DetectionsBySeverity.Where(p => p.Value > 0).Select(p => $"{p.Value} {p.Key}"))})");
        foreach (var d in r.Detections)
        {
            o.WriteLine($"  {ReportWriters.Time(d.EventTime)}  {d.Severity.ToUpperInvariant(),-8} {d.RuleId}  {d.Title}");
            o.WriteLine($"      {d.EventName} in {d.Account ?? "?"}/{d.Region ?? "?"} by {d.KeyId ?? "-"} from {d.SourceIp ?? "?"}{(d.Count > 1 ? $", {d.Count} events" : "")}{(d.ErrorCode is { } e ? $", error {e}" : "")}{(d.Detail is { } x ? $"; {x}" : "")}  [{d.Category}, {d.Mitre}, event {d.EventId}]");
        }

        o.WriteLine();
        o.WriteLine($"ERADICATION ({r.Eradication.Count})");
        foreach (var group in r.Eradication.GroupBy(e => (e.Account, e.Region)))
        {
            o.WriteLine($"  account {group.Key.Account}, {group.Key.Region}:");
            foreach (var e in group)
            {
                o.WriteLine($"    {e.ResourceType} {e.ResourceId}{(e.Detail is { } d ? $" ({d})" : "")}: {e.Action}  [{e.EventName} {ReportWriters.Time(e.EventTime)}, event {e.EventId}]");
            }
        }

        if (r.IpPivot.Count > 0)
        {
            o.WriteLine();
            o.WriteLine($"OTHER PRINCIPALS FROM THE SAME ADDRESSES ({r.IpPivot.Count})");
            foreach (var p in r.IpPivot)
            {
                o.WriteLine($"  {p.SourceIp}  {p.Principal}{(p.AccessKeyId is { } k ? $" ({k})" : "")}: {p.EventCount} events, {ReportWriters.Time(p.FirstSeen)} → {ReportWriters.Time(p.LastSeen)}");
            }
        }

        o.WriteLine();
        o.WriteLine($"TIMELINE ({r.Timeline.Count} events)");
        foreach (var t in r.Timeline.Take(ReportWriters.TimelineRowsInText))
        {
            o.WriteLine($"  {ReportWriters.Time(t.EventTime)}  {t.KeyId ?? "-",-20} {t.Region ?? "-",-15} {t.SourceIp ?? "-",-15} {t.EventName}{(t.ErrorCode is { } e ? $" [{e}]" : "")}{(t.RuleIds.Count > 0 ? $"  <- {string.Join(", ", t.RuleIds)}" : "")}");
        }

        if (r.Timeline.Count > ReportWriters.TimelineRowsInText)
        {
            o.WriteLine($"  … {r.Timeline.Count - ReportWriters.TimelineRowsInText} more (--format json or html has every event)");
        }

        foreach (var note in r.Notes)
        {
            o.WriteLine();
            o.WriteLine($"note: {note}");
        }
    }

    internal static string Window(InvestigationReport r) =>
        r.Source.Window.Since is null && r.Source.Window.Until is null ? "" : $", window {ReportWriters.Time(r.Source.Window.Since)} → {ReportWriters.Time(r.Source.Window.Until)}";

    private static string Join(IEnumerable<string> values)
    {
        var text = string.Join(", ", values);
        return text.Length == 0 ? "-" : text;
    }
}

internal static class MarkdownReport
{
    public static void Write(InvestigationReport r, TextWriter o)
    {
        var s = r.Summary;
        o.WriteLine($"# Investigation of `{r.KeyId}`");
        o.WriteLine();
        o.WriteLine($"- Account (decoded from the key ID): {r.DecodedAccountId ?? "not encoded"}");
        o.WriteLine($"- Source: `{Cell(r.Source.Source)}`: {r.Source.Files} file(s), {r.Source.RecordsLoaded} records{TextReport.Window(r)}");
        o.WriteLine($"- First seen {ReportWriters.Time(s.FirstSeen)}, last seen {ReportWriters.Time(s.LastSeen)}; {s.EventCount} events, {s.ErrorCount} errors ({s.ErrorRatio.ToString("P1", CultureInfo.InvariantCulture)})");
        o.WriteLine($"- Accounts: {string.Join(", ", s.Accounts)}; regions: {string.Join(", ", s.Regions.Select(c => $"{c.Name} ({c.Events})"))}");
        o.WriteLine();
        o.WriteLine("## Keys");
        o.WriteLine();
        o.WriteLine("| key | parent | how | when | event |");
        o.WriteLine("| --- | --- | --- | --- | --- |");
        foreach (var k in r.Keys)
        {
            o.WriteLine($"| `{k.KeyId}` | {(k.Parent is null ? "-" : $"`{k.Parent}`")} | {Cell(k.How)} | {ReportWriters.Time(k.EventTime)} | {k.EventId ?? "-"} |");
        }

        o.WriteLine();
        o.WriteLine("## Detections");
        o.WriteLine();
        o.WriteLine("| time | severity | rule | category | MITRE | event | region | key | error | detail |");
        o.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var d in r.Detections)
        {
            o.WriteLine($"| {ReportWriters.Time(d.EventTime)} | {d.Severity} | {d.RuleId} {Cell(d.Title)} | {d.Category} | {d.Mitre} | {d.EventName} ({d.EventId}) | {d.Region} | `{d.KeyId}` | {d.ErrorCode ?? ""} | {Cell(d.Detail ?? "")}{(d.Count > 1 ? $" ({d.Count} events)" : "")} |");
        }

        o.WriteLine();
        o.WriteLine("## Eradication");
        o.WriteLine();
        o.WriteLine("| account | region | resource | id | action | event |");
        o.WriteLine("| --- | --- | --- | --- | --- | --- |");
        foreach (var e in r.Eradication)
        {
            o.WriteLine($"| {e.Account} | {e.Region} | {e.ResourceType} | `{Cell(e.ResourceId)}`{(e.Detail is { } d ? $" ({Cell(d)})" : "")} | {Cell(e.Action)} | {e.EventName} {ReportWriters.Time(e.EventTime)} ({e.EventId}) |");
        }

        o.WriteLine();
        o.WriteLine("## Source IPs");
        o.WriteLine();
        o.WriteLine("| ip | events | first seen | last seen |");
        o.WriteLine("| --- | --- | --- | --- |");
        foreach (var ip in s.SourceIps)
        {
            o.WriteLine($"| {ip.Ip} | {ip.Events} | {ReportWriters.Time(ip.FirstSeen)} | {ReportWriters.Time(ip.LastSeen)} |");
        }

        if (r.IpPivot.Count > 0)
        {
            o.WriteLine();
            o.WriteLine("## Other principals from the same addresses");
            o.WriteLine();
            o.WriteLine("| ip | principal | key | events | first | last |");
            o.WriteLine("| --- | --- | --- | --- | --- | --- |");
            foreach (var p in r.IpPivot)
            {
                o.WriteLine($"| {p.SourceIp} | {Cell(p.Principal)} | {p.AccessKeyId} | {p.EventCount} | {ReportWriters.Time(p.FirstSeen)} | {ReportWriters.Time(p.LastSeen)} |");
            }
        }

        o.WriteLine();
        o.WriteLine("## Timeline");
        o.WriteLine();
        o.WriteLine("| time | key | region | ip | event | error | rules |");
        o.WriteLine("| --- | --- | --- | --- | --- | --- | --- |");
        foreach (var t in r.Timeline.Take(ReportWriters.TimelineRowsInText))
        {
            o.WriteLine($"| {ReportWriters.Time(t.EventTime)} | `{t.KeyId}` | {t.Region} | {t.SourceIp} | {t.EventName} | {t.ErrorCode ?? ""} | {string.Join(", ", t.RuleIds)} |");
        }

        if (r.Timeline.Count > ReportWriters.TimelineRowsInText)
        {
            o.WriteLine();
            o.WriteLine($"… {r.Timeline.Count - ReportWriters.TimelineRowsInText} more events (json and html have every event).");
        }

        foreach (var note in r.Notes)
        {
            o.WriteLine();
            o.WriteLine($"> note: {Cell(note)}");
        }
    }

    private static string Cell(string value) => value.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
