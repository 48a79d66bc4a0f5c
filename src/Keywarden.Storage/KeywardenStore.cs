using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Npgsql;

namespace Keywarden.Storage;

/// <summary>The database could not be opened or migrated; the message names it without its password.</summary>
public class StorageException : Exception
{
    public StorageException() { }
    public StorageException(string message) : base(message) { }
    public StorageException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Where the schema of a database stands against the migrations this binary knows.</summary>
public enum SchemaState
{
    /// <summary>Nothing of Keywarden's yet (no file, an empty file, no tables): created on first use.</summary>
    New,

    /// <summary>Every migration this binary knows is applied, and no other.</summary>
    Current,

    /// <summary>Migrations are pending: `keywarden db migrate` applies them.</summary>
    Older,

    /// <summary>The database has migrations this binary does not know: a newer keywarden wrote it.</summary>
    Newer,
}

public sealed record SchemaStatus(SchemaState State, IReadOnlyList<string> Applied, IReadOnlyList<string> Pending, IReadOnlyList<string> Unknown)
{
    /// <summary>PostgreSQL only: the database itself does not exist yet.</summary>
    public bool Missing { get; init; }
}

/// <summary>
/// Where Keywarden keeps its records: a SQLite file (the default, under the user's data directory, or
/// any path), or PostgreSQL given as an Npgsql connection string (<c>Host=...;Database=...</c>).
/// Opening never waits unboundedly: it checks that the schema is current (one query), creates and migrates
/// a brand-new database under a lock that a dead holder cannot keep (<see cref="StoreLocks"/>), and
/// refuses a database whose schema is older (<c>keywarden db migrate</c> upgrades it) or newer than this binary.
/// </summary>
public sealed class KeywardenStore
{
    private const string MigrationLock = "migrate";

    private static readonly string[] EfTables = ["__EFMigrationsHistory", "__EFMigrationsLock", "sqlite_sequence"];

    private readonly DbContextOptions _options;
    private readonly DbContextOptions _migrationOptions;
    private readonly string _connectionString;

    private KeywardenStore(DbContextOptions options, DbContextOptions migrationOptions, string connectionString, string? path, string description)
    {
        _options = options;
        _migrationOptions = migrationOptions;
        _connectionString = connectionString;
        Path = path;
        Description = description;
    }

    /// <summary>The file path, or host and database: safe to print (no password).</summary>
    public string Description { get; }

    /// <summary>The SQLite file; null on PostgreSQL.</summary>
    private string? Path { get; }

    private bool Postgres => Path is null;

