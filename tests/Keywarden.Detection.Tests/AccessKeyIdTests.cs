using System.Numerics;
using Keywarden.Detection.Credentials;

namespace Keywarden.Detection.Tests;

public sealed class AccessKeyIdTests
{
    [Fact]
    public void Decoded_account_matches_an_independent_big_integer_decoding()
    {
        var random = new Random(11);
        for (var i = 0; i < 1000; i++)
        {
            var keyId = SyntheticCredentials.KeyId(random);
            Assert.Equal(ReferenceDecode(keyId), AccessKeyId.DecodeAccountId(keyId));
        }
    }

    [Theory]
    [InlineData("595918472158")]
    [InlineData("123456789012")]
    [InlineData("000000000001")]
    public void Generated_key_decodes_to_the_account_it_was_made_for(string account)
    {
        var keyId = SyntheticCredentials.KeyId(new Random(3), "AKIA", account);
        Assert.Equal(account, AccessKeyId.DecodeAccountId(keyId));
        Assert.True(AccessKeyId.IsWellFormed(keyId));
    }

    [Fact]
    public void Keys_of_the_old_format_or_with_non_base32_digits_have_no_account()
    {
        var body = SyntheticCredentials.KeyId(new Random(5))[5..];
        Assert.Null(AccessKeyId.DecodeAccountId("AKIAI" + body));
        Assert.Null(AccessKeyId.DecodeAccountId("AKIAJ" + body));
        Assert.Null(AccessKeyId.DecodeAccountId("AKIA" + "Q" + body[..14] + "0"));
        Assert.Null(AccessKeyId.DecodeAccountId("AKIA"));
    }

    [Fact]
    public void A_decoding_beyond_twelve_digits_is_no_account()
    {
        // Set the top bit of the 40-bit account field: 2^39 = 549755813888 is fine, the field's maximum is not.
        var random = new Random(9);
        var found = false;
        for (var i = 0; i < 5000 && !found; i++)
        {
            var keyId = "AKIA" + new string([.. Enumerable.Range(0, 16).Select(_ => "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[random.Next(32)])]);
            if (keyId[4] is 'I' or 'J')
            {
                continue;
            }

            var reference = ReferenceDecodeRaw(keyId);
            if (reference > 999_999_999_999L)
            {
                Assert.Null(AccessKeyId.DecodeAccountId(keyId));
                found = true;
            }
        }

        Assert.True(found);
    }

    [Fact]
    public void Kind_follows_the_prefix()
    {
        var r = new Random(1);
        Assert.Equal(KeyIdKind.LongTerm, AccessKeyId.KindOf(SyntheticCredentials.KeyId(r, "AKIA")));
        Assert.Equal(KeyIdKind.Temporary, AccessKeyId.KindOf(SyntheticCredentials.KeyId(r, "ASIA")));
        Assert.Equal(KeyIdKind.BearerToken, AccessKeyId.KindOf(SyntheticCredentials.KeyId(r, "ABIA")));
        Assert.Equal(KeyIdKind.ContextSpecific, AccessKeyId.KindOf(SyntheticCredentials.KeyId(r, "ACCA")));
        Assert.Null(AccessKeyId.KindOf(SyntheticCredentials.KeyId(r, "AIDA")));
    }

    private static long ReferenceDecodeRaw(string keyId)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        BigInteger n = 0;
        foreach (var c in keyId[4..])
        {
            n = (n * 32) + alphabet.IndexOf(c, StringComparison.Ordinal);
        }

        return ((long)(n >> 32) & 0x7FFFFFFFFF80L) >> 7;
    }

    /// <summary>DESIGN.md's algorithm read literally: 80 bits from base32, first 48 bits, mask, shift.</summary>
    private static string? ReferenceDecode(string keyId)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        BigInteger n = 0;
        foreach (var c in keyId[4..])
        {
            n = (n * 32) + alphabet.IndexOf(c, StringComparison.Ordinal);
        }

        var first48 = (long)(n >> 32);
        var account = (first48 & 0x7FFFFFFFFF80L) >> 7;
        return account > 999_999_999_999L ? null : account.ToString("D12", System.Globalization.CultureInfo.InvariantCulture);
    }
}
