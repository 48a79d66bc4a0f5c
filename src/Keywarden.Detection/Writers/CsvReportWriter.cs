using System.Globalization;
using System.Text;
using Keywarden.Detection.Credentials;
using Keywarden.Detection.Findings;
using Keywarden.Detection.Scanning;

namespace Keywarden.Detection.Writers;

/// <summary>RFC 4180 CSV, one finding per row, with a header row.</summary>
internal sealed class CsvReportWriter(ReportOptions options) : IReportWriter
{
    public void Write(ScanReport report, Stream output)
    {
        using var writer = new CsvFindingWriter(output, options);
        foreach (var f in report.Findings)
        {
            writer.Write(f);
        }
    }

    internal static string Escape(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "";
        }

        // Values are written exactly (a secret may start with '+'), except control characters: a path
        // with an escape sequence would steer the terminal it is viewed in (TerminalText). Fields with
        // separators are quoted.
        value = TerminalText.Escape(value);
        return value.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }
}

/// <summary>CSV rows written as findings come, after the header row.</summary>
internal sealed class CsvFindingWriter : IFindingWriter
{
    private readonly StreamWriter _writer;
    private readonly ReportOptions _options;

    public CsvFindingWriter(Stream output, ReportOptions options)
    {
        _options = options;
        _writer = new StreamWriter(output, new UTF8Encoding(false), leaveOpen: true) { NewLine = "\r\n" };
        var header = new List<string> { "ruleId", "classification", "keyId", "accountId", "path", "line", "column", "secretRedacted", "secretSha256", "sessionToken", "fingerprint", "commit" };
        if (options.ShowSecrets)
        {
            header.Add("secret");
        }

        _writer.WriteLine(string.Join(',', header));
    }

    public void Write(Finding f)
    {
        var fields = new List<string?>
        {
            f.RuleId,
            f.Classification.ToWire(),
            f.KeyId,
            f.AccountId,
            f.Path,
            f.Line.ToString(CultureInfo.InvariantCulture),
            f.Column.ToString(CultureInfo.InvariantCulture),
            f.Secret?.Redacted,
            f.Secret?.Sha256,
            f.SessionToken is null ? "false" : "true",
            f.Fingerprint,
            f.Commit?.Sha,
        };
        if (_options.ShowSecrets)
        {
            fields.Add(f.Secret?.Reveal());
        }

        _writer.WriteLine(string.Join(',', fields.Select(CsvReportWriter.Escape)));
    }

    public void Dispose() => _writer.Dispose();
}
