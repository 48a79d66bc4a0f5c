using Keywarden.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql;

namespace Keywarden.Response.Tests;

/// <summary>
/// No database command hangs: real keywarden processes are killed (SIGKILL) or stopped (SIGTERM) at each
/// step of first-use creation and of `keywarden db migrate`, on SQLite and PostgreSQL, and the next command
/// answers within the lock bound. The steps are the stderr markers KEYWARDEN_STORAGE_TRACE prints, each
/// followed by a pause so the signal lands right there.
/// </summary>
[Collection(PlaybookCollection.Name)]
public sealed class DatabaseLockTests(PostgresServer postgres) : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    private readonly string _dir = Directory.CreateTempSubdirectory("keywarden-dblock-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<string> NewDatabaseAsync(string provider) =>
        provider == "postgres" ? await postgres.CreateDatabaseAsync() : Path.Combine(_dir, $"kw-{Guid.NewGuid():N}.db");

    /// <summary>Where a first use can be cut short; SQLite also creates the file itself.</summary>
    private static string[] FirstUseSteps(string provider) =>
    [
        "storage: lock taken",
        .. provider == "sqlite" ? new[] { "storage: file created" } : [],
        "storage: migrate",
        CreateTable(provider, "containments"),
        "command INSERT INTO \"__EFMigrationsHistory\"",
        CreateTable(provider, "cases"),
        "storage: migrated",
    ];

    /// <summary>The marker of a table's creation: Npgsql quotes only names that need it, EF's SQLite provider every name.</summary>
    private static string CreateTable(string provider, string table) =>
        provider == "postgres" ? $"command CREATE TABLE {table}" : $"command CREATE TABLE \"{table}\"";

    private static Dictionary<string, string?> Traced(int pauseMs = 250) => new()
    {
        ["KEYWARDEN_STORAGE_TRACE"] = pauseMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
        [StoreLocks.TimeoutVariable] = "10",
    };

    private static readonly Dictionary<string, string?> Bounded = new() { [StoreLocks.TimeoutVariable] = "10" };

    /// <summary>
    /// Every step with one signal, SIGKILL and SIGTERM in turn, and the middle step with both: each cut
    /// costs two process starts, seconds each on a loaded machine.
    /// </summary>
    private static IEnumerable<(string Step, string Signal)> Cuts(string[] steps) =>
        steps.Select((step, i) => (step, i % 2 == 0 ? "KILL" : "TERM"))
            .Append((steps[steps.Length / 2], steps.Length / 2 % 2 == 0 ? "TERM" : "KILL"));

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task A_command_stopped_at_any_step_of_first_use_leaves_a_database_the_next_command_creates(string provider)
    {
        foreach (var (step, signal) in Cuts(FirstUseSteps(provider)))
        {
            var db = await NewDatabaseAsync(provider);
            using (var first = KeywardenProcess.Start(["cases", "list", "--db", db], Traced()))
            {
                Assert.True(await first.WaitForLineAsync(step, Deadline), $"never reached '{step}': {first.Stderr}");
                first.Signal(signal);
                var stopped = await first.WaitAsync(Deadline);
                Assert.False(stopped.Hung, $"SIG{signal} at '{step}' did not stop the command");
                Assert.True(stopped.Code == (signal == "TERM" ? 143 : 137), $"SIG{signal} at '{step}': exit {stopped.Code}: {stopped.Stderr}");
            }

            var next = await KeywardenProcess.RunAsync(["cases", "list", "--db", db], Bounded, Deadline);
            Assert.False(next.Hung, $"after SIG{signal} at '{step}' the next command hung");
            Assert.True(next.Code == 0, $"after SIG{signal} at '{step}': exit {next.Code}: {next.Stderr}");
            Assert.Equal("no cases", next.Stdout.Trim());
        }
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Db_migrate_stopped_at_any_step_is_completed_by_the_next_db_migrate(string provider)
    {
        foreach (var (step, signal) in Cuts(["storage: lock taken", CreateTable(provider, "cases"), "command INSERT INTO \"__EFMigrationsHistory\""]))
        {
            var db = await NewDatabaseAsync(provider);
            await MigrateToFirstAsync(db);
            using (var first = KeywardenProcess.Start(["db", "migrate", "--db", db], Traced()))
            {
                Assert.True(await first.WaitForLineAsync(step, Deadline), $"never reached '{step}': {first.Stderr}");
                first.Signal(signal);
                Assert.False((await first.WaitAsync(Deadline)).Hung);
            }

            // An ordinary command answers at once: either the schema is still older, or the migration got through.
            var meanwhile = await KeywardenProcess.RunAsync(["cases", "list", "--db", db], Bounded, Deadline);
            Assert.False(meanwhile.Hung);
            Assert.True(meanwhile.Code == 0 || meanwhile.Stderr.Contains("run `keywarden db migrate`", StringComparison.Ordinal), $"after SIG{signal} at '{step}': {meanwhile.Stderr}");

            var again = await KeywardenProcess.RunAsync(["db", "migrate", "--db", db], Bounded, Deadline);
            Assert.False(again.Hung, $"after SIG{signal} at '{step}' db migrate hung");
            Assert.True(again.Code == 0, $"after SIG{signal} at '{step}': exit {again.Code}: {again.Stderr}");
            var status = await KeywardenProcess.RunAsync(["db", "status", "--db", db], Bounded, Deadline);
            Assert.Contains("schema current (2 migrations applied)", status.Stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_migration_lock_row_left_by_a_killed_process_does_not_stop_db_migrate()
    {
        // What EF Core leaves when a migrating process dies: its lock row, which it would wait on forever.
        var db = await NewDatabaseAsync("sqlite");
        await MigrateToFirstAsync(db);
        await using (var connection = new SqliteConnection($"Data Source={db};Pooling=false"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "CREATE TABLE IF NOT EXISTS \"__EFMigrationsLock\" (\"Id\" INTEGER NOT NULL PRIMARY KEY, \"Timestamp\" TEXT NOT NULL); INSERT INTO \"__EFMigrationsLock\" VALUES (1, '2026-11-23');";
            await command.ExecuteNonQueryAsync();
        }

        var migrate = await KeywardenProcess.RunAsync(["db", "migrate", "--db", db], Bounded, TimeSpan.FromSeconds(60));
        Assert.False(migrate.Hung, "db migrate waited on a dead process's lock row");
        Assert.Equal(0, migrate.Code);
        Assert.Contains("applied 1 migration", migrate.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task A_live_holder_of_the_migration_lock_makes_a_command_wait_the_bound_then_fail_with_one_line(string provider)
    {
        var db = await NewDatabaseAsync(provider);
        if (provider == "sqlite")
        {
            // Zero-length (as a killed first use may leave it) and locked by a live process.
            await File.WriteAllBytesAsync(db, []);
        }

        var busy = new Dictionary<string, string?> { [StoreLocks.TimeoutVariable] = "2" };
        var description = provider == "sqlite" ? db : $"postgresql://127.0.0.1:{postgres.Port}/{new NpgsqlConnectionStringBuilder(db).Database}";
        await using (await HoldMigrationLockAsync(provider, db))
        {
            for (var i = 0; i < 2; i++)
            {
                var run = await KeywardenProcess.RunAsync(["cases", "list", "--db", db], busy, Deadline);
                Assert.False(run.Hung);
                Assert.Equal(2, run.Code);
                Assert.Equal($"keywarden: error: database {description}: a migration is in progress in another process; gave up after 2 s (set KEYWARDEN_DB_LOCK_TIMEOUT to wait longer)\n", run.Stderr);
                Assert.True(run.Elapsed >= TimeSpan.FromSeconds(2), $"gave up after {run.Elapsed}");
            }
        }

        var after = await KeywardenProcess.RunAsync(["cases", "list", "--db", db], busy, Deadline);
        Assert.True(after.Code == 0, after.Stderr);
    }

    [Fact]
    public async Task A_lock_file_whose_holder_was_killed_is_taken_over()
    {
        // The kernel drops a flock when its holder dies: a holder killed with SIGKILL leaves nothing behind.
        var db = await NewDatabaseAsync("sqlite");
        using (var holder = KeywardenProcess.Start(["cases", "list", "--db", db], Traced(pauseMs: 1000)))
        {
            Assert.True(await holder.WaitForLineAsync("storage: command CREATE TABLE", Deadline), holder.Stderr);
            var blocked = await KeywardenProcess.RunAsync(["cases", "list", "--db", db], new Dictionary<string, string?> { [StoreLocks.TimeoutVariable] = "1" }, Deadline);
            Assert.Contains("a migration is in progress in another process", blocked.Stderr, StringComparison.Ordinal);
            holder.Signal("KILL");
            await holder.WaitAsync(Deadline);
        }

        Assert.True(File.Exists(db + ".lock"));
        var next = await KeywardenProcess.RunAsync(["cases", "list", "--db", db], new Dictionary<string, string?> { [StoreLocks.TimeoutVariable] = "1" }, Deadline);
        Assert.True(next.Code == 0, next.Stderr);
    }

    private async Task<IAsyncDisposable> HoldMigrationLockAsync(string provider, string db)
    {
        if (provider == "sqlite")
        {
            return new FileStream(db + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }

        var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT pg_advisory_lock(@class, @name)", connection);
        command.Parameters.AddWithValue("class", StoreLocks.AdvisoryClass);
        command.Parameters.AddWithValue("name", StoreLocks.Key("migrate"));
        await command.ExecuteNonQueryAsync();
        return connection;
    }

    /// <summary>A database of an older keywarden: only the first migration applied.</summary>
    internal static async Task MigrateToFirstAsync(string db)
    {
        await using KeywardenDbContext context = KeywardenStore.IsPostgres(db)
            ? new PostgresKeywardenDbContext(new DbContextOptionsBuilder<PostgresKeywardenDbContext>().UseNpgsql(db).Options)
            : new SqliteKeywardenDbContext(new DbContextOptionsBuilder<SqliteKeywardenDbContext>().UseSqlite($"Data Source={db};Pooling=false").Options);
        await context.GetService<IMigrator>().MigrateAsync(context.Database.GetMigrations().First());
    }
}
