using Amazon.Runtime;
using Amazon.SecurityToken;
using Amazon.SecurityToken.Model;
using Keywarden.Aws.Connection;
using Keywarden.Aws.Iam;

namespace Keywarden.Aws.Accounts;

/// <summary>One of the organization's accounts and how Keywarden acts in it: a role to assume (with an external ID), or the ambient credentials.</summary>
public sealed record AccountEntry(string AccountId, string? Name = null, string? RoleArn = null, string? ExternalId = null);

/// <summary>
/// Which accounts are ours. A key whose account is not listed is reported and never touched. With no
/// entries, the account of Keywarden's own (ambient) credentials is the only one, so containment works
/// out of the box in a single account.
/// </summary>
public sealed class AccountDirectory(IReadOnlyList<AccountEntry> entries)
{
    public static AccountDirectory Empty { get; } = new([]);

    public IReadOnlyList<AccountEntry> Entries { get; } = entries;

    public bool IsConfigured => Entries.Count > 0;

    public AccountEntry? Find(string accountId) => Entries.FirstOrDefault(e => e.AccountId == accountId);
}

/// <summary>The key's account is not one of ours: nothing is done to it.</summary>
public sealed class NotOurAccountException(string accountId, string reason) : Exception($"account {accountId} is not one of ours ({reason}): nothing was done")
{
    public string AccountId { get; } = accountId;
}

/// <summary>AWS refused or failed a call Keywarden needed (access denied, unreachable, throttled past retries). Never carries a secret.</summary>
public sealed class AwsCallException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>IAM in one account, with the credentials Keywarden acts with there.</summary>
public sealed class AccountConnection(string accountId, string partition, string via, IamClient iam) : IDisposable
{
    public string AccountId { get; } = accountId;

    /// <summary>aws, aws-cn or aws-us-gov.</summary>
    public string Partition { get; } = partition;

    /// <summary>How Keywarden reaches the account: "ambient credentials" or "role ARN".</summary>
    public string Via { get; } = via;

    public IamClient Iam { get; } = iam;

    public void Dispose() => Iam.Dispose();
}

/// <summary>
/// Opens <see cref="AccountConnection"/>s: the ambient credentials for their own account, or
/// sts:AssumeRole (with the configured external ID) into a member account's responder role.
/// </summary>
public sealed class AccountAccess(AwsSettings settings, AccountDirectory directory)
{
    private (string Account, string Partition)? _ambient;

    /// <summary>The account and partition of Keywarden's own credentials (sts:GetCallerIdentity, once).</summary>
    public async Task<(string Account, string Partition)> AmbientAsync(CancellationToken cancellationToken)
    {
        if (_ambient is { } known)
        {
            return known;
        }

        var config = settings.Configure(new AmazonSecurityTokenServiceConfig());
        using var sts = new AmazonSecurityTokenServiceClient(settings.ResolveCredentials(config), config);
        var identity = await Call("sts:GetCallerIdentity with Keywarden's own credentials", () => sts.GetCallerIdentityAsync(new GetCallerIdentityRequest(), cancellationToken), cancellationToken);
        var partition = identity.Arn.Split(':') is { Length: > 2 } parts ? parts[1] : "aws";
        _ambient = (identity.Account, partition);
        return _ambient.Value;
    }

    /// <summary>IAM in <paramref name="accountId"/>, or <see cref="NotOurAccountException"/>.</summary>
    public async Task<AccountConnection> ConnectAsync(string accountId, CancellationToken cancellationToken)
    {
        if (!directory.IsConfigured)
        {
            var (ambient, partition) = await AmbientAsync(cancellationToken);
            if (ambient != accountId)
            {
                throw new NotOurAccountException(accountId, $"no account directory is configured, and Keywarden's credentials are for account {ambient}");
            }

            return Ambient(accountId, partition);
        }

        var entry = directory.Find(accountId) ?? throw new NotOurAccountException(accountId, "not in the account directory");
        if (entry.RoleArn is null)
        {
            var (ambient, partition) = await AmbientAsync(cancellationToken);
            if (ambient != accountId)
            {
                throw new AwsConfigurationException($"account {accountId} has no role_arn in the account directory, and Keywarden's own credentials are for account {ambient}");
            }

            return Ambient(accountId, partition);
        }

        var stsConfig = settings.Configure(new AmazonSecurityTokenServiceConfig());
        using var sts = new AmazonSecurityTokenServiceClient(settings.ResolveCredentials(stsConfig), stsConfig);
        var request = new AssumeRoleRequest
        {
            RoleArn = entry.RoleArn,
            RoleSessionName = $"keywarden-{Environment.ProcessId}",
            ExternalId = entry.ExternalId,
            DurationSeconds = 3600,
        };
        var assumed = await Call($"sts:AssumeRole into {entry.RoleArn}", () => sts.AssumeRoleAsync(request, cancellationToken), cancellationToken);
        var credentials = new SessionAWSCredentials(assumed.Credentials.AccessKeyId, assumed.Credentials.SecretAccessKey, assumed.Credentials.SessionToken);
        var rolePartition = entry.RoleArn.Split(':') is { Length: > 2 } arn ? arn[1] : "aws";
        return new AccountConnection(accountId, rolePartition, $"role {entry.RoleArn}", new IamClient(settings, credentials));
    }

    private AccountConnection Ambient(string accountId, string partition)
    {
        var config = settings.Configure(new AmazonSecurityTokenServiceConfig());
        return new AccountConnection(accountId, partition, "ambient credentials", new IamClient(settings, settings.ResolveCredentials(config)));
    }

    /// <summary>An SDK call with its failures as one clear <see cref="AwsCallException"/>.</summary>
    private static async Task<T> Call<T>(string what, Func<Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call();
        }
        catch (Exception e) when (AwsFailures.IsAwsFailure(e, cancellationToken))
        {
            throw new AwsCallException($"{what} failed: {Sts.KeyVerifier.Describe(e)}", e);
        }
    }
}
