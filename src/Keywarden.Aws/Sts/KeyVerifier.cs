using System.Net;
using Amazon.Runtime;
using Amazon.SecurityToken;
using Amazon.SecurityToken.Model;
using Keywarden.Aws.Connection;

namespace Keywarden.Aws.Sts;

public enum VerificationStatus
{
    /// <summary>AWS accepted the key: it works.</summary>
    Active,
    /// <summary>AWS refused it: unknown, deleted or inactive key, or a wrong secret.</summary>
    Invalid,
    /// <summary>No answer from AWS (network, throttling, outage): nothing is known.</summary>
    Unknown,
}

/// <summary>What verifying a key pair found. Never holds the secret.</summary>
public sealed record KeyVerification(VerificationStatus Status, string? Account, string? Arn, string? UserId, string? Reason);

/// <summary>
/// Verifies a found key pair with <c>sts:GetCallerIdentity</c>, and only that call: it needs no
/// permission, cannot be denied by policy, changes nothing and returns who the key belongs to
/// (AWS STS API reference, GetCallerIdentity). Any other answer from AWS means the pair does not work:
/// InvalidClientTokenId (unknown, deleted or inactive key), SignatureDoesNotMatch (wrong secret),
/// ExpiredToken (an old session).
/// </summary>
public sealed class KeyVerifier(AwsSettings settings)
{
    public async Task<KeyVerification> VerifyAsync(string keyId, string secret, string? sessionToken, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(keyId);
        ArgumentException.ThrowIfNullOrEmpty(secret);
        AWSCredentials credentials = sessionToken is null
            ? new BasicAWSCredentials(keyId, secret)
            : new SessionAWSCredentials(keyId, secret, sessionToken);
        var config = settings.Configure(new AmazonSecurityTokenServiceConfig());
        using var sts = new AmazonSecurityTokenServiceClient(credentials, config);
        try
        {
            var identity = await sts.GetCallerIdentityAsync(new GetCallerIdentityRequest(), cancellationToken);
            return new KeyVerification(VerificationStatus.Active, identity.Account, identity.Arn, identity.UserId, null);
        }
        catch (AmazonServiceException e) when (IsRefusal(e))
        {
            return new KeyVerification(VerificationStatus.Invalid, null, null, null, e.ErrorCode ?? e.StatusCode.ToString());
        }
        catch (Exception e) when (AwsFailures.IsAwsFailure(e, cancellationToken) && !cancellationToken.IsCancellationRequested)
        {
            return new KeyVerification(VerificationStatus.Unknown, null, null, null, Describe(e));
        }
    }

    /// <summary>AWS answered and said no: a client error other than throttling.</summary>
    private static bool IsRefusal(AmazonServiceException e) =>
        e.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.BadRequest or HttpStatusCode.Unauthorized
        && e.ErrorCode is not ("Throttling" or "ThrottlingException" or "RequestLimitExceeded")
        && e.ErrorCode is not null;

    public static string Describe(Exception e) => e switch
    {
        AmazonServiceException s when s.ErrorCode is not null => $"{s.ErrorCode} (HTTP {(int)s.StatusCode})",
        TaskCanceledException or TimeoutException => "timed out",
        _ when e.InnerException is HttpRequestException h => h.Message.TrimEnd('.'),
        _ => e.Message.Split('\n')[0].TrimEnd('.'),
    };
}

/// <summary>
/// Which account a key ID belongs to, from <c>sts:GetAccessKeyInfo</c> called with Keywarden's own
/// credentials (it works from any account and says nothing about whether the key is active).
/// </summary>
public sealed class AccountLookup(AwsSettings settings)
{
    public async Task<string> GetAccessKeyAccountAsync(string keyId, CancellationToken cancellationToken)
    {
        var config = settings.Configure(new AmazonSecurityTokenServiceConfig());
        using var sts = new AmazonSecurityTokenServiceClient(settings.ResolveCredentials(config), config);
        var info = await sts.GetAccessKeyInfoAsync(new GetAccessKeyInfoRequest { AccessKeyId = keyId }, cancellationToken);
        return info.Account;
    }
}
