using Keywarden.Aws.Accounts;
using Keywarden.Aws.Iam;

namespace Keywarden.Aws.Containment;

/// <summary>The kinds of action containment takes, as recorded.</summary>
public static class StepKinds
{
    /// <summary>Create Keywarden's customer-managed copy of the quarantine policy in the account (kept on release: other keys may use it).</summary>
    public const string CreatePolicy = "create-policy";

    public const string AttachPolicy = "attach-policy";

    public const string DeactivateKey = "deactivate-key";

    /// <summary>Delete the user's console password: cannot be undone (a new password must be set).</summary>
    public const string DeleteLoginProfile = "delete-login-profile";

    /// <summary>The AWSRevokeOlderSessions inline policy on a user or role.</summary>
    public const string RevokeSessions = "revoke-sessions";
}

/// <summary>What containment should do beyond attaching the quarantine policy.</summary>
public sealed record QuarantineOptions
{
    /// <summary>AWSCompromisedKeyQuarantineV3 (default) or V2.</summary>
    public string Policy { get; init; } = QuarantinePolicies.V3;

    /// <summary>Attach AWS's managed policy when the partition has it; false always uses the customer-managed copy.</summary>
    public bool UseManagedPolicy { get; init; } = true;

    public bool Deactivate { get; init; }

    public bool RevokeSessions { get; init; }

    public bool DisableConsole { get; init; }
}

/// <summary>
/// One action of a plan. <see cref="Needed"/> is false when AWS already is in the wanted state (running
/// twice changes nothing). <see cref="Before"/> is what AWS held, recorded so release can restore it.
/// </summary>
public sealed record ContainmentStep(string Kind, PrincipalKind TargetKind, string Target, string? Parameter, string Before, string After, bool Needed, string Description);

/// <summary>What will be (or was) done to contain one key, read from IAM's current state.</summary>
public sealed record ContainmentPlan(
    string KeyId,
    string AccountId,
    KeyOwner Owner,
    string Severity,
    IReadOnlyList<ContainmentStep> Steps,
    IReadOnlyList<string> Notes,
    IReadOnlyList<string> ManualSteps)
{
    /// <summary>False for root keys and sessions whose IAM principal is unknown: only a person can act.</summary>
    public bool Containable => Owner.Kind is PrincipalKind.User or PrincipalKind.Role;
}

/// <summary>
/// Finds who owns a key and reads IAM's current state into a <see cref="ContainmentPlan"/>. Only reads:
/// nothing changes until <see cref="ContainmentSteps.ApplyAsync"/>.
/// </summary>
public static class ContainmentPlanner
{
    public const string AdministratorAccess = "AdministratorAccess";

    /// <summary>
    /// The IAM user that owns a long-term key: iam:GetAccessKeyLastUsed, then (if that is denied or finds
    /// nothing) every user's keys. Null when no user in the account has the key: a root key, or a deleted one.
    /// </summary>
    public static async Task<KeyOwner?> FindUserOwnerAsync(AccountConnection account, string keyId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(account);
        string? user = null;
        try
        {
            user = await account.Iam.GetAccessKeyUserAsync(keyId, cancellationToken);
        }
        catch (IamException e) when (e.IsAccessDenied || e.Code is "InvalidInput" or "ValidationError")
        {
            // Fall through to the exhaustive search.
        }

        if (user is null)
        {
            foreach (var candidate in await account.Iam.ListUsersAsync(cancellationToken))
            {
                if ((await account.Iam.ListAccessKeysAsync(candidate, cancellationToken)).Any(k => k.AccessKeyId == keyId))
                {
                    user = candidate;
                    break;
                }
            }
        }

        return user is null ? null : new KeyOwner(PrincipalKind.User, user, account.AccountId, account.Partition, await account.Iam.GetUserArnAsync(user, cancellationToken));
    }

