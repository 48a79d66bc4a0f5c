using Keywarden.Aws.Accounts;
using Keywarden.Aws.Connection;
using Keywarden.Aws.Containment;
using Keywarden.Aws.Iam;
using Keywarden.Storage;
using Microsoft.EntityFrameworkCore;

namespace Keywarden.Response.Containment;

/// <summary>One step of a quarantine or release as it turned out.</summary>
public sealed record StepOutcome(ContainmentStep Step, string Result, string? Error, DateTimeOffset? At)
{
    public const string Done = "done";
    public const string Unchanged = "unchanged";
    public const string Failed = "failed";
    public const string NotAttempted = "not-attempted";
    public const string Planned = "planned";
}

public enum QuarantineStatus
{
    /// <summary>Every step is done (now or by an earlier run).</summary>
    Contained,

    /// <summary>--dry-run: the plan only.</summary>
    Planned,

    /// <summary>AWS refused or failed part of the plan; what was done is recorded and a re-run completes the rest.</summary>
    Partial,

    /// <summary>Only a person can act (a root key, a federation session): the manual steps say how.</summary>
    Manual,

    /// <summary>No IAM user in the account has the key any more: it was deleted, nothing can use it.</summary>
    KeyGone,
}

public sealed record QuarantineOutcome(QuarantineStatus Status, string Via, ContainmentPlan? Plan, IReadOnlyList<StepOutcome> Steps, long? RecordId);

public sealed record ReleaseOutcome(bool Released, bool AlreadyReleased, IReadOnlyList<string> Done, IReadOnlyList<string> Manual, IReadOnlyList<string> Errors);

/// <summary>The principal given for a key cannot be its owner (e.g. a user that does not have the key).</summary>
public sealed class PrincipalMismatchException(string message) : Exception(message);

/// <summary>Nothing is recorded for the key: release has nothing to undo.</summary>
public sealed class NothingRecordedException(string keyId, string where) : Exception($"no containment of {keyId} is recorded in {where}: nothing to release");

