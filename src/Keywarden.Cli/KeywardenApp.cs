using System.CommandLine;
using System.Reflection;
using Keywarden.Cli.Commands;

namespace Keywarden.Cli;

/// <summary>The `keywarden` command: parses the command line and runs the chosen command.</summary>
internal static class KeywardenApp
{
    public static string Version { get; } =
        typeof(KeywardenApp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    public static async Task<int> RunAsync(string[] args, CliConsole console, CancellationToken cancellationToken)
    {
        var root = new RootCommand("Keywarden finds exposed AWS credentials, contains them, and shows what they did.");
        root.Subcommands.Add(ScanCommand.Create(console));
        root.Subcommands.Add(HookCommand.Create(console));
        root.Subcommands.Add(VerifyCommand.Create(console));
        root.Subcommands.Add(AccountCommand.Create(console));
        root.Subcommands.Add(ContainmentCommands.CreateQuarantine(console));
        root.Subcommands.Add(ContainmentCommands.CreateRelease(console));
        root.Subcommands.Add(CasesCommands.CreateRespond(console));
        root.Subcommands.Add(CasesCommands.CreateCases(console));
        root.Subcommands.Add(InvestigateCommand.Create(console));
        root.Subcommands.Add(TrailCommand.Create(console));
        root.Subcommands.Add(DbCommand.Create(console));

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors)
            {
                console.Error(OneLine(MaskArguments(error.Message, args)));
            }

            console.Stderr.WriteLine($"Run '{parse.CommandResult.Command.Name} --help' for usage.");
            return ExitCodes.Error;
        }

        using var stdout = new StreamWriter(console.Stdout, leaveOpen: true) { AutoFlush = true };
        try
        {
            // Our own handler below: System.CommandLine's would print stack traces and exit 1, the findings code.
            // Its own SIGINT/SIGTERM handling is off: Program.cs cancels the token for both signals and tells them
            // apart (130, 143); System.CommandLine's would race it and answer 130 to a SIGTERM.
            return await parse.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = console.Stderr, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null }, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return Interrupted(console);
        }
        catch (Exception e) when (ShowsUnexpected)
        {
            return Unexpected(e, args, console);
        }
    }

    internal static int Interrupted(CliConsole console)
    {
        console.Error("interrupted");
        return ExitCodes.Interrupted;
    }

    /// <summary>Unless KEYWARDEN_DEBUG is set (then the exception and its stack trace go through), an unexpected failure is one line.</summary>
    internal static bool ShowsUnexpected => Environment.GetEnvironmentVariable("KEYWARDEN_DEBUG") is null;

    /// <summary>A bug or an input we did not foresee: one line, no stack trace, no secret (messages never carry one).</summary>
    internal static int Unexpected(Exception e, string[] args, CliConsole console)
    {
        var inner = e is AggregateException { InnerExceptions.Count: 1 } aggregate ? aggregate.InnerExceptions[0] : e;
        console.Error($"unexpected {inner.GetType().Name}: {MaskArguments(inner.Message.Split('\n')[0], args)} (set KEYWARDEN_DEBUG=1 for details)");
        return ExitCodes.Error;
    }

    /// <summary>
    /// System.CommandLine lists the allowed values of an option on lines of their own ("Must be one
    /// of:\n\t'text'\n\t'json'"): a usage error is one line, so the list is joined.
    /// </summary>
    internal static string OneLine(string message)
    {
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length <= 1 ? message.Trim() : $"{lines[0]} {string.Join(", ", lines[1..])}";
    }

    /// <summary>
    /// Parse errors quote the offending argument; a secret pasted on the command line by mistake must not
    /// be echoed to a terminal or CI log, so long non-option arguments are shown masked.
    /// </summary>
    internal static string MaskArguments(string message, IEnumerable<string> args)
    {
        foreach (var arg in args.Where(a => a.Length >= 16 && !a.StartsWith('-')).OrderByDescending(a => a.Length))
        {
            message = message.Replace(arg, Commands.KeyIdArgument.Mask(arg), StringComparison.Ordinal);
        }

        return message;
    }
}
