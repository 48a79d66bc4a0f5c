using System.CommandLine;
using System.Text.Json;
using Keywarden.Aws.Accounts;
using Keywarden.Aws.Connection;
using Keywarden.Aws.Containment;
using Keywarden.Aws.Sts;
using Keywarden.Detection.Credentials;
using Keywarden.Response.Configuration;
using Keywarden.Response.Containment;
using Keywarden.Storage;

namespace Keywarden.Cli.Commands;

/// <summary>
/// `keywarden quarantine KEYID` (plan, then act) and `keywarden release KEYID` (undo what was recorded).
/// Exit 0 when the key ends in (or already was in) the requested state, 2 on usage or configuration
/// errors (including a key of an account that is not ours), 4 when AWS refused or failed part of it.
/// </summary>
internal static class ContainmentCommands
{
    private sealed class Shared
    {
        public Argument<string> KeyId { get; } = new("key-id") { Description = "The exposed access key ID (AKIA..., ASIA...)." };
        public Option<string> Format { get; } = new("--format", "-f") { Description = "text or json.", DefaultValueFactory = _ => "text" };
        public Option<FileInfo?> Config { get; } = new("--config") { Description = "Responder configuration (default: KEYWARDEN_CONFIG, or ~/.config/keywarden/config.toml if present)." };
        public Option<string?> Db { get; } = new("--db") { Description = "Database: a SQLite file path or a PostgreSQL connection string (default: storage.db in the config, KEYWARDEN_DB, or ~/.local/share/keywarden/keywarden.db)." };
        public AwsOptions Aws { get; } = new();

        public void AddTo(Command command)
        {
            Format.AcceptOnlyFromAmong("text", "json");
            command.Arguments.Add(KeyId);
            command.Options.Add(Format);
            command.Options.Add(Config);
            command.Options.Add(Db);
            Aws.AddTo(command);
        }

        public (ResponderConfig Config, AwsSettings Settings) Read(ParseResult parse)
        {
            var config = ResponderConfig.Load(parse.GetValue(Config)?.FullName);
            var settings = config.Apply(Aws.Read(parse));
            return (config, settings);
        }
    }

