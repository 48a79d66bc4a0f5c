using Keywarden.Detection.Sources.Git;
using Keywarden.Detection.Writers;

namespace Keywarden.Detection.Tests;

public sealed class TerminalTextTests
{
    /// <summary>The sequences a hostile name or log field uses: CSI colour and erase, OSC 0 (retitle the terminal), C1 CSI, DEL, bidi override and isolate, line separators.</summary>
    private static readonly string[] Hostile =
    [
        "\u001b[31mred\u001b[0m", "\u001b]0;owned\u0007", "\u001b[2K\r", "line\nforged", "\u009b31m", "del\u007f",
        "evil\u202etxt.exe", "\u2066isolate\u2069", "para\u2029graph", "zero\u200bwidth", "nul\0byte", "tab\there",
    ];

    [Fact]
    public void Escape_shows_every_control_and_format_character_as_a_visible_escape()
    {
        foreach (var text in Hostile)
        {
            var escaped = TerminalText.Escape(text);
            Assert.DoesNotContain(escaped, c => char.IsControl(c) || char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.Format or System.Globalization.UnicodeCategory.ParagraphSeparator);
        }

        Assert.Equal("\\x1b]0;owned\\x07", TerminalText.Escape("\u001b]0;owned\u0007"));
        Assert.Equal("evil\\u202etxt.exe", TerminalText.Escape("evil\u202etxt.exe"));
        Assert.Equal("line\\nforged\\r", TerminalText.Escape("line\nforged\r"));
        Assert.Equal("\\x9b31m del\\x7f", TerminalText.Escape("\u009b31m del\u007f"));
    }

    [Fact]
    public void Text_without_control_characters_is_returned_as_it_is()
    {
        var plain = $"src/caf\u00e9/{Guid.NewGuid()}.env — ünïcode 日本";
        Assert.Same(plain, TerminalText.Escape(plain));
        Assert.False(TerminalText.NeedsEscape(plain));
        Assert.Equal("", TerminalText.Escape(null));
    }
}

public sealed class UrlRedactionTests
{
    private readonly string _token = "tok" + Guid.NewGuid().ToString("N");

    [Fact]
    public void User_info_is_masked_whatever_it_holds()
    {
        Assert.Equal("https://***@github.com/o/r.git", UrlRedaction.Redact($"https://user:{_token}@github.com/o/r.git"));
        Assert.Equal("https://***@github.com/o/r.git", UrlRedaction.Redact($"https://user:p@ss@{_token}@github.com/o/r.git"));
        Assert.Equal("https://***@host/o/r", UrlRedaction.Redact($"https://user:pa/{_token}@host/o/r"));
        Assert.Equal("ssh://***@host:2222/r.git", UrlRedaction.Redact($"ssh://{_token}@host:2222/r.git"));
    }

    [Fact]
    public void Query_values_and_the_fragment_are_masked_and_the_rest_stays_readable()
    {
        Assert.Equal("https://host/p?access_token=***&x=***#***", UrlRedaction.Redact($"https://host/p?access_token={_token}&x=1#id_token={_token}"));
        Assert.Equal("https://host/p?***", UrlRedaction.Redact($"https://host/p?{_token}"));
        Assert.Equal("http://127.0.0.1:5000/", UrlRedaction.Redact("http://127.0.0.1:5000/"));
        Assert.Equal("http://[::1]:5000/x", UrlRedaction.Redact("http://[::1]:5000/x"));
        Assert.Equal("not a url", UrlRedaction.Redact("not a url"));
    }

    [Fact]
    public void Every_url_in_free_text_is_redacted()
    {
        var text = $"unable to access 'https://x-access-token:{_token}@github.com/o/r.git/': The requested URL returned error: 403; see https://h/?sig={_token}";
        var redacted = UrlRedaction.RedactText(text);
        Assert.DoesNotContain(_token, redacted, StringComparison.Ordinal);
        Assert.Equal("unable to access 'https://***@github.com/o/r.git/': The requested URL returned error: 403; see https://h/?sig=***", redacted);
    }

    [Fact]
    public void Git_error_lines_redact_urls_git_rewrote()
    {
        // git quotes the URL after url.*.insteadOf rewriting, so it is not the URL Keywarden passed.
        var line = GitCommand.FirstLine($"\nfatal: repository 'https://ci:{_token}@mirror.example/o/r/' not found\n", "git failed");
        Assert.Equal("repository 'https://***@mirror.example/o/r/' not found", line);
    }

    [Fact]
    public void A_failed_clone_shows_no_part_of_a_password_holding_at_signs_or_of_a_query_token()
    {
        var url = $"http://user:p@ss@{_token}@127.0.0.1:9/repo.git?private_token={_token}#{_token}";
        var e = Assert.Throws<Scanning.ScanInputException>(() => new GitScanner(new GitScanOptions { Repository = url }, new Scanning.ScanOptions()).Run());
        Assert.DoesNotContain(_token, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("ss@", e.Message, StringComparison.Ordinal);
        Assert.StartsWith("cannot clone http://***@127.0.0.1:9/repo.git?private_token=***#***: ", e.Message, StringComparison.Ordinal);
    }
}
