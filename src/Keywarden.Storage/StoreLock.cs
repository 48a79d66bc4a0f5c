using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Npgsql;

namespace Keywarden.Storage;

/// <summary>A lock of the store was held by another live process for longer than <see cref="StoreLocks.Timeout"/>.</summary>
public sealed class StoreBusyException(string message) : StorageException(message);

/// <summary>
/// Locks that a dead holder cannot keep. On SQLite, an exclusive open of a lock file next to the database:
/// .NET implements <see cref="FileShare.None"/> with flock(2), and the kernel drops a flock when the last
/// descriptor of the process closes, which includes being killed (SIGKILL, or a crash). On PostgreSQL, a
/// session-level advisory lock, which the server releases when the holder's connection ends.
/// Waiting is polled, never blocking, so every wait ends within the bound with one line.
/// </summary>
public static class StoreLocks
{
    public const string TimeoutVariable = "KEYWARDEN_DB_LOCK_TIMEOUT";

    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    // pg_try_advisory_lock(int, int): the first key marks Keywarden's locks ("KW"), the second names one.
    internal const int AdvisoryClass = 0x4B57;

    /// <summary>How long a command waits for a lock held by another live process: 30 s, or KEYWARDEN_DB_LOCK_TIMEOUT seconds.</summary>
    public static TimeSpan Timeout =>
        Environment.GetEnvironmentVariable(TimeoutVariable) is { Length: > 0 } text
            && double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
            && seconds >= 0 && seconds <= 86_400
            ? TimeSpan.FromSeconds(seconds)
            : DefaultTimeout;

    /// <summary>Takes the exclusive flock of <paramref name="path"/> (created owner-only), waiting at most <see cref="Timeout"/>.</summary>
    internal static async Task<IAsyncDisposable> FileAsync(string path, string busy, CancellationToken cancellationToken)
    {
        var timeout = Timeout;
        var waited = Stopwatch.StartNew();
        var announced = false;
        while (true)
        {
            try
            {
                var stream = new FileStream(path, OwnerOnly.Options(FileMode.OpenOrCreate, FileAccess.ReadWrite, OperatingSystem.IsWindows() ? FileShare.None : FileShare.ReadWrite));
                if (!OperatingSystem.IsWindows() && Flock(stream.SafeFileHandle, LockExclusive | LockNonBlocking) != 0)
                {
                    var error = Marshal.GetLastPInvokeError();
                    stream.Dispose();
                    throw new IOException($"flock failed (errno {error})", error);
                }

                StorageTrace.Mark("lock taken");
                return stream;
            }
            catch (IOException e) when (IsHeldElsewhere(e))
            {
                if (!announced)
                {
                    StorageTrace.Mark("lock busy");
                    announced = true;
                }

                if (waited.Elapsed >= timeout)
                {
                    throw new StoreBusyException(Busy(busy, timeout));
                }

                await Task.Delay(PollInterval, cancellationToken);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new StorageException($"cannot open the lock file {path} ({e.Message.TrimEnd('.')})", e);
            }
        }
    }

    /// <summary>Takes the session advisory lock named <paramref name="name"/> on a connection of its own, waiting at most <see cref="Timeout"/>.</summary>
    internal static async Task<IAsyncDisposable> AdvisoryAsync(string connectionString, string name, string busy, CancellationToken cancellationToken)
    {
        var timeout = Timeout;
        var waited = Stopwatch.StartNew();
        var connection = new NpgsqlConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            var announced = false;
            while (true)
            {
                await using var command = new NpgsqlCommand("SELECT pg_try_advisory_lock(@class, @name)", connection);
                command.Parameters.AddWithValue("class", AdvisoryClass);
                command.Parameters.AddWithValue("name", Key(name));
                if (await command.ExecuteScalarAsync(cancellationToken) is true)
                {
                    StorageTrace.Mark("lock taken");
                    // Closing the connection releases the lock: the server drops a session's advisory locks when it ends.
                    return connection;
                }

                if (!announced)
                {
                    StorageTrace.Mark("lock busy");
                    announced = true;
                }

                if (waited.Elapsed >= timeout)
                {
                    throw new StoreBusyException(Busy(busy, timeout));
                }

                await Task.Delay(PollInterval, cancellationToken);
            }
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private static string Busy(string busy, TimeSpan timeout) =>
        $"{busy} is in progress in another process; gave up after {timeout.TotalSeconds:0.#} s (set {TimeoutVariable} to wait longer)";

    /// <summary>A stable 32-bit number for a lock name (collisions only serialize two unrelated operations).</summary>
    internal static int Key(string name) => BitConverter.ToInt32(SHA256.HashData(Encoding.UTF8.GetBytes(name)), 0);

    private const int LockExclusive = 2;
    private const int LockNonBlocking = 4;

    /// <summary>
    /// flock(2) called directly: the CLI turns off .NET's own advisory locking (System.IO.DisableFileLocking,
    /// one syscall per scanned file saved), which would otherwise implement FileShare.None with it.
    /// </summary>
    [DllImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static extern int Flock(SafeFileHandle handle, int operation);

    /// <summary>flock(LOCK_EX | LOCK_NB) refused: EWOULDBLOCK (11 on Linux, 35 on macOS), or Windows' sharing violation.</summary>
    private static bool IsHeldElsewhere(IOException e) =>
        e.GetType() == typeof(IOException) && e.HResult is 11 or 35 or 32 or unchecked((int)0x80070020);
}

/// <summary>The database, its journals and its lock files may name keys: created readable by their owner only.</summary>
internal static class OwnerOnly
{
    public const UnixFileMode File = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public const UnixFileMode Folder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>How to open a file that, if created, gets mode 0600.</summary>
    public static FileStreamOptions Options(FileMode mode, FileAccess access, FileShare share)
    {
        var options = new FileStreamOptions { Mode = mode, Access = access, Share = share };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = File;
        }

        return options;
    }

    /// <summary>Creates <paramref name="path"/> and its missing parents with mode 0700 (existing folders are left as they are).</summary>
    public static void CreateFolder(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, Folder);
        }
    }
}

/// <summary>
/// KEYWARDEN_STORAGE_TRACE=1 prints a line on stderr at each step of opening and migrating (for the tests
/// that kill a process at each of them); a number instead of 1 also pauses that many milliseconds after each.
/// </summary>
internal static class StorageTrace
{
    private static readonly string? Setting = Environment.GetEnvironmentVariable("KEYWARDEN_STORAGE_TRACE");

    public static bool Enabled => Setting is { Length: > 0 } and not "0";

    public static void Mark(string step)
    {
        if (!Enabled)
        {
            return;
        }

        Console.Error.WriteLine($"keywarden: trace: storage: {step}");
        Console.Error.Flush();
        if (int.TryParse(Setting, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pause) && pause > 1)
        {
            Thread.Sleep(pause);
        }
    }
}
