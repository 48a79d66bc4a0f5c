using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Amazon.Runtime;
using Keywarden.Aws.Connection;
using Keywarden.Aws.Iam;
using Keywarden.Aws.Tests;
using Keywarden.Cli;
using Keywarden.Response.Cases;
using Keywarden.Storage;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Keywarden.Response.Tests;

[CollectionDefinition(Name)]
public sealed class PlaybookCollection : ICollectionFixture<MotoServer>, ICollectionFixture<SmtpSink>, ICollectionFixture<PostgresServer>
{
    public const string Name = "playbook";
}

internal sealed record Run(int Code, string Stdout, string Stderr)
{
    public string All => Stdout + Stderr;

    public JsonElement Json => JsonDocument.Parse(Stdout).RootElement.Clone();
}

/// <summary>
/// The response playbook end to end, on SQLite and on PostgreSQL: a real moto (IAM enforced, Keywarden
/// holding only the responder policy), a real SMTP server, a real PostgreSQL server. AWS-side state is
/// checked through the IAM API and email through what the SMTP server received.
/// </summary>
[Collection(PlaybookCollection.Name)]
public sealed class PlaybookTests(MotoServer moto, SmtpSink smtp, PostgresServer postgres) : IAsyncLifetime
{
    private const string Admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    private const string QuarantineV3 = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3";

    private readonly string _dir = Directory.CreateTempSubdirectory("keywarden-playbook-").FullName;
    private readonly DateTimeOffset _exposedAt = DateTimeOffset.UtcNow.AddMinutes(-1);
    private (string Id, string Secret) _leaked;
    private (string Id, string Secret) _admin;
    private (string Id, string Secret) _responder;

    public async Task InitializeAsync()
    {
        await moto.ResetAsync(unauthenticated: 1000);
        _leaked = moto.CreateUserWithKey("app", Admin);
        _admin = moto.CreateUserWithKey("admin", Admin);
        _responder = moto.CreateResponder(_admin);
        await moto.ArmAsync();
        smtp.Clear();
        MotoServer.UseAmbientCredentials(_responder);
    }

