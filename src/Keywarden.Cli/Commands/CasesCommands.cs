using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Keywarden.Aws.Accounts;
using Keywarden.Aws.Connection;
using Keywarden.Response.Cases;
using Keywarden.Response.Configuration;
using Keywarden.Response.Containment;
using Keywarden.Storage;

namespace Keywarden.Cli.Commands;

/// <summary>
/// `keywarden respond KEYID` (report an exposure and run the playbook until no step can run now) and
/// `keywarden cases list|show|verify|resolve|report|confirm|approve|work`.
/// </summary>
internal static class CasesCommands
{
    /// <summary>Options every case command takes.</summary>
    private sealed class Context
    {
        public Option<FileInfo?> Config { get; } = new("--config") { Description = "Responder configuration (default: KEYWARDEN_CONFIG, or ~/.config/keywarden/config.toml if present)." };
        public Option<string?> Db { get; } = new("--db") { Description = "Database: a SQLite file path or a PostgreSQL connection string (default: storage.db, KEYWARDEN_DB, or ~/.local/share/keywarden/keywarden.db)." };
        public AwsOptions Aws { get; } = new();

        public void AddTo(Command command, bool aws)
        {
            command.Options.Add(Config);
            command.Options.Add(Db);
            if (aws)
            {
                Aws.AddTo(command);
            }
        }

        public async Task<(ResponderConfig Config, AwsSettings Settings, KeywardenStore Store)> OpenAsync(ParseResult parse, CancellationToken ct)
        {
            var config = ResponderConfig.Load(parse.GetValue(Config)?.FullName);
            var settings = parse.CommandResult.Command.Options.Contains(Aws.Profile) ? Aws.Read(parse) : AwsSettings.FromEnvironment();
            settings = config.Apply(settings);
            var store = await KeywardenStore.OpenAsync(parse.GetValue(Db) ?? config.Database, ct);
            return (config, settings, store);
        }
    }

    private static Option<string> FormatOption(params string[] formats)
    {
        var option = new Option<string>("--format", "-f") { Description = string.Join(" or ", formats) + ".", DefaultValueFactory = _ => formats[0] };
        option.AcceptOnlyFromAmong(formats);
        return option;
    }

    /// <summary>Secrets live only in the process that received them, and only for the case they came with.</summary>
    private static SecretVault Vault => new();

