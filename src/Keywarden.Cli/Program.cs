using Keywarden.Cli;
using Keywarden.Cli.Commands;

using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancellation.Cancel();
};

// The pre-commit hook's exact command line skips building the command tree (see HookScan); every
// other command line, and anything HookScan does not fully understand, is parsed by System.CommandLine.
var console = CliConsole.FromProcess();
return HookScan.TryRun(args, console, cancellation.Token)
    ?? KeywardenApp.RunAsync(args, console, cancellation.Token).GetAwaiter().GetResult();
