using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Keywarden.Aws.Tests;

/// <summary>
/// A loopback TCP proxy in front of moto that can start resetting every connection, the way AWS looks
/// from a laptop whose network goes away in the middle of a run (moto keeps its state only in memory, so
/// it must not be restarted). Bytes pass through untouched, so SigV4 signatures still verify.
/// </summary>
public sealed class DroppingProxy : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private int _dropped;

    public DroppingProxy(string target)
    {
        var uri = new Uri(target);
        _target = new IPEndPoint(IPAddress.Parse(uri.Host), uri.Port);
        _listener.Start();
        Endpoint = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        _ = Task.Run(AcceptAsync);
    }

    public string Endpoint { get; }

    /// <summary>Reset every connection and request from now on.</summary>
    public volatile bool Down;

    /// <summary>Once a request for this Query action (e.g. AttachUserPolicy) has been passed on, go down: its answer still arrives, nothing after it does.</summary>
    public string? GoDownAfterAction { get; set; }

    /// <summary>Once a request for this Query action has been passed on, go down before its answer comes back: AWS did it, the caller never learns.</summary>
    public string? GoDownBeforeAnswerOf { get; set; }

    /// <summary>While down, swallow traffic instead of resetting connections: callers hang until their own timeout.</summary>
    public bool Hold { get; set; }

    public int Dropped => Volatile.Read(ref _dropped);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        if (Down && !Hold)
        {
            Reset(client);
            return;
        }

        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await server.ConnectAsync(_target);
            var back = PumpAsync(server, client, watch: false);
            await PumpAsync(client, server, watch: true);
            await back;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
        }
        finally
        {
            client.Dispose();
        }
    }

    private async Task PumpAsync(Socket from, Socket to, bool watch)
    {
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var read = await from.ReceiveAsync(buffer);
            if (read == 0)
            {
                to.Shutdown(SocketShutdown.Send);
                return;
            }

            if (Down && Hold)
            {
                continue; // swallowed: the caller waits
            }

            if (watch && Down)
            {
                Reset(from);
                to.Dispose();
                return;
            }

            if (!watch && Down && GoDownBeforeAnswerOf is not null)
            {
                Reset(to); // the answer never reaches the caller
                from.Dispose();
                return;
            }

            await to.SendAsync(buffer.AsMemory(0, read));
            var text = watch ? Encoding.ASCII.GetString(buffer, 0, read) : "";
            if ((GoDownAfterAction is { } after && text.Contains($"Action={after}&", StringComparison.Ordinal))
                || (GoDownBeforeAnswerOf is { } before && text.Contains($"Action={before}&", StringComparison.Ordinal)))
            {
                Down = true;
            }
        }
    }

    private void Reset(Socket socket)
    {
        Interlocked.Increment(ref _dropped);
        socket.LingerState = new LingerOption(true, 0); // RST, as a dropped network does
        socket.Dispose();
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
    }
}
