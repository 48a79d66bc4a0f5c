using System.Text.Json;
using Amazon.Runtime;
using Keywarden.Aws.Connection;
using Keywarden.Aws.Iam;
using Keywarden.Aws.Tests;
using Keywarden.Storage;
using Microsoft.EntityFrameworkCore;

namespace Keywarden.Response.Tests;

/// <summary>
/// Two `keywarden quarantine` processes for the same key at once, against moto: one executes the plan,
/// the other waits for it (and finds the steps done) or, past its bound, says a containment is in progress.
/// The first holds the key's lock for seconds (KEYWARDEN_STORAGE_TRACE pauses after "lock taken").
/// </summary>
[Collection(PlaybookCollection.Name)]
public sealed class QuarantineLockTests(MotoServer moto) : IAsyncLifetime
{
    private const string Admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    private const string QuarantineV3 = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);

    private readonly string _dir = Directory.CreateTempSubdirectory("keywarden-qlock-").FullName;
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
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    private string[] Quarantine(string db) => ["quarantine", _leaked.Id, "--db", db, "--endpoint-url", moto.Endpoint, "--region", "us-east-1", "-f", "json"];

    private Dictionary<string, string?> Environment(string trace, string timeout) => new()
    {
        ["AWS_ACCESS_KEY_ID"] = _responder.Id,
        ["AWS_SECRET_ACCESS_KEY"] = _responder.Secret,
        ["AWS_PROFILE"] = null,
        ["KEYWARDEN_STORAGE_TRACE"] = trace,
        [StoreLocks.TimeoutVariable] = timeout,
    };

    private async Task<string> MigratedDatabaseAsync()
    {
        // Migrated beforehand: the only storage step the quarantines print is the key's lock.
        var db = Path.Combine(_dir, $"kw-{Guid.NewGuid():N}.db");
        await KeywardenStore.OpenAsync(db, CancellationToken.None);
        return db;
    }

    [Fact]
    public async Task Two_quarantines_of_one_key_at_once_execute_one_plan_and_the_second_waits_for_it()
    {
        var db = await MigratedDatabaseAsync();
        using var first = KeywardenProcess.Start(Quarantine(db), Environment(trace: "8000", timeout: "60"));
        Assert.True(await first.WaitForLineAsync("storage: lock taken", Deadline), first.Stderr);
        using var second = KeywardenProcess.Start(Quarantine(db), Environment(trace: "1", timeout: "60"));
        Assert.True(await second.WaitForLineAsync("storage: lock busy", Deadline), $"the second run did not wait for the first: {second.Stderr}");

        var one = await first.WaitAsync(Deadline);
        var two = await second.WaitAsync(Deadline);
        Assert.True(one.Code == 0, one.Stderr);
        Assert.True(two.Code == 0, two.Stderr);
        Assert.Equal("done", Step(one.Stdout));
        Assert.Equal("unchanged", Step(two.Stdout));

        var store = await KeywardenStore.OpenAsync(db, CancellationToken.None);
        await using var context = store.CreateContext();
        var record = await context.Containments.Include(c => c.Actions).SingleAsync(c => c.KeyId == _leaked.Id);
        Assert.Equal("attach-policy", Assert.Single(record.Actions).Kind);
        using var iam = new IamClient(new AwsSettings { EndpointUrl = moto.Endpoint, Region = "us-east-1", MaxRetries = 0 }, new BasicAWSCredentials(_admin.Id, _admin.Secret));
        Assert.Single(await iam.ListAttachedUserPoliciesAsync("app", CancellationToken.None), p => p == QuarantineV3);
    }

    [Fact]
    public async Task A_quarantine_that_waited_its_bound_says_a_containment_of_the_key_is_in_progress()
    {
        var db = await MigratedDatabaseAsync();
        using var first = KeywardenProcess.Start(Quarantine(db), Environment(trace: "8000", timeout: "60"));
        Assert.True(await first.WaitForLineAsync("storage: lock taken", Deadline), first.Stderr);
        var second = await KeywardenProcess.RunAsync(Quarantine(db), Environment(trace: "0", timeout: "1"), Deadline);
        Assert.Equal(2, second.Code);
        Assert.Equal($"keywarden: error: a containment of {_leaked.Id} is in progress in another process; gave up after 1 s (set KEYWARDEN_DB_LOCK_TIMEOUT to wait longer)\n", second.Stderr);
        Assert.Equal("", second.Stdout);

        var one = await first.WaitAsync(Deadline);
        Assert.True(one.Code == 0, one.Stderr);
        Assert.Equal("done", Step(one.Stdout));
    }

    private static string? Step(string json) =>
        Assert.Single(JsonDocument.Parse(json).RootElement.GetProperty("steps").EnumerateArray()).GetProperty("result").GetString();
}
