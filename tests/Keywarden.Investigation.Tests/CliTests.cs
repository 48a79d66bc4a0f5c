using System.Text;
using System.Text.Json;
using Keywarden.Cli;

namespace Keywarden.Investigation.Tests;

internal sealed record CliRun(int ExitCode, string Stdout, string Stderr);

/// <summary>`keywarden investigate` in-process, with captured streams.</summary>
public sealed class CliTests(ScenarioFixture fixture) : IClassFixture<ScenarioFixture>
{
    private static async Task<CliRun> Run(params string[] args)
    {
        var stdout = new MemoryStream();
        var stderr = new StringWriter();
        var console = new CliConsole(() => new MemoryStream(), stdout, stderr, StdoutIsTerminal: false, StderrIsTerminal: false);
        var code = await KeywardenApp.RunAsync(args, console, CancellationToken.None);
        return new CliRun(code, Encoding.UTF8.GetString(stdout.ToArray()), stderr.ToString());
    }

    [Fact]
    public async Task Investigate_prints_a_json_report_and_exits_0_with_detections()
    {
        var run = await Run("investigate", fixture.Scenario.LeakedKey, "--trail", fixture.Folder, "--format", "json");
        Assert.Equal(0, run.ExitCode);
        using var doc = JsonDocument.Parse(run.Stdout);
        Assert.Equal(6, doc.RootElement.GetProperty("keys").GetArrayLength());
        Assert.True(doc.RootElement.GetProperty("detections").GetArrayLength() > 0);
        Assert.Equal("", run.Stderr);
    }

    [Fact]
    public async Task Investigate_writes_the_report_to_a_file()
    {
        using var tree = new TempTree();
        var path = tree.Path("report.html");
        var run = await Run("investigate", fixture.Scenario.LeakedKey, "--trail", fixture.Folder, "--format", "html", "--output", path);
        Assert.Equal(0, run.ExitCode);
        Assert.StartsWith("<!DOCTYPE html>", File.ReadAllText(path), StringComparison.Ordinal);
        Assert.Equal("", run.Stdout);
        FileModes.AssertOwnerOnly(path);
    }

    [Fact]
    public async Task A_key_without_events_is_a_successful_empty_investigation()
    {
        var run = await Run("investigate", "AKIA" + new string('9', 16), "--trail", fixture.Folder);
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("note: no event of", run.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not-a-key", "not an access key ID")]
    [InlineData("AKIAIOSFODNN7EXAMPLE --since yesterday", "--since and --until take")]
    [InlineData("AKIAIOSFODNN7EXAMPLE --since 2025-02-01 --until 2025-01-01", "--since must be before --until")]
    [InlineData("AKIAIOSFODNN7EXAMPLE --account 12", "--account takes 12-digit account IDs")]
    public async Task Bad_input_is_one_error_line_and_exit_2(string args, string message)
    {
        var run = await Run(["investigate", .. args.Split(' '), "--trail", fixture.Folder]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Stderr, StringComparison.Ordinal);
        Assert.Single(run.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public async Task A_missing_trail_is_one_error_line_without_a_stack_trace()
    {
        var run = await Run("investigate", "AKIAIOSFODNN7EXAMPLE", "--trail", "/nonexistent/trail");
        Assert.Equal(2, run.ExitCode);
        Assert.Equal("keywarden: error: /nonexistent/trail: no such file or directory", run.Stderr.Trim());
    }

    [Fact]
    public async Task Emit_athena_prints_the_table_and_the_lineage_query()
    {
        var run = await Run("investigate", "AKIAIOSFODNN7EXAMPLE", "--trail", "s3://trail-bucket/AWSLogs/", "--account", "111122223333", "--since", "2025-01-01", "--emit-athena");
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("CREATE EXTERNAL TABLE IF NOT EXISTS keywarden_cloudtrail", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("LOCATION 's3://trail-bucket/AWSLogs/'", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("WITH RECURSIVE lineage", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("'AKIAIOSFODNN7EXAMPLE'", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("day >= '2025/01/01'", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("'projection.account.values' = '111122223333'", run.Stdout, StringComparison.Ordinal);
    }
}