    public static Command CreateRespond(CliConsole console)
    {
        var context = new Context();
        var keyId = new Argument<string>("key-id") { Description = "The exposed access key ID." };
        var secrets = new SecretOptions(" (held in memory only, for verification)");
        // Checked when the command runs, not while the command tree is built: building it must not load
        // the response assemblies into every `scan` (the pre-commit hook counts milliseconds).
        var source = new Option<string>("--source") { Description = "Where the report comes from: scan, github-partner, github-alert, aws-health or manual.", DefaultValueFactory = _ => SourceKinds.Manual };
        var url = new Option<string?>("--url") { Description = "Where the key was exposed (commit, gist, paste, image)." };
        var detectedAt = OptionValues.Time("--detected-at", "When it was detected (ISO 8601; default now).");
        var reporter = new Option<string?>("--reporter") { Description = "Who reported it." };
        var noWork = new Option<bool>("--no-work") { Description = "Record the report only; a worker (`keywarden cases work`) runs the playbook." };
        var wait = OptionValues.Int("--wait", "Seconds to wait for retries due soon (default 300).", 300, min: 0);
        var format = FormatOption("text", "json");
        var command = new Command("respond", "Report an exposed key and run the response playbook: verify, quarantine, notify, checklist.")
        {
            keyId, source, url, detectedAt, reporter, noWork, wait, format,
        };
        secrets.AddTo(command);
        context.AddTo(command, aws: true);
        command.SetAction(async (parse, ct) =>
        {
            if (KeyIdArgument.Read(parse, keyId, console) is not { } id)
            {
                return ExitCodes.Error;
            }

            if (!SourceKinds.All.Contains(parse.GetValue(source)!))
            {
                console.Error($"--source must be one of {string.Join(", ", SourceKinds.All)}");
                return ExitCodes.Error;
            }

            if (!secrets.TryRead(parse, console, required: false, out var secret, out var token))
            {
                return ExitCodes.Error;
            }

            return await Guard(console, ct, async () =>
            {
                var (config, settings, store) = await context.OpenAsync(parse, ct);
                var vault = new SecretVault();
                var cases = new CaseService(store, vault, TimeProvider.System);
                var report = new ExposureReport(id, parse.GetValue(source)!, parse.GetValue(detectedAt) ?? DateTimeOffset.UtcNow)
                {
                    Secret = secret,
                    SessionToken = token,
                    Url = parse.GetValue(url),
                    Reporter = parse.GetValue(reporter),
                };
                var (record, joined) = await cases.ReportAsync(report, ct);
                if (!parse.GetValue(noWork))
                {
                    await new Playbook(store, config, vault, TimeProvider.System) { Settings = settings }.RunUntilIdleAsync(TimeSpan.FromSeconds(parse.GetValue(wait)), ct);
                }

                record = await cases.GetAsync(record.Id, ct);
                var contained = record.State is CaseStates.Contained or CaseStates.Investigating or CaseStates.AwaitingRemediation or CaseStates.Resolved;
                if (parse.GetValue(format) == "json")
                {
                    Json(console, CaseJson(record, null, joined));
                }
                else
                {
                    using var stdout = Writer(console);
                    stdout.WriteLine(joined
                        ? $"{CaseReference.Of(record.Id)}: {id} joined its open case as occurrence {record.Occurrences.Count} ({record.State})"
                        : $"{CaseReference.Of(record.Id)}: {record.Subject}: {record.State}, severity {record.Severity}");
                    WriteSteps(stdout, record);
                }

                return joined || contained || record.State is CaseStates.NotOurs or CaseStates.Invalid || parse.GetValue(noWork) ? ExitCodes.Success : ExitCodes.Incomplete;
            });
        });
        return command;
    }

    public static Command CreateCases(CliConsole console)
    {
        var command = new Command("cases", "Exposure cases: list, show, verify the checklist, confirm items, approve deactivation, resolve, report, run the worker.");
        command.Subcommands.Add(List(console));
        command.Subcommands.Add(Show(console));
        command.Subcommands.Add(Verify(console));
        command.Subcommands.Add(Confirm(console));
        command.Subcommands.Add(Approve(console));
        command.Subcommands.Add(Resolve(console));
        command.Subcommands.Add(Report(console));
        command.Subcommands.Add(Work(console));
        return command;
    }

    private static Argument<string> CaseArgument() => new("case") { Description = "The case: KW-42 or 42." };

    private static long? ReadCase(ParseResult parse, Argument<string> argument, CliConsole console)
    {
        var text = parse.GetValue(argument)!;
        if (CaseReference.Parse(text) is { } id)
        {
            return id;
        }

        console.Error($"not a case ID: {KeyIdArgument.Mask(text)} (expected KW-42 or 42)");
        return null;
    }

    private static Command List(CliConsole console)
    {
        var context = new Context();
        var state = new Option<string?>("--state") { Description = "Only cases in this state." };
        var format = FormatOption("text", "json");
        var command = new Command("list", "List cases, newest first.") { state, format };
        context.AddTo(command, aws: false);
        command.SetAction(async (parse, ct) => await Guard(console, ct, async () =>
        {
            var (_, _, store) = await context.OpenAsync(parse, ct);
            var cases = await new CaseService(store, Vault, TimeProvider.System).ListAsync(parse.GetValue(state), ct);
            if (parse.GetValue(format) == "json")
            {
                Json(console, cases.Select(c => new Dictionary<string, object?>
                {
                    ["id"] = CaseReference.Of(c.Id),
                    ["keyId"] = c.KeyId,
                    ["state"] = c.State,
                    ["severity"] = c.Severity,
                    ["accountId"] = c.AccountId,
                    ["subject"] = c.Subject,
                    ["owner"] = c.OwnerName,
                    ["occurrences"] = c.Occurrences.Count,
                    ["createdAt"] = c.CreatedAt,
                    ["updatedAt"] = c.UpdatedAt,
                }).ToList());
                return ExitCodes.Success;
            }

            using var stdout = Writer(console);
            if (cases.Count == 0)
            {
                stdout.WriteLine("no cases");
            }

            foreach (var c in cases)
            {
                stdout.WriteLine($"{CaseReference.Of(c.Id),-8} {c.State,-21} {c.Severity,-8} {c.AccountId ?? "-",-12} {c.KeyId}  ({c.Occurrences.Count} occurrence{(c.Occurrences.Count == 1 ? "" : "s")}, opened {c.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)}Z)");
            }

            return ExitCodes.Success;
        }));
        return command;
    }

