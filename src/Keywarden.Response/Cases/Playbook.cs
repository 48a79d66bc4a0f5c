using System.Diagnostics;
using Keywarden.Aws.Accounts;
using Keywarden.Aws.Connection;
using Keywarden.Aws.Containment;
using Keywarden.Aws.Sts;
using Keywarden.Detection.Credentials;
using Keywarden.Response.Configuration;
using Keywarden.Response.Containment;
using Keywarden.Storage;
using Microsoft.EntityFrameworkCore;

namespace Keywarden.Response.Cases;

public static class JobKinds
{
    public const string Verify = "verify";
    public const string Contain = "contain";
    public const string Notify = "notify";
    public const string Checklist = "checklist";
    public const string FollowUp = "follow-up";
    public const string Deactivate = "deactivate";
    public const string Investigate = "investigate";
}

public static class JobStates
{
    public const string Pending = "pending";
    public const string Running = "running";
    public const string Done = "done";
    public const string Failed = "failed";
    public const string Skipped = "skipped";
    public const string AwaitingApproval = "awaiting-approval";
}

/// <summary>
/// The durable playbook worker: verify → contain → notify → checklist → follow-ups. Each step is a job
/// row; a worker claims it with a conditional update (so two workers never run the same step), performs
/// its side effect, and commits the job's result, the case's new state and the next jobs in one
/// transaction. A worker that dies mid-step leaves a lease that expires (at once, when the dead worker was
/// on this host); the step then runs again, and every step is idempotent against AWS (containment
/// re-plans from IAM and its own records), so nothing is done twice.
/// </summary>
public sealed class Playbook(KeywardenStore store, ResponderConfig config, SecretVault vault, TimeProvider time)
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);
    private const int MaxAwsAttempts = 5;

    private readonly string _me = $"{Environment.MachineName}:{Environment.ProcessId}";
    private readonly Notifier _notifier = new(config.Email, config.Webhook);

    /// <summary>AWS settings for Keywarden's own calls (verification, containment, checklist).</summary>
    public required AwsSettings Settings { get; init; }

    /// <summary>Backoff of failed AWS steps; tests shorten it.</summary>
    public TimeSpan AwsRetryDelay { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Runs steps until none is runnable. Retries due within <paramref name="waitForRetries"/> are waited
    /// for; later ones (and follow-ups) stay pending for the next run. Returns the number of steps run.
    /// </summary>
    public async Task<int> RunUntilIdleAsync(TimeSpan waitForRetries, CancellationToken cancellationToken)
    {
        var ran = 0;
        while (true)
        {
            var job = await ClaimNextAsync(cancellationToken);
            if (job is null)
            {
                var wait = await NextRetryInAsync(cancellationToken);
                if (wait is { } delay && delay <= waitForRetries)
                {
                    await Task.Delay(delay < TimeSpan.Zero ? TimeSpan.Zero : delay, time, cancellationToken);
                    continue;
                }

                return ran;
            }

            await RunAsync(job, cancellationToken);
            ran++;
        }
    }

    private async Task<TimeSpan?> NextRetryInAsync(CancellationToken cancellationToken)
    {
        await using var db = store.CreateContext();
        var next = await db.Jobs.Where(j => j.State == JobStates.Pending && j.Kind != JobKinds.FollowUp)
            .OrderBy(j => j.NotBefore).Select(j => (DateTimeOffset?)j.NotBefore).FirstOrDefaultAsync(cancellationToken);
        return next is { } at ? at - time.GetUtcNow() + TimeSpan.FromMilliseconds(50) : null;
    }

    private async Task<JobRecord?> ClaimNextAsync(CancellationToken cancellationToken)
    {
        await using var db = store.CreateContext();
        var now = time.GetUtcNow();
        var candidates = await db.Jobs.AsNoTracking()
            .Where(j => (j.State == JobStates.Pending && j.NotBefore <= now) || j.State == JobStates.Running)
            .OrderBy(j => j.NotBefore).ThenBy(j => j.Id).Take(50).ToListAsync(cancellationToken);
        foreach (var job in candidates)
        {
            if (job.State == JobStates.Running && !Abandoned(job, now))
            {
                continue;
            }

            var claimed = await db.Jobs
                .Where(j => j.Id == job.Id && j.State == job.State && j.Attempts == job.Attempts)
                .ExecuteUpdateAsync(s => s
                    .SetProperty(j => j.State, JobStates.Running)
                    .SetProperty(j => j.LeaseOwner, _me)
                    .SetProperty(j => j.LeaseUntil, now + Lease)
                    .SetProperty(j => j.Attempts, job.Attempts + 1), cancellationToken);
            if (claimed == 1)
            {
                job.State = JobStates.Running;
                job.Attempts++;
                return job;
            }
        }

        return null;
    }

    /// <summary>A running job whose lease ran out, or whose worker on this host is gone.</summary>
    private bool Abandoned(JobRecord job, DateTimeOffset now)
    {
        if (job.LeaseUntil is null || job.LeaseUntil < now)
        {
            return true;
        }

        var owner = job.LeaseOwner?.Split(':');
        if (owner is not { Length: 2 } || owner[0] != Environment.MachineName || !int.TryParse(owner[1], System.Globalization.CultureInfo.InvariantCulture, out var pid))
        {
            return false;
        }

        if (pid == Environment.ProcessId)
        {
            return false;
        }

        try
        {
            using var process = Process.GetProcessById(pid);
            return process.HasExited;
        }
        catch (ArgumentException)
        {
            return true;
        }
    }

    private sealed record Outcome(string State, string? Result, string? Error = null, TimeSpan? RetryIn = null);

    private async Task RunAsync(JobRecord claimed, CancellationToken cancellationToken)
    {
        // Renew the claim while the step runs, so a slow step (a large account's checklist) is not taken over.
        using var heartbeat = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var renewing = RenewLeaseAsync(claimed, heartbeat.Token);
        try
        {
            await RunStepAsync(claimed, cancellationToken);
        }
        catch (DbUpdateConcurrencyException)
        {
            // Another worker took the step over, or a person changed the case meanwhile: this result is
            // stale. The step stays claimed by this worker's lease, which expires; the step then runs again
            // against the current state (every step is idempotent).
        }
        finally
        {
            await heartbeat.CancelAsync();
            await renewing;
        }
    }

    private async Task RenewLeaseAsync(JobRecord job, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(Lease / 3, time, cancellationToken);
                await using var db = store.CreateContext();
                var until = time.GetUtcNow() + Lease;
                await db.Jobs.Where(j => j.Id == job.Id && j.LeaseOwner == _me && j.Attempts == job.Attempts)
                    .ExecuteUpdateAsync(u => u.SetProperty(j => j.LeaseUntil, until), cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task RunStepAsync(JobRecord claimed, CancellationToken cancellationToken)
    {
        await using var db = store.CreateContext();
        var job = await db.Jobs.FirstAsync(j => j.Id == claimed.Id, cancellationToken);
        var record = await CaseService.LoadAsync(db, job.CaseId, cancellationToken);
        var now = time.GetUtcNow();
        Outcome outcome;
        if (CaseStates.IsClosed(record.State) && job.Kind != JobKinds.Notify)
        {
            outcome = new Outcome(JobStates.Skipped, $"case is {record.State}");
        }
        else
        {
            try
            {
                outcome = await DispatchAsync(db, record, job, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // A step must never stop the worker (and with it every other case): record what went wrong.
                var error = $"{e.GetType().Name}: {e.Message.Split('\n')[0]}";
                Event(record, "action", $"{job.Kind} step failed unexpectedly: {error}");
                outcome = job.Attempts < MaxAwsAttempts ? new Outcome(JobStates.Pending, null, error, AwsRetryDelay) : new Outcome(JobStates.Failed, null, error);
            }
        }

        now = time.GetUtcNow();
        if (outcome.RetryIn is { } retry)
        {
            job.State = JobStates.Pending;
            job.NotBefore = now + retry;
        }
        else
        {
            job.State = outcome.State;
            job.CompletedAt = now;
        }

        job.Result = outcome.Result;
        job.LastError = outcome.Error;
        job.LeaseOwner = null;
        job.LeaseUntil = null;
        record.UpdatedAt = now;
        record.Version++;
        await db.SaveChangesAsync(cancellationToken);
    }

    private async Task<Outcome> DispatchAsync(KeywardenDbContext db, CaseRecord record, JobRecord job, CancellationToken cancellationToken) => job.Kind switch
    {
        JobKinds.Verify => await VerifyAsync(db, record, job, cancellationToken),
        JobKinds.Contain => await ContainAsync(db, record, job, deactivateNow: false, cancellationToken),
        JobKinds.Deactivate => await ContainAsync(db, record, job, deactivateNow: true, cancellationToken),
        JobKinds.Notify => await NotifyAsync(db, record, job, cancellationToken),
        JobKinds.Checklist => await ChecklistAsync(db, record, cancellationToken),
        JobKinds.Investigate => await InvestigateAsync(record, cancellationToken),
        JobKinds.FollowUp => FollowUp(db, record),
        _ => new Outcome(JobStates.Failed, null, $"unknown step {job.Kind}"),
    };

    private void Event(CaseRecord record, string kind, string summary) =>
        record.Events.Add(new CaseEventRecord { At = time.GetUtcNow(), Kind = kind, Summary = summary });

    private void SetState(CaseRecord record, string state, string why)
    {
        record.State = state;
        if (CaseStates.IsClosed(state))
        {
            record.OpenKeyId = null;
            record.ClosedAt = time.GetUtcNow();
            vault.Forget(record.Id);
        }

        Event(record, "state", $"{state}: {why}");
    }

    private JobRecord Enqueue(CaseRecord record, string kind, string? argument = null, TimeSpan? after = null, string state = JobStates.Pending)
    {
        var now = time.GetUtcNow();
        var job = new JobRecord { Kind = kind, State = state, Argument = argument, NotBefore = now + (after ?? TimeSpan.Zero), CreatedAt = now };
        record.Jobs.Add(job);
        return job;
    }

    private async Task<Outcome> VerifyAsync(KeywardenDbContext db, CaseRecord record, JobRecord job, CancellationToken cancellationToken)
    {
        var account = AccessKeyId.DecodeAccountId(record.KeyId);
        if (account is null)
        {
            try
            {
                account = await new AccountLookup(Settings).GetAccessKeyAccountAsync(record.KeyId, cancellationToken);
            }
            catch (Exception e) when (AwsFailures.IsAwsFailure(e, cancellationToken) || e is AwsConfigurationException)
            {
                return RetryOrGiveUp(record, job, $"the key's account could not be found: {ContainmentService.Reason(e)}");
            }
        }

        record.AccountId = account;
        record.Subject = $"Exposed AWS access key {record.KeyId} in account {account}";
        if (CanaryAccounts.Contains(account))
        {
            SetState(record, CaseStates.NotOurs, $"account {account} is a canary-token account: someone found a tripwire key; it was not verified (that would alert its owner)");
            return new Outcome(JobStates.Done, "canary");
        }

        var (ours, why) = await IsOursAsync(account, cancellationToken);
        if (ours is null)
        {
            return RetryOrGiveUp(record, job, why);
        }

        if (ours == false)
        {
            SetState(record, CaseStates.NotOurs, why);
            return new Outcome(JobStates.Done, "not ours");
        }

        var policy = config.PolicyFor(account);
        if (policy.Verify && vault.Get(record.Id) is { } pair)
        {
            // The only call ever made with the leaked key: it changes nothing and cannot be denied.
            var result = await new KeyVerifier(Settings).VerifyAsync(record.KeyId, pair.Secret, pair.Token, cancellationToken);
            switch (result.Status)
            {
                case VerificationStatus.Active:
                    record.Verification = "active";
                    if (KeyOwner.FromArn(result.Arn!) is { } owner)
                    {
                        SetOwner(record, owner);
                    }

                    Event(record, "action", $"verified: active ({result.Arn})");
                    break;
                case VerificationStatus.Invalid when record.KeyId.StartsWith("ASIA", StringComparison.Ordinal) && result.Reason is not "SignatureDoesNotMatch":
                    record.Verification = "invalid";
                    SetState(record, CaseStates.Invalid, $"AWS refuses the session ({result.Reason}): it expired or was revoked, so it can no longer be used");
                    return new Outcome(JobStates.Done, "invalid");
                case VerificationStatus.Invalid:
                    // SignatureDoesNotMatch: AWS knows the key ID, the reported secret is not its own (a mis-paired
                    // finding): the key itself may be live. InvalidClientTokenId on a long-term key: inactive or
                    // deleted, and an inactive key can be reactivated. Either way the key is contained by its ID.
                    record.Verification = "invalid";
                    Event(record, "action", $"verified: invalid ({result.Reason}): {(result.Reason is "SignatureDoesNotMatch" ? "the reported secret is not this key's" : "inactive or deleted")}; containing by key ID");
                    break;
                default:
                    if (job.Attempts < MaxAwsAttempts)
                    {
                        return Retry(job, $"verification: no answer from AWS ({result.Reason})");
                    }

                    record.Verification = "unknown";
                    Event(record, "action", $"verification gave no answer after {job.Attempts} attempts ({result.Reason}); containing without it");
                    break;
            }
        }
        else
        {
            record.Verification = "not-verified";
            Event(record, "action", policy.Verify ? "not verified: the secret is not available to this worker; the owner is looked up by key ID" : "not verified: verification is turned off by policy");
        }

        SetState(record, CaseStates.Verifying, "containing");
        Enqueue(record, JobKinds.Contain);
        _ = db;
        return new Outcome(JobStates.Done, record.Verification);
    }

    /// <summary>Whether the account is ours; null when AWS could not be asked (retried later).</summary>
    private async Task<(bool?, string)> IsOursAsync(string account, CancellationToken cancellationToken)
    {
        if (config.Accounts.IsConfigured)
        {
            return config.Accounts.Find(account) is null ? (false, $"account {account} is not in the account directory: nothing was done") : (true, "");
        }

        try
        {
            var (ambient, _) = await new AccountAccess(Settings, config.Accounts).AmbientAsync(cancellationToken);
            return ambient == account ? (true, "") : (false, $"account {account} is not ours (no account directory; Keywarden's credentials are for {ambient}): nothing was done");
        }
        catch (Exception e) when (e is AwsCallException or AwsConfigurationException)
        {
            return (null, $"cannot tell whether account {account} is ours: {e.Message}");
        }
    }

    private static void SetOwner(CaseRecord record, KeyOwner owner)
    {
        record.OwnerType = ContainmentService.Describe(owner.Kind);
        record.OwnerName = owner.Name;
        record.OwnerArn = owner.Arn;
    }

    /// <summary>A verify step that cannot go on: retried, and after the last attempt the case says so and the owner is told.</summary>
    private Outcome RetryOrGiveUp(CaseRecord record, JobRecord job, string error) =>
        job.Attempts < MaxAwsAttempts ? Retry(job, error) : Failed(record, deactivateNow: false, error);

    private Outcome Retry(JobRecord job, string error) =>
        job.Attempts < MaxAwsAttempts
            ? new Outcome(JobStates.Pending, null, error, AwsRetryDelay * Math.Pow(2, job.Attempts - 1))
            : new Outcome(JobStates.Failed, null, error);

    private async Task<Outcome> ContainAsync(KeywardenDbContext db, CaseRecord record, JobRecord job, bool deactivateNow, CancellationToken cancellationToken)
    {
        var policy = config.PolicyFor(record.AccountId);
        var options = new QuarantineOptions
        {
            Policy = policy.QuarantinePolicy ?? config.QuarantinePolicy,
            UseManagedPolicy = config.UseManagedPolicy,
            Deactivate = deactivateNow || policy.Deactivate == DeactivateWhen.Immediately,
            RevokeSessions = policy.RevokeSessions,
        };
        var owner = record.OwnerArn is { } arn && record.OwnerType is "role" or "user" or "root" ? KeyOwner.FromArn(arn) : null;
        var containment = new ContainmentService(store, new AccountAccess(Settings, config.Accounts), time);
        QuarantineOutcome outcome;
        try
        {
            if (owner is null && record.KeyId.StartsWith("ASIA", StringComparison.Ordinal))
            {
                return Failed(record, deactivateNow, "a temporary key without its secret: its role or user cannot be looked up by key ID. Run: keywarden quarantine "
                    + $"{record.KeyId} --principal ARN (find the principal in CloudTrail)");
            }

            outcome = await containment.QuarantineAsync(record.KeyId, record.AccountId!, owner, options, dryRun: false, cancellationToken);
        }
        catch (NotOurAccountException e)
        {
            SetState(record, CaseStates.NotOurs, e.Message);
            return new Outcome(JobStates.Done, "not ours");
        }
        catch (PrincipalMismatchException e)
        {
            return Failed(record, deactivateNow, e.Message);
        }
        catch (StoreBusyException e)
        {
            // Another process (a `keywarden quarantine` in a terminal, a second worker) is containing the key: try again later.
            return Retry(job, e.Message);
        }
        catch (Exception e) when (e is AwsCallException or AwsConfigurationException || AwsFailures.IsAwsFailure(e, cancellationToken))
        {
            var error = e is AwsCallException or AwsConfigurationException ? e.Message : ContainmentService.Reason(e);
            return job.Attempts < MaxAwsAttempts ? Retry(job, error) : Failed(record, deactivateNow, error);
        }

        record.ContainmentId = outcome.RecordId ?? record.ContainmentId;
        if (outcome.Plan is { } plan)
        {
            SetOwner(record, plan.Owner);
            // The planner calls a root key or an AdministratorAccess user critical; the policy's rules decide whether that counts.
            var rule = plan.Owner.Kind == PrincipalKind.Root ? "root" : "admin";
            if (plan.Severity == "critical" && policy.CriticalWhen.Contains(rule))
            {
                record.Severity = "critical";
            }
        }

        foreach (var step in outcome.Steps)
        {
            Event(record, "action", $"{step.Step.Description}: {step.Result}{(step.Error is null ? "" : $" ({step.Error})")}");
        }

        switch (outcome.Status)
        {
            case QuarantineStatus.KeyGone when !deactivateNow && record.Verification == "invalid":
                SetState(record, CaseStates.Invalid, "AWS refuses the key and no user in the account has it: it was deleted");
                return new Outcome(JobStates.Done, "invalid");

            case QuarantineStatus.Contained or QuarantineStatus.KeyGone:
                if (deactivateNow)
                {
                    return new Outcome(JobStates.Done, "deactivated");
                }

                SetState(record, CaseStates.Contained, outcome.Status == QuarantineStatus.KeyGone
                    ? "no user in the account has the key any more: it was deleted"
                    : $"quarantined through {outcome.Via}");
                if (policy.Deactivate == DeactivateWhen.AfterApproval && record.OwnerType == "user" && !record.KeyId.StartsWith("ASIA", StringComparison.Ordinal) && outcome.Status != QuarantineStatus.KeyGone)
                {
                    Enqueue(record, JobKinds.Deactivate, state: JobStates.AwaitingApproval);
                    Event(record, "action", $"deactivating {record.KeyId} awaits approval: keywarden cases approve {CaseReference.Of(record.Id)}");
                }

                AfterContainment(record, policy);
                return new Outcome(JobStates.Done, "contained");

            case QuarantineStatus.Manual:
                if (outcome.Plan?.Owner.Kind == PrincipalKind.Root && policy.CriticalWhen.Contains("root"))
                {
                    record.Severity = "critical";
                }

                foreach (var step in outcome.Plan?.ManualSteps ?? [])
                {
                    Event(record, "action", $"to do by hand: {step}");
                }

                return Failed(record, deactivateNow, "only a person can contain this key (see the steps above)");

            default:
                var error = string.Join("; ", outcome.Steps.Where(s => s.Error is not null).Select(s => s.Error));
                return job.Attempts < MaxAwsAttempts ? Retry(job, error) : Failed(record, deactivateNow, error);
        }
    }

    private Outcome Failed(CaseRecord record, bool deactivateNow, string error)
    {
        if (!deactivateNow)
        {
            SetState(record, CaseStates.ContainmentFailed, error);
            AfterContainment(record, config.PolicyFor(record.AccountId));
        }

        return new Outcome(JobStates.Failed, null, error);
    }

    /// <summary>Contained or not, the owner is told, the key's activity is investigated (when a trail is configured) and the checklist is drawn up.</summary>
    private void AfterContainment(CaseRecord record, PlaybookPolicy policy)
    {
        QueueNotifications(record, policy, "initial");
        Enqueue(record, config.InvestigateTrail is null ? JobKinds.Checklist : JobKinds.Investigate);
    }

    /// <summary>
    /// What the key and every key minted from it did (Keywarden.Investigation over the configured trail):
    /// the summary and detections become events of the case, and each item of the eradication list an
    /// event too, which the checklist's attacker-resources item shows as its evidence.
    /// </summary>
    private async Task<Outcome> InvestigateAsync(CaseRecord record, CancellationToken cancellationToken)
    {
        if (record.State == CaseStates.Contained)
        {
            SetState(record, CaseStates.Investigating, $"reading CloudTrail ({config.InvestigateTrail})");
        }

        var exposedAt = record.Occurrences.Count == 0 ? record.CreatedAt : record.Occurrences.Min(o => o.DetectedAt);
        var query = new Keywarden.Investigation.Loading.TrailQuery(
            record.KeyId, new Keywarden.Investigation.Loading.TimeWindow(exposedAt.AddDays(-config.InvestigateDays), null),
            record.AccountId is null ? [] : [record.AccountId], []);
        Keywarden.Investigation.Reports.InvestigationReport report;
        try
        {
            var source = Keywarden.Investigation.Loading.TrailSources.Create(config.InvestigateTrail!, Settings);
            report = await Keywarden.Investigation.Analysis.Investigator.RunAsync(source, query, null, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Event(record, "investigation", $"could not investigate: {e.Message.Split('\n')[0]} (run: keywarden investigate {record.KeyId} --trail {config.InvestigateTrail})");
            Enqueue(record, JobKinds.Checklist);
            return new Outcome(JobStates.Failed, null, e.Message.Split('\n')[0]);
        }

        var summary = report.Summary;
        Event(record, "investigation",
            $"{summary.EventCount} events of {report.Keys.Count} key(s) (the leaked one and {report.Keys.Count - 1} minted from it) from {summary.SourceIps.Count} address(es) in {summary.Regions.Count} region(s), "
            + $"{summary.FirstSeen?.UtcDateTime:yyyy-MM-dd HH:mm}Z to {summary.LastSeen?.UtcDateTime:yyyy-MM-dd HH:mm}Z; {report.Detections.Count} detection(s), {report.Eradication.Count} thing(s) to undo");
        foreach (var detection in report.Detections.OrderByDescending(d => Rank(d.Severity)).Take(50))
        {
            Event(record, "detection", $"{detection.Severity} {detection.RuleId} {detection.Title}: {detection.EventName} at {detection.EventTime?.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z in {detection.Region}{(detection.ErrorCode is null ? "" : $" ({detection.ErrorCode})")}");
            if (detection.Severity == "critical" && record.Severity != "critical")
            {
                Event(record, "state", $"escalated from {record.Severity} to critical: {detection.Title}");
                record.Severity = "critical";
            }
        }

        foreach (var item in report.Eradication.Take(200))
        {
            Event(record, "eradication", $"{item.Action} {item.ResourceType} {item.ResourceId} in {item.Account}/{item.Region} (created by {item.EventName} {item.EventId})");
        }

        Enqueue(record, JobKinds.Checklist);
        return new Outcome(JobStates.Done, $"{summary.EventCount} events, {report.Detections.Count} detections, {report.Eradication.Count} to undo");
    }

    private static int Rank(string severity) => severity switch { "critical" => 4, "high" => 3, "medium" => 2, "low" => 1, _ => 0 };

    private void QueueNotifications(CaseRecord record, PlaybookPolicy policy, string purpose)
    {
        var recipients = _notifier.Recipients(policy);
        if (recipients.Count == 0)
        {
            Event(record, "notification", $"{purpose}: no notification channel is configured ([notify.email], [notify.webhook]): nothing sent");
            return;
        }

        var index = 0;
        foreach (var (channel, recipient) in recipients)
        {
            var messageId = $"<{CaseReference.Of(record.Id)}.{purpose}.{++index}.{Guid.NewGuid():N}@keywarden>";
            record.Notifications.Add(new NotificationRecord
            {
                Channel = channel,
                Recipient = recipient,
                Purpose = purpose,
                Subject = "(composed when sent)",
                MessageId = messageId,
                State = "pending",
                CreatedAt = time.GetUtcNow(),
            });
            Enqueue(record, JobKinds.Notify, messageId);
        }
    }

    private async Task<Outcome> NotifyAsync(KeywardenDbContext db, CaseRecord record, JobRecord job, CancellationToken cancellationToken)
    {
        var notification = record.Notifications.FirstOrDefault(n => n.MessageId == job.Argument);
        if (notification is null || notification.State == "sent")
        {
            return new Outcome(JobStates.Skipped, notification is null ? "no such notification" : "already sent");
        }

        var containment = record.ContainmentId is { } id ? await db.Containments.Include(c => c.Actions).FirstOrDefaultAsync(c => c.Id == id, cancellationToken) : null;
        notification.Subject = Notifier.Subject(record, notification.Purpose);
        notification.Attempts++;
        var (attempts, delay) = notification.Channel == "email"
            ? (config.Email?.Attempts ?? 1, config.Email?.RetryDelay ?? TimeSpan.Zero)
            : (config.Webhook?.Attempts ?? 1, config.Webhook?.RetryDelay ?? TimeSpan.Zero);
        try
        {
            if (notification.Channel == "email")
            {
                await _notifier.SendEmailAsync(notification, Notifier.Body(record, containment), cancellationToken);
            }
            else
            {
                await _notifier.SendWebhookAsync(notification, record, cancellationToken);
            }
        }
        catch (NotificationException e)
        {
            notification.LastError = e.Message;
            if (notification.Attempts < attempts)
            {
                return new Outcome(JobStates.Pending, null, e.Message, delay);
            }

            notification.State = "failed";
            Event(record, "notification", $"{notification.Channel} to {Notifier.Display(notification.Channel, notification.Recipient)} failed after {notification.Attempts} attempts: {e.Message}");
            return new Outcome(JobStates.Failed, null, e.Message);
        }

        notification.State = "sent";
        notification.SentAt = time.GetUtcNow();
        notification.LastError = null;
        Event(record, "notification", $"{notification.Purpose} {notification.Channel} sent to {Notifier.Display(notification.Channel, notification.Recipient)}: {notification.Subject}");
        return new Outcome(JobStates.Done, "sent");
    }

    private async Task<Outcome> ChecklistAsync(KeywardenDbContext db, CaseRecord record, CancellationToken cancellationToken)
    {
        Checklist.Ensure(record);
        try
        {
            using var account = await new AccountAccess(Settings, config.Accounts).ConnectAsync(record.AccountId!, cancellationToken);
            foreach (var change in await Checklist.VerifyAsync(record, account, time.GetUtcNow(), cancellationToken))
            {
                Event(record, "checklist", change);
            }
        }
        catch (Exception e) when (e is AwsCallException or AwsConfigurationException or NotOurAccountException)
        {
            Event(record, "checklist", $"automatic checks could not run: {e.Message} (keywarden cases verify {CaseReference.Of(record.Id)} re-checks)");
        }

        if (record.State == CaseStates.Contained)
        {
            SetState(record, CaseStates.Investigating, $"no trail is configured ([investigate] trail): review what the key did with keywarden investigate {record.KeyId} --trail PATH|s3://BUCKET/PREFIX|lookup");
        }

        if (record.State == CaseStates.Investigating)
        {
            SetState(record, CaseStates.AwaitingRemediation, "the checklist is drawn up; Keywarden follows up until the case is resolved");
        }

        if (_notifier.Recipients(config.PolicyFor(record.AccountId)).Count > 0)
        {
            Enqueue(record, JobKinds.FollowUp, after: config.PolicyFor(record.AccountId).FollowUpInterval);
        }

        _ = db;
        return new Outcome(JobStates.Done, $"{record.Checklist.Count(i => ChecklistStatuses.IsDone(i.Status))}/{record.Checklist.Count} done");
    }

    private Outcome FollowUp(KeywardenDbContext db, CaseRecord record)
    {
        var policy = config.PolicyFor(record.AccountId);
        record.FollowUps++;
        if (record.FollowUps % policy.EscalateAfter == 0)
        {
            var before = record.Severity;
            record.Severity = before switch { "low" => "medium", "medium" => "high", _ => "critical" };
            Event(record, "state", $"escalated from {before} to {record.Severity}: unresolved after {record.FollowUps} follow-ups");
        }

        QueueNotifications(record, policy, $"follow-up-{record.FollowUps}");
        Enqueue(record, JobKinds.FollowUp, after: policy.FollowUpInterval);
        _ = db;
        return new Outcome(JobStates.Done, $"follow-up {record.FollowUps}");
    }
}