    public Task DisposeAsync()
    {
        MotoServer.UseAmbientCredentials(null);
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    private IamClient Iam((string Id, string Secret) key) =>
        new(new AwsSettings { EndpointUrl = moto.Endpoint, Region = "us-east-1", MaxRetries = 0 }, new BasicAWSCredentials(key.Id, key.Secret));

    private async Task<string> DatabaseAsync(string provider) =>
        provider == "postgres" ? await postgres.CreateDatabaseAsync() : Path.Combine(_dir, $"keywarden-{Guid.NewGuid():N}.db");

    private string Config(int? smtpPort = null, string extra = "")
    {
        var path = Path.Combine(_dir, $"config-{Guid.NewGuid():N}.toml");
        File.WriteAllText(path, $"""
            [aws]
            endpoint_url = "{moto.Endpoint}"
            region = "us-east-1"
            timeout_seconds = 5
            max_retries = 1

            [notify.email]
            smtp_host = "127.0.0.1"
            smtp_port = {smtpPort ?? smtp.Port}
            security = "none"
            from = "keywarden@example.com"
            to = ["owner@example.com"]
            attempts = 3
            retry_seconds = 1
            {extra}
            """);
        return path;
    }

    private static async Task<Run> Keywarden(string[] args, string? stdin = null)
    {
        var stdout = new MemoryStream();
        var stderr = new StringWriter();
        var console = new CliConsole(() => new MemoryStream(Encoding.UTF8.GetBytes(stdin ?? "")), stdout, stderr, false, false);
        var code = await KeywardenApp.RunAsync(args, console, CancellationToken.None);
        return new Run(code, Encoding.UTF8.GetString(stdout.ToArray()), stderr.ToString());
    }

    private static async Task<KeywardenStore> Store(string db) => await KeywardenStore.OpenAsync(db, CancellationToken.None);

    private async Task<List<string>> Attached(string user)
    {
        using var iam = Iam(_admin);
        return await iam.ListAttachedUserPoliciesAsync(user, CancellationToken.None);
    }

    /// <summary>Every byte the database holds: the SQLite files, or every table of the PostgreSQL database as text.</summary>
    private static async Task<string> DatabaseContentAsync(string db)
    {
        if (!KeywardenStore.IsPostgres(db))
        {
            return string.Concat(new[] { db, db + "-wal" }.Where(File.Exists).Select(f =>
            {
                using var stream = new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                using var reader = new StreamReader(stream, Encoding.Latin1);
                return reader.ReadToEnd();
            }));
        }

        var text = new StringBuilder();
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        var tables = new List<string>();
        await using (var list = new NpgsqlCommand("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", connection))
        await using (var reader = await list.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                tables.Add(reader.GetString(0));
            }
        }

        foreach (var table in tables)
        {
            await using var dump = new NpgsqlCommand($"SELECT t::text FROM \"{table}\" t", connection);
            await using var rows = await dump.ExecuteReaderAsync();
            while (await rows.ReadAsync())
            {
                text.AppendLine(rows.GetString(0));
            }
        }

        Assert.True(tables.Count >= 8, string.Join(",", tables));
        return text.ToString();
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task A_report_is_verified_quarantined_notified_and_its_checklist_verified(string provider)
    {
        var db = await DatabaseAsync(provider);
        var config = Config();
        var commit = "https://github.com/example/app/commit/0123456789abcdef";
        var respond = await Keywarden(["respond", _leaked.Id, "--secret-stdin", "--source", "github-partner", "--url", commit, "--detected-at", _exposedAt.ToOffset(TimeSpan.FromHours(2)).ToString("O"), "--db", db, "--config", config, "-f", "json"], _leaked.Secret + "\n");
        Assert.True(respond.Code == 0, respond.All);
        var report = respond.Json;
        Assert.Equal("KW-1", report.GetProperty("id").GetString());
        Assert.Equal("awaiting-remediation", report.GetProperty("state").GetString());
        Assert.Equal("active", report.GetProperty("verification").GetString());
        Assert.Equal("critical", report.GetProperty("severity").GetString());
        Assert.Equal("123456789012", report.GetProperty("accountId").GetString());
        Assert.Equal("app", report.GetProperty("owner").GetProperty("name").GetString());
        Assert.Equal(ExposureReport.Sha256(_leaked.Secret), report.GetProperty("secretSha256").GetString());

        // Quarantined, as IAM itself says: the leaked key can no longer create users.
        Assert.Contains(QuarantineV3, await Attached("app"));
        using (var leaked = Iam(_leaked))
        {
            var denied = await Assert.ThrowsAsync<IamException>(() => leaked.CreateUserAsync("attacker", CancellationToken.None));
            Assert.True(denied.IsAccessDenied);
        }

        // One email, to the owner, saying what happened, where, what was done and what to do.
        var mail = Assert.Single(smtp.Messages());
        var message = MimeKit.MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(mail)));
        Assert.Equal("owner@example.com", Assert.Single(message.To.Mailboxes).Address);
        Assert.Equal("keywarden@example.com", Assert.Single(message.From.Mailboxes).Address);
        Assert.Equal($"[Keywarden KW-1] critical: exposed AWS access key {_leaked.Id} of user app in account 123456789012 (contained)", message.Subject);
        Assert.StartsWith("KW-1.initial.", message.MessageId, StringComparison.Ordinal);
        var body = message.TextBody;
        Assert.Contains(commit, body, StringComparison.Ordinal);
        Assert.Contains($"attach-policy app {QuarantineV3}: done", body, StringComparison.Ordinal);
        Assert.Contains("What you need to do now:", body, StringComparison.Ordinal);