    private static Command Show(CliConsole console)
    {
        var context = new Context();
        var id = CaseArgument();
        var format = FormatOption("text", "json");
        var command = new Command("show", "Everything about one case: occurrences, actions, notifications, checklist, timeline.") { id, format };
        context.AddTo(command, aws: false);
        command.SetAction(async (parse, ct) =>
        {
            if (ReadCase(parse, id, console) is not { } caseId)
            {
                return ExitCodes.Error;
            }

            return await Guard(console, ct, async () =>
            {
                var (_, _, store) = await context.OpenAsync(parse, ct);
                var service = new CaseService(store, Vault, TimeProvider.System);
                var record = await service.GetAsync(caseId, ct);
                var containment = await service.GetContainmentAsync(record, ct);
                if (parse.GetValue(format) == "json")
                {
                    Json(console, CaseJson(record, containment, joined: null));
                    return ExitCodes.Success;
                }

                // Markdown escapes its own fields (CaseReport).
                using var stdout = new StreamWriter(console.Stdout, leaveOpen: true);
                stdout.Write(CaseReport.Markdown(record, containment));
                return ExitCodes.Success;
            });
        });
        return command;
    }

    private static Command Verify(CliConsole console)
    {
        var context = new Context();
        var id = CaseArgument();
        var format = FormatOption("text", "json");
        var command = new Command("verify", "Re-check the checklist's automatic items against IAM now.") { id, format };
        context.AddTo(command, aws: true);
        command.SetAction(async (parse, ct) =>
        {
            if (ReadCase(parse, id, console) is not { } caseId)
            {
                return ExitCodes.Error;
            }

            return await Guard(console, ct, async () =>
            {
                var (config, settings, store) = await context.OpenAsync(parse, ct);
                await using var db = store.CreateContext();
                var record = await CaseService.LoadAsync(db, caseId, ct);
                if (record.AccountId is null)
                {
                    console.Error($"{CaseReference.Of(caseId)} has no account yet: run the playbook first (keywarden cases work)");
                    return ExitCodes.Error;
                }

                using var account = await new AccountAccess(settings, config.Accounts).ConnectAsync(record.AccountId, ct);
                var changes = await Checklist.VerifyAsync(record, account, DateTimeOffset.UtcNow, ct);
                foreach (var change in changes)
                {
                    record.Events.Add(new CaseEventRecord { At = DateTimeOffset.UtcNow, Kind = "checklist", Summary = change });
                }

                record.Version++;
                await db.SaveChangesAsync(ct);
                if (parse.GetValue(format) == "json")
                {
                    Json(console, record.Checklist.OrderBy(i => i.Order).Select(ItemJson).ToList());
                }
                else
                {
                    using var stdout = Writer(console);
                    WriteChecklist(stdout, record);
                }

                return ExitCodes.Success;
            });
        });
        return command;
    }

