namespace Keywarden.Detection.Credentials;

/// <summary>Decides whether a key ID (and its secret, when found) could be a working credential.</summary>
public static class Classifier
{
    // Words that mark a made-up value. "EXAMPLE" is AWS's own convention for documentation keys.
    private static readonly string[] PlaceholderWords = ["XXXX", "FAKE", "DUMMY", "SAMPLE", "PLACEHOLDER", "REDACTED"];

    public static Classification Classify(string? keyId, string? secret, string? accountId)
    {
        if (IsExample(keyId) || IsExample(secret))
        {
            return Classification.Example;
        }

        if (keyId is not null && IsPlaceholderKeyId(keyId))
        {
            return Classification.Placeholder;
        }

        if (keyId is null && secret is not null && IsPlaceholderSecret(secret))
        {
            return Classification.Placeholder;
        }

        return CanaryAccounts.Contains(accountId) ? Classification.Canary : Classification.Live;
    }

    /// <summary>AWS documentation keys end in EXAMPLE (AKIAIOSFODNN7EXAMPLE, wJalr...EXAMPLEKEY).</summary>
    public static bool IsExample(string? value) =>
        value is not null && value.Contains("EXAMPLE", StringComparison.Ordinal);

    /// <summary>
    /// A key ID body with a made-up word, a long run of one character, an ascending run
    /// (ABCDEFG, 234567) or very few distinct characters. A random 16-character base32 body has about
    /// 3.6 bits of entropy per character; these stand-ins have far less.
    /// </summary>
    public static bool IsPlaceholderKeyId(string keyId)
    {
        var body = keyId.AsSpan(AccessKeyId.PrefixLength);
        foreach (var word in PlaceholderWords)
        {
            if (body.Contains(word, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return LongestRun(body) >= 5 || LongestAscendingRun(body) >= 6 || Entropy.ShannonBitsPerChar(body) < 2.5;
    }

    public static bool IsPlaceholderSecret(string secret)
    {
        var upper = secret.ToUpperInvariant();
        foreach (var word in PlaceholderWords)
        {
            if (upper.Contains(word, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return LongestRun(secret) >= 6 || Entropy.ShannonBitsPerChar(secret) < 3.5;
    }

    private static int LongestRun(ReadOnlySpan<char> s)
    {
        int best = 0, run = 0;
        for (var i = 0; i < s.Length; i++)
        {
            run = i > 0 && s[i] == s[i - 1] ? run + 1 : 1;
            best = Math.Max(best, run);
        }

        return best;
    }

    private static int LongestAscendingRun(ReadOnlySpan<char> s)
    {
        int best = 0, run = 0;
        for (var i = 0; i < s.Length; i++)
        {
            run = i > 0 && s[i] == s[i - 1] + 1 ? run + 1 : 1;
            best = Math.Max(best, run);
        }

        return best;
    }
}
