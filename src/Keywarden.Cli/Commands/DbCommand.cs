using System.CommandLine;
using Keywarden.Response.Configuration;
using Keywarden.Storage;

namespace Keywarden.Cli.Commands;

/// <summary>
/// `keywarden db migrate` (apply pending migrations: the only command that upgrades an existing database)
/// and `keywarden db status` (where the schema stands; changes nothing). Exit 0, or 2 with one line.
/// </summary>
internal static class DbCommand
{
    public static Command Create(CliConsole console)
    {
        var command = new Command("db", "Keywarden's database: apply migrations, show the schema's state.");
        command.Subcommands.Add(Migrate(console));
        command.Subcommands.Add(Status(console));
        return command;
    }

    private static (Option<FileInfo?> Config, Option<string?> Db) Options(Command command)
    {
        var config = new Option<FileInfo?>("--config") { Description = "Responder configuration (default: KEYWARDEN_CONFIG, or ~/.config/keywarden/config.toml if present)." };
        var db = new Option<string?>("--db") { Description = "Database: a SQLite file path or a PostgreSQL connection string (default: storage.db in the config, KEYWARDEN_DB, or ~/.local/share/keywarden/keywarden.db)." };
        command.Options.Add(config);
        command.Options.Add(db);
        return (config, db);
    }

    private static string? Location(ParseResult parse, (Option<FileInfo?> Config, Option<string?> Db) options) =>
        parse.GetValue(options.Db) ?? ResponderConfig.Load(parse.GetValue(options.Config)?.FullName).Database;

    private static Command Migrate(CliConsole console)
    {
        var command = new Command("migrate", "Create the database if needed and apply every pending migration (under a lock; other commands wait for it).");
        var options = Options(command);
        command.SetAction(async (parse, ct) => await Guard(console, async () =>
        {
            var (store, applied) = await KeywardenStore.MigrateAsync(Location(parse, options), ct);
            console.Stdout.Write(System.Text.Encoding.UTF8.GetBytes(applied.Count == 0
                ? $"database {store.Description}: schema current, nothing to apply\n"
                : $"database {store.Description}: applied {applied.Count} migration{(applied.Count == 1 ? "" : "s")} ({string.Join(", ", applied)}); schema current\n"));
            return ExitCodes.Success;
        }));
        return command;
    }

    private static Command Status(CliConsole console)
    {
        var command = new Command("status", "Show whether the database's schema is current, older (run `keywarden db migrate`) or newer than this keywarden. Exit 0 when usable.");
        var options = Options(command);
        command.SetAction(async (parse, ct) => await Guard(console, async () =>
        {
            var (store, status) = await KeywardenStore.StatusAsync(Location(parse, options), ct);
            var line = status.State switch
            {
                SchemaState.New => "not created yet: the first command that uses it creates it",
                SchemaState.Current => $"schema current ({status.Applied.Count} migrations applied)",
                SchemaState.Older => $"schema older than this keywarden ({status.Pending.Count} pending: {string.Join(", ", status.Pending)}): run `keywarden db migrate`",
                _ => $"schema newer than this keywarden (unknown: {string.Join(", ", status.Unknown)}): use a newer keywarden",
            };
            console.Stdout.Write(System.Text.Encoding.UTF8.GetBytes($"database {store.Description}: {line}\n"));
            return status.State is SchemaState.New or SchemaState.Current ? ExitCodes.Success : ExitCodes.Error;
        }));
        return command;
    }

    private static async Task<int> Guard(CliConsole console, Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception e) when (e is StorageException or ResponderConfigException)
        {
            console.Error(e.Message);
            return ExitCodes.Error;
        }
    }
}