    private static Command Confirm(CliConsole console)
    {
        var context = new Context();
        var id = CaseArgument();
        var item = new Argument<string>("item") { Description = "The checklist item, e.g. billing-checked." };
        var note = new Option<string>("--note") { Description = "What was done or seen (required).", Required = true };
        var by = new Option<string?>("--by") { Description = "Who confirms (default: $USER)." };
        var notApplicable = new Option<bool>("--not-applicable") { Description = "Mark the item as not applicable instead." };
        var command = new Command("confirm", "Confirm a checklist item a person checked, with a note.") { id, item, note, by, notApplicable };
        context.AddTo(command, aws: false);
        command.SetAction(async (parse, ct) =>
        {
            if (ReadCase(parse, id, console) is not { } caseId)
            {
                return ExitCodes.Error;
            }

            return await Guard(console, ct, async () =>
            {
                var (_, _, store) = await context.OpenAsync(parse, ct);
                var who = parse.GetValue(by) ?? Environment.GetEnvironmentVariable("USER") ?? "unknown";
                var confirmed = await new CaseService(store, Vault, TimeProvider.System).ConfirmAsync(caseId, parse.GetValue(item)!, parse.GetValue(note)!, who, parse.GetValue(notApplicable), ct);
                using var stdout = Writer(console);
                stdout.WriteLine($"{CaseReference.Of(caseId)}: {confirmed.Key} {confirmed.Status} by {who}");
                return ExitCodes.Success;
            });
        });
        return command;
    }

    private static Command Approve(CliConsole console)
    {
        var context = new Context();
        var id = CaseArgument();
        var by = new Option<string?>("--by") { Description = "Who approves (default: $USER)." };
        var noWork = new Option<bool>("--no-work") { Description = "Record the approval only; a worker carries it out." };
        var command = new Command("approve", "Approve deactivating the case's key (the default policy waits for a person).") { id, by, noWork };
        context.AddTo(command, aws: true);
        command.SetAction(async (parse, ct) =>
        {
            if (ReadCase(parse, id, console) is not { } caseId)
            {
                return ExitCodes.Error;
            }

            return await Guard(console, ct, async () =>
            {
                var (config, settings, store) = await context.OpenAsync(parse, ct);
                var who = parse.GetValue(by) ?? Environment.GetEnvironmentVariable("USER") ?? "unknown";
                await new CaseService(store, Vault, TimeProvider.System).ApproveDeactivationAsync(caseId, who, ct);
                if (!parse.GetValue(noWork))
                {
                    await new Playbook(store, config, Vault, TimeProvider.System) { Settings = settings }.RunUntilIdleAsync(TimeSpan.FromMinutes(5), ct);
                }

                var record = await new CaseService(store, Vault, TimeProvider.System).GetAsync(caseId, ct);
                var job = record.Jobs.Last(j => j.Kind == JobKinds.Deactivate);
                using var stdout = Writer(console);
                stdout.WriteLine($"{CaseReference.Of(caseId)}: deactivation approved by {who}: {job.State}{(job.LastError is null ? "" : $" ({job.LastError})")}");
                return job.State is JobStates.Done || parse.GetValue(noWork) ? ExitCodes.Success : ExitCodes.Incomplete;
            });
        });
        return command;
    }

    private static Command Resolve(CliConsole console)
    {
        var context = new Context();
        var id = CaseArgument();
        var falsePositive = new Option<bool>("--false-positive") { Description = "Close as a false positive." };
        var note = new Option<string?>("--note") { Description = "Why." };
        var rootCause = new Option<string?>("--root-cause") { Description = "How the key came to be exposed (for the report)." };
        var lessons = new Option<string?>("--lessons") { Description = "Lessons learned (for the report)." };
        var force = new Option<bool>("--force") { Description = "Resolve although checklist items are open." };
        var command = new Command("resolve", "Close a case: resolved (every checklist item done, or --force) or a false positive.") { id, falsePositive, note, rootCause, lessons, force };
        context.AddTo(command, aws: false);
        command.SetAction(async (parse, ct) =>
        {
            if (ReadCase(parse, id, console) is not { } caseId)
            {
                return ExitCodes.Error;
            }

            return await Guard(console, ct, async () =>
            {
                var (_, _, store) = await context.OpenAsync(parse, ct);
                var record = await new CaseService(store, Vault, TimeProvider.System).ResolveAsync(caseId, parse.GetValue(falsePositive), parse.GetValue(note), parse.GetValue(rootCause), parse.GetValue(lessons), parse.GetValue(force), ct);
                using var stdout = Writer(console);
                stdout.WriteLine($"{CaseReference.Of(caseId)}: {record.State}");
                return ExitCodes.Success;
            });
        });
        return command;
    }

