using System.Net;
using System.Text;
using System.Xml.Linq;
using Amazon.Runtime;
using Keywarden.Aws.Connection;

namespace Keywarden.Aws.Iam;

/// <summary>An error IAM answered with; the message names the action and AWS's code, never a secret.</summary>
public class IamException(string action, string code, string message, HttpStatusCode status)
    : Exception($"iam:{action} failed: {code}: {message}")
{
    public string Action { get; } = action;
    public string Code { get; } = code;
    public HttpStatusCode Status { get; } = status;

    public bool IsNoSuchEntity => Code == "NoSuchEntity";
    public bool IsAccessDenied => Code is "AccessDenied" or "AccessDeniedException" or "UnauthorizedOperation";
    public bool IsThrottling => Code is "Throttling" or "ThrottlingException" or "RequestLimitExceeded";
}

/// <summary>An IAM access key as ListAccessKeys describes it.</summary>
public sealed record AccessKeyMetadata(string AccessKeyId, string UserName, string Status, DateTimeOffset CreateDate);

/// <summary>
/// A small typed IAM client over the Query protocol (form-encoded POST, XML answers): credentials from
/// AWSSDK.Core's chain, Signature Version 4 from its signer, pagination by Marker, IAM error codes as
/// <see cref="IamException"/>, throttling and server errors retried with exponential backoff.
/// Written by hand because no AWSSDK.IdentityManagement package is available here.
/// Source: IAM API Reference (Query API, common errors, each action's page).
/// </summary>
public sealed class IamClient : IDisposable
{
    private const string Version = "2010-05-08";
    private static readonly XNamespace Ns = "https://iam.amazonaws.com/doc/2010-05-08/";

    private readonly AWSCredentials _credentials;
    private readonly Uri _endpoint;
    private readonly string _region;
    private readonly HttpClient _http;
    private readonly int _maxRetries;

    public IamClient(AwsSettings settings, AWSCredentials credentials, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _credentials = credentials;
        // IAM is global: one endpoint per partition, signed for us-east-1 (aws), cn-north-1 (aws-cn), us-gov-west-1 (aws-us-gov).
        var partition = Partitions.OfRegion(settings.ResolvedRegion);
        _endpoint = new Uri(settings.EndpointUrl ?? partition.IamEndpoint);
        _region = settings.EndpointUrl is null ? partition.IamSigningRegion : settings.ResolvedRegion;
        _http = handler is null ? new HttpClient() : new HttpClient(handler);
        _http.Timeout = settings.Timeout;
        _maxRetries = settings.MaxRetries;
    }