/// <summary>
/// Plan, then act: contains a key through IAM and records every action (before-state first, result
/// after) in Keywarden's database, so an interrupted run is completed by the next one, nothing is done
/// twice, and <see cref="ReleaseAsync"/> undoes exactly what was done, from any process.
/// </summary>
public sealed class ContainmentService(KeywardenStore store, AccountAccess accounts, TimeProvider time)
{
    /// <summary>
    /// Contains <paramref name="keyId"/> of <paramref name="accountId"/>. <paramref name="owner"/> is the
    /// principal when already known (from GetCallerIdentity with the leaked pair, or --principal); otherwise
    /// the IAM user that owns a long-term key is looked up.
    /// </summary>
    public async Task<QuarantineOutcome> QuarantineAsync(string keyId, string accountId, KeyOwner? owner, QuarantineOptions options, bool dryRun, CancellationToken cancellationToken)
    {
        // Held from planning to the last recorded action: a second run for the key (another terminal, a
        // worker) plans only after this one is done, so it finds the steps done instead of doing them again.
        await using var exclusive = dryRun ? null : await LockKeyAsync(keyId, cancellationToken);
        using var account = await accounts.ConnectAsync(accountId, cancellationToken);
        if (owner is not null)
        {
            await Aws(() => CheckOwnerAsync(account, keyId, owner, cancellationToken), cancellationToken);
        }

        var plan = await Aws(() => PlanAsync(account, keyId, owner, options, time.GetUtcNow(), cancellationToken), cancellationToken);
        if (plan is null)
        {
            return new QuarantineOutcome(QuarantineStatus.KeyGone, account.Via, null, [], null);
        }

        if (!plan.Containable)
        {
            return new QuarantineOutcome(QuarantineStatus.Manual, account.Via, plan, [], null);
        }

        await using var db = store.CreateContext();
        var record = await OpenRecordAsync(db, keyId, cancellationToken);
        var steps = plan.Steps.Select(step => Reconcile(record, step)).ToList();
        if (dryRun)
        {
            return new QuarantineOutcome(QuarantineStatus.Planned, account.Via, plan with { Steps = steps },
                [.. steps.Select(s => new StepOutcome(s, s.Needed ? StepOutcome.Planned : StepOutcome.Unchanged, null, null))], record?.Id);
        }

        var now = time.GetUtcNow();
        if (record is null && steps.Any(s => s.Needed))
        {
            record = NewRecord(db, keyId, account, plan, now);
        }

        // Steps an earlier run sent without learning the answer, whose effect AWS now shows: that run did
        // them. Complete them, keeping their original before-state (so release restores what was there
        // before any run). A definite refusal (AccessDenied) is never adopted: an effect that appeared
        // since was made by someone else (AWS's own quarantine, an administrator).
        foreach (var action in record?.Actions.Where(a => a.Status is ActionStatuses.Started) ?? [])
        {
            if (steps.Any(s => Same(s, action) && !s.Needed))
            {
                action.Status = ActionStatuses.Done;
                action.Error = null;
                action.CompletedAt ??= now;
            }
        }

        // An effect another open containment made (a second key of the same user, a second session of the
        // same role) is shared: recorded for this key too, with the state from before any of them, so
        // releasing either key keeps it while the other still needs it.
        foreach (var step in steps.Where(s => !s.Needed))
        {
            if (record?.Actions.Any(a => Same(step, a) && a.Status == ActionStatuses.Done) == true)
            {
                continue;
            }

            if (await SharedAsync(db, record?.Id ?? 0, account.AccountId, step, cancellationToken) is { } shared)
            {
                record ??= NewRecord(db, keyId, account, plan, now);
                record.Actions.Add(new ContainmentActionRecord
                {
                    Kind = step.Kind,
                    TargetType = Describe(step.TargetKind),
                    Target = step.Target,
                    Parameter = step.Parameter,
                    Before = shared.Before,
                    After = shared.After,
                    Status = ActionStatuses.Done,
                    Error = $"shared with the containment of {shared.Containment!.KeyId}",
                    Sequence = record.Actions.Count == 0 ? 1 : record.Actions.Max(a => a.Sequence) + 1,
                    StartedAt = now,
                    CompletedAt = now,
                });
            }
        }

        await db.SaveChangesAsync(cancellationToken);

        var outcomes = new List<StepOutcome>();
        var unreachable = false;
        foreach (var step in steps)
        {
            if (!step.Needed)
            {
                outcomes.Add(new StepOutcome(step, StepOutcome.Unchanged, null, null));
                continue;
            }

            if (unreachable)
            {
                outcomes.Add(new StepOutcome(step, StepOutcome.NotAttempted, "not attempted: AWS was unreachable", null));
                continue;
            }

            // Written before the call: if the process dies during it, the next run knows it may have happened.
            var action = record!.Actions.FirstOrDefault(a => Same(step, a) && a.Status is ActionStatuses.Started or ActionStatuses.Failed);
            if (action is null)
            {
                var shared = await SharedAsync(db, record.Id, account.AccountId, step, cancellationToken);
                action = new ContainmentActionRecord
                {
                    Kind = step.Kind,
                    TargetType = Describe(step.TargetKind),
                    Target = step.Target,
                    Parameter = step.Parameter,
                    Before = shared?.Before ?? step.Before,
                    Status = ActionStatuses.Started,
                    Sequence = record.Actions.Count == 0 ? 1 : record.Actions.Max(a => a.Sequence) + 1,
                    StartedAt = time.GetUtcNow(),
                };
                record.Actions.Add(action);
            }
            else
            {
                action.Status = ActionStatuses.Started;
                action.StartedAt = time.GetUtcNow();
            }

            await db.SaveChangesAsync(cancellationToken);
            try
            {
                action.After = await ContainmentSteps.ApplyAsync(account.Iam, step, cancellationToken);
                action.Status = ActionStatuses.Done;
                action.Error = null;
                action.CompletedAt = time.GetUtcNow();
                outcomes.Add(new StepOutcome(step, StepOutcome.Done, null, action.CompletedAt));
            }
            catch (Exception e) when (IsAwsFailure(e, cancellationToken))
            {
                // Unreachable, or an answer that could not be read: whether AWS did it is unknown, so the
                // action stays "started" and the next run checks IAM. A refusal is a definite failure.
                unreachable = AwsFailures.IsUnreachable(e);
                action.Status = unreachable || e is IamException { Code: "MalformedResponse" } ? ActionStatuses.Started : ActionStatuses.Failed;
                action.Error = Reason(e);
                outcomes.Add(new StepOutcome(step, StepOutcome.Failed, action.Error, time.GetUtcNow()));
            }

            await db.SaveChangesAsync(cancellationToken);
        }

        var complete = outcomes.All(o => o.Result is StepOutcome.Done or StepOutcome.Unchanged);
        if (record is not null)
        {
            record.State = complete ? ContainmentStates.Contained : ContainmentStates.Partial;
            record.UpdatedAt = time.GetUtcNow();
            await db.SaveChangesAsync(cancellationToken);
        }

        return new QuarantineOutcome(complete ? QuarantineStatus.Contained : QuarantineStatus.Partial, account.Via, plan with { Steps = steps }, outcomes, record?.Id);
    }

