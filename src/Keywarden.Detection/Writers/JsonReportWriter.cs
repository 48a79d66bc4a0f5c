using System.Text.Encodings.Web;
using System.Text.Json;
using Keywarden.Detection.Credentials;
using Keywarden.Detection.Findings;
using Keywarden.Detection.Scanning;

namespace Keywarden.Detection.Writers;

/// <summary>
/// JSON (one document with a summary, findings, errors and warnings) and JSON Lines (one finding per
/// line, nothing else). Written field by field, never by reflection, so a secret cannot slip in.
/// </summary>
internal sealed class JsonReportWriter(ReportOptions options, bool lines) : IReportWriter
{
    internal static readonly JsonWriterOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly JsonWriterOptions Indented = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = true };

    public void Write(ScanReport report, Stream output)
    {
        if (lines)
        {
            using var writer = new JsonLinesWriter(output, options);
            foreach (var finding in report.Findings)
            {
                writer.Write(finding);
            }

            return;
        }

        using var json = new Utf8JsonWriter(output, Indented);
        json.WriteStartObject();
        json.WriteString("tool", "keywarden");
        json.WriteString("version", options.ToolVersion);
        json.WriteStartObject("summary");
        json.WriteNumber("files", report.Files);
        json.WriteNumber("bytes", report.Bytes);
        json.WriteNumber("binarySkipped", report.BinarySkipped);
        json.WriteNumber("archives", report.Archives);
        json.WriteNumber("findings", report.Findings.Count);
        json.WriteStartObject("byClassification");
        foreach (var c in ClassificationNames.All())
        {
            var count = 0;
            foreach (var f in report.Findings)
            {
                count += f.Classification == c ? 1 : 0;
            }

            json.WriteNumber(c.ToWire(), count);
        }

        json.WriteEndObject();
        json.WriteNumber("suppressed", report.Suppressed);
        json.WriteNumber("errors", report.Errors.Count);
        json.WriteNumber("warnings", report.Warnings.Count);
        json.WriteNumber("elapsedMs", (long)report.Elapsed.TotalMilliseconds);
        json.WriteEndObject();
        json.WriteStartArray("findings");
        foreach (var finding in report.Findings)
        {
            WriteFinding(json, finding, options);
        }

        json.WriteEndArray();
        WriteProblems(json, "errors", report.Errors);
        WriteProblems(json, "warnings", report.Warnings);
        json.WriteEndObject();
        json.Flush();
        output.WriteByte((byte)'\n');
    }

    private static void WriteProblems(Utf8JsonWriter json, string name, IReadOnlyList<ScanProblem> problems)
    {
        json.WriteStartArray(name);
        foreach (var p in problems)
        {
            json.WriteStartObject();
            json.WriteString("path", p.Path);
            json.WriteString("message", p.Message);
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    internal static void WriteFinding(Utf8JsonWriter json, Finding f, ReportOptions options)
    {
        json.WriteStartObject();
        json.WriteString("ruleId", f.RuleId);
        json.WriteString("keyId", f.KeyId);
        json.WriteString("classification", f.Classification.ToWire());
        json.WriteString("accountId", f.AccountId);
        json.WriteString("path", f.Path);
        json.WriteNumber("line", f.Line);
        json.WriteNumber("column", f.Column);
        if (f.Secret is null)
        {
            json.WriteNull("secret");
        }
        else
        {
            json.WriteStartObject("secret");
            json.WriteString("redacted", f.Secret.Redacted);
            json.WriteString("sha256", f.Secret.Sha256);
            if (options.ShowSecrets)
            {
                json.WriteString("value", f.Secret.Reveal());
            }

            json.WriteEndObject();
        }

        json.WriteBoolean("sessionToken", f.SessionToken is not null);
        if (options.ShowSecrets && f.SessionToken is not null)
        {
            json.WriteString("sessionTokenValue", f.SessionToken.Reveal());
        }

        json.WriteString("fingerprint", f.Fingerprint);
        if (f.Commit is null)
        {
            json.WriteNull("commit");
        }
        else
        {
            json.WriteStartObject("commit");
            json.WriteString("sha", f.Commit.Sha);
            json.WriteString("author", f.Commit.Author);
            json.WriteString("email", f.Commit.Email);
            json.WriteString("date", f.Commit.Date);
            json.WriteString("message", f.Commit.Message);
            json.WriteString("path", f.Commit.Path);
            json.WriteEndObject();
        }

        if (f.Commits is { } commits)
        {
            json.WriteNumber("commits", commits);
        }

        if (f.InHead is { } inHead)
        {
            json.WriteBoolean("inHead", inHead);
        }

        json.WriteEndObject();
    }
}

/// <summary>JSON Lines: one finding per line, written as it comes.</summary>
internal sealed class JsonLinesWriter(Stream output, ReportOptions options) : IFindingWriter
{
    private readonly Utf8JsonWriter _json = new(output, JsonReportWriter.Compact);

    public void Write(Finding finding)
    {
        JsonReportWriter.WriteFinding(_json, finding, options);
        _json.Flush();
        _json.Reset();
        output.WriteByte((byte)'\n');
    }

    public void Dispose()
    {
        _json.Dispose();
        output.Flush();
    }
}
