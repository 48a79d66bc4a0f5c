using System.CommandLine;
using System.Text.Json;
using Amazon.Runtime;
using Keywarden.Aws.Connection;
using Keywarden.Aws.Sts;
using Keywarden.Detection.Credentials;

namespace Keywarden.Cli.Commands;

/// <summary>`keywarden account KEYID`: the account a key belongs to, decoded offline and, with credentials, from sts:GetAccessKeyInfo.</summary>
internal static class AccountCommand
{
    public static Command Create(CliConsole console)
    {
        var keyId = new Argument<string>("key-id") { Description = "The access key ID." };
        var offline = new Option<bool>("--offline") { Description = "Only decode the key ID; call nothing." };
        var format = new Option<string>("--format", "-f") { Description = "text or json.", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");
        var aws = new AwsOptions();
        var command = new Command("account", "Show which AWS account a key ID belongs to.") { keyId, offline, format };
        aws.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            if (KeyIdArgument.Read(parse, keyId, console) is not { } id)
            {
                return ExitCodes.Error;
            }

            var decoded = AccessKeyId.DecodeAccountId(id);
            string? fromAws = null;
            string? awsNote = null;
            if (!parse.GetValue(offline))
            {
                try
                {
                    fromAws = await new AccountLookup(aws.Read(parse)).GetAccessKeyAccountAsync(id, ct);
                }
                catch (AwsConfigurationException e)
                {
                    awsNote = e.Message;
                }
                catch (Exception e) when (e is AmazonServiceException or AmazonClientException or HttpRequestException or TaskCanceledException or TimeoutException && !ct.IsCancellationRequested)
                {
                    awsNote = $"sts:GetAccessKeyInfo failed: {KeyVerifier.Describe(e)}";
                }
            }

            var kind = AccessKeyId.KindOf(id);
            var canary = CanaryAccounts.Contains(decoded ?? fromAws);
            using var stdout = parse.GetValue(format) == "json" ? new StreamWriter(console.Stdout, leaveOpen: true) : console.OpenTextLines();
            if (parse.GetValue(format) == "json")
            {
                stdout.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["keyId"] = id,
                    ["kind"] = kind?.ToString(),
                    ["decodedAccountId"] = decoded,
                    ["awsAccountId"] = fromAws,
                    ["canary"] = canary,
                    ["note"] = awsNote,
                }));
            }
            else
            {
                stdout.WriteLine($"{id}: {(decoded is null ? "no account encoded in this key ID (older format or not base32)" : $"account {decoded} (decoded offline)")}");
                if (fromAws is not null)
                {
                    stdout.WriteLine($"  sts:GetAccessKeyInfo: account {fromAws}");
                }

                if (canary)
                {
                    stdout.WriteLine("  a canary-token account: using this key alerts whoever planted it; do not verify it");
                }
            }

            if (awsNote is not null)
            {
                console.Warning(awsNote);
            }

            return ExitCodes.Success;
        });
        return command;
    }
}
