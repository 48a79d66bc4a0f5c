using System.Globalization;
using System.Net;

namespace Keywarden.Investigation.Reports;

/// <summary>One self-contained HTML file: inline CSS and an inline SVG timeline chart, no scripts, no external assets.</summary>
internal static class HtmlReport
{
    private static readonly Dictionary<string, string> SeverityColors = new(StringComparer.Ordinal)
    {
        ["critical"] = "#b71c1c",
        ["high"] = "#e65100",
        ["medium"] = "#f9a825",
        ["low"] = "#1565c0",
        ["info"] = "#607d8b",
    };

    public static void Write(InvestigationReport r, TextWriter o)
    {
        var s = r.Summary;
        o.WriteLine("<!DOCTYPE html>");
        o.WriteLine("<html lang=\"en\"><head><meta charset=\"utf-8\">");
        o.WriteLine($"<title>Keywarden investigation of {E(r.KeyId)}</title>");
        o.WriteLine("<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:13px}"
            + "th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}th{background:#f0f0f0}code{font-size:12px}"
            + ".sev{color:#fff;padding:1px 5px;border-radius:3px;font-size:12px}.note{background:#fff8e1;padding:.5em}</style>");
        o.WriteLine("</head><body>");
        o.WriteLine($"<h1>Investigation of <code>{E(r.KeyId)}</code></h1>");
        o.WriteLine($"<p>Account decoded from the key ID: {E(r.DecodedAccountId ?? "not encoded")}. Source: <code>{E(r.Source.Source)}</code>, {r.Source.Files} file(s), {r.Source.RecordsLoaded} records{E(TextReport.Window(r))}.</p>");
        o.WriteLine($"<p>First seen {T(s.FirstSeen)}, last seen {T(s.LastSeen)}: <b>{s.EventCount}</b> events, {s.ErrorCount} errors ({s.ErrorRatio.ToString("P1", CultureInfo.InvariantCulture)}), <b>{r.Detections.Count}</b> detections, <b>{r.Eradication.Count}</b> items to eradicate.</p>");
        o.WriteLine("<h2>Timeline</h2>");
        Chart(r, o);
        o.WriteLine("<h2>Keys</h2><table><tr><th>key</th><th>parent</th><th>how</th><th>when</th><th>event</th></tr>");
        foreach (var k in r.Keys)
        {
            o.WriteLine($"<tr><td><code>{E(k.KeyId)}</code></td><td><code>{E(k.Parent ?? "-")}</code></td><td>{E(k.How)}</td><td>{T(k.EventTime)}</td><td>{E(k.EventId ?? "-")}</td></tr>");
        }

        o.WriteLine("</table><h2>Detections</h2><table><tr><th>time</th><th>severity</th><th>rule</th><th>category</th><th>MITRE</th><th>event</th><th>where</th><th>key</th><th>error</th><th>detail</th></tr>");
        foreach (var d in r.Detections)
        {
            o.WriteLine($"<tr><td>{T(d.EventTime)}</td><td><span class=\"sev\" style=\"background:{SeverityColors.GetValueOrDefault(d.Severity, "#555")}\">{E(d.Severity)}</span></td><td>{E(d.RuleId)} {E(d.Title)}</td><td>{E(d.Category)}</td><td>{E(d.Mitre)}</td>"
                + $"<td>{E(d.EventName)}<br><small>{E(d.EventId)}</small></td><td>{E(d.Account ?? "")} {E(d.Region ?? "")}<br>{E(d.SourceIp ?? "")}</td><td><code>{E(d.KeyId ?? "")}</code></td><td>{E(d.ErrorCode ?? "")}</td><td>{E(d.Detail ?? "")}{(d.Count > 1 ? $" ({d.Count} events)" : "")}</td></tr>");
        }

        o.WriteLine("</table><h2>Eradication</h2><table><tr><th>account</th><th>region</th><th>resource</th><th>id</th><th>action</th><th>created by</th></tr>");
        foreach (var e in r.Eradication)
        {
            o.WriteLine($"<tr><td>{E(e.Account)}</td><td>{E(e.Region)}</td><td>{E(e.ResourceType)}</td><td><code>{E(e.ResourceId)}</code>{(e.Detail is { } d ? $"<br><small>{E(d)}</small>" : "")}</td><td>{E(e.Action)}</td><td>{E(e.EventName)} {T(e.EventTime)}<br><small>{E(e.EventId)}</small></td></tr>");
        }

        o.WriteLine("</table><h2>Source IPs</h2><table><tr><th>ip</th><th>events</th><th>first seen</th><th>last seen</th></tr>");
        foreach (var ip in s.SourceIps)
        {
            o.WriteLine($"<tr><td>{E(ip.Ip)}</td><td>{ip.Events}</td><td>{T(ip.FirstSeen)}</td><td>{T(ip.LastSeen)}</td></tr>");
        }

        o.WriteLine("</table>");
        if (r.IpPivot.Count > 0)
        {
            o.WriteLine("<h2>Other principals from the same addresses</h2><table><tr><th>ip</th><th>principal</th><th>key</th><th>events</th><th>first</th><th>last</th></tr>");
            foreach (var p in r.IpPivot)
            {
                o.WriteLine($"<tr><td>{E(p.SourceIp)}</td><td>{E(p.Principal)}</td><td><code>{E(p.AccessKeyId ?? "")}</code></td><td>{p.EventCount}</td><td>{T(p.FirstSeen)}</td><td>{T(p.LastSeen)}</td></tr>");
            }

            o.WriteLine("</table>");
        }

        o.WriteLine($"<h2>Summary</h2><p>Principals: {E(string.Join(", ", s.Principals.Select(p => $"{p.Arn ?? p.Type} ({p.KeyId})")))}</p>");
        o.WriteLine($"<p>Regions: {E(string.Join(", ", s.Regions.Select(c => $"{c.Name} {c.Events}")))}</p>");
        o.WriteLine($"<p>Services: {E(string.Join(", ", s.EventsByService.Select(c => $"{c.Name} {c.Events}")))}</p>");
        o.WriteLine($"<p>User agents: {E(string.Join(", ", s.UserAgents.Select(c => $"{c.Name} ({c.Events})")))}</p>");
        o.WriteLine($"<details><summary>Every event ({r.Timeline.Count})</summary><table><tr><th>time</th><th>key</th><th>region</th><th>ip</th><th>event</th><th>error</th><th>rules</th></tr>");
        foreach (var t in r.Timeline)
        {
            o.WriteLine($"<tr><td>{T(t.EventTime)}</td><td><code>{E(t.KeyId ?? "")}</code></td><td>{E(t.Region ?? "")}</td><td>{E(t.SourceIp ?? "")}</td><td>{E(t.EventName)}</td><td>{E(t.ErrorCode ?? "")}</td><td>{E(string.Join(", ", t.RuleIds))}</td></tr>");
        }

        o.WriteLine("</table></details>");
        foreach (var note in r.Notes)
        {
            o.WriteLine($"<p class=\"note\">{E(note)}</p>");
        }

        o.WriteLine("</body></html>");
    }

