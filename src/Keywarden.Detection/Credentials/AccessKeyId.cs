namespace Keywarden.Detection.Credentials;

/// <summary>What kind of principal or credential a 4-character access key ID prefix denotes.</summary>
public enum KeyIdKind
{
    /// <summary><c>AKIA</c>: a long-term key of an IAM user or of the root user.</summary>
    LongTerm,
    /// <summary><c>ASIA</c>: a temporary key minted by STS (AssumeRole, GetSessionToken, GetFederationToken, console sessions).</summary>
    Temporary,
    /// <summary><c>ABIA</c>: an STS service bearer token.</summary>
    BearerToken,
    /// <summary><c>ACCA</c>: a context-specific credential.</summary>
    ContextSpecific,
}

/// <summary>
/// Facts about AWS access key IDs: a 4-character prefix followed by 16 characters of RFC 4648 base32.
/// Source: AWS IAM User Guide, "Understanding unique ID prefixes", and DESIGN.md.
/// </summary>
public static class AccessKeyId
{
    public const int Length = 20;
    public const int PrefixLength = 4;

    /// <summary>The prefixes of key IDs that are credentials. Unique IDs (AIDA, AROA, ...) are not.</summary>
    public static IReadOnlyList<string> CredentialPrefixes { get; } = ["AKIA", "ASIA", "ABIA", "ACCA"];

    /// <summary>
    /// A character of a key ID's 16-character body. Current keys use base32 <c>[A-Z2-7]</c>; older keys
    /// and anonymised datasets also carry 0, 1, 8 and 9, so the matcher accepts <c>[A-Z0-9]</c>.
    /// </summary>
    public static bool IsBodyChar(char c) => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c);

    /// <summary>A character that continues a word for the purposes of <c>\b</c>.</summary>
    public static bool IsWordChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    public static KeyIdKind? KindOf(ReadOnlySpan<char> keyId) => keyId.Length < PrefixLength ? null : keyId[..PrefixLength] switch
    {
        "AKIA" => KeyIdKind.LongTerm,
        "ASIA" => KeyIdKind.Temporary,
        "ABIA" => KeyIdKind.BearerToken,
        "ACCA" => KeyIdKind.ContextSpecific,
        _ => null,
    };

    /// <summary>True when <paramref name="value"/> is a whole credential key ID: a known prefix and 16 body characters.</summary>
    public static bool IsWellFormed(ReadOnlySpan<char> value)
    {
        if (value.Length != Length || KindOf(value) is null)
        {
            return false;
        }

        foreach (var c in value[PrefixLength..])
        {
            if (!IsBodyChar(c))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Decodes the AWS account ID that a key ID carries, offline. The 16 characters after the prefix are
    /// base32 for 10 bytes; the first 6 bytes as a big-endian integer z give account = (z &amp; 0x7FFFFFFFFF80) &gt;&gt; 7.
    /// Keys whose fifth character is I or J predate this encoding, and keys with 0, 1, 8 or 9 are not base32:
    /// both return null. Source: DESIGN.md ("Account ID from a key ID, offline").
    /// </summary>
    public static string? DecodeAccountId(ReadOnlySpan<char> keyId)
    {
        if (keyId.Length != Length || keyId[PrefixLength] is 'I' or 'J')
        {
            return null;
        }

        // Ten base32 characters carry 50 bits: more than the 48 we need.
        ulong bits = 0;
        for (var i = PrefixLength; i < PrefixLength + 10; i++)
        {
            var value = Base32Value(keyId[i]);
            if (value < 0)
            {
                return null;
            }

            bits = (bits << 5) | (uint)value;
        }

        // Ensure the remaining characters are valid base32 too: otherwise the key is not of this encoding.
        for (var i = PrefixLength + 10; i < Length; i++)
        {
            if (Base32Value(keyId[i]) < 0)
            {
                return null;
            }
        }

        var z = bits >> 2;
        var account = (z & 0x7FFFFFFFFF80UL) >> 7;
        // 40 bits reach 13 digits, but account IDs have 12: such a key is not of this encoding.
        return account > 999_999_999_999UL ? null : account.ToString("D12", System.Globalization.CultureInfo.InvariantCulture);
    }

    private static int Base32Value(char c) => c switch
    {
        >= 'A' and <= 'Z' => c - 'A',
        >= '2' and <= '7' => c - '2' + 26,
        _ => -1,
    };
}
