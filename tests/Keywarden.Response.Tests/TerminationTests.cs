using System.Net;
using System.Net.Sockets;

namespace Keywarden.Response.Tests;

/// <summary>SIGTERM (timeout, systemd, a CI cancel) is handled like Ctrl-C: work is cancelled, temporary folders are removed, exit 143.</summary>
public sealed class TerminationTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("keywarden-term-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Fact]
    public async Task Sigterm_during_a_git_clone_stops_git_removes_the_clone_and_exits_143()
    {
        // A git:// server that accepts the connection and never answers: the clone waits until it is stopped.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accepted = listener.AcceptTcpClientAsync();
        using var scan = KeywardenProcess.Start(["scan", "--git", $"git://127.0.0.1:{port}/repository.git"], new Dictionary<string, string?> { ["TMPDIR"] = _temp });
        using var client = await accepted.WaitAsync(TimeSpan.FromSeconds(90));
        Assert.NotEmpty(Directory.GetDirectories(_temp, "keywarden-clone-*"));

        scan.Signal("TERM");
        var run = await scan.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.False(run.Hung, "SIGTERM did not stop the scan");
        Assert.True(run.Code == 143, $"exit {run.Code}: {run.Stderr}");
        Assert.Equal("keywarden: error: interrupted\n", run.Stderr);
        Assert.Empty(Directory.GetFileSystemEntries(_temp, "keywarden-clone-*"));
    }
}
