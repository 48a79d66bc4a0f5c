using System.Text;
using Keywarden.Investigation.Integrity;
using Keywarden.Investigation.Loading;

namespace Keywarden.Investigation.Tests;

public sealed class IntegrityTests : IDisposable
{
    private readonly TempTree _tree = new();
    private readonly DigestChain _chain;

    public IntegrityTests() => _chain = new DigestChain(_tree.Path("trail"));

    private IntegrityReport Validate() => DigestValidator.Validate(_chain.Root, [_chain.Key]);

    [Fact]
    public void An_untouched_chain_validates()
    {
        var report = Validate();
        Assert.Empty(report.Problems);
        Assert.Equal((3, 3, 6, 6), (report.Digests, report.DigestsValid, report.LogFiles, report.LogFilesValid));
    }

    [Fact]
    public void A_changed_log_file_is_caught()
    {
        var log = _chain.Path(_chain.LogKeys[3]);
        var content = Encoding.UTF8.GetString(DigestChain.ReadGzip(log)).Replace("DescribeInstances", "DescribeInstanceZ", StringComparison.Ordinal);
        DigestChain.WriteGzip(log, Encoding.UTF8.GetBytes(content));
        var problem = Assert.Single(Validate().Problems);
        Assert.Equal(("changed", log), (problem.Kind, problem.Path));
    }

    [Fact]
    public void A_recompressed_but_identical_log_file_is_still_valid()
    {
        var log = _chain.Path(_chain.LogKeys[0]);
        var content = DigestChain.ReadGzip(log);
        File.Delete(log);
        File.WriteAllBytes(log.Replace(".gz", "", StringComparison.Ordinal), content); // the hash is over the uncompressed content
        DigestChain.WriteGzip(log, content);
        File.Delete(log.Replace(".gz", "", StringComparison.Ordinal));
        Assert.Empty(Validate().Problems);
    }

    [Fact]
    public void Missing_and_extra_log_files_are_caught()
    {
        File.Delete(_chain.Path(_chain.LogKeys[1]));
        var extra = _chain.Path(_chain.LogKeys[1].Replace("_01abcdef", "_99abcdef", StringComparison.Ordinal));
        DigestChain.WriteGzip(extra, Encoding.UTF8.GetBytes("{\"Records\":[]}"));
        var problems = Validate().Problems;
        Assert.Contains(problems, p => p.Kind == "missing" && p.Path == _chain.LogKeys[1]);
        Assert.Contains(problems, p => p.Kind == "extra" && p.Path == extra);
        Assert.Equal(2, problems.Count);
    }