    public static async Task<ContainmentPlan> PlanAsync(AccountConnection account, string keyId, KeyOwner owner, QuarantineOptions options, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(options);
        var steps = new List<ContainmentStep>();
        var notes = new List<string>();
        var manual = new List<string>();
        var severity = "high";
        var temporary = keyId.StartsWith("ASIA", StringComparison.Ordinal);

        switch (owner.Kind)
        {
            case PrincipalKind.Root:
                severity = "critical";
                manual.AddRange(RootSteps(account.AccountId, keyId));
                break;

            case PrincipalKind.FederatedUser:
                manual.Add($"{keyId} is a federation session ({owner.Arn}); its permissions come from the IAM user who called GetFederationToken, which the key does not name. "
                    + "Find that user in CloudTrail (eventName GetFederationToken, responseElements.credentials.accessKeyId) and run: keywarden quarantine " + keyId + " --principal arn:" + owner.Partition + ":iam::" + account.AccountId + ":user/NAME --revoke-sessions");
                break;

            case PrincipalKind.Role:
                // A role has no keys of its own: its sessions are what leaked.
                steps.Add(await RevokeStepAsync(account.Iam, owner, now, cancellationToken));
                notes.Add($"{keyId} is a session of role {owner.Name}: every session of the role issued before {Iso(now)} loses all permissions; new sessions work. The key itself expires on its own and cannot be deleted.");
                break;

            case PrincipalKind.User when temporary:
                // GetSessionToken sessions carry the user's permissions: deny those issued before now.
                steps.Add(await RevokeStepAsync(account.Iam, owner, now, cancellationToken));
                notes.Add($"{keyId} is a session of user {owner.Name} (GetSessionToken). Its long-term key minted it: find and quarantine that key too.");
                break;

            case PrincipalKind.User:
                var attached = await account.Iam.ListAttachedUserPoliciesAsync(owner.Name, cancellationToken);
                if (attached.Any(arn => arn.EndsWith(":policy/" + AdministratorAccess, StringComparison.Ordinal)))
                {
                    severity = "critical";
                    notes.Add($"user {owner.Name} has {AdministratorAccess}.");
                }

                steps.AddRange(await QuarantinePolicyStepsAsync(account, owner, attached, options, cancellationToken));
                if (options.Deactivate)
                {
                    var key = (await account.Iam.ListAccessKeysAsync(owner.Name, cancellationToken)).FirstOrDefault(k => k.AccessKeyId == keyId);
                    var status = key?.Status ?? "deleted";
                    steps.Add(new ContainmentStep(StepKinds.DeactivateKey, PrincipalKind.User, owner.Name, keyId, status, "Inactive", status == "Active",
                        status == "deleted" ? $"key {keyId} no longer exists" : $"make key {keyId} Inactive (reversible; delete it once nothing legitimate uses it)"));
                }

                if (options.DisableConsole)
                {
                    var hasPassword = await account.Iam.HasLoginProfileAsync(owner.Name, cancellationToken);
                    steps.Add(new ContainmentStep(StepKinds.DeleteLoginProfile, PrincipalKind.User, owner.Name, null, hasPassword ? "present" : "absent", "absent", hasPassword,
                        $"delete the console password of {owner.Name} (cannot be undone: release cannot restore it; set a new one)"));
                }

                if (options.RevokeSessions)
                {
                    steps.Add(await RevokeStepAsync(account.Iam, owner, now, cancellationToken));
                }

                if (!options.Deactivate)
                {
                    notes.Add("The key stays Active (quarantined): add --deactivate to make it Inactive once you know nothing legitimate depends on it.");
                }

                break;
        }

        return new ContainmentPlan(keyId, account.AccountId, owner, severity, steps, notes, manual);
    }

    private static async Task<List<ContainmentStep>> QuarantinePolicyStepsAsync(AccountConnection account, KeyOwner owner, List<string> attached, QuarantineOptions options, CancellationToken cancellationToken)
    {
        var steps = new List<ContainmentStep>();
        var managed = Partitions.ByName(account.Partition).ManagedPolicyArn(options.Policy);
        var customer = QuarantinePolicies.CustomerManagedArn(account.Partition, account.AccountId, options.Policy);

        // Already quarantined by either policy: nothing to attach.
        var current = attached.FirstOrDefault(a => a == managed || a == customer);
        string policy;
        if (current is not null)
        {
            policy = current;
        }
        else if (options.UseManagedPolicy && await account.Iam.PolicyExistsAsync(managed, cancellationToken))
        {
            policy = managed;
        }
        else
        {
            policy = customer;
            var exists = await account.Iam.PolicyExistsAsync(customer, cancellationToken);
            steps.Add(new ContainmentStep(StepKinds.CreatePolicy, PrincipalKind.User, owner.Name, customer, exists ? "present" : "absent", "present", !exists,
                $"create the customer-managed copy of {options.Policy} ({customer}){(options.UseManagedPolicy ? ": the AWS managed policy is not available here" : "")}"));
        }

        steps.Add(new ContainmentStep(StepKinds.AttachPolicy, PrincipalKind.User, owner.Name, policy, current is null ? "detached" : "attached", "attached", current is null,
            $"attach {policy} to user {owner.Name}"));
        return steps;
    }

    private static async Task<ContainmentStep> RevokeStepAsync(IamClient iam, KeyOwner owner, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var existing = owner.Kind == PrincipalKind.Role
            ? await iam.GetRolePolicyAsync(owner.Name, QuarantinePolicies.RevokeSessionsPolicyName, cancellationToken)
            : await iam.GetUserPolicyAsync(owner.Name, QuarantinePolicies.RevokeSessionsPolicyName, cancellationToken);
        return new ContainmentStep(StepKinds.RevokeSessions, owner.Kind, owner.Name, QuarantinePolicies.RevokeSessionsPolicyName, existing ?? "absent",
            QuarantinePolicies.RevokeOlderSessions(now), Needed: true,
            $"deny every session of {(owner.Kind == PrincipalKind.Role ? "role" : "user")} {owner.Name} issued before {Iso(now)} (inline policy {QuarantinePolicies.RevokeSessionsPolicyName})");
    }

    /// <summary>
    /// What a person must do about a root access key: no policy can be attached to root.
    /// Sources: IAM User Guide, "Delete access keys for the root user" and "Perform a privileged task on an
    /// AWS Organizations member account" (centralized root access, sts:AssumeRoot).
    /// </summary>
    public static IReadOnlyList<string> RootSteps(string accountId, string keyId) =>
    [
        $"CRITICAL: {keyId} is an access key of the root user of account {accountId}. No policy can restrict root: the key must be deleted.",
        "Without root sign-in, if your AWS Organization enabled centralized root access: from the management account (or IAM's delegated administrator), "
            + $"aws sts assume-root --region us-east-1 --target-principal {accountId} --task-policy-arn arn=arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials "
            + "(a regional STS endpoint; the session lasts at most 15 minutes), then with those credentials: "
            + $"aws iam list-access-keys, and aws iam delete-access-key --access-key-id {keyId}.",
        $"Otherwise sign in as the root user of {accountId}: Security credentials → Access keys → deactivate, then delete {keyId}.",
        "Then: enable MFA on the root user, change its password, review CloudTrail for what the key did (keywarden investigate), and check billing.",
    ];

    private static string Iso(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
}
