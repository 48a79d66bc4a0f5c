using Keywarden.Storage;
using Microsoft.EntityFrameworkCore;

namespace Keywarden.Response.Cases;

/// <summary>
/// Intake and the people-facing operations on cases. <see cref="ReportAsync"/> is the single entry
/// point: the same key reported again joins its open case as another occurrence, never a second case,
/// also when reports arrive concurrently (a unique index on the open case's key decides).
/// </summary>
public sealed class CaseService(KeywardenStore store, SecretVault vault, TimeProvider time)
{
    public async Task<(CaseRecord Case, bool Joined)> ReportAsync(ExposureReport report, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(report);
        if (!SourceKinds.All.Contains(report.Source))
        {
            throw new ArgumentException($"unknown source '{report.Source}' (expected {string.Join(", ", SourceKinds.All)})", nameof(report));
        }

        for (var attempt = 0; ; attempt++)
        {
            await using var db = store.CreateContext();
            var now = time.GetUtcNow();
            var occurrence = new OccurrenceRecord { Source = report.Source, Url = report.Url, DetectedAt = report.DetectedAt.ToUniversalTime(), Reporter = report.Reporter, ReportedAt = now };
            var open = await db.Cases.FirstOrDefaultAsync(c => c.OpenKeyId == report.KeyId, cancellationToken);
            if (open is not null)
            {
                occurrence.CaseId = open.Id;
                db.Occurrences.Add(occurrence);
                db.CaseEvents.Add(new CaseEventRecord { CaseId = open.Id, At = now, Kind = "report", Summary = $"reported again ({Describe(report)})" });
                // Joining adds rows and leaves the case row alone (so concurrent reports do not conflict),
                // unless this report brings the secret the case lacked.
                if (report.Secret is { Length: > 0 } secret && open.SecretSha256 is null)
                {
                    open.SecretSha256 = ExposureReport.Sha256(secret);
                    open.SecretRedacted = ExposureReport.Redact(secret);
                    open.UpdatedAt = now;
                    open.Version++;
                }

                if (open.State is CaseStates.Reported or CaseStates.ContainmentFailed
                    && !await db.Jobs.AnyAsync(j => j.CaseId == open.Id && (j.State == JobStates.Pending || j.State == JobStates.Running), cancellationToken))
                {
                    // The case stalled (AWS was unreachable and the steps gave up): a new report tries again.
                    db.Jobs.Add(new JobRecord { CaseId = open.Id, Kind = JobKinds.Verify, State = JobStates.Pending, NotBefore = now, CreatedAt = now });
                    db.CaseEvents.Add(new CaseEventRecord { CaseId = open.Id, At = now, Kind = "state", Summary = $"{open.State}: trying again on the new report" });
                }

                try
                {
                    await db.SaveChangesAsync(cancellationToken);
                }
                catch (DbUpdateException e) when (attempt < 20 && IsUniqueViolation(e))
                {
                    continue; // the case changed meanwhile (or closed): look again
                }

                Remember(open.Id, report);
                return (open, true);
            }

            var record = new CaseRecord
            {
                Subject = $"Exposed AWS access key {report.KeyId}",
                Severity = "high",
                State = CaseStates.Reported,
                KeyId = report.KeyId,
                OpenKeyId = report.KeyId,
                SecretSha256 = report.Secret is { Length: > 0 } s ? ExposureReport.Sha256(s) : null,
                SecretRedacted = report.Secret is { Length: > 0 } r ? ExposureReport.Redact(r) : null,
                CreatedAt = now,
                UpdatedAt = now,
                Occurrences = [occurrence],
                Events = [new CaseEventRecord { At = now, Kind = "state", Summary = $"{CaseStates.Reported}: {Describe(report)}" }],
                Jobs = [new JobRecord { Kind = JobKinds.Verify, State = JobStates.Pending, NotBefore = now, CreatedAt = now }],
            };
            db.Cases.Add(record);
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                Remember(record.Id, report);
                return (record, false);
            }
            catch (DbUpdateException e) when (attempt < 20 && IsUniqueViolation(e))
            {
                // Another report of the same key opened the case first: join it.
            }
        }
    }

    /// <summary>PostgreSQL's unique_violation (23505) or SQLite's constraint error (19), or a concurrent change of the case.</summary>
    private static bool IsUniqueViolation(DbUpdateException e) =>
        e is DbUpdateConcurrencyException
        || e.InnerException is Npgsql.PostgresException { SqlState: "23505" }
        || e.InnerException is Microsoft.Data.Sqlite.SqliteException { SqliteErrorCode: 19 };

    private void Remember(long caseId, ExposureReport report)
    {
        if (report.Secret is { Length: > 0 } secret)
        {
            vault.Put(caseId, secret, report.SessionToken);
        }
    }

    private static string Describe(ExposureReport report) =>
        $"{report.Source}{(report.Url is null ? "" : $" at {report.Url}")}, detected {report.DetectedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z{(report.Reporter is null ? "" : $" by {report.Reporter}")}";

    /// <summary>A case with everything it holds, or <see cref="CaseNotFoundException"/>.</summary>
    public async Task<CaseRecord> GetAsync(long id, CancellationToken cancellationToken)
    {
        await using var db = store.CreateContext();
        return await LoadAsync(db, id, cancellationToken);
    }

    public static async Task<CaseRecord> LoadAsync(KeywardenDbContext db, long id, CancellationToken cancellationToken)
    {
        var record = await db.Cases
            .Include(c => c.Occurrences).Include(c => c.Events).Include(c => c.Jobs).Include(c => c.Notifications).Include(c => c.Checklist)
            .AsSplitQuery()
            .FirstOrDefaultAsync(c => c.Id == id, cancellationToken);
        return record ?? throw new CaseNotFoundException(CaseReference.Of(id));
    }

    /// <summary>The containment record of a case, with its actions, if containment ran.</summary>
    public async Task<ContainmentRecord?> GetContainmentAsync(CaseRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.ContainmentId is not { } id)
        {
            return null;
        }

        await using var db = store.CreateContext();
        return await db.Containments.Include(c => c.Actions).FirstOrDefaultAsync(c => c.Id == id, cancellationToken);
    }

    public async Task<List<CaseRecord>> ListAsync(string? state, CancellationToken cancellationToken)
    {
        await using var db = store.CreateContext();
        var query = db.Cases.Include(c => c.Occurrences).AsQueryable();
        if (state is not null)
        {
            query = query.Where(c => c.State == state);
        }

        return await query.OrderByDescending(c => c.Id).ToListAsync(cancellationToken);
    }

    /// <summary>Closes a case as resolved or a false positive; an open checklist item blocks resolving unless <paramref name="force"/>.</summary>
    public async Task<CaseRecord> ResolveAsync(long id, bool falsePositive, string? note, string? rootCause, string? lessons, bool force, CancellationToken cancellationToken)
    {
        await using var db = store.CreateContext();
        var record = await LoadAsync(db, id, cancellationToken);
        if (CaseStates.IsClosed(record.State))
        {
            throw new CaseStateException($"{CaseReference.Of(id)} is already closed ({record.State})");
        }

        var open = record.Checklist.Where(i => i.Status is ChecklistStatuses.Open or ChecklistStatuses.Failed).ToList();
        if (!falsePositive && !force && open.Count > 0)
        {
            throw new CaseStateException($"{CaseReference.Of(id)} has {open.Count} open checklist item(s) ({string.Join(", ", open.Select(i => i.Key))}): verify or confirm them, or resolve with --force");
        }

        var now = time.GetUtcNow();
        record.State = falsePositive ? CaseStates.FalsePositive : CaseStates.Resolved;
        record.OpenKeyId = null;
        record.ClosedAt = now;
        record.UpdatedAt = now;
        record.ResolutionNote = note ?? record.ResolutionNote;
        record.Version++;
        record.RootCause = rootCause ?? record.RootCause;
        record.LessonsLearned = lessons ?? record.LessonsLearned;
        record.Events.Add(new CaseEventRecord { At = now, Kind = "state", Summary = $"{record.State}{(note is null ? "" : $": {note}")}{(force && open.Count > 0 ? $" (forced with {open.Count} open checklist items)" : "")}" });
        foreach (var job in record.Jobs.Where(j => j.State is JobStates.Pending or JobStates.AwaitingApproval))
        {
            job.State = JobStates.Skipped;
            job.Result = $"case {record.State}";
        }

        await db.SaveChangesAsync(cancellationToken);
        return record;
    }

    /// <summary>A person confirms a manual checklist item (or marks it not applicable).</summary>
    public async Task<ChecklistItemRecord> ConfirmAsync(long id, string key, string note, string by, bool notApplicable, CancellationToken cancellationToken)
    {
        await using var db = store.CreateContext();
        var record = await LoadAsync(db, id, cancellationToken);
        var item = record.Checklist.FirstOrDefault(i => i.Key == key)
            ?? throw new CaseStateException($"{CaseReference.Of(id)} has no checklist item '{key}' (items: {string.Join(", ", record.Checklist.OrderBy(i => i.Order).Select(i => i.Key))})");
        var now = time.GetUtcNow();
        item.Status = notApplicable ? ChecklistStatuses.NotApplicable : ChecklistStatuses.Confirmed;
        item.Evidence = note;
        item.ConfirmedBy = by;
        item.CheckedAt = now;
        record.UpdatedAt = now;
        record.Version++;
        record.Events.Add(new CaseEventRecord { At = now, Kind = "checklist", Summary = $"{item.Key} {item.Status} by {by}: {note}" });
        await db.SaveChangesAsync(cancellationToken);
        return item;
    }

    /// <summary>Approves the deactivation the policy holds for a person's approval; the worker carries it out.</summary>
    public async Task ApproveDeactivationAsync(long id, string by, CancellationToken cancellationToken)
    {
        await using var db = store.CreateContext();
        var record = await LoadAsync(db, id, cancellationToken);
        var job = record.Jobs.FirstOrDefault(j => j.Kind == JobKinds.Deactivate && j.State == JobStates.AwaitingApproval)
            ?? throw new CaseStateException($"{CaseReference.Of(id)} has no deactivation awaiting approval");
        var now = time.GetUtcNow();
        job.State = JobStates.Pending;
        job.NotBefore = now;
        record.Version++;
        record.Events.Add(new CaseEventRecord { At = now, Kind = "action", Summary = $"deactivation of {record.KeyId} approved by {by}" });
        await db.SaveChangesAsync(cancellationToken);
    }
}
