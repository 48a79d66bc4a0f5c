using Keywarden.Detection.Suppression;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Detection.Tests;

/// <summary>A credentials file given as a config or baseline by mistake: the error says where, never what.</summary>
public sealed class ParseErrorTests : IDisposable
{
    private readonly Random _random = new(17);
    private readonly TempTree _tree = new();

    [Fact]
    public void A_credentials_file_given_as_the_scan_config_is_named_by_line_and_column_without_its_key()
    {
        var (keyId, secret) = (KeyId(_random), SecretAccessKey(_random));
        var path = _tree.Write("credentials", $"[default]\naws_access_key_id = {keyId}\naws_secret_access_key = {secret}\n");

        var message = Assert.Throws<ConfigurationException>(() => ScanConfig.Load(path)).Message;

        Assert.Equal($"config {path}: not valid TOML (line 2, column 21)", message);
        AssertHoldsNoPartOf(message.Replace(path, "", StringComparison.Ordinal), keyId, secret);
    }

    [Fact]
    public void A_secret_in_a_baseline_that_is_not_JSON_is_named_by_line_and_column_without_its_value()
    {
        var secret = SecretAccessKey(_random);
        var path = _tree.Write("baseline.json", $"{{\n  \"findings\": [{secret}]\n}}\n");

        var message = Assert.Throws<ConfigurationException>(() => Baseline.Load(path)).Message;

        Assert.Equal($"baseline {path}: not valid JSON (line 2, column 16)", message);
        AssertHoldsNoPartOf(message.Replace(path, "", StringComparison.Ordinal), secret);
    }

    /// <summary>No run of 4 or more characters of any secret appears in the message, less its path (the redacted form shows 4).</summary>
    private static void AssertHoldsNoPartOf(string message, params string[] secrets)
    {
        foreach (var secret in secrets)
        {
            for (var i = 0; i + 4 <= secret.Length; i++)
            {
                Assert.DoesNotContain(secret.Substring(i, 4), message, StringComparison.Ordinal);
            }
        }
    }

    public void Dispose() => _tree.Dispose();
}
