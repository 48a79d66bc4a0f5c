using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Keywarden.Response.Tests;

internal static class Ports
{
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static async Task WaitAsync(int port, Process process, string what)
    {
        for (var i = 0; i < 300; i++)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{what} exited with {process.ExitCode}");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }

        throw new InvalidOperationException($"{what} did not listen on port {port} within 30 s");
    }
}

/// <summary>A real SMTP server (Python's smtpd) on a free loopback port; every accepted message is a file.</summary>
public sealed class SmtpSink : IAsyncLifetime
{
    private Process? _process;

    public int Port { get; private set; }

    public string Folder { get; } = Directory.CreateTempSubdirectory("keywarden-smtp-").FullName;

    public int ProcessId => _process!.Id;

    public async Task InitializeAsync()
    {
        Port = Ports.Free();
        var script = Path.Combine(TestPaths.RepoRoot(), "tests", "Keywarden.Response.Tests", "smtp_sink.py");
        _process = Process.Start(new ProcessStartInfo("python3", [script, Port.ToString(CultureInfo.InvariantCulture), Folder]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await Ports.WaitAsync(Port, _process, "the SMTP server");
    }

    /// <summary>The messages received so far, oldest first, as raw RFC 5322 text.</summary>
    public List<string> Messages() => [.. Directory.GetFiles(Folder, "*.eml").Order(StringComparer.Ordinal).Select(File.ReadAllText)];

    public void Clear()
    {
        foreach (var file in Directory.GetFiles(Folder))
        {
            File.Delete(file);
        }
    }

    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", ProcessId.ToString(CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
    }

    public Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            Signal("CONT");
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }

        _process?.Dispose();
        Directory.Delete(Folder, recursive: true);
        return Task.CompletedTask;
    }
}

/// <summary>
/// A real PostgreSQL server from Debian's package, started by the fixture as a process on a free
/// loopback port with a data folder of its own (initdb and pg_ctl refuse root: they run as postgres).
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private string _data = "";
    private string _bin = "";

    public int Port { get; private set; }

    public async Task InitializeAsync()
    {
        _bin = Directory.GetDirectories("/usr/lib/postgresql").OrderDescending(StringComparer.Ordinal).Select(d => Path.Combine(d, "bin")).FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")))
            ?? throw new InvalidOperationException("PostgreSQL is not installed (tests/run.sh installs Debian's postgresql package)");
        _data = Directory.CreateTempSubdirectory("keywarden-pg-").FullName;
        Port = Ports.Free();
        Run("chown", "postgres:postgres", _data);
        AsPostgres(Path.Combine(_bin, "initdb"), "-D", Path.Combine(_data, "db"), "--auth=trust", "--username=postgres", "--encoding=UTF8", "--no-sync");
        AsPostgres(Path.Combine(_bin, "pg_ctl"), "-D", Path.Combine(_data, "db"), "-l", Path.Combine(_data, "log"), "-w", "-t", "60", "-o",
            $"-p {Port} -k {_data} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off", "start");
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync();
    }

    public string ConnectionString(string database) => $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database};Pooling=false";

    /// <summary>A new empty database for one test.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = $"kw_{Guid.NewGuid():N}";
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
        await command.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    private void AsPostgres(params string[] args)
    {
        if (Environment.UserName == "root")
        {
            // runuser lives in sbin, which a CI shell's PATH may not include.
            var runuser = new[] { "/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser", "/bin/runuser" }.FirstOrDefault(File.Exists) ?? "runuser";
            Run(runuser, ["-u", "postgres", "--", .. args]);
        }
        else
        {
            Run(args[0], args[1..]);
        }
    }

    private static void Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/tmp" };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', args.Take(3))} failed ({process.ExitCode}): {error.Trim()} {output.Result.Trim()}");
        }
    }

    public Task DisposeAsync()
    {
        try
        {
            AsPostgres(Path.Combine(_bin, "pg_ctl"), "-D", Path.Combine(_data, "db"), "-m", "immediate", "-w", "stop");
        }
        catch (InvalidOperationException)
        {
            // Not running: nothing to stop.
        }

        Directory.Delete(_data, recursive: true);
        return Task.CompletedTask;
    }
}
