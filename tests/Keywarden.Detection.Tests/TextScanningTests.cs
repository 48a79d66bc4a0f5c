using System.Text;
using Keywarden.Detection.Credentials;
using Keywarden.Detection.Findings;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Detection.Tests;

public sealed class TextScanningTests
{
    private readonly Random _random = new(42);

    [Fact]
    public void Scan_reports_key_and_secret_on_adjacent_lines()
    {
        var key = KeyId(_random);
        var secret = SecretAccessKey(_random);
        var finding = Assert.Single(Scan.Text($"# config\nexport AWS_ACCESS_KEY_ID={key}\nexport AWS_SECRET_ACCESS_KEY={secret}\n"));
        Assert.Equal("KW1001", finding.RuleId);
        Assert.Equal(key, finding.KeyId);
        Assert.Equal(2, finding.Line);
        Assert.Equal(26, finding.Column);
        Assert.Equal(SecretValue.HashOf(secret), finding.Secret!.Sha256);
        Assert.Equal(secret[..4] + "…", finding.Secret.Redacted);
        Assert.Equal(AccessKeyId.DecodeAccountId(key), finding.AccountId);
    }

    [Fact]
    public void Secret_before_its_key_and_on_the_same_line_is_paired()
    {
        var key = KeyId(_random);
        var secret = SecretAccessKey(_random);
        var finding = Assert.Single(Scan.Text($"{{\"SecretAccessKey\": \"{secret}\", \"AccessKeyId\": \"{key}\"}}"));
        Assert.Equal(SecretValue.HashOf(secret), finding.Secret!.Sha256);
    }

