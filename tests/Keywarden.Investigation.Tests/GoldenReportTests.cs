using Keywarden.Investigation.Reports;

namespace Keywarden.Investigation.Tests;

/// <summary>
/// Every report format of the attack scenario against a checked-in golden file. Generated key IDs and the
/// temporary folder are replaced by placeholders. Set UPDATE_GOLDEN=1 to rewrite the files, then review
/// the diff like code.
/// </summary>
public sealed class GoldenReportTests(ScenarioFixture fixture) : IClassFixture<ScenarioFixture>
{
    [Theory]
    [InlineData(ReportFormat.Text, "scenario.txt")]
    [InlineData(ReportFormat.Md, "scenario.md")]
    [InlineData(ReportFormat.Json, "scenario.json")]
    [InlineData(ReportFormat.Html, "scenario.html")]
    public void Report_matches_its_golden_file(ReportFormat format, string golden)
    {
        var output = new StringWriter();
        ReportWriters.Write(fixture.Report, format, output);
        var actual = Normalize(output.ToString());
        var path = Path.Combine(TestPaths.RepoRoot(), "tests", "Keywarden.Investigation.Tests", "Golden", golden);
        if (Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(path, actual);
        }

        Assert.Equal(File.ReadAllText(path), actual);
    }

    private string Normalize(string text)
    {
        var s = fixture.Scenario;
        foreach (var (value, name) in new[]
        {
            (fixture.Folder, "TRAIL"), (s.LeakedKey, "LEAKED_KEY"), (s.BackdoorKey, "BACKDOOR_KEY"), (s.SessionKey, "SESSION_KEY"),
            (s.RoleKey, "ROLE_KEY"), (s.FederationKey, "FEDERATION_KEY"), (s.ConsoleKey, "CONSOLE_KEY"), (s.AliceKey, "ALICE_KEY"), (s.CiKey, "CI_KEY"),
        })
        {
            text = text.Replace(value, "{{" + name + "}}", StringComparison.Ordinal);
        }

        return text;
    }
}
