using System.CommandLine;

namespace Keywarden.Cli.Commands;

/// <summary>
/// --secret-stdin, --secret-file and --session-token-file, read the same way by every command that takes a
/// leaked key's secret: never from argv (it would show in ps and shell history), first line only, trimmed.
/// </summary>
internal sealed class SecretOptions(string purpose)
{
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
            secret = parse.GetValue(Stdin) ? FirstLine(console.OpenStdin()) : parse.GetValue(File) is { } file ? FirstLine(System.IO.File.OpenRead(file.FullName)) : null;
            token = parse.GetValue(TokenFile) is { } tokenFile ? FirstLine(System.IO.File.OpenRead(tokenFile.FullName)) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            console.Error($"cannot read the secret or session token: {(e is FileNotFoundException or DirectoryNotFoundException ? "no such file" : e.Message.TrimEnd('.'))}");
            return false;
        }

        if (secret is { Length: 0 })
        {
            console.Error("the secret is empty");
            return false;
        }

        return true;
    }

    private static string FirstLine(Stream stream)
    {
        using var reader = new StreamReader(stream);
        return (reader.ReadLine() ?? "").Trim();
    }
}