    [Fact]
    public void A_deleted_digest_is_a_gap_in_the_chain()
    {
        File.Delete(_chain.Path(_chain.DigestKeys[1]));
        var problems = Validate().Problems;
        Assert.Contains(problems, p => p.Kind == "chain-gap" && p.Path == _chain.Path(_chain.DigestKeys[2]) && p.Detail.Contains(_chain.DigestKeys[1], StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Kind == "time-gap");
        Assert.Equal(2, problems.Count(p => p.Kind == "extra")); // the logs only the deleted digest listed
    }

    [Fact]
    public void An_edited_digest_fails_its_signature_and_breaks_the_chain()
    {
        var digest = _chain.Path(_chain.DigestKeys[1]);
        var json = Encoding.UTF8.GetString(DigestChain.ReadGzip(digest));
        var log = _chain.Path(_chain.LogKeys[2]);
        // The attacker edits a log file and the digest's hash of it to match.
        var content = Encoding.UTF8.GetString(DigestChain.ReadGzip(log)).Replace("DescribeInstances", "StopLogging", StringComparison.Ordinal);
        var oldHash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(DigestChain.ReadGzip(log)));
        DigestChain.WriteGzip(log, Encoding.UTF8.GetBytes(content));
        var newHash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(content)));
        DigestChain.WriteGzip(digest, Encoding.UTF8.GetBytes(json.Replace(oldHash, newHash, StringComparison.Ordinal)));

        var problems = Validate().Problems;
        Assert.Contains(problems, p => p.Kind == "signature-invalid" && p.Path == digest);
        Assert.Contains(problems, p => p.Kind == "chain-broken" && p.Path == _chain.Path(_chain.DigestKeys[2]));
        Assert.DoesNotContain(problems, p => p.Kind == "changed"); // the log matches the forged digest: only the signature tells
    }

    [Fact]
    public void A_digest_signed_by_another_key_is_reported()
    {
        using var other = System.Security.Cryptography.RSA.Create(2048);
        var report = DigestValidator.Validate(_chain.Root, [new TrailPublicKey(other, TrailPublicKey.FingerprintOf(other), null, null)]);
        Assert.Equal(3, report.Problems.Count(p => p.Kind == "key-unknown"));
        Assert.Equal(0, report.DigestsValid);
    }

    [Fact]
    public void The_newest_digest_without_its_signature_cannot_be_verified()
    {
        File.Delete(_chain.Path(_chain.DigestKeys[2]) + DigestValidator.SignatureSuffix);
        var problem = Assert.Single(Validate().Problems);
        Assert.Equal("signature-unknown", problem.Kind);
    }

    [Fact]
    public async Task Without_a_key_file_the_keys_come_from_ListPublicKeys()
    {
        using var fixture = new LookupFixture([], publicKey: _chain.Key);
        var settings = new Keywarden.Aws.Connection.AwsSettings { EndpointUrl = fixture.Endpoint, Region = "us-east-1" };
        var report = await TrailValidation.RunAsync(_chain.Root, null, settings, new Amazon.Runtime.BasicAWSCredentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"));
        Assert.Empty(report.Problems);
        Assert.Equal(3, report.DigestsValid);
        Assert.Contains(fixture.Requests, r => r.Service == "cloudtrail:ListPublicKeys" && r.Region == DigestChain.Region);
    }

    [Fact]
    public void A_public_key_file_in_PEM_is_read_and_fingerprinted_like_CloudTrail()
    {
        var pem = _chain.WritePublicKey(_tree.Path("key.pem"));
        var key = TrailPublicKey.FromFile(pem);
        Assert.Equal(_chain.Key.Fingerprint, key.Fingerprint);
        Assert.Matches("^[0-9a-f]{32}$", key.Fingerprint);
        Assert.Throws<TrailInputException>(() => TrailPublicKey.FromFile(_tree.Write("bad.pem", "not a key")));
    }

    public void Dispose()
    {
        _chain.Dispose();
        _tree.Dispose();
    }
}

public sealed class TrailValidateCliTests : IDisposable
{
    private readonly TempTree _tree = new();

    private static async Task<CliRun> Run(params string[] args)
    {
        var stdout = new MemoryStream();
        var stderr = new StringWriter();
        var console = new Keywarden.Cli.CliConsole(() => new MemoryStream(), stdout, stderr, StdoutIsTerminal: false, StderrIsTerminal: false);
        var code = await Keywarden.Cli.KeywardenApp.RunAsync(args, console, CancellationToken.None);
        return new CliRun(code, Encoding.UTF8.GetString(stdout.ToArray()), stderr.ToString());
    }

    [Fact]
    public async Task Validate_exits_0_on_a_clean_chain_and_1_with_the_problem_when_tampered()
    {
        using var chain = new DigestChain(_tree.Path("trail"));
        var key = chain.WritePublicKey(_tree.Path("cloudtrail.pem"));
        var clean = await Run("trail", "validate", chain.Root, "--public-key", key);
        Assert.Equal(0, clean.ExitCode);
        Assert.StartsWith("3 digest(s), 3 valid; 6 log file(s) listed, 6 valid; 0 problem(s)", clean.Stdout, StringComparison.Ordinal);

        File.Delete(chain.Path(chain.LogKeys[4]));
        var tampered = await Run("trail", "validate", chain.Root, "--public-key", key, "--format", "json");
        Assert.Equal(1, tampered.ExitCode);
        using var doc = System.Text.Json.JsonDocument.Parse(tampered.Stdout);
        Assert.Equal("missing", doc.RootElement.GetProperty("problems")[0].GetProperty("kind").GetString());
    }

    [Fact]
    public async Task Validate_of_a_folder_without_digests_is_one_error_line_and_exit_2()
    {
        using var chain = new DigestChain(_tree.Path("trail"));
        var key = chain.WritePublicKey(_tree.Path("cloudtrail.pem"));
        var run = await Run("trail", "validate", _tree.Path("empty-" + Guid.NewGuid().ToString("N")), "--public-key", key);
        Assert.Equal(2, run.ExitCode);
        Assert.Single(run.Stderr.Trim().Split('\n'));
        Assert.Contains("no such directory", run.Stderr, StringComparison.Ordinal);
    }

    public void Dispose() => _tree.Dispose();
}