    /// <summary>Undoes, newest first, every action recorded for the key's open containment.</summary>
    public async Task<ReleaseOutcome> ReleaseAsync(string keyId, CancellationToken cancellationToken)
    {
        await using var exclusive = await LockKeyAsync(keyId, cancellationToken);
        await using var db = store.CreateContext();
        var record = await OpenRecordAsync(db, keyId, cancellationToken);
        if (record is null)
        {
            return await db.Containments.AnyAsync(c => c.KeyId == keyId, cancellationToken)
                ? new ReleaseOutcome(true, true, [], [], [])
                : throw new NothingRecordedException(keyId, store.Description);
        }

        using var account = await accounts.ConnectAsync(record.AccountId, cancellationToken);
        var done = new List<string>();
        var manual = new List<string>();
        var errors = new List<string>();
        foreach (var action in record.Actions.OrderByDescending(a => a.Sequence))
        {
            if (action.Status is ActionStatuses.Undone or ActionStatuses.Irreversible)
            {
                continue;
            }

            var kind = action.TargetType == "role" ? PrincipalKind.Role : PrincipalKind.User;
            if (action.Kind == StepKinds.CreatePolicy)
            {
                // Kept: other quarantined users of the account may have it attached.
                action.Status = ActionStatuses.Undone;
                action.UndoneAt = time.GetUtcNow();
                manual.Add($"kept Keywarden's customer-managed policy {action.Parameter} (other keys may use it); delete it when no user has it attached");
                continue;
            }

            if (action.Kind == StepKinds.DeleteLoginProfile)
            {
                action.Status = ActionStatuses.Irreversible;
                manual.Add($"the console password of user {action.Target} was deleted and cannot be restored: set a new one (aws iam create-login-profile --user-name {action.Target} --password-reset-required)");
                continue;
            }

            if (await StillNeededAsync(db, record.Id, action, cancellationToken) is { } other)
            {
                action.Status = ActionStatuses.Undone;
                action.UndoneAt = time.GetUtcNow();
                manual.Add($"kept {action.Kind} on {action.TargetType} {action.Target}: the containment of {other} still needs it (released with that key)");
                await db.SaveChangesAsync(cancellationToken);
                continue;
            }

            try
            {
                if (await ContainmentSteps.UndoAsync(account.Iam, action.Kind, kind, action.Target, action.Parameter, action.Before, cancellationToken) is { } what)
                {
                    done.Add(what);
                }

                action.Status = ActionStatuses.Undone;
                action.UndoneAt = time.GetUtcNow();
            }
            catch (Exception e) when (IsAwsFailure(e, cancellationToken))
            {
                errors.Add($"{action.Kind} on {action.Target}: {Reason(e)}");
                if (AwsFailures.IsUnreachable(e))
                {
                    break;
                }
            }
            finally
            {
                await db.SaveChangesAsync(cancellationToken);
            }
        }

        var released = errors.Count == 0;
        if (released)
        {
            record.State = ContainmentStates.Released;
        }

        record.UpdatedAt = time.GetUtcNow();
        await db.SaveChangesAsync(cancellationToken);
        return new ReleaseOutcome(released, false, done, manual, errors);
    }

