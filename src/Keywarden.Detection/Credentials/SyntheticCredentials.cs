using System.Text;

namespace Keywarden.Detection.Credentials;

/// <summary>
/// Generates key-shaped values at run time for rule examples, tests and drills, so the repository never
/// holds a key-shaped literal. None of them is a working credential.
/// </summary>
public static class SyntheticCredentials
{
    private const string Base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    private const string SecretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+";

    /// <summary>A key ID with <paramref name="prefix"/> whose body decodes to <paramref name="accountId"/> (random when null).</summary>
    public static string KeyId(Random random, string prefix = "AKIA", string? accountId = null)
    {
        ArgumentNullException.ThrowIfNull(random);
        var account = accountId is null
            ? (ulong)random.NextInt64(1, 999_999_999_999)
            : ulong.Parse(accountId, System.Globalization.CultureInfo.InvariantCulture);

        // Layout of the first 48 bits z: bit 47 free, bits 46..7 the account, bits 6..0 free (see AccessKeyId.DecodeAccountId).
        var z = ((ulong)(uint)random.Next(2) << 47) | (account << 7) | (ulong)(uint)random.Next(128);
        var rest = ((ulong)(uint)random.Next() << 1) | (ulong)(uint)random.Next(2); // 32 more bits
        // 80 bits = z (48) + rest (32): 16 base32 characters, most significant first.
        var number = ((UInt128)z << 32) | rest;
        var sb = new StringBuilder(prefix, AccessKeyId.Length);
        for (var i = 0; i < 16; i++)
        {
            sb.Append(Base32[(int)((number >> (75 - (i * 5))) & 31)]);
        }

        var keyId = sb.ToString();
        // The fifth character I or J marks the pre-encoding key format; avoid it so the account decodes.
        return keyId[AccessKeyId.PrefixLength] is 'I' or 'J' ? KeyId(random, prefix, accountId) : keyId;
    }

    /// <summary>40 characters of <c>[A-Za-z0-9/+]</c> with both letter cases and a digit.</summary>
    public static string SecretAccessKey(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        while (true)
        {
            var chars = new char[40];
            for (var i = 0; i < chars.Length; i++)
            {
                chars[i] = SecretAlphabet[random.Next(SecretAlphabet.Length)];
            }

            var s = new string(chars);
            if (s.Any(char.IsAsciiLetterUpper) && s.Any(char.IsAsciiLetterLower) && s.Any(char.IsAsciiDigit))
            {
                return s;
            }
        }
    }

    /// <summary>A session-token-shaped base64 string starting like STS's current tokens.</summary>
    public static string SessionToken(Random random, int length = 356)
    {
        ArgumentNullException.ThrowIfNull(random);
        var sb = new StringBuilder("IQoJb3JpZ2luX2Vj", length);
        while (sb.Length < length)
        {
            sb.Append(SecretAlphabet[random.Next(SecretAlphabet.Length)]);
        }

        return sb.ToString();
    }
}
