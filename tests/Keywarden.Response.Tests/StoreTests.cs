using Keywarden.Storage;
using Microsoft.EntityFrameworkCore;

namespace Keywarden.Response.Tests;

public sealed class StoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keywarden-store-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_new_sqlite_file_is_created_migrated_and_reopened()
    {
        var path = Path.Combine(_dir, "nested", "keywarden.db");
        var store = await KeywardenStore.OpenAsync(path, CancellationToken.None);
        Assert.Equal(path, store.Description);
        var at = new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero);
        await using (var db = store.CreateContext())
        {
            db.Containments.Add(new ContainmentRecord
            {
                KeyId = "AKIAIOSFODNN7EXAMPLE",
                AccountId = "111122223333",
                PrincipalType = "user",
                PrincipalName = "alice",
                State = ContainmentStates.Contained,
                CreatedAt = at,
                UpdatedAt = at,
                Actions = [new ContainmentActionRecord { Kind = "attach-policy", TargetType = "user", Target = "alice", Status = ActionStatuses.Done, Sequence = 1, StartedAt = at }],
            });
            await db.SaveChangesAsync();
        }

        var reopened = await KeywardenStore.OpenAsync(path, CancellationToken.None);
        await using var again = reopened.CreateContext();
        var record = await again.Containments.Include(c => c.Actions).SingleAsync(c => c.KeyId == "AKIAIOSFODNN7EXAMPLE");
        Assert.Equal(at, record.CreatedAt);
        Assert.Equal("alice", Assert.Single(record.Actions).Target);
        Assert.Empty(await again.Database.GetPendingMigrationsAsync());
    }

    [Fact]
    public async Task An_unusable_location_is_one_clear_error()
    {
        var file = Path.Combine(_dir, "a-file");
        await File.WriteAllTextAsync(file, "not a folder");
        var folder = await Assert.ThrowsAsync<StorageException>(() => KeywardenStore.OpenAsync(Path.Combine(file, "keywarden.db"), CancellationToken.None));
        Assert.Contains("cannot create its folder", folder.Message, StringComparison.Ordinal);

        var notSqlite = Path.Combine(_dir, "garbage.db");
        await File.WriteAllTextAsync(notSqlite, new string('x', 4096));
        var garbage = await Assert.ThrowsAsync<StorageException>(() => KeywardenStore.OpenAsync(notSqlite, CancellationToken.None));
        Assert.StartsWith($"database {notSqlite}: ", garbage.Message, StringComparison.Ordinal);

        var badPostgres = await Assert.ThrowsAsync<StorageException>(() => KeywardenStore.OpenAsync("Host=127.0.0.1;Port=notaport;Password=hunter2", CancellationToken.None));
        Assert.DoesNotContain("hunter2", badPostgres.Message, StringComparison.Ordinal);
    }
}

