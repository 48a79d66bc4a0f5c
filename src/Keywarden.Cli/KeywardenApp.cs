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

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors)
            {
                console.Error(error.Message);
            }

            console.Stderr.WriteLine($"Run '{parse.CommandResult.Command.Name} --help' for usage.");
            return ExitCodes.Error;
        }

        using var stdout = new StreamWriter(console.Stdout, leaveOpen: true) { AutoFlush = true };
        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = console.Stderr }, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            console.Error("interrupted");
            return ExitCodes.Interrupted;
        }
    }
}