    public static Command CreateQuarantine(CliConsole console)
    {
        var shared = new Shared();
        var deactivate = new Option<bool>("--deactivate") { Description = "Also make the key Inactive (reversible)." };
        var revoke = new Option<bool>("--revoke-sessions") { Description = "Also deny every session the owner issued before now (inline policy AWSRevokeOlderSessions)." };
        var console_ = new Option<bool>("--disable-console") { Description = "Also delete the user's console password (cannot be undone by release)." };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print the plan; change nothing." };
        var policy = new Option<string?>("--policy") { Description = "Quarantine policy: V3 (default) or V2." };
        policy.AcceptOnlyFromAmong("V3", "V2", QuarantinePolicies.V3, QuarantinePolicies.V2);
        var principal = new Option<string?>("--principal") { Description = "The key's principal when it cannot be looked up (a temporary key without its secret): a user, role or assumed-role ARN." };
        var secrets = new SecretOptions(", to identify the key's principal with sts:GetCallerIdentity (needed for temporary keys)");
        var command = new Command("quarantine", "Contain an exposed key: attach AWS's quarantine policy to its owner (plan, then act; every action recorded for release).")
        {
            deactivate, revoke, console_, dryRun, policy, principal,
        };
        secrets.AddTo(command);
        shared.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            if (KeyIdArgument.Read(parse, shared.KeyId, console) is not { } id)
            {
                return ExitCodes.Error;
            }

            var json = parse.GetValue(shared.Format) == "json";
            return await Guard(console, ct, async () =>
            {
                var (config, settings) = shared.Read(parse);
                var options = new QuarantineOptions
                {
                    Policy = parse.GetValue(policy) is { } p ? (p.StartsWith("AWS", StringComparison.Ordinal) ? p : "AWSCompromisedKeyQuarantine" + p) : config.QuarantinePolicy,
                    UseManagedPolicy = config.UseManagedPolicy,
                    Deactivate = parse.GetValue(deactivate),
                    RevokeSessions = parse.GetValue(revoke),
                    DisableConsole = parse.GetValue(console_),
                };

                if (await IdentifyAsync(console, parse, id, settings, principal, secrets, ct) is not { } who)
                {
                    return ExitCodes.Error;
                }

                if (who.Exit is { } exit)
                {
                    return exit;
                }

                var store = await KeywardenStore.OpenAsync(parse.GetValue(shared.Db) ?? config.Database, ct);
                var service = new ContainmentService(store, new AccountAccess(settings, config.Accounts), TimeProvider.System);
                var outcome = await service.QuarantineAsync(id, who.AccountId!, who.Owner, options, parse.GetValue(dryRun), ct);
                WriteQuarantine(console, json, id, who.AccountId!, outcome);
                return outcome.Status switch
                {
                    QuarantineStatus.Contained or QuarantineStatus.Planned or QuarantineStatus.KeyGone => ExitCodes.Success,
                    _ => ExitCodes.Incomplete,
                };
            });
        });
        return command;
    }

    public static Command CreateRelease(CliConsole console)
    {
        var shared = new Shared();
        var command = new Command("release", "Undo exactly what `keywarden quarantine` did to a key, from its recorded before-state.");
        shared.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            if (KeyIdArgument.Read(parse, shared.KeyId, console) is not { } id)
            {
                return ExitCodes.Error;
            }

            return await Guard(console, ct, async () =>
            {
                var (config, settings) = shared.Read(parse);
                var store = await KeywardenStore.OpenAsync(parse.GetValue(shared.Db) ?? config.Database, ct);
                var service = new ContainmentService(store, new AccountAccess(settings, config.Accounts), TimeProvider.System);
                var outcome = await service.ReleaseAsync(id, ct);
                WriteRelease(console, parse.GetValue(shared.Format) == "json", id, outcome);
                return outcome.Released ? ExitCodes.Success : ExitCodes.Incomplete;
            });
        });
        return command;
    }

    /// <summary>Who is behind the key, from --principal, the leaked pair (GetCallerIdentity only), or the key ID; null after a usage error.</summary>
    private sealed record Identity(string? AccountId, KeyOwner? Owner, int? Exit);

    private static async Task<Identity?> IdentifyAsync(CliConsole console, ParseResult parse, string id, AwsSettings settings, Option<string?> principal,
        SecretOptions secrets, CancellationToken ct)
    {
        var temporary = id.StartsWith("ASIA", StringComparison.Ordinal);
        if (parse.GetValue(principal) is { } arn)
        {
            var owner = KeyOwner.FromArn(arn);
            if (owner is null)
            {
                console.Error($"--principal is not a user, role, assumed-role or root ARN: {arn}");
                return null;
            }

            if (AccessKeyId.DecodeAccountId(id) is { } keyAccount && keyAccount != owner.AccountId)
            {
                console.Error($"--principal {arn} is in account {owner.AccountId}, but {id} belongs to account {keyAccount}: nothing was done");
                return null;
            }

            return new Identity(owner.AccountId, owner, null);
        }

        var decoded = AccessKeyId.DecodeAccountId(id);
        if (CanaryAccounts.Contains(decoded))
        {
            console.Error($"{id} belongs to canary-token account {decoded}, which is not ours: nothing was done (using it would alert whoever planted it)");
            return null;
        }

        if (!secrets.TryRead(parse, console, required: false, out var secret, out var token))
        {
            return null;
        }

        if (secret is not null)
        {
            // The only call ever made with a leaked key: it changes nothing and cannot be denied.
            var verified = await new KeyVerifier(settings).VerifyAsync(id, secret, token, ct);
            switch (verified.Status)
            {
                case VerificationStatus.Active:
                    return new Identity(verified.Account, KeyOwner.FromArn(verified.Arn!), null);
                case VerificationStatus.Unknown:
                    console.Error($"cannot identify {id}: no answer from AWS ({verified.Reason}); nothing was done, try again");
                    return new Identity(null, null, ExitCodes.Incomplete);
                case VerificationStatus.Invalid when temporary:
                    console.Error($"AWS refuses the session {id} ({verified.Reason}): it has expired or been revoked, or the secret or token is wrong. "
                        + "An expired session can no longer be used; to restrict its role or user anyway, give --principal ARN.");
                    return null;
                default:
                    console.Warning($"AWS refuses the pair ({verified.Reason}): the key is inactive or deleted, or the secret is wrong; looking up its owner by key ID");
                    break;
            }
        }
        else if (temporary)
        {
            console.Error($"{id} is a temporary (session) key: IAM cannot look up its principal by key ID. Give its secret and session token "
                + "(--secret-stdin or --secret-file, with --session-token-file) or the role or user it belongs to (--principal ARN).");
            return null;
        }

        if (decoded is null)
        {
            decoded = await new AccountLookup(settings).GetAccessKeyAccountAsync(id, ct);
        }

        return new Identity(decoded, null, null);
    }

    /// <summary>Runs a command body, turning expected failures into one line and the documented exit code.</summary>
    private static async Task<int> Guard(CliConsole console, CancellationToken ct, Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception e) when (e is ResponderConfigException or AwsConfigurationException or StorageException or NotOurAccountException or NothingRecordedException or PrincipalMismatchException)
        {
            console.Error(e.Message);
            return ExitCodes.Error;
        }
        catch (Exception e) when (AwsFailures.IsAwsFailure(e, ct))
        {
            console.Error($"{(e is AwsCallException ? e.Message : ContainmentService.Reason(e))}; nothing more was done: re-run to complete");
            return ExitCodes.Incomplete;
        }
    }

    private static void WriteQuarantine(CliConsole console, bool json, string keyId, string accountId, QuarantineOutcome outcome)
    {
        using var stdout = json ? new StreamWriter(console.Stdout, leaveOpen: true) : console.OpenTextLines();
        var status = outcome.Status switch
        {
            QuarantineStatus.Contained => "contained",
            QuarantineStatus.Planned => "planned",
            QuarantineStatus.Partial => "partial",
            QuarantineStatus.Manual => "manual",
            _ => "key-not-found",
        };
        var plan = outcome.Plan;
        if (json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["keyId"] = keyId,
                ["accountId"] = accountId,
                ["via"] = outcome.Via,
                ["status"] = status,
                ["severity"] = plan?.Severity,
                ["owner"] = plan is null ? null : new Dictionary<string, string?> { ["type"] = ContainmentService.Describe(plan.Owner.Kind), ["name"] = plan.Owner.Name, ["arn"] = plan.Owner.Arn },
                ["steps"] = outcome.Steps.Select(s => new Dictionary<string, object?>
                {
                    ["kind"] = s.Step.Kind,
                    ["target"] = s.Step.Target,
                    ["parameter"] = s.Step.Parameter,
                    ["before"] = s.Step.Before,
                    ["after"] = s.Step.After,
                    ["result"] = s.Result,
                    ["error"] = s.Error,
                    ["at"] = s.At,
                    ["description"] = s.Step.Description,
                }).ToList(),
                ["notes"] = plan?.Notes ?? [],
                ["manualSteps"] = plan?.ManualSteps ?? [],
            }));
            return;
        }

        stdout.WriteLine($"{keyId}: account {accountId} (through {outcome.Via})");
        if (plan is null)
        {
            stdout.WriteLine("  no IAM user in the account has this key and the root user has no access keys: it was deleted, nothing can use it. Nothing to quarantine.");
            return;
        }

        stdout.WriteLine($"  owner: {ContainmentService.Describe(plan.Owner.Kind)} {plan.Owner.Name}{(plan.Owner.Arn is { } arn ? $" ({arn})" : "")}; severity {plan.Severity}");
        var number = 0;
        foreach (var step in outcome.Steps)
        {
            var result = step.Result switch
            {
                StepOutcome.Done => "done",
                StepOutcome.Unchanged => "already so",
                StepOutcome.Planned => "planned",
                StepOutcome.NotAttempted => "not attempted",
                _ => $"FAILED: {step.Error}",
            };
            stdout.WriteLine($"  {++number}. {step.Step.Description}: {result}");
        }

        foreach (var note in plan.Notes)
        {
            stdout.WriteLine($"  note: {note}");
        }

        foreach (var manual in plan.ManualSteps)
        {
            stdout.WriteLine($"  to do by hand: {manual}");
        }

        stdout.WriteLine(outcome.Status switch
        {
            QuarantineStatus.Contained => $"contained. Undo with: keywarden release {keyId}",
            QuarantineStatus.Planned => "dry run: nothing was changed.",
            QuarantineStatus.Partial => "NOT fully contained: what was done is recorded; re-run the same command to complete it.",
            _ => "NOT contained: only a person can act on this key (see above).",
        });
    }

    private static void WriteRelease(CliConsole console, bool json, string keyId, ReleaseOutcome outcome)
    {
        using var stdout = json ? new StreamWriter(console.Stdout, leaveOpen: true) : console.OpenTextLines();
        if (json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["keyId"] = keyId,
                ["status"] = outcome.AlreadyReleased ? "already-released" : outcome.Released ? "released" : "partial",
                ["done"] = outcome.Done,
                ["manualSteps"] = outcome.Manual,
                ["errors"] = outcome.Errors,
            }));
            return;
        }

        if (outcome.AlreadyReleased)
        {
            stdout.WriteLine($"{keyId}: already released; nothing to undo.");
            return;
        }

        foreach (var line in outcome.Done)
        {
            stdout.WriteLine($"  {line}");
        }

        foreach (var line in outcome.Manual)
        {
            stdout.WriteLine($"  to do by hand: {line}");
        }

        foreach (var line in outcome.Errors)
        {
            stdout.WriteLine($"  FAILED: {line}");
        }

        stdout.WriteLine(outcome.Released ? $"{keyId}: released." : $"{keyId}: NOT fully released; re-run to complete.");
    }
}