    private static Command Report(CliConsole console)
    {
        var context = new Context();
        var id = CaseArgument();
        var format = FormatOption("md", "html");
        var output = new Option<FileInfo?>("--output", "-o") { Description = "Write the report to FILE." };
        var command = new Command("report", "The post-incident report: timeline, exposure, actions, checklist with evidence, root cause and lessons.") { id, format, output };
        context.AddTo(command, aws: false);
        command.SetAction(async (parse, ct) =>
        {
            if (ReadCase(parse, id, console) is not { } caseId)
            {
                return ExitCodes.Error;
            }

            return await Guard(console, ct, async () =>
            {
                var (_, _, store) = await context.OpenAsync(parse, ct);
                var service = new CaseService(store, Vault, TimeProvider.System);
                var record = await service.GetAsync(caseId, ct);
                var containment = await service.GetContainmentAsync(record, ct);
                var text = parse.GetValue(format) == "html" ? CaseReport.Html(record, containment) : CaseReport.Markdown(record, containment);
                if (parse.GetValue(output) is { } file)
                {
                    try
                    {
                        await Keywarden.Detection.Writers.ReportFile.WriteAllTextAsync(file.FullName, text, ct);
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        console.Error($"cannot write {file.FullName}: {Keywarden.Detection.Sources.BoundedInput.DescribeOutput(e, file.FullName)}");
                        return ExitCodes.Error;
                    }
                }
                else
                {
                    // Markdown and HTML escape their own fields (CaseReport).
                    using var stdout = new StreamWriter(console.Stdout, leaveOpen: true);
                    stdout.Write(text);
                }

                return ExitCodes.Success;
            });
        });
        return command;
    }

    private static Command Work(CliConsole console)
    {
        var context = new Context();
        var wait = OptionValues.Int("--wait", "Seconds to wait for retries due soon (default 300).", 300, min: 0);
        var command = new Command("work", "Run the playbook worker until no step can run now (follow-ups stay scheduled; run it from cron or a service).") { wait };
        context.AddTo(command, aws: true);
        command.SetAction(async (parse, ct) => await Guard(console, ct, async () =>
        {
            var (config, settings, store) = await context.OpenAsync(parse, ct);
            var ran = await new Playbook(store, config, Vault, TimeProvider.System) { Settings = settings }.RunUntilIdleAsync(TimeSpan.FromSeconds(parse.GetValue(wait)), ct);
            using var stdout = Writer(console);
            stdout.WriteLine($"{ran} step{(ran == 1 ? "" : "s")} run; nothing more can run now");
            return ExitCodes.Success;
        }));
        return command;
    }

