using System.IO.Compression;
using System.Text;
using System.Text.Json;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Cli.Tests;

/// <summary>What the data says (file and entry names, commit authors and messages, a reporter, a URL) cannot steer the terminal, forge a line or show a token.</summary>
public sealed class HostileDataTests : IDisposable
{
    private const string Osc = "\u001b]0;owned\u0007";
    private const string Csi = "\u001b[31m";
    private const string Bidi = "\u202e";
    private readonly Random _random = new(17);
    private readonly TempTree _tree = new();

    [Fact]
    public async Task Text_and_csv_reports_escape_control_characters_in_file_and_entry_names_and_json_keeps_them()
    {
        var name = $"a{Osc}{Csi}\rFORGED\nb{Bidi}vne.txt";
        _tree.Write(name, $"AWS_ACCESS_KEY_ID={KeyId(_random)}\n");
        var entry = $"inner{Osc}\nentry.env";
        _tree.WriteBytes("bundle.zip", Zip(entry, $"k={KeyId(_random)}\n"));

        var text = await Cli.RunAsync(["scan", _tree.Root]);
        Assert.Equal(1, text.ExitCode);
        Assert.Contains("a\\x1b]0;owned\\x07\\x1b[31m\\rFORGED\\nb\\u202evne.txt", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("bundle.zip!inner\\x1b]0;owned\\x07\\nentry.env", text.Stdout, StringComparison.Ordinal);
        AssertNoRawControl(text.Stdout, "\n");

        var csv = await Cli.RunAsync(["scan", _tree.Root, "--format", "csv"]);
        AssertNoRawControl(csv.Stdout, "\r\n");
        Assert.Equal(3, csv.Stdout.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Length);

        var json = await Cli.RunAsync(["scan", _tree.Root, "--format", "json"]);
        using var document = JsonDocument.Parse(json.Stdout);
        var paths = document.RootElement.GetProperty("findings").EnumerateArray().Select(f => f.GetProperty("path").GetString()).ToList();
        Assert.Contains(name, paths);
        Assert.Contains($"bundle.zip!{entry}", paths);
    }

    [Fact]
    public async Task Git_commit_author_and_message_are_escaped_in_the_text_report()
    {
        using var repo = new GitRepo();
        repo.Write("app.env", $"AWS_ACCESS_KEY_ID={KeyId(_random)}\n");
        repo.Git(["add", "-A"]);
        var token = Guid.NewGuid().ToString("N");
        repo.Git(["commit", "-q", "-m", $"fix{Osc}{Bidi} see https://ci:{token}@host/x"], new() { ["GIT_AUTHOR_NAME"] = $"Mal{Csi}lory", ["GIT_AUTHOR_EMAIL"] = $"m{Osc}@example.com" });

        var run = await Cli.RunAsync(["scan", "--git", repo.Path]);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("by Mal\\x1b[31mlory <m\\x1b]0;owned\\x07@example.com>: fix\\x1b]0;owned\\x07\\u202e see https://***@host/x", run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(token, run.Stdout, StringComparison.Ordinal);
        AssertNoRawControl(run.Stdout, "\n");
    }

    [Fact]
    public async Task Error_lines_escape_the_path_they_quote()
    {
        var run = await Cli.RunAsync(["scan", _tree.Path($"missing{Osc}\nkeywarden: error: forged")]);
        Assert.Equal(2, run.ExitCode);
        Assert.Single(run.Stderr.TrimEnd('\n').Split('\n'));
        Assert.Contains("missing\\x1b]0;owned\\x07\\nkeywarden: error: forged", run.Stderr, StringComparison.Ordinal);
        AssertNoRawControl(run.Stderr, "\n");
    }

    [Fact]
    public async Task A_reporter_and_url_reach_case_output_escaped_and_redacted_and_json_keeps_them()
    {
        var db = _tree.Path("cases.db");
        var token = Guid.NewGuid().ToString("N");
        var reporter = $"eve{Osc}\n  12:00:00Z contained   forged{Bidi}";
        var url = $"https://user:p@ss{token}@paste.example/raw/1?sig={token}#{token}";
        var reported = await Cli.RunAsync(["respond", KeyId(_random), "--no-work", "--db", db, "--reporter", reporter, "--url", url]);
        Assert.Equal(0, reported.ExitCode);

        foreach (var args in new[] { new[] { "cases", "show", "KW-1", "--db", db }, ["cases", "report", "KW-1", "--db", db] })
        {
            var run = await Cli.RunAsync(args);
            Assert.Equal(0, run.ExitCode);
            Assert.DoesNotContain(token, run.Stdout, StringComparison.Ordinal);
            Assert.DoesNotContain(Bidi, run.Stdout, StringComparison.Ordinal);
            AssertNoRawControl(run.Stdout, "\n");
        }

        var report = await Cli.RunAsync(["cases", "report", "KW-1", "--db", db]);
        Assert.Contains("https://***@paste.example/raw/1?sig=***#***", report.Stdout, StringComparison.Ordinal);
        Assert.Contains("eve\\x1b]0;owned\\x07 ", report.Stdout, StringComparison.Ordinal);

        var html = await Cli.RunAsync(["cases", "report", "KW-1", "--db", db, "--format", "html"]);
        Assert.DoesNotContain(token, html.Stdout, StringComparison.Ordinal);

        var json = await Cli.RunAsync(["cases", "show", "KW-1", "--db", db, "--format", "json"]);
        using var document = JsonDocument.Parse(json.Stdout);
        Assert.Equal(reporter, document.RootElement.GetProperty("occurrences")[0].GetProperty("reporter").GetString());
    }

    public void Dispose() => _tree.Dispose();

    /// <summary>No control character (C0, DEL, C1) but the writer's own line ends.</summary>
    private static void AssertNoRawControl(string output, string newline)
    {
        var withoutLineEnds = output.Replace(newline, "", StringComparison.Ordinal);
        Assert.DoesNotContain(withoutLineEnds, char.IsControl);
    }

    private static byte[] Zip(string name, string content)
    {
        using var memory = new MemoryStream();
        using (var zip = new ZipArchive(memory, ZipArchiveMode.Create, leaveOpen: true))
        {
            using var stream = zip.CreateEntry(name).Open();
            stream.Write(Encoding.UTF8.GetBytes(content));
        }

        return memory.ToArray();
    }
}
