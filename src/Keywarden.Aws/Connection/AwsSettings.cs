using Amazon;
using Amazon.Runtime;
using Amazon.Runtime.CredentialManagement;
using Amazon.Runtime.Credentials;

namespace Keywarden.Aws.Connection;

/// <summary>Thrown when Keywarden's own AWS access is not configured; the message says what to set.</summary>
public sealed class AwsConfigurationException : Exception
{
    public AwsConfigurationException() { }
    public AwsConfigurationException(string message) : base(message) { }
    public AwsConfigurationException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// How Keywarden reaches AWS: a named profile or the SDK's standard credential chain (environment,
/// shared config and credentials files, SSO, container and instance metadata), a region, and an
/// endpoint override for any AWS-compatible endpoint (LocalStack, moto, a VPC endpoint).
/// </summary>
public sealed record AwsSettings
{
    public const string DefaultRegion = "us-east-1";

    public string? Profile { get; init; }
    public string? Region { get; init; }

    /// <summary>One endpoint for every service (e.g. http://127.0.0.1:5000), as the AWS CLI's --endpoint-url.</summary>
    public string? EndpointUrl { get; init; }

    /// <summary>Connection timeout and retries for each call; a leaked key's verification must answer within seconds.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    public int MaxRetries { get; init; } = 2;

    /// <summary>
    /// From the AWS CLI's environment variables, with explicit options taking precedence, and the region
    /// as the AWS CLI finds it: --region, AWS_REGION, AWS_DEFAULT_REGION, then the profile's <c>region</c>
    /// in the shared config file (AWS CLI User Guide, "Configuration and credential file settings").
    /// </summary>
    public static AwsSettings FromEnvironment(string? profile = null, string? region = null, string? endpointUrl = null)
    {
        profile ??= Environment.GetEnvironmentVariable("AWS_PROFILE");
        region ??= Environment.GetEnvironmentVariable("AWS_REGION") ?? Environment.GetEnvironmentVariable("AWS_DEFAULT_REGION");
        return new AwsSettings
        {
            Profile = profile,
            Region = string.IsNullOrWhiteSpace(region) ? ProfileRegion(profile ?? "default") : region,
            EndpointUrl = endpointUrl ?? Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL"),
        };
    }

    /// <summary>The <c>region</c> of a profile in the shared config or credentials file, or null (no such profile, no region, or an unreadable file: the default applies).</summary>
    private static string? ProfileRegion(string profile)
    {
        try
        {
            return new CredentialProfileStoreChain().TryGetProfile(profile, out var found) ? found.Region?.SystemName : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or AmazonClientException or ArgumentException)
        {
            return null;
        }
    }

    public string ResolvedRegion => string.IsNullOrWhiteSpace(Region) ? DefaultRegion : Region;

    /// <summary>Applies region, endpoint, timeout and retries to a service client's configuration.</summary>
    public T Configure<T>(T config)
        where T : ClientConfig
    {
        ArgumentNullException.ThrowIfNull(config);
        if (EndpointUrl is { } endpoint)
        {
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            {
                throw new AwsConfigurationException($"endpoint URL is not an http(s) URL: {endpoint}");
            }

            config.ServiceURL = endpoint;
            config.AuthenticationRegion = ResolvedRegion;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(ResolvedRegion);
        }

        config.Timeout = Timeout;
        config.MaxErrorRetry = MaxRetries;
        return config;
    }

    /// <summary>
    /// An IAM Identity Center (SSO, <c>sso_session</c>) profile works only with a token that
    /// <c>aws sso login</c> cached (~/.aws/sso/cache). Keywarden never starts the browser sign-in itself
    /// (it runs in hooks and CI), and asks for the role credentials now, so a missing or expired token
    /// is one clear line before any call rather than an SDK error in the middle of a containment.
    /// </summary>
    private static void CheckSsoToken(string profile, SSOAWSCredentials sso)
    {
        sso.Options.SupportsGettingNewToken = false;
        try
        {
            sso.GetCredentials();
        }
        catch (Exception e) when (e is AmazonClientException && !IsNetwork(e))
        {
            throw new AwsConfigurationException($"AWS profile '{profile}' signs in through IAM Identity Center (SSO) and has no valid cached token: run `aws sso login --profile {profile}`", e);
        }
    }

    private static bool IsNetwork(Exception e)
    {
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (inner is HttpRequestException or System.Net.Sockets.SocketException or TimeoutException or TaskCanceledException)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Keywarden's own credentials: the named profile, or the standard chain.</summary>
    public AWSCredentials ResolveCredentials(ClientConfig config)
    {
        if (Profile is { } name)
        {
            if (new CredentialProfileStoreChain().TryGetAWSCredentials(name, out var fromProfile))
            {
                if (fromProfile is SSOAWSCredentials sso)
                {
                    CheckSsoToken(name, sso);
                }

                return fromProfile;
            }

            throw new AwsConfigurationException($"AWS profile '{name}' not found in the shared config or credentials files");
        }

        try
        {
            var resolved = new DefaultAWSCredentialsIdentityResolver().ResolveIdentity(config);
            if (resolved is SSOAWSCredentials sso)
            {
                CheckSsoToken("default", sso);
            }

            return resolved;
        }
        catch (AmazonClientException e)
        {
            throw new AwsConfigurationException("no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile, or run where instance or container credentials exist", e);
        }
    }
}