    private static async Task<int> Guard(CliConsole console, CancellationToken ct, Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception e) when (e is ResponderConfigException or AwsConfigurationException or StorageException or CaseNotFoundException or CaseStateException or NotOurAccountException or ArgumentException)
        {
            console.Error(e.Message);
            return ExitCodes.Error;
        }
        catch (Microsoft.EntityFrameworkCore.DbUpdateConcurrencyException)
        {
            console.Error("the case changed while this command ran (a worker or another person): run it again");
            return ExitCodes.Error;
        }
        catch (Exception e) when (AwsFailures.IsAwsFailure(e, ct))
        {
            console.Error(e is AwsCallException ? e.Message : ContainmentService.Reason(e));
            return ExitCodes.Incomplete;
        }
    }

    /// <summary>Text output: event summaries, evidence and AWS's error text are data (see <see cref="CliConsole.OpenTextLines"/>).</summary>
    private static StreamWriter Writer(CliConsole console) => console.OpenTextLines();

    private static void Json(CliConsole console, object value)
    {
        using var stdout = new StreamWriter(console.Stdout, leaveOpen: true);
        stdout.WriteLine(JsonSerializer.Serialize(value));
    }

    private static void WriteSteps(StreamWriter stdout, CaseRecord record)
    {
        foreach (var e in record.Events.OrderBy(e => e.At).ThenBy(e => e.Id))
        {
            stdout.WriteLine($"  {e.At.UtcDateTime.ToString("HH:mm:ss", CultureInfo.InvariantCulture)}Z {e.Kind,-12} {e.Summary}");
        }

        if (record.Checklist.Count > 0)
        {
            WriteChecklist(stdout, record);
        }
    }

    private static void WriteChecklist(StreamWriter stdout, CaseRecord record)
    {
        stdout.WriteLine("  checklist:");
        foreach (var item in record.Checklist.OrderBy(i => i.Order))
        {
            var mark = ChecklistStatuses.IsDone(item.Status) ? "x" : item.Status == ChecklistStatuses.Failed ? "!" : " ";
            stdout.WriteLine($"    [{mark}] {item.Key}: {item.Title}{(item.Evidence is null ? "" : $" — {item.Evidence}")}");
        }
    }

    private static Dictionary<string, object?> ItemJson(ChecklistItemRecord i) => new()
    {
        ["key"] = i.Key,
        ["title"] = i.Title,
        ["verification"] = i.Verification,
        ["status"] = i.Status,
        ["evidence"] = i.Evidence,
        ["confirmedBy"] = i.ConfirmedBy,
        ["checkedAt"] = i.CheckedAt,
    };

    private static Dictionary<string, object?> CaseJson(CaseRecord c, ContainmentRecord? containment, bool? joined) => new()
    {
        ["id"] = CaseReference.Of(c.Id),
        ["keyId"] = c.KeyId,
        ["state"] = c.State,
        ["severity"] = c.Severity,
        ["accountId"] = c.AccountId,
        ["subject"] = c.Subject,
        ["joined"] = joined,
        ["secretSha256"] = c.SecretSha256,
        ["secretRedacted"] = c.SecretRedacted,
        ["verification"] = c.Verification,
        ["owner"] = c.OwnerName is null ? null : new Dictionary<string, string?> { ["type"] = c.OwnerType, ["name"] = c.OwnerName, ["arn"] = c.OwnerArn },
        ["createdAt"] = c.CreatedAt,
        ["updatedAt"] = c.UpdatedAt,
        ["closedAt"] = c.ClosedAt,
        ["followUps"] = c.FollowUps,
        ["occurrences"] = c.Occurrences.OrderBy(o => o.Id).Select(o => new Dictionary<string, object?> { ["source"] = o.Source, ["url"] = o.Url, ["detectedAt"] = o.DetectedAt, ["reporter"] = o.Reporter }).ToList(),
        ["actions"] = containment?.Actions.OrderBy(a => a.Sequence).Select(a => new Dictionary<string, object?>
        {
            ["kind"] = a.Kind,
            ["target"] = a.Target,
            ["parameter"] = a.Parameter,
            ["before"] = a.Before,
            ["after"] = a.After,
            ["status"] = a.Status,
            ["error"] = a.Error,
            ["startedAt"] = a.StartedAt,
            ["completedAt"] = a.CompletedAt,
        }).ToList(),
        ["notifications"] = c.Notifications.OrderBy(n => n.Id).Select(n => new Dictionary<string, object?>
        {
            ["channel"] = n.Channel,
            ["recipient"] = Notifier.Display(n.Channel, n.Recipient),
            ["purpose"] = n.Purpose,
            ["subject"] = n.Subject,
            ["state"] = n.State,
            ["attempts"] = n.Attempts,
            ["error"] = n.LastError,
            ["sentAt"] = n.SentAt,
        }).ToList(),
        ["jobs"] = c.Jobs.OrderBy(j => j.Id).Select(j => new Dictionary<string, object?> { ["kind"] = j.Kind, ["state"] = j.State, ["attempts"] = j.Attempts, ["error"] = j.LastError, ["result"] = j.Result }).ToList(),
        ["checklist"] = c.Checklist.OrderBy(i => i.Order).Select(ItemJson).ToList(),
        ["events"] = c.Events.OrderBy(e => e.At).ThenBy(e => e.Id).Select(e => new Dictionary<string, object?> { ["at"] = e.At, ["kind"] = e.Kind, ["summary"] = e.Summary }).ToList(),
    };
}