    [Fact]
    public void Each_profile_gets_its_own_secret()
    {
        var keys = Enumerable.Range(0, 3).Select(_ => KeyId(_random)).ToArray();
        var secrets = Enumerable.Range(0, 3).Select(_ => SecretAccessKey(_random)).ToArray();
        var text = new StringBuilder();
        for (var i = 0; i < 3; i++)
        {
            text.Append($"[p{i}]\naws_access_key_id = {keys[i]}\naws_secret_access_key = {secrets[i]}\nregion = us-east-1\n\n");
        }

        var findings = Scan.Text(text.ToString());
        Assert.Equal(3, findings.Count);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(keys[i], findings[i].KeyId);
            Assert.Equal(SecretValue.HashOf(secrets[i]), findings[i].Secret!.Sha256);
        }
    }

    [Fact]
    public void Secret_after_a_keyword_pairs_within_a_kilobyte()
    {
        var key = KeyId(_random);
        var secret = SecretAccessKey(_random);
        var filler = string.Concat(Enumerable.Repeat("some: unrelated value\n", 40)); // ~880 bytes
        var finding = Assert.Single(Scan.Text($"access_key: {key}\n{filler}secret_key: {secret}\n"));
        Assert.NotNull(finding.Secret);
    }

    [Fact]
    public void Secret_without_keyword_far_from_the_key_is_not_paired()
    {
        var key = KeyId(_random);
        var secret = SecretAccessKey(_random);
        var finding = Assert.Single(Scan.Text($"id: {key}\n\n\n\n\nchecksum: {secret}\n"));
        Assert.Null(finding.Secret);
        Assert.Equal(Classification.Live, finding.Classification);
    }

    [Fact]
    public void Url_encoded_secret_is_hashed_after_decoding()
    {
        var key = KeyId(_random);
        string secret;
        do
        {
            secret = SecretAccessKey(_random);
        }
        while (!secret.Contains('/', StringComparison.Ordinal) && !secret.Contains('+', StringComparison.Ordinal));

        var finding = Assert.Single(Scan.Text($"https://host/?AWSAccessKeyId={key}&AWSSecretKey={Uri.EscapeDataString(secret)}&x=1"));
        Assert.Equal(SecretValue.HashOf(secret), finding.Secret!.Sha256);
    }

    [Fact]
    public void Quoted_secret_is_hashed_without_its_quotes()
    {
        var key = KeyId(_random);
        var secret = SecretAccessKey(_random);
        var finding = Assert.Single(Scan.Text($"aws_access_key_id='{key}'\naws_secret_access_key='{secret}'\n"));
        Assert.Equal(SecretValue.HashOf(secret), finding.Secret!.Sha256);
    }

    [Fact]
    public void Session_token_is_paired_with_its_temporary_key()
    {
        var key = KeyId(_random, "ASIA");
        var secret = SecretAccessKey(_random);
        var token = SessionToken(_random);
        var finding = Assert.Single(Scan.Text($"AWS_ACCESS_KEY_ID={key}\nAWS_SECRET_ACCESS_KEY={secret}\nAWS_SESSION_TOKEN={token}\n"));
        Assert.NotNull(finding.SessionToken);
        Assert.Equal(SecretValue.HashOf(token), finding.SessionToken!.Sha256);
        Assert.NotNull(finding.Secret);
    }

    [Fact]
    public void Lone_secret_next_to_an_aws_keyword_is_a_finding()
    {
        var secret = SecretAccessKey(_random);
        var finding = Assert.Single(Scan.Text($"line one\nAWS_SECRET_ACCESS_KEY={secret}\n"));
        Assert.Equal("KW1002", finding.RuleId);
        Assert.Null(finding.KeyId);
        Assert.Equal(2, finding.Line);
        Assert.Equal(23, finding.Column);
        Assert.Equal(Classification.Live, finding.Classification);
    }

    [Fact]
    public void Git_hashes_and_identifiers_are_not_secrets()
    {
        var key = KeyId(_random);
        var hash = Convert.ToHexStringLower(Encoding.ASCII.GetBytes("abcdefghijabcdefghij"));
        var finding = Assert.Single(Scan.Text($"key {key}\naws_secret_access_key = {hash}\n"));
        Assert.Null(finding.Secret);
        Assert.Empty(Scan.Text($"aws_secret_access_key = {hash}\n"));
    }

    [Fact]
    public void Inline_allow_comment_suppresses_the_finding()
    {
        var key = KeyId(_random);
        Assert.Empty(Scan.Text($"key = \"{key}\"  # keywarden:allow\n"));
        var report = new Scanning.Scanner(new Scanning.ScanOptions { Paths = ["-"] }, () => new MemoryStream(Encoding.UTF8.GetBytes($"k = {key} // keywarden:allow"))).Run();
        Assert.Equal(1, report.Suppressed);
    }

    [Fact]
    public void Key_ids_must_be_whole_words()
    {
        var key = KeyId(_random);
        Assert.Empty(Scan.Text($"x{key}"));
        Assert.Empty(Scan.Text($"{key}_suffix"));
        Assert.Single(Scan.Text($"({key})"));
        Assert.Single(Scan.Text($"\"{key}\","));
    }

    [Fact]
    public void Columns_count_characters_not_bytes()
    {
        var key = KeyId(_random);
        var finding = Assert.Single(Scan.Text($"clé→ {key}"));
        Assert.Equal(6, finding.Column);
    }

    [Fact]
    public void Fingerprint_is_stable_when_the_line_moves()
    {
        var key = KeyId(_random);
        var before = Assert.Single(Scan.Text($"a\nkey={key}\n")).Fingerprint;
        var after = Assert.Single(Scan.Text($"a\nb\nc\n\n   key={key}\n")).Fingerprint;
        Assert.Equal(before, after);
        var twice = Scan.Text($"key={key}\nkey={key}\n");
        Assert.Equal(before, twice[0].Fingerprint);
        Assert.NotEqual(twice[0].Fingerprint, twice[1].Fingerprint);
    }

    [Fact]
    public void Finding_never_prints_its_secret()
    {
        var secret = SecretAccessKey(_random);
        var finding = Assert.Single(Scan.Text($"aws_access_key_id={KeyId(_random)}\naws_secret_access_key={secret}"));
        Assert.DoesNotContain(secret, finding.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(secret, finding.Secret!.ToString(), StringComparison.Ordinal);
    }
}
