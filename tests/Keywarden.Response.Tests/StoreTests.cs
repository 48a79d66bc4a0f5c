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