        // The checklist, verified against IAM where it can be.
        var checklist = report.GetProperty("checklist").EnumerateArray().ToDictionary(i => i.GetProperty("key").GetString()!, i => (Status: i.GetProperty("status").GetString(), Evidence: i.GetProperty("evidence").GetString()));
        Assert.Equal(12, checklist.Count);
        Assert.Equal("failed", checklist["exposed-key-disabled"].Status); // quarantined, not yet deactivated
        Assert.Equal("verified", checklist["root-access-keys"].Status);
        Assert.Contains("AccountAccessKeysPresent = 0", checklist["root-access-keys"].Evidence, StringComparison.Ordinal);
        Assert.Equal("verified", checklist["older-keys-rotated"].Status);
        Assert.Equal("open", checklist["billing-checked"].Status);

        // The default policy deactivates after approval; then `cases verify` sees it.
        var approve = await Keywarden(["cases", "approve", "KW-1", "--by", "alice", "--db", db, "--config", config]);
        Assert.True(approve.Code == 0, approve.All);
        using (var admin = Iam(_admin))
        {
            Assert.Equal("Inactive", Assert.Single(await admin.ListAccessKeysAsync("app", CancellationToken.None)).Status);
        }

        var verify = await Keywarden(["cases", "verify", "KW-1", "--db", db, "--config", config, "-f", "json"]);
        Assert.True(verify.Code == 0, verify.All);
        Assert.Equal("verified", verify.Json.EnumerateArray().Single(i => i.GetProperty("key").GetString() == "exposed-key-disabled").GetProperty("status").GetString());

        var list = await Keywarden(["cases", "list", "--db", db, "-f", "json"]);
        var entry = Assert.Single(list.Json.EnumerateArray());
        Assert.Equal(("KW-1", _leaked.Id, "awaiting-remediation", "critical", "123456789012"),
            (entry.GetProperty("id").GetString(), entry.GetProperty("keyId").GetString(), entry.GetProperty("state").GetString(), entry.GetProperty("severity").GetString(), entry.GetProperty("accountId").GetString()));

        // Resolving needs every item done (or --force); manual ones are confirmed with a note.
        var early = await Keywarden(["cases", "resolve", "KW-1", "--db", db]);
        Assert.Equal(2, early.Code);
        Assert.Contains("open checklist item", early.Stderr, StringComparison.Ordinal);
        foreach (var item in new[] { "sessions-revoked", "activity-reviewed", "billing-checked", "root-mfa", "passwords-reset", "mfa-enabled", "attacker-resources-removed", "exposure-source-removed", "support-case-answered" })
        {
            Assert.Equal(0, (await Keywarden(["cases", "confirm", "KW-1", item, "--note", $"checked {item}", "--by", "alice", "--db", db])).Code);
        }

