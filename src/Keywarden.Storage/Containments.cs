namespace Keywarden.Storage;

/// <summary>
/// One containment of one access key: who owns it, in which account, and every action Keywarden took,
/// with the state before it, so <c>keywarden release</c> can undo exactly that from a new process.
/// Holds key IDs and names only, never a secret.
/// </summary>
public sealed class ContainmentRecord
{
    public long Id { get; set; }

    /// <summary>The access key ID (AKIA..., ASIA...): an identifier, not a secret.</summary>
    public required string KeyId { get; set; }

    public required string AccountId { get; set; }

    /// <summary>user, role, root or federated-user.</summary>
    public required string PrincipalType { get; set; }

    public required string PrincipalName { get; set; }

    public string? PrincipalArn { get; set; }

    /// <summary>See <see cref="ContainmentStates"/>.</summary>
    public required string State { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    public List<ContainmentActionRecord> Actions { get; set; } = [];
}

public static class ContainmentStates
{
    /// <summary>Some planned actions have not completed (a failure or an interruption): re-running completes them.</summary>
    public const string Partial = "partial";

    /// <summary>Every planned action is done.</summary>
    public const string Contained = "contained";

    /// <summary>Every action was undone by <c>keywarden release</c>.</summary>
    public const string Released = "released";
}

/// <summary>One action on AWS, written before it is attempted and updated after, so an interruption is never lost.</summary>
public sealed class ContainmentActionRecord
{
    public long Id { get; set; }

    public long ContainmentId { get; set; }

    public ContainmentRecord? Containment { get; set; }

    /// <summary>The order actions were planned in; release undoes them in reverse.</summary>
    public int Sequence { get; set; }

    /// <summary>attach-policy, create-policy, deactivate-key, delete-login-profile, revoke-sessions.</summary>
    public required string Kind { get; set; }

    /// <summary>user or role: what <see cref="Target"/> names.</summary>
    public required string TargetType { get; set; }

    /// <summary>The IAM user or role acted on.</summary>
    public required string Target { get; set; }

    /// <summary>A policy ARN, policy name or key ID, by kind.</summary>
    public string? Parameter { get; set; }

    /// <summary>What AWS held before the action (e.g. "detached", "Active", an inline policy document, or "absent").</summary>
    public string? Before { get; set; }

    public string? After { get; set; }

    /// <summary>See <see cref="ActionStatuses"/>.</summary>
    public required string Status { get; set; }

    /// <summary>Why it failed: AWS's error code and message (never a secret).</summary>
    public string? Error { get; set; }

    public DateTimeOffset StartedAt { get; set; }

    public DateTimeOffset? CompletedAt { get; set; }

    public DateTimeOffset? UndoneAt { get; set; }
}

public static class ActionStatuses
{
    /// <summary>Recorded and about to be sent: if a run stops here, the next run checks AWS and completes it.</summary>
    public const string Started = "started";

    public const string Done = "done";

    public const string Failed = "failed";

    /// <summary>Undone by <c>keywarden release</c>.</summary>
    public const string Undone = "undone";

    /// <summary>Cannot be undone automatically (a deleted console password); release says what to do by hand.</summary>
    public const string Irreversible = "irreversible";
}