    public async Task<XElement> CallAsync(string action, IReadOnlyDictionary<string, string> parameters, CancellationToken cancellationToken)
    {
        var body = new StringBuilder($"Action={FormEncode(action)}&Version={Version}");
        foreach (var (name, value) in parameters)
        {
            body.Append('&').Append(FormEncode(name)).Append('=').Append(FormEncode(value));
        }

        for (var attempt = 0; ; attempt++)
        {
            var credentials = await _credentials.GetCredentialsAsync();
            using var request = QuerySigner.Sign(_endpoint, _region, "iam", body.ToString(), credentials, DateTime.UtcNow);
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, cancellationToken);
            }
            catch (Exception e) when ((e is HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested)) && attempt < _maxRetries)
            {
                await Backoff(attempt, cancellationToken);
                continue;
            }

            using (response)
            {
                var text = await response.Content.ReadAsStringAsync(cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    try
                    {
                        return XElement.Parse(text);
                    }
                    catch (System.Xml.XmlException)
                    {
                        // A proxy or an emulator answering 2xx with something other than IAM's XML: whether the action happened is unknown.
                        throw new IamException(action, "MalformedResponse", $"HTTP {(int)response.StatusCode} with a body that is not IAM's XML", response.StatusCode);
                    }
                }

                var error = ParseError(action, text, response.StatusCode);
                if ((error.IsThrottling || (int)response.StatusCode >= 500) && attempt < _maxRetries)
                {
                    await Backoff(attempt, cancellationToken);
                    continue;
                }

                throw error;
            }
        }
    }

    /// <summary>
    /// application/x-www-form-urlencoded as the AWS SDKs write it (unreserved characters kept, a space as
    /// '+'). AWS signs the raw body, so any encoding verifies there; emulators that re-encode the form
    /// before checking the signature (moto) expect this one.
    /// </summary>
    private static string FormEncode(string value) => Uri.EscapeDataString(value).Replace("%20", "+", StringComparison.Ordinal);

    private static Task Backoff(int attempt, CancellationToken cancellationToken) =>
        Task.Delay(TimeSpan.FromMilliseconds((200 << attempt) + Random.Shared.Next(100)), cancellationToken);

    private static IamException ParseError(string action, string text, HttpStatusCode status)
    {
        try
        {
            var error = XElement.Parse(text).Descendants().FirstOrDefault(e => e.Name.LocalName == "Error");
            var code = error?.Elements().FirstOrDefault(e => e.Name.LocalName == "Code")?.Value ?? status.ToString();
            var message = error?.Elements().FirstOrDefault(e => e.Name.LocalName == "Message")?.Value ?? "";
            return new IamException(action, code, message, status);
        }
        catch (System.Xml.XmlException)
        {
            return new IamException(action, status.ToString(), $"HTTP {(int)status}", status);
        }
    }

    /// <summary>Every page of a listing (IsTruncated/Marker), yielding the members of <paramref name="list"/>.</summary>
    public async IAsyncEnumerable<XElement> ListAsync(string action, string list, Dictionary<string, string> parameters, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (true)
        {
            var page = await CallAsync(action, parameters, cancellationToken);
            foreach (var member in page.Descendants(Ns + list).Elements(Ns + "member"))
            {
                yield return member;
            }

            var truncated = page.Descendants(Ns + "IsTruncated").FirstOrDefault()?.Value == "true";
            var marker = page.Descendants(Ns + "Marker").FirstOrDefault()?.Value;
            if (!truncated || string.IsNullOrEmpty(marker))
            {
                yield break;
            }

            parameters["Marker"] = marker;
        }
    }

    /// <summary>The user a key belongs to (iam:GetAccessKeyLastUsed), or null when the key is not in this account.</summary>
    public async Task<string?> GetAccessKeyUserAsync(string accessKeyId, CancellationToken cancellationToken)
    {
        try
        {
            var result = await CallAsync("GetAccessKeyLastUsed", new Dictionary<string, string> { ["AccessKeyId"] = accessKeyId }, cancellationToken);
            return result.Descendants(Ns + "UserName").FirstOrDefault()?.Value;
        }
        catch (IamException e) when (e.IsNoSuchEntity)
        {
            return null;
        }
    }

    public async Task<List<AccessKeyMetadata>> ListAccessKeysAsync(string userName, CancellationToken cancellationToken)
    {
        var keys = new List<AccessKeyMetadata>();
        await foreach (var m in ListAsync("ListAccessKeys", "AccessKeyMetadata", new() { ["UserName"] = userName }, cancellationToken))
        {
            keys.Add(new AccessKeyMetadata(
                m.Element(Ns + "AccessKeyId")?.Value ?? "",
                m.Element(Ns + "UserName")?.Value ?? userName,
                m.Element(Ns + "Status")?.Value ?? "",
                DateTimeOffset.Parse(m.Element(Ns + "CreateDate")?.Value ?? "1970-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture)));
        }

        return keys;
    }

    public async Task<List<string>> ListAttachedUserPoliciesAsync(string userName, CancellationToken cancellationToken)
    {
        var arns = new List<string>();
        await foreach (var m in ListAsync("ListAttachedUserPolicies", "AttachedPolicies", new() { ["UserName"] = userName }, cancellationToken))
        {
            arns.Add(m.Element(Ns + "PolicyArn")?.Value ?? "");
        }

        return arns;
    }

    public Task AttachUserPolicyAsync(string userName, string policyArn, CancellationToken cancellationToken) =>
        CallAsync("AttachUserPolicy", new Dictionary<string, string> { ["UserName"] = userName, ["PolicyArn"] = policyArn }, cancellationToken);

    public Task DetachUserPolicyAsync(string userName, string policyArn, CancellationToken cancellationToken) =>
        CallAsync("DetachUserPolicy", new Dictionary<string, string> { ["UserName"] = userName, ["PolicyArn"] = policyArn }, cancellationToken);

    /// <summary>Active or Inactive: reversible, unlike deletion.</summary>
    public Task UpdateAccessKeyAsync(string userName, string accessKeyId, string status, CancellationToken cancellationToken) =>
        CallAsync("UpdateAccessKey", new Dictionary<string, string> { ["UserName"] = userName, ["AccessKeyId"] = accessKeyId, ["Status"] = status }, cancellationToken);

    public Task CreateUserAsync(string userName, CancellationToken cancellationToken) =>
        CallAsync("CreateUser", new Dictionary<string, string> { ["UserName"] = userName }, cancellationToken);

    /// <summary>The user's ARN, or null when there is no such user.</summary>
    public async Task<string?> GetUserArnAsync(string userName, CancellationToken cancellationToken)
    {
        try
        {
            var result = await CallAsync("GetUser", new Dictionary<string, string> { ["UserName"] = userName }, cancellationToken);
            return result.Descendants(Ns + "Arn").FirstOrDefault()?.Value;
        }
        catch (IamException e) when (e.IsNoSuchEntity)
        {
            return null;
        }
    }

    public async Task<List<string>> ListUsersAsync(CancellationToken cancellationToken)
    {
        var users = new List<string>();
        await foreach (var m in ListAsync("ListUsers", "Users", new(), cancellationToken))
        {
            users.Add(m.Element(Ns + "UserName")?.Value ?? "");
        }

        return users;
    }

    public async Task<List<string>> ListUserPoliciesAsync(string userName, CancellationToken cancellationToken)
    {
        var names = new List<string>();
        await foreach (var m in ListAsync("ListUserPolicies", "PolicyNames", new() { ["UserName"] = userName }, cancellationToken))
        {
            names.Add(m.Value);
        }

        return names;
    }

    public async Task<List<string>> ListGroupsForUserAsync(string userName, CancellationToken cancellationToken)
    {
        var groups = new List<string>();
        await foreach (var m in ListAsync("ListGroupsForUser", "Groups", new() { ["UserName"] = userName }, cancellationToken))
        {
            groups.Add(m.Element(Ns + "GroupName")?.Value ?? "");
        }

        return groups;
    }

    /// <summary>An inline policy (at most 2,048 characters for a user: the quarantine document does not fit, see CreatePolicy).</summary>
    public Task PutUserPolicyAsync(string userName, string policyName, string document, CancellationToken cancellationToken) =>
        CallAsync("PutUserPolicy", new Dictionary<string, string> { ["UserName"] = userName, ["PolicyName"] = policyName, ["PolicyDocument"] = document }, cancellationToken);

    public Task DeleteUserPolicyAsync(string userName, string policyName, CancellationToken cancellationToken) =>
        CallAsync("DeleteUserPolicy", new Dictionary<string, string> { ["UserName"] = userName, ["PolicyName"] = policyName }, cancellationToken);

    /// <summary>An inline user policy's document (IAM returns it URL-encoded), or null when there is none by that name.</summary>
    public Task<string?> GetUserPolicyAsync(string userName, string policyName, CancellationToken cancellationToken) =>
        GetInlinePolicyAsync("GetUserPolicy", "UserName", userName, policyName, cancellationToken);

    /// <summary>An inline role policy's document, or null when there is none by that name.</summary>
    public Task<string?> GetRolePolicyAsync(string roleName, string policyName, CancellationToken cancellationToken) =>
        GetInlinePolicyAsync("GetRolePolicy", "RoleName", roleName, policyName, cancellationToken);

    private async Task<string?> GetInlinePolicyAsync(string action, string owner, string ownerName, string policyName, CancellationToken cancellationToken)
    {
        try
        {
            var result = await CallAsync(action, new Dictionary<string, string> { [owner] = ownerName, ["PolicyName"] = policyName }, cancellationToken);
            return result.Descendants(Ns + "PolicyDocument").FirstOrDefault() is { } document ? Uri.UnescapeDataString(document.Value) : null;
        }
        catch (IamException e) when (e.IsNoSuchEntity)
        {
            return null;
        }
    }

    /// <summary>The role's ARN, or null when there is no such role.</summary>
    public async Task<string?> GetRoleArnAsync(string roleName, CancellationToken cancellationToken)
    {
        try
        {
            var result = await CallAsync("GetRole", new Dictionary<string, string> { ["RoleName"] = roleName }, cancellationToken);
            return result.Descendants(Ns + "Arn").FirstOrDefault()?.Value;
        }
        catch (IamException e) when (e.IsNoSuchEntity)
        {
            return null;
        }
    }

    public Task PutRolePolicyAsync(string roleName, string policyName, string document, CancellationToken cancellationToken) =>
        CallAsync("PutRolePolicy", new Dictionary<string, string> { ["RoleName"] = roleName, ["PolicyName"] = policyName, ["PolicyDocument"] = document }, cancellationToken);

    public Task DeleteRolePolicyAsync(string roleName, string policyName, CancellationToken cancellationToken) =>
        CallAsync("DeleteRolePolicy", new Dictionary<string, string> { ["RoleName"] = roleName, ["PolicyName"] = policyName }, cancellationToken);

    /// <summary>
    /// A new access key for a user: (key ID, secret). For the game-day drill, which leaks a key on
    /// purpose in a sandbox account, and for test set-up; Keywarden's containment never creates keys.
    /// </summary>
    public async Task<(string AccessKeyId, string SecretAccessKey)> CreateAccessKeyAsync(string userName, CancellationToken cancellationToken)
    {
        var result = await CallAsync("CreateAccessKey", new Dictionary<string, string> { ["UserName"] = userName }, cancellationToken);
        return (result.Descendants(Ns + "AccessKeyId").First().Value, result.Descendants(Ns + "SecretAccessKey").First().Value);
    }

    public Task DeleteAccessKeyAsync(string userName, string accessKeyId, CancellationToken cancellationToken) =>
        CallAsync("DeleteAccessKey", new Dictionary<string, string> { ["UserName"] = userName, ["AccessKeyId"] = accessKeyId }, cancellationToken);

    /// <summary>Whether the user can sign in to the console (has a login profile).</summary>
    public async Task<bool> HasLoginProfileAsync(string userName, CancellationToken cancellationToken)
    {
        try
        {
            await CallAsync("GetLoginProfile", new Dictionary<string, string> { ["UserName"] = userName }, cancellationToken);
            return true;
        }
        catch (IamException e) when (e.IsNoSuchEntity)
        {
            return false;
        }
    }

    public Task DeleteLoginProfileAsync(string userName, CancellationToken cancellationToken) =>
        CallAsync("DeleteLoginProfile", new Dictionary<string, string> { ["UserName"] = userName }, cancellationToken);

    /// <summary>Creates a customer-managed policy and returns its ARN (the fallback where an AWS managed policy cannot be attached).</summary>
    public async Task<string> CreatePolicyAsync(string policyName, string document, string path, string description, CancellationToken cancellationToken)
    {
        var result = await CallAsync("CreatePolicy", new Dictionary<string, string> { ["PolicyName"] = policyName, ["PolicyDocument"] = document, ["Path"] = path, ["Description"] = description }, cancellationToken);
        return result.Descendants(Ns + "Arn").First().Value;
    }

    /// <summary>Whether a policy exists (customer-managed or AWS managed).</summary>
    public async Task<bool> PolicyExistsAsync(string policyArn, CancellationToken cancellationToken)
    {
        try
        {
            await CallAsync("GetPolicy", new Dictionary<string, string> { ["PolicyArn"] = policyArn }, cancellationToken);
            return true;
        }
        catch (IamException e) when (e.IsNoSuchEntity)
        {
            return false;
        }
    }

    /// <summary>GetAccountSummary's map, e.g. AccountAccessKeysPresent (root access keys), AccountMFAEnabled.</summary>
    public async Task<Dictionary<string, int>> GetAccountSummaryAsync(CancellationToken cancellationToken)
    {
        var result = await CallAsync("GetAccountSummary", new Dictionary<string, string>(), cancellationToken);
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in result.Descendants(Ns + "entry"))
        {
            if (int.TryParse(entry.Element(Ns + "value")?.Value, System.Globalization.CultureInfo.InvariantCulture, out var value))
            {
                map[entry.Element(Ns + "key")?.Value ?? ""] = value;
            }
        }

        return map;
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>AWS partitions: where IAM lives and how ARNs begin. Source: AWS General Reference, "AWS Identity and Access Management endpoints".</summary>
public sealed record Partitions(string Name, string IamEndpoint, string IamSigningRegion)
{
    public static Partitions Aws { get; } = new("aws", "https://iam.amazonaws.com/", "us-east-1");
    public static Partitions China { get; } = new("aws-cn", "https://iam.cn-north-1.amazonaws.com.cn/", "cn-north-1");
    public static Partitions GovCloud { get; } = new("aws-us-gov", "https://iam.us-gov.amazonaws.com/", "us-gov-west-1");

    /// <summary>The partition an ARN names (its second field); unknown names fall back to aws.</summary>
    public static Partitions ByName(string name) => name switch
    {
        "aws-cn" => China,
        "aws-us-gov" => GovCloud,
        _ => Aws,
    };

    public static Partitions OfRegion(string region) =>
        region.StartsWith("cn-", StringComparison.Ordinal) ? China
        : region.StartsWith("us-gov-", StringComparison.Ordinal) ? GovCloud
        : Aws;

    /// <summary>An AWS managed policy's ARN in this partition, e.g. arn:aws-cn:iam::aws:policy/AWSCompromisedKeyQuarantineV3.</summary>
    public string ManagedPolicyArn(string name) => $"arn:{Name}:iam::aws:policy/{name}";
}
