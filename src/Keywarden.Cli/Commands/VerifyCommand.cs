using System.CommandLine;
using System.Text.Json;
using Keywarden.Aws.Connection;
using Keywarden.Aws.Sts;
using Keywarden.Detection.Credentials;

namespace Keywarden.Cli.Commands;

/// <summary>
/// `keywarden verify KEYID --secret-stdin|--secret-file FILE`: does this key pair work? The secret never
/// comes through argv (it would show in ps and shell history). Exit 0 active, 1 invalid, 3 unknown, 2 usage.
/// </summary>
internal static class VerifyCommand
{
    public const int Invalid = 1;
    public const int Unknown = 3;

    public static Command Create(CliConsole console)
    {
        var keyId = new Argument<string>("key-id") { Description = "The access key ID (AKIA..., ASIA...)." };
        var secrets = new SecretOptions("");
        var format = new Option<string>("--format", "-f") { Description = "text or json.", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");
        var aws = new AwsOptions();
        var command = new Command("verify", "Check whether a key pair works, with sts:GetCallerIdentity only (it changes nothing and cannot be denied).")
        {
            keyId, format,
        };
        secrets.AddTo(command);
        aws.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            if (KeyIdArgument.Read(parse, keyId, console) is not { } id)
            {
                return ExitCodes.Error;
            }

            var account = AccessKeyId.DecodeAccountId(id);
            if (CanaryAccounts.Contains(account))
            {
                console.Error($"not verified: {id} belongs to canary-token account {account}; using it would alert whoever planted it");
                return ExitCodes.Error;
            }

            if (!secrets.TryRead(parse, console, required: true, out var secret, out var token))
            {
                return ExitCodes.Error;
            }

            KeyVerification result;
            try
            {
                result = await new KeyVerifier(aws.Read(parse)).VerifyAsync(id, secret!, token, ct);
            }
            catch (AwsConfigurationException e)
            {
                console.Error(e.Message);
                return ExitCodes.Error;
            }

            Write(console, parse.GetValue(format) == "json", id, result);
            return result.Status switch
            {
                VerificationStatus.Active => ExitCodes.Success,
                VerificationStatus.Invalid => Invalid,
                _ => Unknown,
            };
        });
        return command;
    }

    private static void Write(CliConsole console, bool json, string keyId, KeyVerification result)
    {
        using var stdout = json ? new StreamWriter(console.Stdout, leaveOpen: true) : console.OpenTextLines();
        var status = result.Status.ToString().ToLowerInvariant();
        if (json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(new Dictionary<string, string?>
            {
                ["keyId"] = keyId,
                ["status"] = status,
                ["account"] = result.Account,
                ["arn"] = result.Arn,
                ["userId"] = result.UserId,
                ["reason"] = result.Reason,
            }));
            return;
        }

        stdout.WriteLine(result.Status switch
        {
            VerificationStatus.Active => $"{keyId}: active — {result.Arn} (account {result.Account}). Treat it as exposed: quarantine and rotate it.",
            VerificationStatus.Invalid => $"{keyId}: invalid — AWS refused it ({result.Reason}): unknown, deleted or inactive key, or a wrong secret.",
            _ => $"{keyId}: unknown — no answer from AWS ({result.Reason}). Try again.",
        });
    }
}

/// <summary>Key IDs as commands take them: 16 to 128 of [A-Z0-9] (anonymised datasets use 0, 1, 8, 9: never insist on base32).</summary>
internal static class KeyIdArgument
{
    public static bool IsPlausible(string value) =>
        value.Length is >= 16 and <= 128 && value.All(c => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c));

    /// <summary>The trimmed key ID, or null after one error line for an implausible one.</summary>
    public static string? Read(ParseResult parse, Argument<string> argument, CliConsole console)
    {
        var id = parse.GetValue(argument)!.Trim();
        if (IsPlausible(id))
        {
            return id;
        }

        console.Error($"not an access key ID: {Mask(id)}");
        return null;
    }

    /// <summary>What a bad argument looked like, without echoing something that may be a secret.</summary>
    public static string Mask(string value) => value.Length <= 8 ? $"'{value}'" : $"'{value[..4]}…' ({value.Length} characters)";
}
