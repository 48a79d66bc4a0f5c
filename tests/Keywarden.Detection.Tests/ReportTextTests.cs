using System.Security.Cryptography;
using System.Text;
using Keywarden.Detection.Credentials;
using Keywarden.Detection.Findings;
using Keywarden.Detection.Scanning;
using Keywarden.Detection.Writers;
using Spectre.Console;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Detection.Tests;

/// <summary>The hook's start-up shortcuts (plain text without Spectre, a managed SHA-256) give exactly what they replaced.</summary>
public sealed class ReportTextTests
{
    private readonly Random _random = new(515);

    [Fact]
    public void Plain_text_is_the_markup_with_its_styles_removed()
    {
        var secret = new SecretValue(SecretAccessKey(_random));
        var findings = new List<Finding>
        {
            Finding("[bold]odd[/] path/with [[brackets]] and :smile:.txt", Classification.Live, secret, commit: null),
            Finding("caf\uFFFD/\u00EFnside].env", Classification.Canary, null, new CommitInfo(new string('a', 40), "[Dev] ]x[", "dev@example.com", DateTimeOffset.UnixEpoch, "fix [ci skip]", "x")),
            Finding("z.txt", Classification.Placeholder, null, new CommitInfo("abc", "Dev", "d@e", DateTimeOffset.UnixEpoch, "m", "z.txt")) with { Commits = 3, InHead = true },
            Finding(" ", Classification.Example, null, new CommitInfo("abc", "Dev", "d@e", DateTimeOffset.UnixEpoch, "m", " ")) with { Commits = 1, InHead = false },
        };
        var report = new ScanReport
        {
            Findings = findings,
            Files = 1234,
            Bytes = 5678,
            BinarySkipped = 1,
            Archives = 0,
            Suppressed = 2,
            Errors = [new ScanProblem("[x]", "bad")],
            Warnings = [new ScanProblem("y", "odd")],
            Elapsed = TimeSpan.FromMilliseconds(1500),
        };
        var writer = new TextReportWriter(new ReportOptions());

        using var plain = new StringWriter();
        writer.WritePlain(report, plain);
        var fromMarkup = string.Concat(writer.Lines(report).Select(line => Markup.Remove(line) + plain.NewLine));

        Assert.Equal(fromMarkup, plain.ToString());
        Assert.Contains("[bold]odd[/] path/with [[brackets]]", plain.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_managed_SHA256_is_SHA256_at_every_length_around_its_block_boundaries()
    {
        var data = new byte[300];
        _random.NextBytes(data);
        Span<byte> hash = stackalloc byte[Sha256.Length];
        for (var length = 0; length <= data.Length; length++)
        {
            Sha256.Hash(data.AsSpan(0, length), hash);
            Assert.Equal(SHA256.HashData(data.AsSpan(0, length)), hash.ToArray());
        }
    }

    [Fact]
    public void Secret_hashes_are_SHA256_as_the_framework_computes_it()
    {
        foreach (var value in new[] { SecretAccessKey(_random), SessionToken(_random), "x", "caf\u00E9 \U0001F511", new string('k', 1000) })
        {
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value))), SecretValue.HashOf(value));
        }
    }

    [Fact]
    public void Fingerprints_are_the_first_half_of_the_SHA256_of_their_material()
    {
        var material = Encoding.UTF8.GetBytes("KW1001\npath/a.txt\nAKIAEXAMPLE\n\n2");
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(material).AsSpan(0, 16)), FindingFingerprint.Compute("KW1001", "path/a.txt", "AKIAEXAMPLE", null, 2));
    }

    private Finding Finding(string path, Classification classification, SecretValue? secret, CommitInfo? commit) => new()
    {
        RuleId = "KW1001",
        KeyId = KeyId(_random),
        Classification = classification,
        AccountId = "123456789012",
        Path = path,
        Line = 12,
        Column = 3,
        Secret = secret,
        Fingerprint = "f",
        Commit = commit,
    };
}
