namespace Keywarden.Storage;

/// <summary>
/// An exposure case: one exposed key, however many times it is reported. Holds the key ID, its redacted
/// form and the SHA-256 of its secret (the form GitHub's secret-scanning partner protocol answers with),
/// never the secret itself.
/// </summary>
public sealed class CaseRecord
{
    public long Id { get; set; }

    public required string Subject { get; set; }

    /// <summary>low, medium, high or critical.</summary>
    public required string Severity { get; set; }

    /// <summary>See <c>Keywarden.Response.Cases.CaseStates</c>.</summary>
    public required string State { get; set; }

    public required string KeyId { get; set; }

    /// <summary>The key ID while the case is open, null once closed: a unique index on it makes "one open case per key" hold under concurrent reports.</summary>
    public string? OpenKeyId { get; set; }

    /// <summary>Hex SHA-256 of the secret access key, when one was reported.</summary>
    public string? SecretSha256 { get; set; }

    /// <summary>The first characters of the secret and its length (e.g. <c>wJal…(40)</c>), when one was reported.</summary>
    public string? SecretRedacted { get; set; }

    public string? AccountId { get; set; }

    public string? OwnerType { get; set; }

    public string? OwnerName { get; set; }

    public string? OwnerArn { get; set; }

    /// <summary>Result of verification: active, invalid, unknown, or not-verified.</summary>
    public string? Verification { get; set; }

    public long? ContainmentId { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    public DateTimeOffset? ClosedAt { get; set; }

    /// <summary>Follow-up notifications sent so far.</summary>
    public int FollowUps { get; set; }

    public string? RootCause { get; set; }

    public string? LessonsLearned { get; set; }

    public string? ResolutionNote { get; set; }

    /// <summary>Bumped by every change: a worker's step and a person's resolve cannot overwrite each other unseen.</summary>
    public int Version { get; set; }

    public List<OccurrenceRecord> Occurrences { get; set; } = [];

    public List<CaseEventRecord> Events { get; set; } = [];

    public List<JobRecord> Jobs { get; set; } = [];

    public List<NotificationRecord> Notifications { get; set; } = [];

    public List<ChecklistItemRecord> Checklist { get; set; } = [];
}

/// <summary>One report of the exposure: where and when it was seen, by whom.</summary>
public sealed class OccurrenceRecord
{
    public long Id { get; set; }

    public long CaseId { get; set; }

    /// <summary>scan, github-partner, github-alert, aws-health, manual.</summary>
    public required string Source { get; set; }

    public string? Url { get; set; }

    public DateTimeOffset DetectedAt { get; set; }

    public string? Reporter { get; set; }

    public DateTimeOffset ReportedAt { get; set; }
}

/// <summary>The case's history: state changes, actions and their results, each with its time.</summary>
public sealed class CaseEventRecord
{
    public long Id { get; set; }

    public long CaseId { get; set; }

    public DateTimeOffset At { get; set; }

    /// <summary>state, action, notification, checklist, note.</summary>
    public required string Kind { get; set; }

    public required string Summary { get; set; }
}

/// <summary>
/// A durable step of the playbook, written in the same transaction as the state change that calls for
/// it, claimed by a worker with a lease, retried with backoff, and completed in the same transaction as
/// its effects on the case: a crash between steps loses nothing and repeats nothing.
/// </summary>
public sealed class JobRecord
{
    public long Id { get; set; }

    public long CaseId { get; set; }

    /// <summary>verify, contain, notify, checklist, follow-up, deactivate.</summary>
    public required string Kind { get; set; }

    /// <summary>pending, running, done, failed, skipped, awaiting-approval.</summary>
    public required string State { get; set; }

    /// <summary>Kind-specific input, e.g. the notification the job sends.</summary>
    public string? Argument { get; set; }

    public int Attempts { get; set; }

    public DateTimeOffset NotBefore { get; set; }

    /// <summary>While running: when the claim expires and another worker may take the job over.</summary>
    public DateTimeOffset? LeaseUntil { get; set; }

    /// <summary>While running: the worker that claimed it (host:pid), so a restarted worker on the same host can take over a dead one's job at once.</summary>
    public string? LeaseOwner { get; set; }

    public string? LastError { get; set; }

    public string? Result { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset? CompletedAt { get; set; }
}

/// <summary>One message to one recipient over one channel.</summary>
public sealed class NotificationRecord
{
    public long Id { get; set; }

    public long CaseId { get; set; }

    /// <summary>email or webhook.</summary>
    public required string Channel { get; set; }

    public required string Recipient { get; set; }

    /// <summary>initial or follow-up-N.</summary>
    public required string Purpose { get; set; }

    public required string Subject { get; set; }

    /// <summary>Stable per notification (also the Message-ID of an email), so a receiver can drop a duplicate.</summary>
    public required string MessageId { get; set; }

    /// <summary>pending, sent, failed, skipped.</summary>
    public required string State { get; set; }

    public int Attempts { get; set; }

    public string? LastError { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset? SentAt { get; set; }
}

/// <summary>One remediation step, verified against AWS where an API allows, otherwise confirmed by a person.</summary>
public sealed class ChecklistItemRecord
{
    public long Id { get; set; }

    public long CaseId { get; set; }

    public required string Key { get; set; }

    public required string Title { get; set; }

    public int Order { get; set; }

    /// <summary>automatic or manual.</summary>
    public required string Verification { get; set; }

    /// <summary>open, verified, failed, confirmed, not-applicable.</summary>
    public required string Status { get; set; }

    /// <summary>What the check saw (automatic), or the person's note (manual).</summary>
    public string? Evidence { get; set; }

    public string? ConfirmedBy { get; set; }

    public DateTimeOffset? CheckedAt { get; set; }
}
