using System.Globalization;
using Keywarden.Detection.Credentials;
using Keywarden.Detection.Findings;
using Keywarden.Detection.Scanning;
using Spectre.Console;

namespace Keywarden.Detection.Writers;

/// <summary>
/// The human report: findings grouped by file, the classification coloured (when the console supports
/// colour), secrets redacted, and a summary line. Problems are reported by the caller on stderr. Data
/// (paths, archive entries, commit authors and messages) is shown through <see cref="TerminalText"/>.
/// </summary>
public sealed class TextReportWriter(ReportOptions options)
{
    /// <summary>Renders through Spectre.Console: colour and styles on a terminal.</summary>
    public void Write(ScanReport report, IAnsiConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        foreach (var line in Lines(report))
        {
            console.MarkupLine(line);
        }
    }

    /// <summary>
    /// The same lines as plain text, for files and pipes: no console to set up and no markup to parse,
    /// so Spectre.Console is not even loaded, which matters to a pre-commit hook's start-up time.
    /// </summary>
    public void WritePlain(ScanReport report, TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        foreach (var line in Lines(report, markup: false))
        {
            writer.WriteLine(line);
        }
    }

    /// <summary>The report as lines of Spectre markup.</summary>
    public IEnumerable<string> Lines(ScanReport report) => Lines(report, markup: true);

    /// <summary>The report's lines: Spectre markup (styles, escaped text), or the plain text that markup stands for.</summary>
    private IEnumerable<string> Lines(ScanReport report, bool markup)
    {
        ArgumentNullException.ThrowIfNull(report);
        var text = new Styler(markup);
        string? currentPath = null;
        foreach (var f in report.Findings)
        {
            if (!string.Equals(f.Path, currentPath, StringComparison.Ordinal))
            {
                if (currentPath is not null)
                {
                    yield return "";
                }

                currentPath = f.Path;
                yield return text.Styled("bold", TerminalText.Escape(f.Path));
            }

            yield return "  " + FormatFinding(f, text);
            if (f.Commit is { } commit)
            {
                var history = f.InHead switch
                {
                    true => text.Styled("yellow", "still in HEAD"),
                    false => "removed from every branch tip, still in history",
                    null => "",
                };
                var count = f.Commits is { } n ? $"in {n} commit{(n == 1 ? "" : "s")}, " : "";
                yield return text.Plain(string.Create(CultureInfo.InvariantCulture,
                    $"             first in {commit.Sha[..Math.Min(12, commit.Sha.Length)]} {commit.Date:yyyy-MM-dd} by {TerminalText.Escape(commit.Author)} <{TerminalText.Escape(commit.Email)}>: {TerminalText.Escape(UrlRedaction.RedactText(commit.Message))}"));
                yield return text.Unstyled($"             {text.Plain(count)}{history}");
            }
        }

        if (report.Findings.Count > 0)
        {
            yield return "";
        }

        yield return Summary(report, text);
        var live = false;
        var committed = false;
        foreach (var f in report.Findings)
        {
            live |= f.Classification == Classification.Live;
            committed |= f.Commit is not null;
        }

        if (live)
        {
            yield return text.Styled("yellow", "Treat live keys as exposed: deactivate and rotate them in IAM first. Deleting them from files or history does not un-leak them.");
            if (committed)
            {
                yield return text.Styled("yellow", "Rotate first: rewriting history afterwards (git filter-repo) only stops new copies; every existing clone keeps the key.");
            }
        }
    }

    private string FormatFinding(Finding f, Styler text)
    {
        var position = PadRight($"{f.Line}:{f.Column}", 9);
        var label = PadRight(f.Classification.ToWire(), 11);
        var colour = f.Classification switch
        {
            Classification.Live => "red bold",
            Classification.Canary => "magenta",
            _ => "grey",
        };
        var parts = new List<string>
        {
            text.Plain(position),
            text.Styled(colour, label),
            text.Plain(f.KeyId ?? (f.Secret is not null ? "(secret access key)" : "(session token)")),
        };
        if (f.AccountId is not null)
        {
            parts.Add(text.Plain($"account {f.AccountId}"));
        }

        if (f.Secret is not null)
        {
            parts.Add(text.Plain($"secret {(options.ShowSecrets ? f.Secret.Reveal() : f.Secret.Redacted)}"));
        }

        if (f.SessionToken is not null)
        {
            parts.Add(text.Plain($"session token {(options.ShowSecrets ? f.SessionToken.Reveal() : f.SessionToken.Redacted)}"));
        }

        parts.Add(text.Styled("dim", f.RuleId));
        return string.Join("  ", parts);
    }

    private static string Summary(ScanReport report, Styler text)
    {
        var counts = new List<string>();
        foreach (var c in ClassificationNames.All())
        {
            var n = 0;
            foreach (var f in report.Findings)
            {
                n += f.Classification == c ? 1 : 0;
            }

            if (n > 0)
            {
                counts.Add($"{n} {c.ToWire()}");
            }
        }

        var found = report.Findings.Count == 0
            ? text.Styled("green", "No AWS credentials found")
            : text.Styled("bold", $"{report.Findings.Count} finding{(report.Findings.Count == 1 ? "" : "s")}") + $" ({string.Join(", ", counts)})";
        var scanned = string.Create(CultureInfo.InvariantCulture, $"{report.Files:N0} file{(report.Files == 1 ? "" : "s")}, {FormatBytes(report.Bytes)} in {report.Elapsed.TotalSeconds:0.00} s");
        var extras = new List<string>();
        if (report.Suppressed > 0)
        {
            extras.Add($"{report.Suppressed} suppressed");
        }

        if (report.BinarySkipped > 0)
        {
            extras.Add($"{report.BinarySkipped} binary skipped");
        }

        if (report.Errors.Count > 0)
        {
            extras.Add(text.Styled("red", $"{report.Errors.Count} unreadable"));
        }

        if (report.Warnings.Count > 0)
        {
            extras.Add($"{report.Warnings.Count} warning{(report.Warnings.Count == 1 ? "" : "s")}");
        }

        return $"{found} · {text.Plain(scanned)}{(extras.Count > 0 ? " · " + string.Join(", ", extras) : "")}";
    }

    /// <summary>As string.PadRight, whose vectorised fill is compiled at run time on this project's CPUs: the pre-commit hook's start-up pays for that.</summary>
    private static string PadRight(string value, int width) =>
        value.Length >= width ? value : string.Concat(value, "            ".AsSpan(0, width - value.Length));

    public static string FormatBytes(long bytes) => bytes switch
    {
        < 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KiB"),
        < 1024L * 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.0} MiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024 * 1024):0.00} GiB"),
    };

    /// <summary>Text for a line: escaped and styled as Spectre markup, or left plain.</summary>
    private readonly struct Styler(bool markup)
    {
        public string Plain(string value) => markup ? Escape(value) : value;

        public string Styled(string style, string value) => markup ? $"[{style}]{Escape(value)}[/]" : value;

        /// <summary>
        /// A line that may have no styled part: as plain text, one of only white space is empty, as
        /// Spectre's Markup.Remove gives it (the plain output was markup with its styles removed).
        /// </summary>
        public string Unstyled(string line) => markup || !string.IsNullOrWhiteSpace(line) ? line : "";

        /// <summary>Not inlined: plain output never calls into Spectre.Console, so it is never loaded.</summary>
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        private static string Escape(string value) => Markup.Escape(value);
    }
}