    /// <summary>Events per time bucket as bars, and each detection as a dot coloured by severity above them.</summary>
    private static void Chart(InvestigationReport r, TextWriter o)
    {
        const int width = 960, height = 220, left = 40, right = 10, top = 40, bottom = 30, buckets = 60;
        var times = r.Timeline.Select(t => t.EventTime).OfType<DateTimeOffset>().ToList();
        o.WriteLine($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"events over time\" style=\"border:1px solid #ddd\">");
        if (times.Count == 0)
        {
            o.WriteLine($"<text x=\"{left}\" y=\"{height / 2}\">no events</text></svg>");
            return;
        }

        var start = times.Min();
        var end = times.Max();
        var span = Math.Max(1, (end - start).TotalSeconds);
        var counts = new int[buckets];
        foreach (var t in times)
        {
            counts[Math.Min(buckets - 1, (int)((t - start).TotalSeconds / span * buckets))]++;
        }

        var max = Math.Max(1, counts.Max());
        var plotWidth = width - left - right;
        var plotHeight = height - top - bottom;
        var barWidth = (double)plotWidth / buckets;
        for (var i = 0; i < buckets; i++)
        {
            if (counts[i] == 0)
            {
                continue;
            }

            var h = (double)counts[i] / max * plotHeight;
            o.WriteLine($"<rect x=\"{F(left + (i * barWidth))}\" y=\"{F(top + plotHeight - h)}\" width=\"{F(Math.Max(1, barWidth - 1))}\" height=\"{F(h)}\" fill=\"#90a4ae\"><title>{counts[i]} events</title></rect>");
        }

        double X(DateTimeOffset t) => left + ((t - start).TotalSeconds / span * plotWidth);
        foreach (var d in r.Detections.Where(d => d.EventTime is not null))
        {
            o.WriteLine($"<circle cx=\"{F(X(d.EventTime!.Value))}\" cy=\"{top / 2}\" r=\"5\" fill=\"{SeverityColors.GetValueOrDefault(d.Severity, "#555")}\"><title>{E(ReportWriters.Time(d.EventTime))} {E(d.RuleId)} {E(d.Title)}</title></circle>");
        }

        o.WriteLine($"<line x1=\"{left}\" y1=\"{top + plotHeight}\" x2=\"{width - right}\" y2=\"{top + plotHeight}\" stroke=\"#333\"/>");
        o.WriteLine($"<text x=\"{left}\" y=\"{height - 8}\" font-size=\"11\">{E(ReportWriters.Time(start))}</text>");
        o.WriteLine($"<text x=\"{width - right}\" y=\"{height - 8}\" font-size=\"11\" text-anchor=\"end\">{E(ReportWriters.Time(end))}</text>");
        o.WriteLine($"<text x=\"4\" y=\"{top + 10}\" font-size=\"11\">{max}</text>");
        o.WriteLine("</svg>");
    }

    private static string E(string value) => WebUtility.HtmlEncode(value);

    private static string T(DateTimeOffset? time) => E(ReportWriters.Time(time));

    private static string F(double value) => value.ToString("0.#", CultureInfo.InvariantCulture);
}
