using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Npgsql;

namespace Keywarden.Storage;

/// <summary>The database could not be opened or migrated; the message names it without its password.</summary>
public sealed class StorageException : Exception
{
    public StorageException() { }
    public StorageException(string message) : base(message) { }
    public StorageException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// Where Keywarden keeps its records: a SQLite file (the default, under the user's data directory, or
/// any path), or PostgreSQL given as an Npgsql connection string (<c>Host=...;Database=...</c>).
/// Opening applies pending migrations, so every process sees the current schema.
/// </summary>
public sealed class KeywardenStore
{
    private readonly DbContextOptions _options;
    private readonly bool _postgres;

    private KeywardenStore(DbContextOptions options, bool postgres, string description)
    {
        _options = options;
        _postgres = postgres;
        Description = description;
    }

    /// <summary>The file path, or host and database: safe to print (no password).</summary>
    public string Description { get; }

    /// <summary>~/.local/share/keywarden/keywarden.db on Linux (XDG_DATA_HOME honoured), or KEYWARDEN_DB.</summary>
    public static string DefaultLocation =>
        Environment.GetEnvironmentVariable("KEYWARDEN_DB") is { Length: > 0 } fromEnvironment
            ? fromEnvironment
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify), "keywarden", "keywarden.db");

    public static bool IsPostgres(string location) =>
        location.Contains("Host=", StringComparison.OrdinalIgnoreCase) || location.Contains("Server=", StringComparison.OrdinalIgnoreCase);

    /// <summary>Opens (creating if needed) and migrates the database at <paramref name="location"/> (default: <see cref="DefaultLocation"/>).</summary>
    public static async Task<KeywardenStore> OpenAsync(string? location, CancellationToken cancellationToken)
    {
        location = string.IsNullOrWhiteSpace(location) ? DefaultLocation : location.Trim();
        KeywardenStore store;
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

            var options = new DbContextOptionsBuilder<PostgresKeywardenDbContext>().UseNpgsql(location).Options;
            store = new KeywardenStore(options, postgres: true, $"postgresql://{builder.Host}:{builder.Port}/{builder.Database}");
        }
        else
        {
            var path = Path.GetFullPath(location);
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new StorageException($"database {path}: cannot create its folder ({e.Message.TrimEnd('.')})", e);
            }

            var connection = new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString();
            var options = new DbContextOptionsBuilder<SqliteKeywardenDbContext>().UseSqlite(connection).Options;
            store = new KeywardenStore(options, postgres: false, path);
        }

        await store.MigrateAsync(cancellationToken);
        return store;
    }

    /// <summary>A new unit of work; dispose it when done.</summary>
    public KeywardenDbContext CreateContext() => _postgres
        ? new PostgresKeywardenDbContext((DbContextOptions<PostgresKeywardenDbContext>)_options)
        : new SqliteKeywardenDbContext((DbContextOptions<SqliteKeywardenDbContext>)_options);

    private async Task MigrateAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var db = CreateContext();
            await db.Database.MigrateAsync(cancellationToken);
            if (!_postgres)
            {
                // Several processes (a hook, a worker, a responder) may write at once: WAL lets readers
                // continue during a write (a writer waits for the lock up to the command timeout).
                await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
            }
        }
        catch (Exception e) when (e is SqliteException or NpgsqlException or InvalidOperationException or DbUpdateException or IOException)
        {
            throw new StorageException($"database {Description}: {e.Message.Split('\n')[0].TrimEnd('.')}", e);
        }
    }
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
