using System.Text;
using System.Text.Json;
using Keywarden.Cli;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Investigation.Tests;

/// <summary>CloudTrail fields an attacker chooses (userAgent, userName, errorMessage) cannot steer the terminal or forge report lines.</summary>
public sealed class HostileRecordsTests : IDisposable
{
    private const string Osc = "\u001b]0;owned\u0007";
    private const string Csi = "\u001b[2K\r";
    private const string Bidi = "\u202e";
    private readonly TempTree _tree = new();
    private readonly string _key;
    private readonly string _userAgent = $"curl/8 {Osc}{Csi}FORGED LINE\nnext";
    private readonly string _userName = $"ops{Bidi}nimda";
    private readonly string _errorMessage = $"denied{Osc}\r\nDETECTIONS (0)";

    public HostileRecordsTests()
    {
        var random = new Random(11);
        _key = KeyId(random);
        var records = new TrailRecords(3);
        var caller = Caller.User(_key, "123456789012", _userName);
        var at = new DateTimeOffset(2025, 3, 1, 10, 0, 0, TimeSpan.Zero);
        records.Add(caller, at, "sts", "GetCallerIdentity", "us-east-1", "198.51.100.7", userAgent: _userAgent, readOnly: true);
        records.Add(caller, at.AddMinutes(1), "iam", "CreateUser", "us-east-1", "198.51.100.7",
            request: new() { ["userName"] = _userName }, errorCode: "AccessDenied", errorMessage: _errorMessage, userAgent: _userAgent);
        records.Add(caller, at.AddMinutes(2), "iam", "CreateUser", "us-east-1", "198.51.100.7",
            request: new() { ["userName"] = "backdoor" + Osc }, response: new() { ["user"] = new System.Text.Json.Nodes.JsonObject { ["userName"] = "backdoor" + Osc } }, userAgent: _userAgent);
        TrailRecords.WriteCloudTrailFile(_tree.Path("trail.json.gz"), records.Records);
    }

    [Theory]
    [InlineData("text")]
    [InlineData("md")]
    public async Task Text_and_markdown_reports_hold_no_raw_control_character(string format)
    {
        var run = await Run("investigate", _key, "--trail", _tree.Root, "--format", format);
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("backdoor\\x1b]0;owned\\x07", run.Stdout, StringComparison.Ordinal);
        if (format == "text")
        {
            Assert.Contains("curl/8 \\x1b]0;owned\\x07\\x1b[2K\\rFORGED LINE\\nnext", run.Stdout, StringComparison.Ordinal);
            Assert.Contains("ops\\u202enimda", run.Stdout, StringComparison.Ordinal);
        }

        Assert.DoesNotContain(run.Stdout, c => char.IsControl(c) && c != '\n');
        Assert.DoesNotContain(Bidi, run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("\nFORGED LINE", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_and_html_reports_keep_the_exact_data()
    {
        var json = await Run("investigate", _key, "--trail", _tree.Root, "--format", "json");
        using var document = JsonDocument.Parse(json.Stdout);
        var agents = document.RootElement.GetProperty("summary").GetProperty("userAgents").EnumerateArray().Select(a => a.GetProperty("name").GetString()).ToList();
        Assert.Contains(_userAgent, agents);

        var html = await Run("investigate", _key, "--trail", _tree.Root, "--format", "html");
        Assert.Contains(System.Net.WebUtility.HtmlEncode(_userName), html.Stdout, StringComparison.Ordinal);
    }

    public void Dispose() => _tree.Dispose();

    private static async Task<CliRun> Run(params string[] args)
    {
        var stdout = new MemoryStream();
        var stderr = new StringWriter();
        var console = new CliConsole(() => new MemoryStream(), stdout, stderr, StdoutIsTerminal: false, StderrIsTerminal: false);
        var code = await KeywardenApp.RunAsync(args, console, CancellationToken.None);
        return new CliRun(code, Encoding.UTF8.GetString(stdout.ToArray()), stderr.ToString());
    }
}
