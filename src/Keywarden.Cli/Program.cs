using System.Runtime.InteropServices;
using Keywarden.Cli;
using Keywarden.Cli.Commands;

// Ctrl-C (SIGINT) and SIGTERM (timeout, systemd, CI cancels) cancel the same token: the command stops,
// its finally blocks remove temporary folders and release locks, and the exit code says which signal it
// was (130 or 143). A second signal is not intercepted, so it ends a command that does not stop in time.
using var cancellation = new CancellationTokenSource();
var terminated = false;
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = !cancellation.IsCancellationRequested;
    cancellation.Cancel();
};
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = !cancellation.IsCancellationRequested;
    terminated = true;
    cancellation.Cancel();
});

// The pre-commit hook's exact command line skips building the command tree (see HookScan); every
// other command line, and anything HookScan does not fully understand, is parsed by System.CommandLine.
var console = CliConsole.FromProcess();
var code = HookScan.TryRun(args, console, cancellation.Token)
    ?? KeywardenApp.RunAsync(args, console, cancellation.Token).GetAwaiter().GetResult();
return terminated && code == ExitCodes.Interrupted ? ExitCodes.Terminated : code;
