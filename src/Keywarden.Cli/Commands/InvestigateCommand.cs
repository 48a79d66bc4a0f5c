using System.CommandLine;
using System.Globalization;
using Amazon.Runtime;
using Keywarden.Aws.Connection;
using Keywarden.Detection.Sources;
using Keywarden.Investigation.Analysis;
using Keywarden.Investigation.Athena;
using Keywarden.Investigation.Loading;
using Keywarden.Investigation.Reports;

namespace Keywarden.Cli.Commands;

/// <summary>
/// `keywarden investigate KEYID --trail PATH|s3://bucket/prefix|lookup`: what the key and every key minted
/// from it did, what to flag and what to clean up. Exit 0 when the investigation ran (with or without
/// detections), 2 on errors, 5 when no event at all was read, 6 when some files could not be read (the
/// report covers the rest). Documented in docs/investigate.md and docs/exit-codes.md.
/// </summary>
internal static class InvestigateCommand
{
    /// <summary>Files that could not be read are named one a line, up to this many.</summary>
    private const int MaxProblemLines = 20;

    public static Command Create(CliConsole console)
    {
        var keyId = new Argument<string>("key-id") { Description = "The leaked access key ID (any [A-Z0-9]{16,128})." };
        var trail = new Option<string>("--trail") { Description = "Where the CloudTrail records are: a file or folder, s3://bucket/prefix, or lookup (the LookupEvents API).", Required = true };
        var since = new Option<string?>("--since") { Description = "Only events at or after this time (ISO 8601, e.g. 2025-01-31 or 2025-01-31T12:00Z, or relative: 36h, 30d)." };
        var until = new Option<string?>("--until") { Description = "Only events before this time (same forms as --since)." };
        var accounts = new Option<string[]>("--account") { Description = "Accounts to read from an S3 trail (repeatable or comma-separated; default every account).", AllowMultipleArgumentsPerToken = true };
        var format = new Option<string>("--format", "-f") { Description = "text, md, json or html.", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "md", "json", "html");
        var output = new Option<FileInfo?>("--output", "-o") { Description = "Write the report to FILE instead of standard output." };
        var emitAthena = new Option<bool>("--emit-athena") { Description = "Print the Athena DDL and queries equivalent to this investigation, and run nothing." };
        var aws = new AwsOptions();
        var command = new Command("investigate", "Show what a leaked key (and every key minted from it) did in CloudTrail, what to flag and what to clean up.")
        {
            keyId, trail, since, until, accounts, format, output, emitAthena,
        };
        aws.AddTo(command);
        aws.Region.Description = "Regions to read (S3 prefixes, LookupEvents), comma-separated; us-east-1, where global services log, is always read. Also the region of Keywarden's own AWS calls.";
        command.SetAction(async (parse, ct) =>
        {
            if (KeyIdArgument.Read(parse, keyId, console) is not { } id)
            {
                return ExitCodes.Error;
            }

            var now = DateTimeOffset.UtcNow;
            if (!TryTime(parse.GetValue(since), now, out var from) || !TryTime(parse.GetValue(until), now, out var to))
            {
                console.Error("--since and --until take an ISO 8601 date or time (2025-01-31, 2025-01-31T12:00:00Z) or a duration back from now (36h, 30d)");
                return ExitCodes.Error;
            }

            if (from is not null && to is not null && from >= to)
            {
                console.Error("--since must be before --until");
                return ExitCodes.Error;
            }

            var regionValue = parse.GetValue(aws.Region);
            var regions = Split(regionValue is null ? [] : [regionValue]);
            var accountList = Split(parse.GetValue(accounts) ?? []);
            if (accountList.FirstOrDefault(a => a.Length != 12 || !a.All(char.IsAsciiDigit)) is { } badAccount)
            {
                console.Error($"--account takes 12-digit account IDs: {KeyIdArgument.Mask(badAccount)}");
                return ExitCodes.Error;
            }

            var query = new TrailQuery(id, new TimeWindow(from, to), accountList, regions);
            var trailValue = parse.GetValue(trail)!.Trim();
            var settings = AwsSettings.FromEnvironment(parse.GetValue(aws.Profile), regions.FirstOrDefault(), parse.GetValue(aws.EndpointUrl));
            if (parse.GetValue(emitAthena))
            {
                using var athenaOut = new StreamWriter(console.Stdout, leaveOpen: true);
                athenaOut.Write(AthenaQueries.Emit(query, trailValue));
                return ExitCodes.Success;
            }

            var reportFormat = parse.GetValue(format) switch
            {
                "md" => ReportFormat.Md,
                "json" => ReportFormat.Json,
                "html" => ReportFormat.Html,
                _ => ReportFormat.Text,
            };
            InvestigationReport report;
            try
            {
                var source = TrailSources.Create(trailValue, settings);
                report = await Investigator.RunAsync(source, query, cancellationToken: ct);
            }
            catch (Exception e) when (e is TrailInputException or AwsConfigurationException or ArgumentException or InputException)
            {
                console.Error(e.Message);
                return ExitCodes.Error;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                console.Error($"cannot read the trail {trailValue}: {BoundedInput.Describe(e)}");
                return ExitCodes.Error;
            }
            catch (Exception e) when (e is AmazonServiceException or AmazonClientException or HttpRequestException or TimeoutException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                console.Error($"cannot read the trail {trailValue}: {FirstLine(e.Message)}");
                return ExitCodes.Error;
            }

            try
            {
                if (parse.GetValue(output) is { } file)
                {
                    using var writer = new StreamWriter(Keywarden.Detection.Writers.ReportFile.Create(file.FullName));
                    ReportWriters.Write(report, reportFormat, writer);
                    console.Stderr.WriteLine(CliConsole.Line($"keywarden: {report.Summary.EventCount} events, {report.Detections.Count} detections, {report.Eradication.Count} items to eradicate; report written to {file.FullName}"));
                }
                else
                {
                    using var stdout = new StreamWriter(console.Stdout, leaveOpen: true);
                    ReportWriters.Write(report, reportFormat, stdout);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                console.Error($"cannot write the report to {parse.GetValue(output)?.FullName ?? "standard output"}: {(parse.GetValue(output) is { } file ? BoundedInput.DescribeOutput(e, file.FullName) : BoundedInput.Describe(e))}");
                return ExitCodes.Error;
            }

            foreach (var problem in report.Unreadable.Take(MaxProblemLines))
            {
                console.Warning(problem);
            }

            if (report.Unreadable.Count > MaxProblemLines)
            {
                console.Warning($"... and {report.Unreadable.Count - MaxProblemLines} more file(s) or record(s) that could not be read");
            }

            if (report.NoEventsRead)
            {
                console.Error($"no CloudTrail events were read from {trailValue}{(from is null && to is null ? "" : " in the time window")}: is it the right path?");
                return ExitCodes.NoEvents;
            }

            return report.Unreadable.Count > 0 ? ExitCodes.Partial : ExitCodes.Success;
        });
        return command;
    }

    private static string FirstLine(string message) => message.Split('\n')[0].Trim().TrimEnd('.');

    private static List<string> Split(IEnumerable<string> values) =>
        [.. values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Distinct(StringComparer.Ordinal)];

    /// <summary>An ISO 8601 date or time (UTC unless an offset is given), or a duration back from now: 36h, 30d, 90m.</summary>
    internal static bool TryTime(string? value, DateTimeOffset now, out DateTimeOffset? time)
    {
        time = null;
        if (string.IsNullOrWhiteSpace(value))
        {
            return true;
        }

        value = value.Trim();
        if (value.Length >= 2 && value[^1] is 'd' or 'h' or 'm' && int.TryParse(value[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var amount))
        {
            // A duration reaching before year 1 (99999999d) is a usage error, not an overflow.
            var unit = value[^1] switch { 'd' => TimeSpan.TicksPerDay, 'h' => TimeSpan.TicksPerHour, _ => TimeSpan.TicksPerMinute };
            if (amount > (now - DateTimeOffset.MinValue).Ticks / unit)
            {
                return false;
            }

            time = now - TimeSpan.FromTicks(amount * unit);
            return true;
        }

        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed))
        {
            time = parsed;
            return true;
        }

        return false;
    }
}
