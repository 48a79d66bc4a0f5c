using Keywarden.Detection.Findings;
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

/// <summary>
/// Writes each finding as soon as the scan has it final, for formats that are findings and nothing else
/// (jsonl, csv): the report never holds the whole set, so it needs no findings cap. Disposing flushes it.
/// </summary>
public interface IFindingWriter : IDisposable
{
    void Write(Finding finding);
}

public static class ReportWriters
{
    /// <summary>Whether <paramref name="format"/> is written finding by finding (<see cref="CreateStreaming"/>).</summary>
    public static bool Streams(ReportFormat format) => format is ReportFormat.Jsonl or ReportFormat.Csv;

    /// <summary>A writer of findings one at a time to <paramref name="output"/>, for a format that <see cref="Streams"/>.</summary>
    public static IFindingWriter CreateStreaming(ReportFormat format, ReportOptions options, Stream output) => format switch
    {
        ReportFormat.Jsonl => new JsonLinesWriter(output, options),
        ReportFormat.Csv => new CsvFindingWriter(output, options),
        _ => throw new ArgumentException($"{format} reports need every finding before they are written", nameof(format)),
    };

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
