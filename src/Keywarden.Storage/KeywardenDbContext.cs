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

    public DbSet<CaseRecord> Cases => Set<CaseRecord>();

    public DbSet<OccurrenceRecord> Occurrences => Set<OccurrenceRecord>();

    public DbSet<CaseEventRecord> CaseEvents => Set<CaseEventRecord>();

    public DbSet<JobRecord> Jobs => Set<JobRecord>();

    public DbSet<NotificationRecord> Notifications => Set<NotificationRecord>();

    public DbSet<ChecklistItemRecord> ChecklistItems => Set<ChecklistItemRecord>();

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
        modelBuilder.Entity<CaseRecord>(e =>
        {
            e.ToTable("cases");
            e.Property(c => c.Subject).HasMaxLength(512);
            e.Property(c => c.Severity).HasMaxLength(16);
            e.Property(c => c.State).HasMaxLength(32);
            e.Property(c => c.KeyId).HasMaxLength(128);
            e.Property(c => c.OpenKeyId).HasMaxLength(128);
            e.Property(c => c.SecretSha256).HasMaxLength(64);
            e.Property(c => c.SecretRedacted).HasMaxLength(32);
            e.Property(c => c.AccountId).HasMaxLength(12);
            e.HasIndex(c => c.OpenKeyId).IsUnique();
            e.Property(c => c.Version).IsConcurrencyToken();
            e.HasIndex(c => c.KeyId);
            e.HasIndex(c => c.State);
            e.HasMany(c => c.Occurrences).WithOne().HasForeignKey(o => o.CaseId).OnDelete(DeleteBehavior.Cascade);
            e.HasMany(c => c.Events).WithOne().HasForeignKey(o => o.CaseId).OnDelete(DeleteBehavior.Cascade);
            e.HasMany(c => c.Jobs).WithOne().HasForeignKey(o => o.CaseId).OnDelete(DeleteBehavior.Cascade);
            e.HasMany(c => c.Notifications).WithOne().HasForeignKey(o => o.CaseId).OnDelete(DeleteBehavior.Cascade);
            e.HasMany(c => c.Checklist).WithOne().HasForeignKey(o => o.CaseId).OnDelete(DeleteBehavior.Cascade);
        });
        modelBuilder.Entity<OccurrenceRecord>(e =>
        {
            e.ToTable("occurrences");
            e.Property(o => o.Source).HasMaxLength(32);
            e.Property(o => o.Url).HasMaxLength(2048);
            e.Property(o => o.Reporter).HasMaxLength(256);
        });
        modelBuilder.Entity<CaseEventRecord>(e =>
        {
            e.ToTable("case_events");
            e.Property(o => o.Kind).HasMaxLength(32);
        });
        modelBuilder.Entity<JobRecord>(e =>
        {
            e.ToTable("jobs");
            e.Property(j => j.Kind).HasMaxLength(32);
            e.Property(j => j.State).HasMaxLength(32);
            e.Property(j => j.LeaseOwner).HasMaxLength(300);
            // A worker that lost its lease (another took the step over) cannot record a stale result.
            e.Property(j => j.Attempts).IsConcurrencyToken();
            e.HasIndex(j => new { j.State, j.NotBefore });
        });
        modelBuilder.Entity<NotificationRecord>(e =>
        {
            e.ToTable("notifications");
            e.Property(n => n.Channel).HasMaxLength(16);
            e.Property(n => n.Recipient).HasMaxLength(2048);
            e.Property(n => n.Purpose).HasMaxLength(32);
            e.Property(n => n.Subject).HasMaxLength(512);
            e.Property(n => n.MessageId).HasMaxLength(256);
            e.Property(n => n.State).HasMaxLength(16);
            e.HasIndex(n => n.MessageId).IsUnique();
        });
        modelBuilder.Entity<ChecklistItemRecord>(e =>
        {
            e.ToTable("checklist_items");
            e.Property(c => c.Key).HasMaxLength(64);
            e.Property(c => c.Title).HasMaxLength(256);
            e.Property(c => c.Verification).HasMaxLength(16);
            e.Property(c => c.Status).HasMaxLength(16);
            e.HasIndex(c => new { c.CaseId, c.Key }).IsUnique();
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
