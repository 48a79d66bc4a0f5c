using Keywarden.Detection.Writers;
using Spectre.Console;

namespace Keywarden.Cli;

/// <summary>
/// The process's standard streams, and whether each is a terminal. Commands write documents to
/// <see cref="Stdout"/> and everything else (messages, progress, problems) to <see cref="Stderr"/>.
/// Tests substitute memory streams.
/// </summary>
internal sealed record CliConsole(
    Func<Stream> OpenStdin,
    Stream Stdout,
    TextWriter Stderr,
    bool StdoutIsTerminal,
    bool StderrIsTerminal)
{
    public static CliConsole FromProcess() => new(
        Console.OpenStandardInput,
        Console.OpenStandardOutput(),
        Console.Error,
        !Console.IsOutputRedirected,
        !Console.IsErrorRedirected);

    /// <summary>A Spectre console over <paramref name="writer"/>: colour only on a terminal, and no wrapping of long lines elsewhere.</summary>
    public static IAnsiConsole CreateAnsi(TextWriter writer, bool terminal)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        if (!terminal)
        {
            console.Profile.Width = 4096;
        }

        return console;
    }

    /// <summary>
    /// A writer for text (not JSON) documents on standard output: each line written is passed through
    /// <see cref="Line"/>, so data in it (event summaries, error text from AWS, paths) cannot steer the
    /// terminal or carry a URL's token. JSON stays exact: its serializer escapes control characters itself.
    /// </summary>
    public StreamWriter OpenTextLines() => new LineWriter(Stdout);

    /// <summary>One line on stderr, e.g. "keywarden: error: config .keywarden.toml: unknown key 'x'".</summary>
    public void Error(string message) => Stderr.WriteLine($"keywarden: error: {Line(message)}");

    public void Warning(string message) => Stderr.WriteLine($"keywarden: warning: {Line(message)}");

    /// <summary>
    /// Data printed as one line of text: messages quote file names, git's and AWS's error text and URLs,
    /// any of which may hold a token (in a URL's user-info, query or fragment) or a control character
    /// that would steer the terminal or start a forged line. The one choke point every message passes.
    /// </summary>
    public static string Line(string message) => TerminalText.Escape(UrlRedaction.RedactText(message));
}

/// <summary>A stream writer whose every line (or piece of one) is shown through <see cref="CliConsole.Line"/>.</summary>
internal sealed class LineWriter(Stream stream) : StreamWriter(stream, leaveOpen: true)
{
    public override void WriteLine(string? value) => base.WriteLine(CliConsole.Line(value ?? ""));

    public override void Write(string? value) => base.Write(CliConsole.Line(value ?? ""));
}
