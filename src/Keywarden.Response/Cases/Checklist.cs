using System.Globalization;
using Keywarden.Aws.Accounts;
using Keywarden.Aws.Connection;
using Keywarden.Aws.Containment;
using Keywarden.Storage;

namespace Keywarden.Response.Cases;

public static class ChecklistStatuses
{
    public const string Open = "open";
    public const string Verified = "verified";
    public const string Failed = "failed";
    public const string Confirmed = "confirmed";
    public const string NotApplicable = "not-applicable";

    public static bool IsDone(string status) => status is Verified or Confirmed or NotApplicable;
}

/// <summary>
/// The remediation checklist: one item per step AWS asks of a customer after an exposure (DESIGN.md,
/// "Containment facts"). Items an API can prove are verified against IAM with their evidence; the rest
/// are confirmed by a person with a note (<c>keywarden cases confirm</c>).
/// </summary>
public static class Checklist
{
    public sealed record Item(string Key, string Title, bool Automatic);

    public static IReadOnlyList<Item> Items { get; } =
    [
        new("exposed-key-disabled", "The exposed key is inactive or deleted", true),
        new("sessions-revoked", "Sessions issued before containment are revoked (AWSRevokeOlderSessions)", true),
        new("activity-reviewed", "What the key and its sessions did is reviewed in CloudTrail, in every region (keywarden investigate)", false),
        new("billing-checked", "Billing and Cost Explorer checked for unexpected usage", false),
        new("root-access-keys", "The root user has no access keys", true),
        new("root-mfa", "The root user has MFA enabled", true),
        new("older-keys-rotated", "Every access key of the account created before the exposure is rotated", true),
        new("passwords-reset", "Passwords of the affected users (and root, if exposed) are reset", false),
        new("mfa-enabled", "MFA is enabled for every IAM user with console access", false),
        new("attacker-resources-removed", "Users, access keys, roles and resources the attacker created are deleted, in every region", false),
        new("exposure-source-removed", "The place the key was exposed is taken down (and the secret purged from history)", false),
        new("support-case-answered", "The AWS support case about the exposure, if any, is answered", false),
    ];

    /// <summary>Adds the items a case does not have yet; the investigation's findings become the evidence of the items they concern.</summary>
    public static void Ensure(CaseRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        EnsureItems(record);
        var eradication = record.Events.Where(e => e.Kind == "eradication").OrderBy(e => e.Id).Select(e => e.Summary).ToList();
        var investigated = record.Events.LastOrDefault(e => e.Kind == "investigation");
        if (investigated is not null && record.Checklist.FirstOrDefault(i => i.Key == "activity-reviewed") is { ConfirmedBy: null } activity)
        {
            activity.Evidence = $"investigated: {investigated.Summary} (review it: keywarden cases report {CaseReference.Of(record.Id)})";
        }

        if (investigated is not null && record.Checklist.FirstOrDefault(i => i.Key == "attacker-resources-removed") is { ConfirmedBy: null } attacker)
        {
            attacker.Evidence = eradication.Count == 0
                ? "the investigation found nothing the key created or changed"
                : $"{eradication.Count} to undo: {string.Join("; ", eradication.Take(10))}{(eradication.Count > 10 ? "; …" : "")}";
        }
    }

    private static void EnsureItems(CaseRecord record)
    {
        for (var i = 0; i < Items.Count; i++)
        {
            if (record.Checklist.All(c => c.Key != Items[i].Key))
            {
                record.Checklist.Add(new ChecklistItemRecord
                {
                    Key = Items[i].Key,
                    Title = Items[i].Title,
                    Order = i + 1,
                    Verification = Items[i].Automatic ? "automatic" : "manual",
                    Status = ChecklistStatuses.Open,
                });
            }
        }
    }

