using System.CommandLine;
using System.Text.Json;
using Amazon.Runtime;
using Keywarden.Aws.Connection;
using Keywarden.Investigation.Integrity;
using Keywarden.Investigation.Loading;

namespace Keywarden.Cli.Commands;

/// <summary>
/// `keywarden trail validate PATH|s3://bucket/prefix [--public-key FILE]`: CloudTrail log-file integrity.
/// Exit 0 when every digest and log file checks out, 1 when something was changed, removed, added or the
/// chain has a gap, 2 on errors. Documented in docs/investigate.md.
/// </summary>
internal static class TrailCommand
{
    public static Command Create(CliConsole console)
    {
        var trail = new Argument<string>("trail") { Description = "A folder laid out as the trail bucket (AWSLogs/...), or s3://bucket/prefix." };
        var publicKey = new Option<FileInfo?>("--public-key") { Description = "CloudTrail's public key (PEM or DER) for offline use; default: ListPublicKeys." };
        var format = new Option<string>("--format", "-f") { Description = "text or json.", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");
        var aws = new AwsOptions();
        var validate = new Command("validate", "Check CloudTrail digest files: log file hashes, digest signatures and the chain between digests.") { trail, publicKey, format };
        aws.AddTo(validate);
        validate.SetAction(async (parse, ct) =>
        {
            IntegrityReport report;
            try
            {
                report = await TrailValidation.RunAsync(parse.GetValue(trail)!, parse.GetValue(publicKey)?.FullName, aws.Read(parse), cancellationToken: ct);
            }
            catch (Exception e) when (e is TrailInputException or AwsConfigurationException)
            {
                console.Error(e.Message);
                return ExitCodes.Error;
            }
            catch (Exception e) when (e is AmazonServiceException or AmazonClientException or HttpRequestException or TimeoutException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                console.Error($"cannot read the trail: {e.Message.Split('\n')[0].TrimEnd('.')}");
                return ExitCodes.Error;
            }

            using var stdout = parse.GetValue(format) == "json" ? new StreamWriter(console.Stdout, leaveOpen: true) : console.OpenTextLines();
            if (parse.GetValue(format) == "json")
            {
                stdout.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true }));
            }
            else
            {
                stdout.WriteLine($"{report.Digests} digest(s), {report.DigestsValid} valid; {report.LogFiles} log file(s) listed, {report.LogFilesValid} valid; {report.Problems.Count} problem(s)");
                foreach (var p in report.Problems)
                {
                    stdout.WriteLine($"  {p.Kind,-18} {p.Path}: {p.Detail}");
                }

                foreach (var note in report.Notes)
                {
                    stdout.WriteLine($"note: {note}");
                }
            }

            return report.Clean ? ExitCodes.Success : ExitCodes.Findings;
        });
        return new Command("trail", "CloudTrail log integrity.") { validate };
    }
}
