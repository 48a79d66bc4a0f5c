using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Keywarden.Response.Tests;

/// <summary>How a keywarden process ended; <see cref="Hung"/> when it had to be killed at the test's deadline.</summary>
internal sealed record ProcessRun(int Code, string Stdout, string Stderr, TimeSpan Elapsed, bool Hung);

/// <summary>
/// The real keywarden command as a child process (dotnet keywarden.dll, as the CLI project built it), with
/// its streams captured line by line, so a test can wait for a line and then signal or kill it.
/// </summary>
internal sealed class KeywardenProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Lock _gate = new();

    private KeywardenProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Append(_stdout, e.Data);
        _process.ErrorDataReceived += (_, e) => Append(_stderr, e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public string Stderr
    {
        get
        {
            lock (_gate)
            {
                return _stderr.ToString();
            }
        }
    }

    public static KeywardenProcess Start(string[] args, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet", [Dll, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        start.Environment.Remove("KEYWARDEN_CONFIG");
        start.Environment.Remove("KEYWARDEN_DB");
        start.Environment.Remove("KEYWARDEN_STORAGE_TRACE");
        start.Environment.Remove(global::Keywarden.Storage.StoreLocks.TimeoutVariable);
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            start.Environment[name] = value;
        }

        var process = new KeywardenProcess(Process.Start(start)!);
        process._process.StandardInput.Close();
        return process;
    }

    /// <summary>Runs keywarden to its end, or kills it at <paramref name="deadline"/> (then <see cref="ProcessRun.Hung"/>).</summary>
    public static async Task<ProcessRun> RunAsync(string[] args, IReadOnlyDictionary<string, string?>? environment = null, TimeSpan? deadline = null)
    {
        using var process = Start(args, environment);
        return await process.WaitAsync(deadline ?? TimeSpan.FromSeconds(90));
    }

    /// <summary>Waits until stderr has a line containing <paramref name="text"/>; false if the process ended first or time ran out.</summary>
    public async Task<bool> WaitForLineAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (Stderr.Split('\n').Any(line => line.Contains(text, StringComparison.Ordinal)))
            {
                return true;
            }

            if (_process.HasExited)
            {
                return false;
            }

            await Task.Delay(20);
        }

        return false;
    }

    /// <summary>Sends a signal by name (KILL, TERM, INT) with kill(1).</summary>
    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", Id.ToString(CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
    }

    public async Task<ProcessRun> WaitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var hung = false;
        try
        {
            await _process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            hung = true;
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        // WaitForExitAsync returns once the streams are drained too.
        lock (_gate)
        {
            return new ProcessRun(_process.ExitCode, _stdout.ToString(), _stderr.ToString(), _clock.Elapsed, hung);
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    private void Append(StringBuilder to, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_gate)
        {
            to.Append(line).Append('\n');
        }
    }

    /// <summary>
    /// The keywarden command as its own project built it (linux-x64, native SQLite beside it), in the
    /// configuration these tests were built in: the copy in this test folder is laid out for the test host.
    /// </summary>
    public static string Dll
    {
        get
        {
            var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
            var path = Path.Combine(global::Keywarden.Tests.Shared.TestPaths.RepoRoot(), "src", "Keywarden.Cli", "bin", configuration, "net10.0", "linux-x64", "keywarden.dll");
            Assert.True(File.Exists(path), $"{path} is missing: build the solution first");
            return path;
        }
    }
}
