using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Detection.Rules;

/// <summary>
/// An STS session token. Near an ASIA key ID it is reported with that key (KW1001, sessionToken true);
/// alone, it is reported under this rule: it starts with the base64 of STS's token header.
/// </summary>
internal sealed class KW1003_AwsSessionToken : IRule
{
    /// <summary>Session tokens are long base64 strings; shorter runs are something else.</summary>
    public const int MinimumLength = 100;

    /// <summary>Longer base64 runs are data (images, certificates), not STS tokens (observed up to about 2,000 characters).</summary>
    public const int MaximumLength = 4096;

    /// <summary>Base64 of the headers STS tokens start with (newer "IQoJb3JpZ2lu", older "FwoGZXIvYXdz").</summary>
    public static IReadOnlyList<string> KnownStarts { get; } = ["IQoJb3JpZ2lu", "FwoGZXIvYXdz"];

    public static KW1003_AwsSessionToken Instance { get; } = new();

    public string Id => "KW1003";
    public string Name => "aws-session-token";
    public string ShortDescription => "AWS session token";
    public string FullDescription => "An AWS STS session token with no temporary access key ID found near it.";
    public string Help =>
        "Temporary credentials cannot be revoked one by one: deny the sessions of the role or user that issued them (aws:TokenIssueTime), and find the ASIA key it belongs to.";
    public double SecuritySeverity => 7.0;

    public static bool IsTokenChar(char c) => KW1002_AwsSecretAccessKey.IsRunChar(c) || c == '=';

    public IEnumerable<string> TruePositives(Random random)
    {
        yield return $"AWS_SESSION_TOKEN={SessionToken(random)}";
        yield return $"\"SessionToken\": \"{SessionToken(random, 820)}\"";
    }

    public IEnumerable<string> FalsePositives(Random random)
    {
        yield return $"AWS_SESSION_TOKEN={SessionToken(random)[..60]}";
        yield return $"data = {SecretAccessKey(random)}{SecretAccessKey(random)}{SecretAccessKey(random)}"; // long base64 without the STS header
    }
}