    /// <summary>Re-checks every automatic item against IAM in the case's account; returns what changed.</summary>
    public static async Task<List<string>> VerifyAsync(CaseRecord record, AccountConnection account, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(account);
        Ensure(record);
        var changes = new List<string>();
        var exposedAt = record.Occurrences.Count == 0 ? record.CreatedAt : record.Occurrences.Min(o => o.DetectedAt);
        Dictionary<string, int>? summary = null;
        // An item a person confirmed (or marked not applicable) keeps that judgement.
        foreach (var item in record.Checklist.Where(i => i.Verification == "automatic" && i.ConfirmedBy is null).OrderBy(i => i.Order))
        {
            (string Status, string Evidence) result;
            try
            {
                result = item.Key switch
                {
                    "exposed-key-disabled" => await ExposedKeyAsync(record, account, cancellationToken),
                    "sessions-revoked" => await SessionsAsync(record, account, cancellationToken),
                    "root-access-keys" => (summary ??= await account.Iam.GetAccountSummaryAsync(cancellationToken)).GetValueOrDefault("AccountAccessKeysPresent") == 0
                        ? (ChecklistStatuses.Verified, "GetAccountSummary: AccountAccessKeysPresent = 0")
                        : (ChecklistStatuses.Failed, "GetAccountSummary: AccountAccessKeysPresent = 1: delete the root user's access keys"),
                    "root-mfa" => (summary ??= await account.Iam.GetAccountSummaryAsync(cancellationToken)).GetValueOrDefault("AccountMFAEnabled") == 1
                        ? (ChecklistStatuses.Verified, "GetAccountSummary: AccountMFAEnabled = 1")
                        : (ChecklistStatuses.Failed, "GetAccountSummary: AccountMFAEnabled = 0: enable MFA on the root user"),
                    "older-keys-rotated" => await OlderKeysAsync(record, account, exposedAt, cancellationToken),
                    _ => (item.Status, item.Evidence ?? ""),
                };
            }
            catch (Exception e) when (AwsFailures.IsAwsFailure(e, cancellationToken))
            {
                result = (ChecklistStatuses.Open, $"could not check: {Containment.ContainmentService.Reason(e)}");
            }

            if (result.Status != item.Status || result.Evidence != item.Evidence)
            {
                changes.Add($"{item.Key}: {result.Status} ({result.Evidence})");
            }

            item.Status = result.Status;
            item.Evidence = result.Evidence;
            item.CheckedAt = now;
        }

        return changes;
    }

    private static async Task<(string, string)> ExposedKeyAsync(CaseRecord record, AccountConnection account, CancellationToken cancellationToken)
    {
        if (record.KeyId.StartsWith("ASIA", StringComparison.Ordinal))
        {
            return (ChecklistStatuses.NotApplicable, "a temporary key cannot be deactivated; it expires on its own (see sessions-revoked)");
        }

        if (record.OwnerType != "user" || record.OwnerName is null)
        {
            return (ChecklistStatuses.Open, $"owner is {record.OwnerType ?? "unknown"}: check by hand");
        }

        var keys = await account.Iam.ListAccessKeysAsync(record.OwnerName, cancellationToken);
        var key = keys.FirstOrDefault(k => k.AccessKeyId == record.KeyId);
        return key is null
            ? (ChecklistStatuses.Verified, $"ListAccessKeys {record.OwnerName}: {record.KeyId} is deleted")
            : key.Status == "Inactive"
                ? (ChecklistStatuses.Verified, $"ListAccessKeys {record.OwnerName}: {record.KeyId} is Inactive (delete it once nothing depends on it)")
                : (ChecklistStatuses.Failed, $"ListAccessKeys {record.OwnerName}: {record.KeyId} is still Active (quarantined only)");
    }

    private static async Task<(string, string)> SessionsAsync(CaseRecord record, AccountConnection account, CancellationToken cancellationToken)
    {
        if (record.OwnerName is null || record.OwnerType is not ("user" or "role"))
        {
            return (ChecklistStatuses.Open, $"owner is {record.OwnerType ?? "unknown"}: check by hand");
        }

        var document = record.OwnerType == "role"
            ? await account.Iam.GetRolePolicyAsync(record.OwnerName, QuarantinePolicies.RevokeSessionsPolicyName, cancellationToken)
            : await account.Iam.GetUserPolicyAsync(record.OwnerName, QuarantinePolicies.RevokeSessionsPolicyName, cancellationToken);
        return document is null
            ? (ChecklistStatuses.Open, $"{record.OwnerType} {record.OwnerName} has no {QuarantinePolicies.RevokeSessionsPolicyName} policy (sessions the key minted may still work)")
            : (ChecklistStatuses.Verified, $"{record.OwnerType} {record.OwnerName} has {QuarantinePolicies.RevokeSessionsPolicyName}");
    }

    private static async Task<(string, string)> OlderKeysAsync(CaseRecord record, AccountConnection account, DateTimeOffset exposedAt, CancellationToken cancellationToken)
    {
        var stale = new List<string>();
        foreach (var user in await account.Iam.ListUsersAsync(cancellationToken))
        {
            foreach (var key in await account.Iam.ListAccessKeysAsync(user, cancellationToken))
            {
                if (key.AccessKeyId != record.KeyId && key.Status == "Active" && key.CreateDate < exposedAt)
                {
                    stale.Add($"{key.AccessKeyId} ({user}, created {key.CreateDate.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)})");
                }
            }
        }

        return stale.Count == 0
            ? (ChecklistStatuses.Verified, $"ListAccessKeys: no active key created before {exposedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)}Z besides the exposed one")
            : (ChecklistStatuses.Failed, $"ListAccessKeys: {stale.Count} active key(s) created before the exposure: {string.Join(", ", stale.Take(20))}");
    }
}
