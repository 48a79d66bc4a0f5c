using System.CommandLine;
using Keywarden.Detection.Sources;

namespace Keywarden.Cli.Commands;

/// <summary>
/// --secret-stdin, --secret-file and --session-token-file, read the same way by every command that takes a
/// leaked key's secret: never from argv (it would show in ps and shell history), first line only, trimmed.
/// </summary>
internal sealed class SecretOptions(string purpose)
{
    /// <summary>A secret access key is 40 characters; a line far longer is not one (docs/limits.md).</summary>
    internal const int SecretCap = 4 * 1024;

    /// <summary>STS session tokens run to about 1 KB, larger with session tags; 16 KiB leaves room (docs/limits.md).</summary>
    internal const int TokenCap = 16 * 1024;

    public Option<bool> Stdin { get; } = new("--secret-stdin") { Description = $"Read the secret access key from the first line of standard input{purpose}." };
    public Option<FileInfo?> File { get; } = new("--secret-file") { Description = $"Read the secret access key from the first line of FILE{purpose}." };
    public Option<FileInfo?> TokenFile { get; } = new("--session-token-file") { Description = "Read the session token of a temporary (ASIA) key from FILE." };

    public void AddTo(Command command)
    {
        command.Options.Add(Stdin);
        command.Options.Add(File);
        command.Options.Add(TokenFile);
    }

    public bool Given(ParseResult parse) => parse.GetValue(Stdin) || parse.GetValue(File) is not null;

    /// <summary>
    /// The secret (null when neither option was given, unless <paramref name="required"/>) and token; false
    /// after one error line (both options, neither when required, an unreadable file, an empty secret).
    /// </summary>
    public bool TryRead(ParseResult parse, CliConsole console, bool required, out string? secret, out string? token)
    {
        secret = token = null;
        if (parse.GetValue(Stdin) && parse.GetValue(File) is not null || required && !Given(parse))
        {
            console.Error(required
                ? "give the secret with exactly one of --secret-stdin or --secret-file (never on the command line)"
                : "give the secret with one of --secret-stdin or --secret-file, not both");
            return false;
        }

        try
        {
            secret = parse.GetValue(Stdin)
                ? FirstLine(console.OpenStdin(), SecretCap, "--secret-stdin (standard input)")
                : parse.GetValue(File) is { } file ? FirstLine(file.FullName, SecretCap, $"--secret-file {file.FullName}") : null;
            token = parse.GetValue(TokenFile) is { } tokenFile ? FirstLine(tokenFile.FullName, TokenCap, $"--session-token-file {tokenFile.FullName}") : null;
        }
        catch (InputException e)
        {
            // The reason never quotes the content: a secret does not reach the message.
            console.Error(e.Message);
            return false;
        }

        if (secret is { Length: 0 })
        {
            console.Error("the secret is empty");
            return false;
        }

        return true;
    }

    /// <summary>The first line, trimmed, read no further than its end or the cap: /dev/zero or an endless pipe stops at the cap.</summary>
    private static string FirstLine(Stream stream, int cap, string input)
    {
        using (stream)
        {
            return BoundedInput.ReadFirstLine(stream, cap, input).Trim();
        }
    }

    private static string FirstLine(string path, int cap, string input) => BoundedInput.ReadFirstLine(path, cap, input).Trim();
}