    /// <summary>~/.local/share/keywarden/keywarden.db on Linux (XDG_DATA_HOME honoured), or KEYWARDEN_DB.</summary>
    public static string DefaultLocation =>
        Environment.GetEnvironmentVariable("KEYWARDEN_DB") is { Length: > 0 } fromEnvironment
            ? fromEnvironment
            : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify), "keywarden", "keywarden.db");

    public static bool IsPostgres(string location) =>
        location.Contains("Host=", StringComparison.OrdinalIgnoreCase) || location.Contains("Server=", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Opens the database at <paramref name="location"/> (default: <see cref="DefaultLocation"/>) for use: a
    /// brand-new one is created and migrated; one whose schema is not current is refused with one line.
    /// </summary>
    public static async Task<KeywardenStore> OpenAsync(string? location, CancellationToken cancellationToken)
    {
        var store = Locate(location);
        await store.Guard(async () =>
        {
            var status = await store.ReadStatusAsync(cancellationToken);
            if (status.State == SchemaState.New)
            {
                status = await store.MigrateUnderLockAsync(onlyIfNew: true, cancellationToken);
            }

            store.RequireCurrent(status);
            return 0;
        });
        return store;
    }

    /// <summary>`keywarden db migrate`: applies every pending migration under the migration lock; returns the ones applied.</summary>
    public static async Task<(KeywardenStore Store, IReadOnlyList<string> Applied)> MigrateAsync(string? location, CancellationToken cancellationToken)
    {
        var store = Locate(location);
        var applied = await store.Guard(async () =>
        {
            var before = await store.ReadStatusAsync(cancellationToken);
            if (before.State == SchemaState.Newer)
            {
                store.RequireCurrent(before);
            }

            var after = await store.MigrateUnderLockAsync(onlyIfNew: false, cancellationToken);
            store.RequireCurrent(after);
            return (IReadOnlyList<string>)[.. after.Applied.Except(before.Applied, StringComparer.Ordinal)];
        });
        return (store, applied);
    }

    /// <summary>`keywarden db status`: where the schema stands, creating and changing nothing.</summary>
    public static async Task<(KeywardenStore Store, SchemaStatus Status)> StatusAsync(string? location, CancellationToken cancellationToken)
    {
        var store = Locate(location);
        var status = await store.Guard(() => store.ReadStatusAsync(cancellationToken));
        return (store, status);
    }

    /// <summary>A new unit of work; dispose it when done.</summary>
    public KeywardenDbContext CreateContext() => Create(_options);

    /// <summary>
    /// Serializes work on one thing across processes (e.g. the containment of one key): waits at most
    /// <see cref="StoreLocks.Timeout"/> for another live holder, then throws <see cref="StoreBusyException"/>
    /// saying that <paramref name="what"/> is in progress. A holder that dies releases it at once.
    /// </summary>
    public async Task<IAsyncDisposable> LockAsync(string name, string what, CancellationToken cancellationToken)
    {
        if (Postgres)
        {
            return await Guard(() => StoreLocks.AdvisoryAsync(_connectionString, name, what, cancellationToken));
        }

        var folder = Path + ".locks";
        return await Guard(async () =>
        {
            OwnerOnly.CreateFolder(folder);
            return await StoreLocks.FileAsync(System.IO.Path.Combine(folder, string.Concat(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' ? c : '_')) + ".lock"), what, cancellationToken);
        });
    }

    private static KeywardenStore Locate(string? location)
    {
        location = string.IsNullOrWhiteSpace(location) ? DefaultLocation : location.Trim();
        if (IsPostgres(location))
        {
            NpgsqlConnectionStringBuilder builder;
            try
            {
                builder = new NpgsqlConnectionStringBuilder(location);
            }
            catch (ArgumentException e)
            {
                throw new StorageException($"database: not a valid PostgreSQL connection string ({e.Message.Split('\n')[0].TrimEnd('.')})", e);
            }

            // A migration waits for table locks (held by a long transaction of another process) at most as long as for our own lock.
            var migration = new NpgsqlConnectionStringBuilder(location);
            migration.Options = $"{migration.Options} -c lock_timeout={(long)Math.Max(1, StoreLocks.Timeout.TotalMilliseconds)}".Trim();
            return new KeywardenStore(
                new DbContextOptionsBuilder<PostgresKeywardenDbContext>().UseNpgsql(location).Options,
                WithTrace(new DbContextOptionsBuilder<PostgresKeywardenDbContext>().UseNpgsql(migration.ConnectionString)).Options,
                location, null, $"postgresql://{builder.Host}:{builder.Port}/{builder.Database}");
        }

        var path = System.IO.Path.GetFullPath(location);
        // Mode=ReadWrite: an ordinary connection never creates the file (only the migration does, owner-only);
        // Default Timeout: how long SQLite waits for another process's write lock (SQLITE_BUSY) before failing.
        var connection = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Pooling = false,
            Mode = SqliteOpenMode.ReadWrite,
            DefaultTimeout = (int)Math.Max(1, Math.Ceiling(StoreLocks.Timeout.TotalSeconds)),
        }.ToString();
        return new KeywardenStore(
            new DbContextOptionsBuilder<SqliteKeywardenDbContext>().UseSqlite(connection).Options,
            WithTrace(new DbContextOptionsBuilder<SqliteKeywardenDbContext>().UseSqlite(connection)).Options,
            connection, path, path);
    }

    private static DbContextOptionsBuilder<T> WithTrace<T>(DbContextOptionsBuilder<T> builder)
        where T : DbContext
    {
        builder.ConfigureWarnings(w => w.Ignore(Microsoft.EntityFrameworkCore.Diagnostics.RelationalEventId.MigrationsUserTransactionWarning));
        return StorageTrace.Enabled ? builder.AddInterceptors(new TracingInterceptor()) : builder;
    }

    private KeywardenDbContext Create(DbContextOptions options) => Postgres
        ? new PostgresKeywardenDbContext((DbContextOptions<PostgresKeywardenDbContext>)options)
        : new SqliteKeywardenDbContext((DbContextOptions<SqliteKeywardenDbContext>)options);

    /// <summary>Reads which migrations are applied, with one connection and two small queries; changes nothing.</summary>
    private async Task<SchemaStatus> ReadStatusAsync(CancellationToken cancellationToken)
    {
        await using var db = Create(_options);
        var known = db.Database.GetMigrations().ToList();
        if (Path is { } path)
        {
            if (Directory.Exists(path))
            {
                throw new StorageException($"database {path}: is a directory");
            }

            if (!File.Exists(path) || new FileInfo(path).Length == 0)
            {
                return new SchemaStatus(SchemaState.New, [], known, []);
            }
        }

        var connection = db.Database.GetDbConnection();
        try
        {
            await connection.OpenAsync(cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InvalidCatalogName)
        {
            return new SchemaStatus(SchemaState.New, [], known, []) { Missing = true };
        }

        var tables = await ListAsync(connection, Postgres
            ? "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            : "SELECT name FROM sqlite_master WHERE type = 'table'", cancellationToken);
        var applied = tables.Contains("__EFMigrationsHistory", StringComparer.Ordinal)
            ? await ListAsync(connection, "SELECT \"MigrationId\" FROM \"__EFMigrationsHistory\" ORDER BY \"MigrationId\"", cancellationToken)
            : [];
        if (applied.Count == 0)
        {
            return tables.Except(EfTables, StringComparer.Ordinal).Any()
                ? throw new StorageException($"database {Description}: not a Keywarden database (it has tables but no migration history)")
                : new SchemaStatus(SchemaState.New, [], known, []);
        }

        var pending = known.Except(applied, StringComparer.Ordinal).ToList();
        var unknown = applied.Except(known, StringComparer.Ordinal).ToList();
        var state = unknown.Count > 0 ? SchemaState.Newer : pending.Count > 0 ? SchemaState.Older : SchemaState.Current;
        return new SchemaStatus(state, applied, pending, unknown);
    }

    private static async Task<List<string>> ListAsync(System.Data.Common.DbConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var values = new List<string>();
        while (await reader.ReadAsync(cancellationToken))
        {
            values.Add(reader.GetString(0));
        }

        return values;
    }

    private void RequireCurrent(SchemaStatus status)
    {
        switch (status.State)
        {
            case SchemaState.Older:
                throw new StorageException($"database {Description}: its schema is older than this keywarden ({status.Pending.Count} migration{(status.Pending.Count == 1 ? "" : "s")} pending): run `keywarden db migrate`");
            case SchemaState.Newer:
                throw new StorageException($"database {Description}: its schema is newer than this keywarden (unknown migration {status.Unknown[0]}): use a newer keywarden");
            case SchemaState.New:
                throw new StorageException($"database {Description}: has no schema after migrating");
        }
    }

    /// <summary>
    /// Applies pending migrations holding the migration lock (a dead holder's lock is taken over). EF Core's
    /// own SQLite lock is a row in __EFMigrationsLock that a killed process leaves behind and that EF then
    /// waits on forever; only a migrating process writes it, and all of them hold our lock first, so a row
    /// found while we hold it is a dead process's and is deleted.
    /// </summary>
    private async Task<SchemaStatus> MigrateUnderLockAsync(bool onlyIfNew, CancellationToken cancellationToken)
    {
        if (Path is { } path)
        {
            try
            {
                OwnerOnly.CreateFolder(System.IO.Path.GetDirectoryName(path)!);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new StorageException($"database {path}: cannot create its folder ({e.Message.TrimEnd('.')})", e);
            }
        }
        else if ((await ReadStatusAsync(cancellationToken)).Missing)
        {
            StorageTrace.Mark("create database");
            await using var creator = Create(_migrationOptions);
            try
            {
                await creator.GetService<Microsoft.EntityFrameworkCore.Storage.IRelationalDatabaseCreator>().CreateAsync(cancellationToken);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateDatabase)
            {
                // Another process created it first.
            }
        }

        StorageTrace.Mark("lock wanted");
        await using (await (Path is { } file
            ? StoreLocks.FileAsync(file + ".lock", $"database {Description}: a migration", cancellationToken)
            : StoreLocks.AdvisoryAsync(_connectionString, MigrationLock, $"database {Description}: a migration", cancellationToken)))
        {
            var status = await ReadStatusAsync(cancellationToken);
            if (status.State == SchemaState.Current || status.State == SchemaState.Newer || (onlyIfNew && status.State != SchemaState.New))
            {
                return status;
            }

            if (Path is { } created && !File.Exists(created))
            {
                // Created here, owner-only: SQLite gives its -wal and -shm files the mode of the database file.
                await using (new FileStream(created, OwnerOnly.Options(FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite)))
                {
                }

                StorageTrace.Mark("file created");
            }

            await using var db = Create(_migrationOptions);
            if (!Postgres)
            {
                // Several processes (a hook, a worker, a responder) may write at once: WAL lets readers
                // continue during a write. The mode is kept in the file.
                await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
                if (await db.Database.SqlQueryRaw<int>("SELECT COUNT(*) AS \"Value\" FROM sqlite_master WHERE type = 'table' AND name = '__EFMigrationsLock'").SingleAsync(cancellationToken) > 0)
                {
                    var leftover = await db.Database.ExecuteSqlRawAsync("DELETE FROM \"__EFMigrationsLock\";", cancellationToken);
                    StorageTrace.Mark($"stale migration lock rows removed: {leftover}");
                }
            }

            StorageTrace.Mark("migrate");
            if (status.State == SchemaState.New)
            {
                // First use: every migration in one transaction, so a process killed half-way leaves a
                // database that is still new (EF Core commits each migration on its own, which would leave
                // it half-migrated, "older"). Our lock stands in for EF's, which a user transaction skips.
                // The empty history table comes first, outside: Npgsql's provider reads it with a query that
                // fails (and would abort the transaction) while it does not exist. Alone, it still reads as new.
                await db.GetService<Microsoft.EntityFrameworkCore.Migrations.IHistoryRepository>().CreateIfNotExistsAsync(cancellationToken);
                await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
                await db.Database.MigrateAsync(cancellationToken);
                await transaction.CommitAsync(cancellationToken);
            }
            else
            {
                await db.Database.MigrateAsync(cancellationToken);
            }

            StorageTrace.Mark("migrated");
            return await ReadStatusAsync(cancellationToken);
        }
    }

    /// <summary>Turns a provider's failure into one line naming the database (never its password).</summary>
    private async Task<T> Guard<T>(Func<Task<T>> body)
    {
        try
        {
            return await body();
        }
        catch (SqliteException e)
        {
            var reason = e.SqliteErrorCode is 5 or 6
                ? "locked by another process (it held a write lock longer than the wait allows)"
                : $"not a usable SQLite database ({e.Message.Split('\n')[0].Replace("SQLite Error ", "error ", StringComparison.Ordinal).TrimEnd('.')})";
            throw new StorageException($"database {Description}: {reason}", e);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or DbUpdateException or IOException or UnauthorizedAccessException or TimeoutException)
        {
            throw new StorageException($"database {Description}: {e.Message.Split('\n')[0].TrimEnd('.')}", e);
        }
    }
}

/// <summary>Under KEYWARDEN_STORAGE_TRACE, one marker before each command a migration sends.</summary>
internal sealed class TracingInterceptor : Microsoft.EntityFrameworkCore.Diagnostics.DbCommandInterceptor
{
    public override ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<int>> NonQueryExecutingAsync(
        System.Data.Common.DbCommand command, Microsoft.EntityFrameworkCore.Diagnostics.CommandEventData eventData,
        Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        Mark(command);
        return base.NonQueryExecutingAsync(command, eventData, result, cancellationToken);
    }

    public override ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<object>> ScalarExecutingAsync(
        System.Data.Common.DbCommand command, Microsoft.EntityFrameworkCore.Diagnostics.CommandEventData eventData,
        Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<object> result, CancellationToken cancellationToken = default)
    {
        Mark(command);
        return base.ScalarExecutingAsync(command, eventData, result, cancellationToken);
    }

    public override ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader>> ReaderExecutingAsync(
        System.Data.Common.DbCommand command, Microsoft.EntityFrameworkCore.Diagnostics.CommandEventData eventData,
        Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader> result, CancellationToken cancellationToken = default)
    {
        Mark(command);
        return base.ReaderExecutingAsync(command, eventData, result, cancellationToken);
    }

    private static void Mark(System.Data.Common.DbCommand command) =>
        StorageTrace.Mark("command " + string.Join(' ', command.CommandText.Split((char[]?)null, 4, StringSplitOptions.RemoveEmptyEntries).Take(3)));
}

/// <summary>For <c>dotnet ef migrations add NAME --context SqliteKeywardenDbContext --output-dir Migrations/Sqlite</c>.</summary>
public sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqliteKeywardenDbContext>
{
    public SqliteKeywardenDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqliteKeywardenDbContext>().UseSqlite("Data Source=design.db").Options);
}

/// <summary>For <c>dotnet ef migrations add NAME --context PostgresKeywardenDbContext --output-dir Migrations/Postgres</c>.</summary>
public sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresKeywardenDbContext>
{
    public PostgresKeywardenDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresKeywardenDbContext>().UseNpgsql("Host=localhost;Database=keywarden").Options);
}