    /// <summary>
    /// The key's containment lock, across processes and hosts sharing the database; a process that dies
    /// releases it. Another live holder is waited for a bounded time, then <see cref="StoreBusyException"/>
    /// says "a containment of KEY is in progress".
    /// </summary>
    private Task<IAsyncDisposable> LockKeyAsync(string keyId, CancellationToken cancellationToken) =>
        store.LockAsync($"containment-{keyId}", $"a containment of {keyId}", cancellationToken);

    private static ContainmentRecord NewRecord(KeywardenDbContext db, string keyId, AccountConnection account, ContainmentPlan plan, DateTimeOffset now)
    {
        var record = new ContainmentRecord
        {
            KeyId = keyId,
            AccountId = account.AccountId,
            PrincipalType = Describe(plan.Owner.Kind),
            PrincipalName = plan.Owner.Name,
            PrincipalArn = plan.Owner.Arn,
            State = ContainmentStates.Partial,
            CreatedAt = now,
            UpdatedAt = now,
        };
        db.Containments.Add(record);
        return record;
    }

    /// <summary>A done action of another open containment in the account with the same effect as <paramref name="step"/>.</summary>
    private static Task<ContainmentActionRecord?> SharedAsync(KeywardenDbContext db, long containmentId, string accountId, ContainmentStep step, CancellationToken cancellationToken) =>
        db.ContainmentActions.Include(a => a.Containment)
            .Where(a => a.ContainmentId != containmentId && a.Containment!.State != ContainmentStates.Released && a.Containment.AccountId == accountId
                && a.Kind == step.Kind && a.Target == step.Target && a.Status == ActionStatuses.Done
                && (step.Kind == StepKinds.RevokeSessions || a.Parameter == step.Parameter))
            .OrderBy(a => a.Id)
            .FirstOrDefaultAsync(cancellationToken);

    /// <summary>The key of another open containment that still relies on the effect of <paramref name="action"/>, if any.</summary>
    private static async Task<string?> StillNeededAsync(KeywardenDbContext db, long containmentId, ContainmentActionRecord action, CancellationToken cancellationToken)
    {
        var accountId = action.Containment?.AccountId;
        var other = await db.ContainmentActions.Include(a => a.Containment)
            .Where(a => a.ContainmentId != containmentId && a.Containment!.State != ContainmentStates.Released && a.Containment.AccountId == accountId
                && a.Kind == action.Kind && a.Target == action.Target && a.Status == ActionStatuses.Done
                && (action.Kind == StepKinds.RevokeSessions || a.Parameter == action.Parameter))
            .FirstOrDefaultAsync(cancellationToken);
        return other?.Containment!.KeyId;
    }

    /// <summary>
    /// A principal given for a key (--principal, or GetCallerIdentity) must be able to own it: a long-term
    /// key belongs to an IAM user (or root) of the key's account, and that user must have the key.
    /// </summary>
    private static async Task<bool> CheckOwnerAsync(AccountConnection account, string keyId, KeyOwner owner, CancellationToken cancellationToken)
    {
        if (owner.AccountId != account.AccountId)
        {
            throw new PrincipalMismatchException($"{owner.Arn} is in account {owner.AccountId}, the key in account {account.AccountId}");
        }

        if (keyId.StartsWith("ASIA", StringComparison.Ordinal) || owner.Kind == PrincipalKind.Root)
        {
            return true;
        }

        if (owner.Kind != PrincipalKind.User)
        {
            throw new PrincipalMismatchException($"{keyId} is a long-term key: it belongs to an IAM user (or root), not to {owner.Arn}");
        }

        try
        {
            if ((await account.Iam.ListAccessKeysAsync(owner.Name, cancellationToken)).Any(k => k.AccessKeyId == keyId))
            {
                return true;
            }
        }
        catch (IamException e) when (e.IsNoSuchEntity)
        {
            throw new PrincipalMismatchException($"there is no user {owner.Name} in account {account.AccountId}");
        }

        throw new PrincipalMismatchException($"user {owner.Name} does not have the key {keyId}: nothing was done");
    }