/// <summary>A database that cannot be used gives one line naming it, the same line every time, and is left as it was.</summary>
public sealed class DamagedDatabaseTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keywarden-damaged-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static async Task<(int Code, string Stdout, string Stderr)> Keywarden(params string[] args)
    {
        var stdout = new MemoryStream();
        var stderr = new StringWriter();
        var console = new Cli.CliConsole(() => new MemoryStream(), stdout, stderr, false, false);
        var code = await Cli.KeywardenApp.RunAsync(args, console, CancellationToken.None);
        return (code, System.Text.Encoding.UTF8.GetString(stdout.ToArray()), stderr.ToString());
    }

    private async Task<string> ValidDatabaseAsync()
    {
        var path = Path.Combine(_dir, $"valid-{Guid.NewGuid():N}.db");
        await KeywardenStore.OpenAsync(path, CancellationToken.None);
        return path;
    }

    private async Task AssertSameOneLineEveryTimeAsync(string db, string expected)
    {
        byte[]? before = File.Exists(db) ? await File.ReadAllBytesAsync(db) : null;
        string? first = null;
        foreach (var args in new[] { new[] { "cases", "list", "--db", db }, ["cases", "list", "--db", db], ["db", "migrate", "--db", db], ["cases", "list", "--db", db] })
        {
            var (code, _, stderr) = await Keywarden(args);
            Assert.Equal(2, code);
            Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"keywarden: error: database {db}: {expected}", stderr, StringComparison.Ordinal);
            first ??= stderr;
            Assert.Equal(first, stderr);
        }

        if (before is not null)
        {
            Assert.Equal(before, await File.ReadAllBytesAsync(db));
        }
    }

    [Fact]
    public async Task Random_bytes_are_not_a_usable_database()
    {
        var db = Path.Combine(_dir, "random.db");
        await File.WriteAllBytesAsync(db, System.Security.Cryptography.RandomNumberGenerator.GetBytes(64 * 1024));
        await AssertSameOneLineEveryTimeAsync(db, "not a usable SQLite database (error 26: 'file is not a database')");
    }

    [Fact]
    public async Task A_truncated_database_is_not_usable()
    {
        var db = await ValidDatabaseAsync();
        await using (var file = new FileStream(db, FileMode.Open))
        {
            file.SetLength(4096 * 2);
        }

        await AssertSameOneLineEveryTimeAsync(db, "not a usable SQLite database (error 11: 'database disk image is malformed')");
    }

    [Fact]
    public async Task A_directory_is_not_a_database()
    {
        var db = Path.Combine(_dir, "folder.db");
        Directory.CreateDirectory(db);
        await AssertSameOneLineEveryTimeAsync(db, "is a directory");
    }

    [Fact]
    public async Task Another_programs_sqlite_file_is_not_a_keywarden_database()
    {
        var db = Path.Combine(_dir, "other.db");
        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={db};Pooling=false"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)";
            await command.ExecuteNonQueryAsync();
        }

        await AssertSameOneLineEveryTimeAsync(db, "not a Keywarden database (it has tables but no migration history)");
    }

    [Fact]
    public async Task An_older_schema_asks_for_db_migrate_and_db_migrate_upgrades_it()
    {
        var db = Path.Combine(_dir, "older.db");
        await DatabaseLockTests.MigrateToFirstAsync(db);
        for (var i = 0; i < 2; i++)
        {
            var (code, _, stderr) = await Keywarden("cases", "list", "--db", db);
            Assert.Equal(2, code);
            Assert.Equal($"keywarden: error: database {db}: its schema is older than this keywarden (1 migration pending): run `keywarden db migrate`\n", stderr);
        }

        var status = await Keywarden("db", "status", "--db", db);
        Assert.Equal(2, status.Code);
        Assert.Contains("schema older than this keywarden (1 pending: ", status.Stdout, StringComparison.Ordinal);

        var migrate = await Keywarden("db", "migrate", "--db", db);
        Assert.Equal(0, migrate.Code);
        Assert.Contains("applied 1 migration (", migrate.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, (await Keywarden("cases", "list", "--db", db)).Code);
        Assert.Contains("nothing to apply", (await Keywarden("db", "migrate", "--db", db)).Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_schema_newer_than_the_binary_is_refused_with_one_line()
    {
        var db = await ValidDatabaseAsync();
        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={db};Pooling=false"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "INSERT INTO \"__EFMigrationsHistory\" VALUES ('29991231000000_FromTheFuture', '99.0.0')";
            await command.ExecuteNonQueryAsync();
        }

        await AssertSameOneLineEveryTimeAsync(db, "its schema is newer than this keywarden (unknown migration 29991231000000_FromTheFuture): use a newer keywarden");
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task A_new_database_its_journals_and_its_lock_file_are_readable_by_the_owner_only()
    {
        var db = Path.Combine(_dir, "private", "keywarden.db");
        var store = await KeywardenStore.OpenAsync(db, CancellationToken.None);
        await using var context = store.CreateContext();
        await context.Database.OpenConnectionAsync();
        // A write while the connection stays open keeps the -wal and -shm files on disk to look at.
        await context.Database.ExecuteSqlRawAsync("CREATE TABLE IF NOT EXISTS probe (id INTEGER)");
        foreach (var file in new[] { db, db + "-wal", db + "-shm", db + ".lock" })
        {
            Assert.True(File.Exists(file), $"{file} is missing");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(db)!));
    }
}
