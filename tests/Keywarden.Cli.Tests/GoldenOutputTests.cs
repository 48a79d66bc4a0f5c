using System.Text.Json;
using System.Text.RegularExpressions;
using NJsonSchema;

namespace Keywarden.Cli.Tests;

/// <summary>
/// Every output format against a checked-in golden file. The golden files hold placeholders where the
/// fixture's generated keys, secrets, hashes and fingerprints go. Set UPDATE_GOLDEN=1 to rewrite them,
/// then review the diff like code.
/// </summary>
public sealed partial class GoldenOutputTests : IDisposable
{
    private readonly Fixture _fixture = new();

    [Theory]
    [InlineData("text", "scan.txt")]
    [InlineData("json", "scan.json")]
    [InlineData("jsonl", "scan.jsonl")]
    [InlineData("sarif", "scan.sarif")]
    [InlineData("csv", "scan.csv")]
    public async Task Report_matches_its_golden_file(string format, string golden)
    {
        var run = await Cli.RunAsync(["scan", _fixture.Root, "--format", format]);
        Assert.Equal(1, run.ExitCode);
        Assert.Equal("", run.Stderr);
        var actual = Stabilize(_fixture.Normalize(run.Stdout));
        var path = Path.Combine(TestPaths.RepoRoot(), "tests", "Keywarden.Cli.Tests", "Golden", golden);
        if (Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(path, actual);
        }

        Assert.Equal(File.ReadAllText(path), actual);
    }

    [Theory]
    [InlineData("text")]
    [InlineData("json")]
    [InlineData("jsonl")]
    [InlineData("sarif")]
    [InlineData("csv")]
    public async Task No_format_prints_a_raw_secret_unless_asked(string format)
    {
        var run = await Cli.RunAsync(["scan", _fixture.Root, "--format", format]);
        foreach (var secret in _fixture.Secrets)
        {
            Assert.DoesNotContain(secret, run.Stdout, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, run.Stderr, StringComparison.Ordinal);
        }

        var shown = await Cli.RunAsync(["scan", _fixture.Root, "--format", format, "--show-secrets"]);
        Assert.Contains(_fixture.Secrets[0], shown.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sarif_validates_against_the_official_schema()
    {
        var run = await Cli.RunAsync(["scan", _fixture.Root, "--format", "sarif"]);
        var schemaPath = Path.Combine(TestPaths.RepoRoot(), "tests", "Data", "sarif-schema-2.1.0.json");
        var schema = await JsonSchema.FromFileAsync(schemaPath);
        var errors = schema.Validate(run.Stdout);
        Assert.True(errors.Count == 0, string.Join("\n", errors.Select(e => $"{e.Path}: {e.Kind}")));

        using var document = JsonDocument.Parse(run.Stdout);
        var result = document.RootElement.GetProperty("runs")[0].GetProperty("results")[0];
        Assert.Equal(32, result.GetProperty("partialFingerprints").GetProperty("keywarden/v1").GetString()!.Length);
        Assert.Equal("%SRCROOT%", result.GetProperty("locations")[0].GetProperty("physicalLocation").GetProperty("artifactLocation").GetProperty("uriBaseId").GetString());
    }

    [Fact]
    public async Task Json_stdout_is_one_document_and_jsonl_one_finding_per_line()
    {
        var json = await Cli.RunAsync(["scan", _fixture.Root, "-f", "json"]);
        using (var document = JsonDocument.Parse(json.Stdout))
        {
            Assert.Equal(7, document.RootElement.GetProperty("findings").GetArrayLength());
            Assert.Equal(1, document.RootElement.GetProperty("summary").GetProperty("suppressed").GetInt32());
            Assert.Equal(1, document.RootElement.GetProperty("summary").GetProperty("binarySkipped").GetInt32());
        }

        var jsonl = await Cli.RunAsync(["scan", _fixture.Root, "-f", "jsonl"]);
        var lines = jsonl.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(7, lines.Length);
        foreach (var line in lines)
        {
            using var finding = JsonDocument.Parse(line);
            foreach (var field in new[] { "ruleId", "keyId", "classification", "accountId", "path", "line", "column", "secret", "sessionToken", "fingerprint", "commit" })
            {
                Assert.True(finding.RootElement.TryGetProperty(field, out _), $"missing {field}");
            }
        }
    }

    /// <summary>Replaces what changes from run to run: time, version, fingerprints.</summary>
    private static string Stabilize(string output)
    {
        output = ElapsedMs().Replace(output, "\"elapsedMs\": 0");
        output = Seconds().Replace(output, "in 0.00 s");
        output = output.Replace(KeywardenApp.Version, "{{VERSION}}", StringComparison.Ordinal);
        output = Fingerprint().Replace(output, "{{FINGERPRINT}}");
        return output;
    }

    [GeneratedRegex("\"elapsedMs\": [0-9]+")]
    private static partial Regex ElapsedMs();

    [GeneratedRegex("in [0-9]+\\.[0-9]{2} s")]
    private static partial Regex Seconds();

    [GeneratedRegex("(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")]
    private static partial Regex Fingerprint();

    public void Dispose() => _fixture.Dispose();
}
