using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Keywarden.Aws.Containment;

/// <summary>
/// The policies containment attaches. The quarantine documents are AWS's own managed policies
/// (AWSCompromisedKeyQuarantineV2 and V3, as AWS publishes them), embedded for the customer-managed
/// fallback where the AWS managed policy cannot be attached. At over 2,048 characters they cannot be an
/// inline user policy, so the fallback is a customer-managed policy created once per account.
/// </summary>
public static class QuarantinePolicies
{
    public const string V3 = "AWSCompromisedKeyQuarantineV3";
    public const string V2 = "AWSCompromisedKeyQuarantineV2";

    /// <summary>The inline policy the IAM console's "Revoke active sessions" writes; we use the same name so responders recognise it.</summary>
    public const string RevokeSessionsPolicyName = "AWSRevokeOlderSessions";

    /// <summary>Path of Keywarden's customer-managed copies, so they are easy to find and never clash with a customer's own policy.</summary>
    public const string CustomerManagedPath = "/keywarden/";

    public static IReadOnlyList<string> Names { get; } = [V3, V2];

    /// <summary>The published document of <paramref name="name"/> (V2 or V3), minified.</summary>
    public static string Document(string name)
    {
        if (!Names.Contains(name))
        {
            throw new ArgumentException($"unknown quarantine policy {name} (expected {string.Join(" or ", Names)})", nameof(name));
        }

        using var stream = typeof(QuarantinePolicies).Assembly.GetManifestResourceStream($"Keywarden.Aws.Containment.Policies.{name}.json")
            ?? throw new InvalidOperationException($"embedded policy {name} is missing from the build");
        return JsonNode.Parse(stream)!.ToJsonString();
    }

    /// <summary>Name of the customer-managed copy: Keywarden + the AWS name.</summary>
    public static string CustomerManagedName(string name) => "Keywarden" + name;

    public static string CustomerManagedArn(string partition, string accountId, string name) =>
        $"arn:{partition}:iam::{accountId}:policy{CustomerManagedPath}{CustomerManagedName(name)}";

    /// <summary>
    /// Deny everything to sessions issued before <paramref name="issuedBefore"/>: temporary credentials cannot
    /// be revoked, their permissions can. Long-term keys carry no aws:TokenIssueTime, so they are unaffected.
    /// Source: IAM User Guide, "Revoking IAM role temporary security credentials".
    /// </summary>
    public static string RevokeOlderSessions(DateTimeOffset issuedBefore)
    {
        var document = new JsonObject
        {
            ["Version"] = "2012-10-17",
            ["Statement"] = new JsonArray(new JsonObject
            {
                ["Effect"] = "Deny",
                ["Action"] = new JsonArray("*"),
                ["Resource"] = new JsonArray("*"),
                ["Condition"] = new JsonObject
                {
                    ["DateLessThan"] = new JsonObject
                    {
                        ["aws:TokenIssueTime"] = issuedBefore.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
                    },
                },
            }),
        };
        return document.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
    }
}
