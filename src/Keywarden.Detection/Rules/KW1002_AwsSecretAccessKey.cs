using Keywarden.Detection.Credentials;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Detection.Rules;

/// <summary>
/// An AWS secret access key (40 characters of base64) next to an AWS keyword with no key ID nearby.
/// Secrets near a key ID are reported with that key under KW1001.
/// </summary>
internal sealed class KW1002_AwsSecretAccessKey : IRule
{
    public const int SecretLength = 40;

    public static KW1002_AwsSecretAccessKey Instance { get; } = new();

    public string Id => "KW1002";
    public string Name => "aws-secret-access-key";
    public string ShortDescription => "AWS secret access key";
    public string FullDescription => "An AWS secret access key next to an AWS keyword, with no access key ID found near it.";
    public string Help =>
        "Find the access key this secret belongs to (the key ID may be in another file or commit) and rotate it. A secret alone is enough to sign requests once its key ID is known.";
    public double SecuritySeverity => 8.0;

    /// <summary>A character of a base64 run (without padding).</summary>
    public static bool IsRunChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '/' or '+';

    /// <summary>
    /// True for a value that looks like a generated secret rather than a word, path or hash: both letter
    /// cases (which excludes hex digests such as git object IDs) and enough entropy.
    /// </summary>
    public static bool LooksRandom(ReadOnlySpan<char> value)
    {
        bool upper = false, lower = false;
        foreach (var c in value)
        {
            upper |= char.IsAsciiLetterUpper(c);
            lower |= char.IsAsciiLetterLower(c);
        }

        return upper && lower && Entropy.ShannonBitsPerChar(value) >= 3.5;
    }

    public IEnumerable<string> TruePositives(Random random)
    {
        yield return $"aws_secret_access_key = {SecretAccessKey(random)}";
        yield return $"export AWS_SECRET_ACCESS_KEY=\"{SecretAccessKey(random)}\"";
        yield return $"aws:\n  secret_access_key:\n    {SecretAccessKey(random)}";
        yield return $"AWS_SECRET_ACCESS_KEY={Uri.EscapeDataString(SecretWithSlash(random))}";
    }

    public IEnumerable<string> FalsePositives(Random random)
    {
        yield return "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        yield return $"commit {Convert.ToHexStringLower(random.GetItems<byte>(Enumerable.Range(0, 256).Select(i => (byte)i).ToArray(), 20))}";
        yield return $"secret = {SecretAccessKey(random)}"; // no AWS context
        yield return $"aws_secret_access_key = {SecretAccessKey(random)}X"; // 41 characters: not a secret access key
        yield return "aws_secret_access_key = ThisIsNotASecretButAVeryLongIdentifierX";
    }

    private static string SecretWithSlash(Random random)
    {
        while (true)
        {
            var s = SecretAccessKey(random);
            if (s.Contains('/', StringComparison.Ordinal) || s.Contains('+', StringComparison.Ordinal))
            {
                return s;
            }
        }
    }
}