        var resolve = await Keywarden(["cases", "resolve", "KW-1", "--note", "rotated", "--root-cause", "a .env file committed", "--lessons", "pre-commit hook", "--db", db]);
        Assert.True(resolve.Code == 0, resolve.All);
        var md = await Keywarden(["cases", "report", "KW-1", "--format", "md", "--db", db]);
        Assert.Contains("# Post-incident report: KW-1", md.Stdout, StringComparison.Ordinal);
        Assert.Contains(commit, md.Stdout, StringComparison.Ordinal);
        Assert.Contains("a .env file committed", md.Stdout, StringComparison.Ordinal);
        Assert.Contains("| The exposed key is inactive or deleted | automatic | verified |", md.Stdout, StringComparison.Ordinal);
        var htmlFile = Path.Combine(_dir, "report.html");
        Assert.Equal(0, (await Keywarden(["cases", "report", "KW-1", "--format", "html", "-o", htmlFile, "--db", db])).Code);
        FileModes.AssertOwnerOnly(htmlFile);
        var html = await File.ReadAllTextAsync(htmlFile);
        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.Ordinal);
        Assert.DoesNotContain("http://", html.Replace(commit, "", StringComparison.Ordinal).Replace("https://", "", StringComparison.Ordinal), StringComparison.Ordinal);
        var show = await Keywarden(["cases", "show", "KW-1", "--db", db, "-f", "json"]);
        Assert.Equal("resolved", show.Json.GetProperty("state").GetString());

        // The secret is nowhere: not in the database, not in any output, not in the email.
        var stored = await DatabaseContentAsync(db);
        Assert.Contains(_leaked.Id, stored, StringComparison.Ordinal);
        foreach (var text in new[] { stored, respond.All, approve.All, verify.All, list.All, resolve.All, md.All, html, show.All, mail })
        {
            Assert.DoesNotContain(_leaked.Secret, text, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task A_worker_killed_mid_step_is_resumed_by_the_next_without_repeating_anything(string provider)
    {
        var db = await DatabaseAsync(provider);
        var config = Config(extra: "[policy]\ndeactivate = \"never\"\n");
        var report = await Keywarden(["respond", _leaked.Id, "--no-work", "--source", "scan", "--db", db, "--config", config]);
        Assert.True(report.Code == 0, report.All);

        // The SMTP server hangs (SIGSTOP): the worker contains the key, then blocks sending the email.
        smtp.Signal("STOP");
        using var first = StartWorker(db, config);
        try
        {
            await WaitForAsync(db, c => c.State == CaseStates.Contained && c.Jobs.Any(j => j.Kind == JobKinds.Notify && j.State == JobStates.Running), TimeSpan.FromSeconds(60), first);
        }
        finally
        {
            first.Kill(entireProcessTree: true);
            await first.WaitForExitAsync();
            smtp.Signal("CONT");
        }

        Assert.Empty(smtp.Messages());
        using var second = StartWorker(db, config);
        await second.WaitForExitAsync();
        Assert.True(second.ExitCode == 0, await second.StandardError.ReadToEndAsync());

        var store = await Store(db);
        await using var context = store.CreateContext();
        var record = await CaseService.LoadAsync(context, 1, CancellationToken.None);
        Assert.Equal(CaseStates.AwaitingRemediation, record.State);
        Assert.Equal("sent", Assert.Single(record.Notifications).State);
        Assert.Single(smtp.Messages());
        var containment = await context.Containments.Include(c => c.Actions).SingleAsync();
        Assert.Single(containment.Actions, a => a.Kind == "attach-policy");
        Assert.Single(await Attached("app"), p => p == QuarantineV3);
        Assert.All(record.Jobs, j => Assert.NotEqual(JobStates.Running, j.State));
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task A_worker_killed_while_its_quarantine_call_is_unanswered_is_completed_by_the_next(string provider)
    {
        // AWS receives the attach, but its answer is held back: the worker is killed waiting for it.
        using var proxy = new DroppingProxy(moto.Endpoint) { GoDownBeforeAnswerOf = "AttachUserPolicy", Hold = true };
        var db = await DatabaseAsync(provider);
        var config = Config(extra: "[policy]\ndeactivate = \"never\"\n");
        Assert.Equal(0, (await Keywarden(["respond", _leaked.Id, "--no-work", "--db", db, "--config", config])).Code);
        using (var first = StartWorker(db, config, proxy.Endpoint))
        {
            try
            {
                var store = await Store(db);
                var deadline = DateTime.UtcNow.AddSeconds(60);
                while (true)
                {
                    await using var context = store.CreateContext();
                    if (await context.ContainmentActions.AnyAsync(a => a.Kind == "attach-policy" && a.Status == ActionStatuses.Started) && proxy.Down)
                    {
                        break;
                    }

                    Assert.True(DateTime.UtcNow < deadline && !first.HasExited, "the worker never sent the attach");
                    await Task.Delay(50);
                }
            }
            finally
            {
                first.Kill(entireProcessTree: true);
                await first.WaitForExitAsync();
            }
        }

        Assert.Contains(QuarantineV3, await Attached("app")); // done by AWS, unknown to the dead worker
        proxy.Hold = false;
        proxy.Down = false;
        proxy.GoDownBeforeAnswerOf = null;
        using var second = StartWorker(db, config, proxy.Endpoint);
        await second.WaitForExitAsync();
        Assert.True(second.ExitCode == 0, await second.StandardError.ReadToEndAsync());

        var reopened = await Store(db);
        await using var db2 = reopened.CreateContext();
        var record = await CaseService.LoadAsync(db2, 1, CancellationToken.None);
        Assert.Equal(CaseStates.AwaitingRemediation, record.State);
        var attach = Assert.Single(await db2.ContainmentActions.Where(a => a.Kind == "attach-policy").ToListAsync());
        Assert.Equal((ActionStatuses.Done, "detached"), (attach.Status, attach.Before));
        Assert.Single(smtp.Messages());
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Fifty_concurrent_reports_of_one_key_make_one_case_with_fifty_occurrences(string provider)
    {
        var store = await Store(await DatabaseAsync(provider));
        var cases = new CaseService(store, new SecretVault(), TimeProvider.System);
        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => Task.Run(() =>
            cases.ReportAsync(new ExposureReport(_leaked.Id, SourceKinds.Scan, DateTimeOffset.UtcNow) { Url = $"https://example.com/leak/{i}" }, CancellationToken.None))));
        Assert.Single(results.Select(r => r.Case.Id).Distinct());
        Assert.Equal(49, results.Count(r => r.Joined));
        await using var db = store.CreateContext();
        var record = await db.Cases.Include(c => c.Occurrences).Include(c => c.Jobs).SingleAsync();
        Assert.Equal(50, record.Occurrences.Count);
        Assert.Equal(50, record.Occurrences.Select(o => o.Url).Distinct().Count());
        Assert.Single(record.Jobs); // one verify step, not fifty
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task An_unreachable_smtp_server_is_retried_then_recorded_as_failed_and_the_key_stays_contained(string provider)
    {
        var db = await DatabaseAsync(provider);
        var config = Config(smtpPort: Ports.Free()); // nothing listens there
        var respond = await Keywarden(["respond", _leaked.Id, "--secret-stdin", "--db", db, "--config", config, "-f", "json"], _leaked.Secret);
        Assert.True(respond.Code == 0, respond.All);
        var report = respond.Json;
        Assert.Equal("awaiting-remediation", report.GetProperty("state").GetString());
        var notification = Assert.Single(report.GetProperty("notifications").EnumerateArray());
        Assert.Equal("failed", notification.GetProperty("state").GetString());
        Assert.Equal(3, notification.GetProperty("attempts").GetInt32());
        Assert.Contains(report.GetProperty("events").EnumerateArray(), e => e.GetProperty("summary").GetString()!.StartsWith("email to owner@example.com failed after 3 attempts", StringComparison.Ordinal));
        Assert.Contains(QuarantineV3, await Attached("app"));
        Assert.Empty(smtp.Messages());
    }

    [Fact]
    public async Task An_unresolved_case_is_followed_up_and_escalated_until_resolved()
    {
        var ci = moto.CreateUserWithKey("ci", "arn:aws:iam::aws:policy/ReadOnlyAccess", _admin);
        var db = await DatabaseAsync("sqlite");
        var config = Config(extra: "[policy]\nfollow_up_seconds = 1\nescalate_after = 1\ndeactivate = \"never\"\n");
        var respond = await Keywarden(["respond", ci.Id, "--db", db, "--config", config, "-f", "json"]);
        Assert.True(respond.Code == 0, respond.All);
        Assert.Equal("high", respond.Json.GetProperty("severity").GetString());
        Assert.True(smtp.Messages().Count == 1, respond.Stdout);

        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var work = await Keywarden(["cases", "work", "--wait", "0", "--db", db, "--config", config]);
        Assert.True(work.Code == 0, work.All);
        var show = (await Keywarden(["cases", "show", "KW-1", "--db", db, "-f", "json"])).Json;
        Assert.Equal("critical", show.GetProperty("severity").GetString());
        Assert.Equal(1, show.GetProperty("followUps").GetInt32());
        Assert.Contains(show.GetProperty("events").EnumerateArray(), e => e.GetProperty("summary").GetString() == "escalated from high to critical: unresolved after 1 follow-ups");
        var reminder = MimeKit.MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(smtp.Messages()[1])));
        Assert.StartsWith("[Keywarden KW-1] Reminder 1: critical: exposed AWS access key", reminder.Subject, StringComparison.Ordinal);

        // Once resolved, the next follow-up sends nothing.
        Assert.Equal(0, (await Keywarden(["cases", "resolve", "KW-1", "--force", "--note", "rotated", "--db", db])).Code);
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.Equal(0, (await Keywarden(["cases", "work", "--wait", "0", "--db", db, "--config", config])).Code);
        Assert.Equal(2, smtp.Messages().Count);
    }

    [Fact]
    public async Task With_a_trail_configured_the_case_is_investigated_and_the_findings_feed_the_checklist()
    {
        var trail = Directory.CreateDirectory(Path.Combine(_dir, "trail")).FullName;
        object Record(string id, string source, string name, object parameters, string? error = null) => new Dictionary<string, object?>
        {
            ["eventVersion"] = "1.08",
            ["userIdentity"] = new Dictionary<string, object?> { ["type"] = "IAMUser", ["principalId"] = "AIDAEXAMPLE", ["arn"] = "arn:aws:iam::123456789012:user/app", ["accountId"] = "123456789012", ["accessKeyId"] = _leaked.Id, ["userName"] = "app" },
            ["eventTime"] = _exposedAt.AddMinutes(-30 + id.Length).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'"),
            ["eventSource"] = source,
            ["eventName"] = name,
            ["awsRegion"] = "us-east-1",
            ["sourceIPAddress"] = "203.0.113.7",
            ["userAgent"] = "aws-cli/2.15.0",
            ["errorCode"] = error,
            ["requestParameters"] = parameters,
            ["responseElements"] = null,
            ["eventID"] = id,
            ["readOnly"] = false,
            ["eventType"] = "AwsApiCall",
            ["recipientAccountId"] = "123456789012",
        };
        var records = new[]
        {
            Record("e1", "iam.amazonaws.com", "CreateUser", new Dictionary<string, object> { ["userName"] = "backdoor" }),
            Record("e22", "cloudtrail.amazonaws.com", "StopLogging", new Dictionary<string, object> { ["name"] = "org-trail" }, error: "AccessDenied"),
        };
        await File.WriteAllTextAsync(Path.Combine(trail, "123456789012_CloudTrail_us-east-1_20261123T0000Z_x.json"), JsonSerializer.Serialize(new { Records = records }));

        var db = await DatabaseAsync("sqlite");
        var config = Config(extra: $"[investigate]\ntrail = \"{trail}\"\n");
        var respond = await Keywarden(["respond", _leaked.Id, "--detected-at", _exposedAt.ToString("O"), "--db", db, "--config", config, "-f", "json"]);
        Assert.True(respond.Code == 0, respond.All);
        var report = respond.Json;
        Assert.True(report.GetProperty("state").GetString() == "awaiting-remediation", respond.Stdout);
        var events = report.GetProperty("events").EnumerateArray().Select(e => (Kind: e.GetProperty("kind").GetString(), Summary: e.GetProperty("summary").GetString()!)).ToList();
        Assert.Contains(events, e => e.Kind == "state" && e.Summary.StartsWith("investigating: reading CloudTrail", StringComparison.Ordinal));
        Assert.Contains(events, e => e.Kind == "investigation" && e.Summary.StartsWith("2 events of 1 key(s)", StringComparison.Ordinal));
        Assert.Contains(events, e => e.Kind == "detection" && e.Summary.Contains("StopLogging", StringComparison.Ordinal) && e.Summary.Contains("(AccessDenied)", StringComparison.Ordinal));
        Assert.Contains(events, e => e.Kind == "eradication" && e.Summary.Contains("backdoor", StringComparison.Ordinal));
        var attacker = report.GetProperty("checklist").EnumerateArray().Single(i => i.GetProperty("key").GetString() == "attacker-resources-removed");
        Assert.Contains("backdoor", attacker.GetProperty("evidence").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_mispaired_secret_does_not_stop_containment_of_the_key()
    {
        var db = await DatabaseAsync("sqlite");
        var wrong = (_leaked.Secret[0] == 'x' ? "y" : "x") + _leaked.Secret[1..];
        var respond = await Keywarden(["respond", _leaked.Id, "--secret-stdin", "--db", db, "--config", Config(), "-f", "json"], wrong);
        Assert.True(respond.Code == 0, respond.All);
        Assert.Equal("invalid", respond.Json.GetProperty("verification").GetString());
        Assert.Equal("awaiting-remediation", respond.Json.GetProperty("state").GetString());
        Assert.Contains(QuarantineV3, await Attached("app"));
        Assert.DoesNotContain(wrong, respond.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_of_another_account_is_not_ours_and_nothing_is_touched()
    {
        var db = await DatabaseAsync("sqlite");
        var foreign = global::Keywarden.Detection.Credentials.SyntheticCredentials.KeyId(new Random(3), "AKIA", "333333333333");
        var respond = await Keywarden(["respond", foreign, "--db", db, "--config", Config(), "-f", "json"]);
        Assert.True(respond.Code == 0, respond.All);
        Assert.Equal("not-ours", respond.Json.GetProperty("state").GetString());
        Assert.Empty(smtp.Messages());

        // Closed: a new report of it opens a new case rather than joining.
        var again = await Keywarden(["respond", foreign, "--no-work", "--db", db, "-f", "json"]);
        Assert.Equal("KW-2", again.Json.GetProperty("id").GetString());
    }

    [Fact]
    public async Task Usage_errors_exit_2()
    {
        var db = Path.Combine(_dir, "usage.db");
        Assert.Equal(2, (await Keywarden(["respond", "not-a-key", "--db", db])).Code);
        Assert.Equal(2, (await Keywarden(["respond", _leaked.Id, "--source", "carrier-pigeon", "--db", db])).Code);
        Assert.Equal(2, (await Keywarden(["cases", "show", "KW-99", "--db", db])).Code);
        Assert.Equal(2, (await Keywarden(["cases", "show", "nonsense", "--db", db])).Code);
        Assert.Equal(2, (await Keywarden(["cases", "report", "1", "--format", "pdf", "--db", db])).Code);
    }

    private Process StartWorker(string db, string config, string? endpoint = null)
    {
        var start = new ProcessStartInfo("dotnet", [KeywardenDll, "cases", "work", "--db", db, "--config", config, "--wait", "30", .. endpoint is null ? Array.Empty<string>() : ["--endpoint-url", endpoint]])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["AWS_ACCESS_KEY_ID"] = _responder.Id;
        start.Environment["AWS_SECRET_ACCESS_KEY"] = _responder.Secret;
        return Process.Start(start)!;
    }

    /// <summary>
    /// The keywarden command as its own project built it (linux-x64, native SQLite beside it), in the
    /// configuration these tests were built in: the copy in this test folder is laid out for the test host.
    /// </summary>
    private static string KeywardenDll
    {
        get
        {
            var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
            var path = Path.Combine(global::Keywarden.Tests.Shared.TestPaths.RepoRoot(), "src", "Keywarden.Cli", "bin", configuration, "net10.0", "linux-x64", "keywarden.dll");
            Assert.True(File.Exists(path), $"{path} is missing: build the solution first");
            return path;
        }
    }

    private static async Task WaitForAsync(string db, Func<CaseRecord, bool> condition, TimeSpan timeout, Process worker)
    {
        var store = await Store(db);
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            await using var context = store.CreateContext();
            if (await context.Cases.AnyAsync() && condition(await CaseService.LoadAsync(context, 1, CancellationToken.None)))
            {
                return;
            }

            if (worker.HasExited)
            {
                throw new InvalidOperationException($"the worker exited ({worker.ExitCode}): {await worker.StandardError.ReadToEndAsync()} {await worker.StandardOutput.ReadToEndAsync()}");
            }

            await Task.Delay(100);
        }

        await using var last = store.CreateContext();
        var record = await CaseService.LoadAsync(last, 1, CancellationToken.None);
        throw new TimeoutException($"the case did not reach the expected point: {record.State}, jobs {string.Join(", ", record.Jobs.Select(j => $"{j.Kind}={j.State}"))}");
    }
}
