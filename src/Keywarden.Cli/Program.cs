using Keywarden.Cli;

using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancellation.Cancel();
};

return await KeywardenApp.RunAsync(args, CliConsole.FromProcess(), cancellation.Token);