    /// <summary>The key's latest containment that is not released, with its actions.</summary>
    public static Task<ContainmentRecord?> OpenRecordAsync(KeywardenDbContext db, string keyId, CancellationToken cancellationToken) =>
        db.Containments.Include(c => c.Actions)
            .Where(c => c.KeyId == keyId && c.State != ContainmentStates.Released)
            .OrderByDescending(c => c.Id)
            .FirstOrDefaultAsync(cancellationToken);

    private static async Task<ContainmentPlan?> PlanAsync(AccountConnection account, string keyId, KeyOwner? owner, QuarantineOptions options, DateTimeOffset now, CancellationToken cancellationToken)
    {
        owner ??= await ContainmentPlanner.FindUserOwnerAsync(account, keyId, cancellationToken);
        if (owner is null)
        {
            // No IAM user has the key. If the root user has access keys, this is most likely one of them.
            var summary = await account.Iam.GetAccountSummaryAsync(cancellationToken);
            if (summary.GetValueOrDefault("AccountAccessKeysPresent") == 0)
            {
                return null;
            }

            owner = new KeyOwner(PrincipalKind.Root, "root", account.AccountId, account.Partition, $"arn:{account.Partition}:iam::{account.AccountId}:root");
        }

        return await ContainmentPlanner.PlanAsync(account, keyId, owner, options, now, cancellationToken);
    }

    /// <summary>Revoking sessions again would also cut sessions issued since: once recorded as done, it is not repeated.</summary>
    private static ContainmentStep Reconcile(ContainmentRecord? record, ContainmentStep step) =>
        step.Kind == StepKinds.RevokeSessions && record?.Actions.Any(a => Same(step, a) && a.Status == ActionStatuses.Done) == true
            ? step with { Needed = false, Description = step.Description + " — already done by an earlier run" }
            : step;

    private static bool Same(ContainmentStep step, ContainmentActionRecord action) =>
        action.Kind == step.Kind && action.Target == step.Target && (action.Parameter == step.Parameter || step.Kind == StepKinds.RevokeSessions);

    public static string Describe(PrincipalKind kind) => kind switch
    {
        PrincipalKind.User => "user",
        PrincipalKind.Role => "role",
        PrincipalKind.Root => "root",
        _ => "federated-user",
    };

    private static bool IsAwsFailure(Exception e, CancellationToken cancellationToken) => AwsFailures.IsAwsFailure(e, cancellationToken);

    /// <summary>AWS's code and message, or what went wrong on the way: never a secret.</summary>
    public static string Reason(Exception e) => e switch
    {
        IamException iam => $"{iam.Code}: {iam.Message[(iam.Message.IndexOf(": ", StringComparison.Ordinal) + 2)..]}",
        AwsCallException call => call.Message,
        TaskCanceledException or TimeoutException => "AWS did not answer in time",
        HttpRequestException http => $"AWS unreachable ({http.Message.TrimEnd('.')})",
        _ => Keywarden.Aws.Sts.KeyVerifier.Describe(e),
    };

    /// <summary>Runs read calls of the planning phase, turning their failures into one <see cref="AwsCallException"/>.</summary>
    private static async Task<T> Aws<T>(Func<Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call();
        }
        catch (Exception e) when (e is not AwsCallException && IsAwsFailure(e, cancellationToken))
        {
            throw new AwsCallException($"reading IAM failed: {Reason(e)}", e);
        }
    }
}
