using Keywarden.Detection.Credentials;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Detection.Rules;

/// <summary>
/// An AWS access key ID: AKIA, ASIA, ABIA or ACCA followed by 16 characters, word-bounded. A key ID alone
/// is a finding (its secret may sit in another file or commit); the scanner pairs the secret access key
/// and session token found near it.
/// </summary>
internal sealed class KW1001_AwsAccessKeyId : IRule
{
    public static KW1001_AwsAccessKeyId Instance { get; } = new();

    public string Id => "KW1001";
    public string Name => "aws-access-key-id";
    public string ShortDescription => "AWS access key ID";
    public string FullDescription =>
        "An AWS access key ID (AKIA long-term, ASIA temporary, ABIA bearer token, ACCA context-specific), with its secret access key and session token when they are found nearby.";
    public string Help =>
        "Treat the key as exposed: deactivate or quarantine it in IAM, rotate it, and review CloudTrail for its use. Removing it from the file or from git history does not un-leak it.";
    public double SecuritySeverity => 9.0;

    /// <summary>True when a whole key ID starts at <paramref name="start"/>: prefix, 16 body characters, word boundaries.</summary>
    public static bool TryMatchAt(ReadOnlySpan<char> text, int start)
    {
        if (start + AccessKeyId.Length > text.Length)
        {
            return false;
        }

        if (start > 0 && AccessKeyId.IsWordChar(text[start - 1]))
        {
            return false;
        }

        var end = start + AccessKeyId.Length;
        if (end < text.Length && AccessKeyId.IsWordChar(text[end]))
        {
            return false;
        }

        return AccessKeyId.IsWellFormed(text.Slice(start, AccessKeyId.Length));
    }

    public IEnumerable<string> TruePositives(Random random)
    {
        yield return $"AWS_ACCESS_KEY_ID={KeyId(random)}";
        yield return $"aws_access_key_id = {KeyId(random)}\naws_secret_access_key = {SecretAccessKey(random)}";
        yield return $"{{\"AccessKeyId\":\"{KeyId(random, "ASIA")}\",\"SecretAccessKey\":\"{SecretAccessKey(random)}\"}}";
        yield return $"key: '{KeyId(random, "ABIA")}'";
        yield return $"# old key {KeyId(random, "ACCA")}, see ticket";
        yield return $"url=https://example.com/?X-Amz-Credential={KeyId(random)}%2F20240101%2Fus-east-1";
    }

    public IEnumerable<string> FalsePositives(Random random)
    {
        var key = KeyId(random);
        yield return "aws_access_key_id = AKIAIOSFODNN7EXAMPLE";
        yield return $"key = AKIA{new string('X', 16)}";
        yield return $"id = {key.ToLowerInvariant()}";
        yield return $"token = {key[..16]}";
        yield return $"blob = X{key}Y";
        yield return $"id = {key}7";
        yield return $"user = AIDA{KeyId(random)[4..]}";
        yield return $"key = {KeyId(random, "AKIA", "595918472158")}";
    }
}
