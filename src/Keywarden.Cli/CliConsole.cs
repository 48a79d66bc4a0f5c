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

    /// <summary>One line on stderr, e.g. "keywarden: error: config .keywarden.toml: unknown key 'x'".</summary>
    public void Error(string message) => Stderr.WriteLine($"keywarden: error: {message}");

    public void Warning(string message) => Stderr.WriteLine($"keywarden: warning: {message}");
}
