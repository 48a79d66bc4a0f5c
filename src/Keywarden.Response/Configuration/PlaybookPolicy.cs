namespace Keywarden.Response.Configuration;

/// <summary>When the exposed key is made Inactive.</summary>
public enum DeactivateWhen
{
    Never,
    Immediately,

    /// <summary>The default: quarantine at once, deactivate when a person approves (<c>keywarden cases approve</c>), since an Inactive key can break production.</summary>
    AfterApproval,
}

/// <summary>
/// How the playbook treats a case, by default or for one account (<c>[policy]</c>, <c>[policy.accounts."ID"]</c>).
/// The defaults are the issue's: verify, attach the V3 quarantine policy, deactivate after approval,
/// notify every configured channel.
/// </summary>
public sealed record PlaybookPolicy
{
    public bool Verify { get; init; } = true;

    /// <summary>Null: the [quarantine] setting.</summary>
    public string? QuarantinePolicy { get; init; }

    public DeactivateWhen Deactivate { get; init; } = DeactivateWhen.AfterApproval;

    public bool RevokeSessions { get; init; }

    /// <summary>Channels to notify: email, webhook. Null: every configured channel.</summary>
    public IReadOnlyList<string>? Notify { get; init; }

    /// <summary>Extra email recipients for this account (besides [notify.email] to).</summary>
    public IReadOnlyList<string> Recipients { get; init; } = [];

    public TimeSpan FollowUpInterval { get; init; } = TimeSpan.FromHours(24);

    /// <summary>After this many follow-ups without resolution, severity goes up one level.</summary>
    public int EscalateAfter { get; init; } = 3;

    /// <summary>Severity rules: a case is critical when the owner is root ("root") or has AdministratorAccess ("admin").</summary>
    public IReadOnlyList<string> CriticalWhen { get; init; } = ["root", "admin"];
}

/// <summary>SMTP delivery ([notify.email]); the password comes from an environment variable, never the file.</summary>
public sealed record EmailSettings
{
    public required string Host { get; init; }
    public int Port { get; init; } = 25;

    /// <summary>none, starttls or ssl.</summary>
    public string Security { get; init; } = "starttls";
    public required string From { get; init; }
    public IReadOnlyList<string> To { get; init; } = [];
    public string? Username { get; init; }
    public string? PasswordEnvironmentVariable { get; init; }
    public int Attempts { get; init; } = 5;
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>JSON POSTs to each URL ([notify.webhook]).</summary>
public sealed record WebhookSettings
{
    public IReadOnlyList<string> Urls { get; init; } = [];
    public int Attempts { get; init; } = 5;
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(30);
}
