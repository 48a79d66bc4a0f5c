using Keywarden.Detection.Credentials;

namespace Keywarden.Detection.Tests;

public sealed class ClassifierTests
{
    private readonly Random _random = new(17);

    [Fact]
    public void Documentation_keys_are_examples()
    {
        Assert.Equal(Classification.Example, Classifier.Classify("AKIAIOSFODNN7EXAMPLE", null, null));
        Assert.Equal(Classification.Example, Classifier.Classify(SyntheticCredentials.KeyId(_random), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", null));
    }

    // Bodies of stand-in keys; the tests put the prefix on at run time so the repository holds no key-shaped literal.
    [Theory]
    [InlineData("XXXXXXXXXXXXXXXX")]
    [InlineData("AAAAAAAAAAAAAAAA")]
    [InlineData("ABCDEFGHIJKLMNOP")]
    [InlineData("2345672345672345")]
    [InlineData("FAKEFAKEFAKEFAKE")]
    public void Low_entropy_stand_ins_are_placeholders(string body)
    {
        var keyId = "AKIA" + body;
        Assert.Equal(Classification.Placeholder, Classifier.Classify(keyId, null, AccessKeyId.DecodeAccountId(keyId)));
    }

    [Fact]
    public void Keys_of_canary_accounts_are_canaries()
    {
        foreach (var account in CanaryAccounts.Thinkst.Concat(CanaryAccounts.OtherServices))
        {
            var keyId = SyntheticCredentials.KeyId(_random, "AKIA", account);
            Assert.Equal(Classification.Canary, Classifier.Classify(keyId, null, AccessKeyId.DecodeAccountId(keyId)));
        }
    }

    [Fact]
    public void Random_keys_are_live()
    {
        for (var i = 0; i < 2000; i++)
        {
            var keyId = SyntheticCredentials.KeyId(_random, i % 2 == 0 ? "AKIA" : "ASIA");
            var secret = SyntheticCredentials.SecretAccessKey(_random);
            Assert.Equal(Classification.Live, Classifier.Classify(keyId, secret, AccessKeyId.DecodeAccountId(keyId)));
        }
    }
}
