using Microsoft.EntityFrameworkCore;

namespace Keywarden.Storage;

/// <summary>
/// Keywarden's database. One model, two providers: SQLite embedded by default, PostgreSQL for teams.
/// Each provider has its own context type so EF Core keeps a migration history per provider
/// (Migrations/Sqlite, Migrations/Postgres); both are applied on open.
/// </summary>
public abstract class KeywardenDbContext(DbContextOptions options) : DbContext(options)
{
    public DbSet<ContainmentRecord> Containments => Set<ContainmentRecord>();

    public DbSet<ContainmentActionRecord> ContainmentActions => Set<ContainmentActionRecord>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        modelBuilder.Entity<ContainmentRecord>(e =>
        {
            e.ToTable("containments");
            e.Property(c => c.KeyId).HasMaxLength(128);
            e.Property(c => c.AccountId).HasMaxLength(12);
            e.Property(c => c.PrincipalType).HasMaxLength(32);
            e.Property(c => c.PrincipalName).HasMaxLength(512);
            e.Property(c => c.PrincipalArn).HasMaxLength(2048);
            e.Property(c => c.State).HasMaxLength(32);
            e.HasIndex(c => c.KeyId);
            e.HasMany(c => c.Actions).WithOne(a => a.Containment!).HasForeignKey(a => a.ContainmentId).OnDelete(DeleteBehavior.Cascade);
        });
        modelBuilder.Entity<ContainmentActionRecord>(e =>
        {
            e.ToTable("containment_actions");
            e.Property(a => a.Kind).HasMaxLength(64);
            e.Property(a => a.TargetType).HasMaxLength(32);
            e.Property(a => a.Target).HasMaxLength(512);
            e.Property(a => a.Parameter).HasMaxLength(2048);
            e.Property(a => a.Status).HasMaxLength(32);
            e.HasIndex(a => new { a.ContainmentId, a.Sequence }).IsUnique();
        });
    }
}

public sealed class SqliteKeywardenDbContext(DbContextOptions<SqliteKeywardenDbContext> options) : KeywardenDbContext(options)
{
    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        ArgumentNullException.ThrowIfNull(configurationBuilder);
        // SQLite has no date type, and EF stores a DateTimeOffset there as text that queries cannot
        // order or compare: UTC ticks can be.
        configurationBuilder.Properties<DateTimeOffset>().HaveConversion<DateTimeOffsetToUtcTicks>();
    }
}

public sealed class PostgresKeywardenDbContext(DbContextOptions<PostgresKeywardenDbContext> options) : KeywardenDbContext(options);

/// <summary>DateTimeOffset as UTC ticks (a sortable integer) for SQLite.</summary>
internal sealed class DateTimeOffsetToUtcTicks() : Microsoft.EntityFrameworkCore.Storage.ValueConversion.ValueConverter<DateTimeOffset, long>(
    v => v.UtcTicks,
    v => new DateTimeOffset(v, TimeSpan.Zero));
