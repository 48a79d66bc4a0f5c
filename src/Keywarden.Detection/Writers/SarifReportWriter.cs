using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Keywarden.Detection.Credentials;
using Keywarden.Detection.Findings;
using Keywarden.Detection.Rules;
using Keywarden.Detection.Scanning;

namespace Keywarden.Detection.Writers;

/// <summary>
/// SARIF 2.1.0 as GitHub code scanning reads it: rules with help and a security-severity, results with a
/// relative artifact URI under %SRCROOT%, a region, and partialFingerprints so alerts follow a moved line.
/// Sources: OASIS SARIF 2.1.0; GitHub Docs, "SARIF support for code scanning".
/// </summary>
internal sealed class SarifReportWriter(ReportOptions options) : IReportWriter
{
    public const string FingerprintKey = "keywarden/v1";
    private const string SchemaUri = "https://json.schemastore.org/sarif-2.1.0.json";

    public void Write(ScanReport report, Stream output)
    {
        using var json = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        json.WriteStartObject();
        json.WriteString("$schema", SchemaUri);
        json.WriteString("version", "2.1.0");
        json.WriteStartArray("runs");
        json.WriteStartObject();

        json.WriteStartObject("tool");
        json.WriteStartObject("driver");
        json.WriteString("name", "keywarden");
        json.WriteString("semanticVersion", options.ToolVersion);
        json.WriteStartArray("rules");
        foreach (var rule in RuleSet.All)
        {
            WriteRule(json, rule);
        }

        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteEndObject();

        json.WriteStartArray("invocations");
        json.WriteStartObject();
        json.WriteBoolean("executionSuccessful", report.Errors.Count == 0);
        if (report.Errors.Count + report.Warnings.Count > 0)
        {
            json.WriteStartArray("toolExecutionNotifications");
            foreach (var (problem, level) in report.Errors.Select(e => (e, "error")).Concat(report.Warnings.Select(w => (w, "warning"))))
            {
                json.WriteStartObject();
                json.WriteString("level", level);
                json.WriteStartObject("message");
                json.WriteString("text", $"{problem.Path}: {problem.Message}");
                json.WriteEndObject();
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        json.WriteEndObject();
        json.WriteEndArray();

        json.WriteStartArray("results");
        foreach (var finding in report.Findings)
        {
            WriteResult(json, finding);
        }

        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
        json.Flush();
        output.WriteByte((byte)'\n');
    }

    private static void WriteRule(Utf8JsonWriter json, IRule rule)
    {
        json.WriteStartObject();
        json.WriteString("id", rule.Id);
        json.WriteString("name", rule.Name);
        WriteText(json, "shortDescription", rule.ShortDescription);
        WriteText(json, "fullDescription", rule.FullDescription);
        json.WriteStartObject("help");
        json.WriteString("text", rule.Help);
        json.WriteString("markdown", rule.Help);
        json.WriteEndObject();
        json.WriteStartObject("defaultConfiguration");
        json.WriteString("level", "error");
        json.WriteEndObject();
        json.WriteStartObject("properties");
        json.WriteStartArray("tags");
        json.WriteStringValue("security");
        json.WriteStringValue("secret");
        json.WriteStringValue("aws");
        json.WriteEndArray();
        json.WriteString("precision", "very-high");
        json.WriteString("security-severity", rule.SecuritySeverity.ToString("0.0", CultureInfo.InvariantCulture));
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private void WriteResult(Utf8JsonWriter json, Finding f)
    {
        json.WriteStartObject();
        json.WriteString("ruleId", f.RuleId);
        json.WriteNumber("ruleIndex", IndexOf(f.RuleId));
        json.WriteString("level", f.Classification switch
        {
            Classification.Live => "error",
            Classification.Canary => "warning",
            _ => "note",
        });
        WriteText(json, "message", Describe(f));
        json.WriteStartArray("locations");
        json.WriteStartObject();
        json.WriteStartObject("physicalLocation");
        json.WriteStartObject("artifactLocation");
        json.WriteString("uri", ToUri(f.Path));
        json.WriteString("uriBaseId", "%SRCROOT%");
        json.WriteEndObject();
        json.WriteStartObject("region");
        json.WriteNumber("startLine", f.Line);
        json.WriteNumber("startColumn", f.Column);
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteStartObject("partialFingerprints");
        json.WriteString(FingerprintKey, f.Fingerprint);
        json.WriteEndObject();
        json.WriteStartObject("properties");
        json.WriteString("classification", f.Classification.ToWire());
        json.WriteString("keyId", f.KeyId);
        json.WriteString("accountId", f.AccountId);
        json.WriteString("secretSha256", f.Secret?.Sha256);
        json.WriteBoolean("sessionToken", f.SessionToken is not null);
        if (options.ShowSecrets && f.Secret is not null)
        {
            json.WriteString("secret", f.Secret.Reveal());
        }

        if (f.Commit is not null)
        {
            json.WriteString("commitSha", f.Commit.Sha);
        }

        json.WriteEndObject();
        json.WriteEndObject();
    }

    internal static string Describe(Finding f)
    {
        var what = f.KeyId is not null
            ? $"AWS access key ID {f.KeyId}"
            : f.Secret is not null ? $"AWS secret access key {f.Secret.Redacted}" : "AWS session token";
        var paired = f.KeyId is null ? "" : (f.Secret, f.SessionToken) switch
        {
            (not null, not null) => " with its secret access key and session token",
            (not null, null) => " with its secret access key",
            (null, not null) => " with its session token",
            _ => "",
        };
        var account = f.AccountId is null ? "" : $", account {f.AccountId}";
        return $"{what}{paired} ({f.Classification.ToWire()}{account})";
    }

    private static int IndexOf(string ruleId)
    {
        for (var i = 0; i < RuleSet.All.Count; i++)
        {
            if (string.Equals(RuleSet.All[i].Id, ruleId, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    private static string ToUri(string path) =>
        string.Join('/', path.Split('/').Select(segment => string.Join('!', segment.Split('!').Select(Uri.EscapeDataString))));

    private static void WriteText(Utf8JsonWriter json, string name, string text)
    {
        json.WriteStartObject(name);
        json.WriteString("text", text);
        json.WriteEndObject();
    }
}
