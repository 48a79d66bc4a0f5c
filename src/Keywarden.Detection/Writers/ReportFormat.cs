using Keywarden.Detection.Scanning;

namespace Keywarden.Detection.Writers;

public enum ReportFormat
{
    Text,
    Json,
    Jsonl,
    Sarif,
    Csv,
}

/// <summary>How a report is rendered: whether raw secrets may appear (only with --show-secrets).</summary>
public sealed record ReportOptions(bool ShowSecrets = false, string ToolVersion = "0.0.0");

/// <summary>Writes a scan report in one format. Every writer prints redacted secrets unless asked otherwise.</summary>
public interface IReportWriter
{
    void Write(ScanReport report, Stream output);
}

public static class ReportWriters
{
    public static IReportWriter Create(ReportFormat format, ReportOptions options) => format switch
    {
        ReportFormat.Json => new JsonReportWriter(options, lines: false),
        ReportFormat.Jsonl => new JsonReportWriter(options, lines: true),
        ReportFormat.Sarif => new SarifReportWriter(options),
        ReportFormat.Csv => new CsvReportWriter(options),
        ReportFormat.Text => throw new ArgumentException("text reports are written by TextReportWriter, which needs a console", nameof(format)),
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };
}
