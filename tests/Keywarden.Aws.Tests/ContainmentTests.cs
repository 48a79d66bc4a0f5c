using System.Text.Json;
using Amazon.Runtime;
using Amazon.SecurityToken.Model;
using Keywarden.Aws.Connection;
using Keywarden.Aws.Iam;
using Keywarden.Detection.Credentials;

namespace Keywarden.Aws.Tests;

/// <summary>
/// `keywarden quarantine` and `keywarden release` end to end against moto with IAM enforcement on.
/// Keywarden runs as a user that has only docs/responder-policy.json, so a permission missing from it
/// fails these tests; every outcome is checked through the IAM API, not through Keywarden's own report.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class ContainmentTests(MotoServer moto) : IAsyncLifetime
{
    private const string Admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    private const string QuarantineV3 = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3";
    private const string MemberAccount = "222222222222";

    private readonly string _dir = Directory.CreateTempSubdirectory("keywarden-containment-").FullName;
    private (string Id, string Secret) _leaked;
    private (string Id, string Secret) _admin;
    private (string Id, string Secret) _responder;

    private string Db => Path.Combine(_dir, "keywarden.db");

    public async Task InitializeAsync()
    {
        // Set-up runs unauthenticated; enforcement is armed before Keywarden runs.
        await moto.ResetAsync(unauthenticated: 1000);
        _leaked = moto.CreateUserWithKey("app", Admin);
        _admin = moto.CreateUserWithKey("admin", Admin);
        _responder = moto.CreateResponder(_admin);
        await moto.ArmAsync();
        MotoServer.UseAmbientCredentials(_responder);
    }

    public Task DisposeAsync()
    {
        MotoServer.UseAmbientCredentials(null);
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    private static string ResponderPolicyPath => Path.Combine(TestPaths.RepoRoot(), "docs", "responder-policy.json");

    private IamClient Iam((string Id, string Secret) key, string? sessionToken = null) =>
        new(new AwsSettings { EndpointUrl = moto.Endpoint, Region = "us-east-1", MaxRetries = 0 },
            sessionToken is null ? new BasicAWSCredentials(key.Id, key.Secret) : new SessionAWSCredentials(key.Id, key.Secret, sessionToken));

    private Task<Run> Keywarden(params string[] args) => Tests.Keywarden.RunAsync([.. args, "--db", Db, "--endpoint-url", moto.Endpoint, "--region", "us-east-1"]);

    private async Task<bool> CanCreateUser((string Id, string Secret) key, string name, string? token = null)
    {
        using var iam = Iam(key, token);
        try
        {
            await iam.CreateUserAsync(name, CancellationToken.None);
            return true;
        }
        catch (IamException e) when (e.IsAccessDenied)
        {
            return false;
        }
    }

    private async Task<List<string>> Attached(string user)
    {
        using var iam = Iam(_admin);
        return await iam.ListAttachedUserPoliciesAsync(user, CancellationToken.None);
    }

    private string Config(string body)
    {
        var path = Path.Combine(_dir, $"config-{Guid.NewGuid():N}.toml");
        File.WriteAllText(path, body);
        return path;
    }

    private void AssertNoSecret(params Run[] runs)
    {
        foreach (var run in runs)
        {
            Assert.DoesNotContain(_leaked.Secret, run.All, StringComparison.Ordinal);
            Assert.DoesNotContain(_responder.Secret, run.All, StringComparison.Ordinal);
        }

        if (File.Exists(Db))
        {
            var bytes = File.ReadAllText(Db + (File.Exists(Db + "-wal") ? "-wal" : ""), System.Text.Encoding.Latin1) + File.ReadAllText(Db, System.Text.Encoding.Latin1);
            Assert.DoesNotContain(_leaked.Secret, bytes, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Quarantine_denies_the_leaked_key_and_release_restores_it()
    {
        Assert.True(await CanCreateUser(_leaked, "before"));
        string[] runInstances = ["ec2", "run-instances", "--image-id", "ami-12c6146b", "--count", "1", "--instance-type", "t2.micro"];
        moto.Aws(runInstances, _leaked);

        var quarantine = await Keywarden("quarantine", _leaked.Id, "-f", "json");
        Assert.True(quarantine.Code == 0, quarantine.All);
        var report = quarantine.Json;
        Assert.Equal("contained", report.GetProperty("status").GetString());
        Assert.Equal("critical", report.GetProperty("severity").GetString()); // AdministratorAccess
        Assert.Equal("app", report.GetProperty("owner").GetProperty("name").GetString());
        var attach = Assert.Single(report.GetProperty("steps").EnumerateArray());
        Assert.Equal(("attach-policy", "done", "detached"), (attach.GetProperty("kind").GetString(), attach.GetProperty("result").GetString(), attach.GetProperty("before").GetString()));

        Assert.Contains(QuarantineV3, await Attached("app"));
        Assert.False(await CanCreateUser(_leaked, "attacker"));
        var denied = Assert.Throws<InvalidOperationException>(() => moto.Aws(runInstances, _leaked));
        Assert.True(denied.Message.Contains("AccessDenied", StringComparison.Ordinal) || denied.Message.Contains("UnauthorizedOperation", StringComparison.Ordinal), denied.Message);
        moto.Aws(["ec2", "describe-instances"], _leaked); // existing resources stay manageable

        // Running it again changes nothing and records nothing new.
        var again = await Keywarden("quarantine", _leaked.Id, "-f", "json");
        Assert.Equal(0, again.Code);
        Assert.Equal("unchanged", Assert.Single(again.Json.GetProperty("steps").EnumerateArray()).GetProperty("result").GetString());

        // Release from a new process (a new store and connection): exactly what was done is undone.
        var release = await Keywarden("release", _leaked.Id);
        Assert.True(release.Code == 0, release.All);
        Assert.Contains($"detached {QuarantineV3} from user app", release.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(QuarantineV3, await Attached("app"));
        Assert.True(await CanCreateUser(_leaked, "after-release"));
        Assert.Contains(Admin, await Attached("app"));

        var releasedAgain = await Keywarden("release", _leaked.Id, "-f", "json");
        Assert.Equal(0, releasedAgain.Code);
        Assert.Equal("already-released", releasedAgain.Json.GetProperty("status").GetString());
        AssertNoSecret(quarantine, again, release, releasedAgain);
    }

    [Fact]
    public async Task A_policy_attached_before_keywarden_is_left_in_place_by_release()
    {
        using (var iam = Iam(_admin))
        {
            await iam.AttachUserPolicyAsync("app", QuarantineV3, CancellationToken.None);
        }

        var quarantine = await Keywarden("quarantine", _leaked.Id, "--deactivate", "-f", "json");
        Assert.Equal(0, quarantine.Code);
        var steps = quarantine.Json.GetProperty("steps").EnumerateArray().ToList();
        Assert.Equal("unchanged", steps[0].GetProperty("result").GetString());
        Assert.Equal("done", steps[1].GetProperty("result").GetString());

        Assert.Equal(0, (await Keywarden("release", _leaked.Id)).Code);
        Assert.Contains(QuarantineV3, await Attached("app")); // not ours to remove
        using var admin = Iam(_admin);
        Assert.Equal("Active", Assert.Single(await admin.ListAccessKeysAsync("app", CancellationToken.None)).Status);
    }

    [Fact]
    public async Task Deactivate_revoke_sessions_and_console_access_are_recorded_and_released()
    {
        moto.Aws(["iam", "create-login-profile", "--user-name", "app", "--password", "Correct-Horse-9"], _admin);
        using var admin = Iam(_admin);

        var quarantine = await Keywarden("quarantine", _leaked.Id, "--deactivate", "--revoke-sessions", "--disable-console");
        Assert.True(quarantine.Code == 0, quarantine.All);
        Assert.Contains("contained. Undo with: keywarden release", quarantine.Stdout, StringComparison.Ordinal);
        Assert.Equal("Inactive", Assert.Single(await admin.ListAccessKeysAsync("app", CancellationToken.None)).Status);
        var revoke = await admin.GetUserPolicyAsync("app", "AWSRevokeOlderSessions", CancellationToken.None);
        Assert.NotNull(revoke);
        using (var document = JsonDocument.Parse(revoke))
        {
            var statement = document.RootElement.GetProperty("Statement")[0];
            Assert.Equal("Deny", statement.GetProperty("Effect").GetString());
            var issued = DateTimeOffset.Parse(statement.GetProperty("Condition").GetProperty("DateLessThan").GetProperty("aws:TokenIssueTime").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(issued, DateTimeOffset.UtcNow.AddMinutes(-2), DateTimeOffset.UtcNow.AddMinutes(1));
        }

        Assert.False(await admin.HasLoginProfileAsync("app", CancellationToken.None));

        // A second run does not move the revocation time (that would cut sessions issued since).
        var again = await Keywarden("quarantine", _leaked.Id, "--deactivate", "--revoke-sessions", "--disable-console", "-f", "json");
        Assert.Equal(0, again.Code);
        Assert.All(again.Json.GetProperty("steps").EnumerateArray(), s => Assert.Equal("unchanged", s.GetProperty("result").GetString()));
        Assert.Equal(revoke, await admin.GetUserPolicyAsync("app", "AWSRevokeOlderSessions", CancellationToken.None));

        var release = await Keywarden("release", _leaked.Id);
        Assert.Equal(0, release.Code);
        Assert.Equal("Active", Assert.Single(await admin.ListAccessKeysAsync("app", CancellationToken.None)).Status);
        Assert.Null(await admin.GetUserPolicyAsync("app", "AWSRevokeOlderSessions", CancellationToken.None));
        Assert.DoesNotContain(QuarantineV3, await Attached("app"));
        Assert.Contains("console password of user app was deleted and cannot be restored", release.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dry_run_reads_and_changes_nothing()
    {
        var plan = await Keywarden("quarantine", _leaked.Id, "--deactivate", "--dry-run");
        Assert.True(plan.Code == 0, plan.All);
        Assert.Contains("attach arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3 to user app: planned", plan.Stdout, StringComparison.Ordinal);
        Assert.Contains("dry run: nothing was changed", plan.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(QuarantineV3, await Attached("app"));
        Assert.True(await CanCreateUser(_leaked, "still-works"));
        Assert.Equal(2, (await Keywarden("release", _leaked.Id)).Code); // nothing was recorded
    }

    [Fact]
    public async Task The_customer_managed_copy_is_created_once_per_account_and_denies_too()
    {
        var config = Config("[quarantine]\nmanaged_policy = false\n");
        var first = await Keywarden("quarantine", _leaked.Id, "--config", config, "-f", "json");
        Assert.True(first.Code == 0, first.All);
        var steps = first.Json.GetProperty("steps").EnumerateArray().ToList();
        Assert.Equal(["create-policy", "attach-policy"], steps.Select(s => s.GetProperty("kind").GetString()));
        const string copy = "arn:aws:iam::123456789012:policy/keywarden/KeywardenAWSCompromisedKeyQuarantineV3";
        Assert.Contains(copy, await Attached("app"));
        Assert.False(await CanCreateUser(_leaked, "attacker"));

        var other = moto.CreateUserWithKey("ci", Admin, _admin);
        var second = await Keywarden("quarantine", other.Id, "--config", config, "-f", "json");
        Assert.Equal(0, second.Code);
        Assert.Equal("unchanged", second.Json.GetProperty("steps")[0].GetProperty("result").GetString()); // already created
        Assert.Contains(copy, await Attached("ci"));

        Assert.Equal(0, (await Keywarden("release", _leaked.Id)).Code);
        Assert.True(await CanCreateUser(_leaked, "after"));
        Assert.Contains(copy, await Attached("ci")); // the other key stays quarantined
    }

    [Fact]
    public async Task A_role_session_is_cut_off_with_a_token_issue_time_deny()
    {
        // moto matches trust-policy principals exactly, so the trust names the user rather than the account root.
        const string trust = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/app"},"Action":"sts:AssumeRole"}]}""";
        moto.Aws(["iam", "create-role", "--role-name", "deployer", "--assume-role-policy-document", trust], _admin);
        moto.Aws(["iam", "attach-role-policy", "--role-name", "deployer", "--policy-arn", Admin], _admin);
        var session = await AssumeAsync(_leaked, "arn:aws:iam::123456789012:role/deployer", externalId: null);
        Assert.StartsWith("ASIA", session.AccessKeyId, StringComparison.Ordinal);
        Assert.True(await CanCreateUser((session.AccessKeyId, session.SecretAccessKey), "by-session", session.SessionToken));

        var withoutSecret = await Keywarden("quarantine", session.AccessKeyId);
        Assert.Equal(2, withoutSecret.Code);
        Assert.Contains("temporary (session) key", withoutSecret.Stderr, StringComparison.Ordinal);

        var tokenFile = Path.Combine(_dir, "token");
        await File.WriteAllTextAsync(tokenFile, session.SessionToken);
        var quarantine = await Tests.Keywarden.RunAsync(
            ["quarantine", session.AccessKeyId, "--secret-stdin", "--session-token-file", tokenFile, "-f", "json", "--db", Db, "--endpoint-url", moto.Endpoint],
            stdin: session.SecretAccessKey + "\n");
        Assert.True(quarantine.Code == 0, quarantine.All);
        Assert.Equal("role", quarantine.Json.GetProperty("owner").GetProperty("type").GetString());
        Assert.Equal("deployer", quarantine.Json.GetProperty("owner").GetProperty("name").GetString());
        using var admin = Iam(_admin);
        Assert.NotNull(await admin.GetRolePolicyAsync("deployer", "AWSRevokeOlderSessions", CancellationToken.None));
        Assert.False(await CanCreateUser((session.AccessKeyId, session.SecretAccessKey), "after-revoke", session.SessionToken));
        Assert.DoesNotContain(session.SecretAccessKey, quarantine.All, StringComparison.Ordinal);
        Assert.DoesNotContain(session.SessionToken, quarantine.All, StringComparison.Ordinal);

        var release = await Keywarden("release", session.AccessKeyId);
        Assert.True(release.Code == 0, release.All);
        Assert.Null(await admin.GetRolePolicyAsync("deployer", "AWSRevokeOlderSessions", CancellationToken.None));
    }

    [Fact]
    public async Task A_member_account_is_reached_through_its_responder_role_and_foreign_accounts_are_never_touched()
    {
        // Account 222222222222: a responder role holding only the responder policy, and a leaked admin key.
        await moto.ResetAsync(unauthenticated: 1000);
        _leaked = moto.CreateUserWithKey("app", Admin);
        _admin = moto.CreateUserWithKey("admin", Admin);
        _responder = moto.CreateResponder(_admin);
        MotoServer.UseAmbientCredentials(_responder);
        var setup = await AssumeAsync(("test", "test"), $"arn:aws:iam::{MemberAccount}:role/OrganizationAccountAccessRole", null);
        using var member = Iam((setup.AccessKeyId, setup.SecretAccessKey), setup.SessionToken);
        const string orgTrust = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}""";
        await member.CallAsync("CreateRole", new Dictionary<string, string> { ["RoleName"] = "OrganizationAccountAccessRole", ["AssumeRolePolicyDocument"] = orgTrust }, CancellationToken.None);
        await member.CallAsync("AttachRolePolicy", new Dictionary<string, string> { ["RoleName"] = "OrganizationAccountAccessRole", ["PolicyArn"] = Admin }, CancellationToken.None);
        const string trust = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"kw-ext-1"}}}]}""";
        await member.CallAsync("CreateRole", new Dictionary<string, string> { ["RoleName"] = "KeywardenResponder", ["AssumeRolePolicyDocument"] = trust }, CancellationToken.None);
        await member.PutRolePolicyAsync("KeywardenResponder", "responder", await File.ReadAllTextAsync(ResponderPolicyPath), CancellationToken.None);
        await member.CreateUserAsync("victim", CancellationToken.None);
        await member.AttachUserPolicyAsync("victim", Admin, CancellationToken.None);
        var victim = await member.CreateAccessKeyAsync("victim", CancellationToken.None);
        Assert.Equal(MemberAccount, AccessKeyId.DecodeAccountId(victim.AccessKeyId));
        await moto.ArmAsync();

        var config = Config($"""
            [accounts."123456789012"]
            name = "security"

            [accounts."{MemberAccount}"]
            name = "workloads"
            role_arn = "arn:aws:iam::{MemberAccount}:role/KeywardenResponder"
            external_id = "kw-ext-1"
            """);
        var quarantine = await Keywarden("quarantine", victim.AccessKeyId, "--config", config, "--deactivate", "-f", "json");
        Assert.True(quarantine.Code == 0, quarantine.All);
        Assert.Equal($"role arn:aws:iam::{MemberAccount}:role/KeywardenResponder", quarantine.Json.GetProperty("via").GetString());
        Assert.Contains(QuarantineV3, await member.ListAttachedUserPoliciesAsync("victim", CancellationToken.None));
        Assert.Equal("Inactive", Assert.Single(await member.ListAccessKeysAsync("victim", CancellationToken.None)).Status);

        // The directory's own account still works through the ambient credentials.
        Assert.Equal(0, (await Keywarden("quarantine", _leaked.Id, "--config", config)).Code);
        Assert.Contains(QuarantineV3, await Attached("app"));

        // A key of an account outside the directory: reported, never touched.
        var foreign = SyntheticCredentials.KeyId(new Random(7), "AKIA", "333333333333");
        var refused = await Keywarden("quarantine", foreign, "--config", config);
        Assert.Equal(2, refused.Code);
        Assert.Contains("account 333333333333 is not one of ours (not in the account directory): nothing was done", refused.Stderr, StringComparison.Ordinal);

        // Without a directory, only the ambient account is ours.
        var noDirectory = await Keywarden("quarantine", victim.AccessKeyId);
        Assert.Equal(2, noDirectory.Code);
        Assert.Contains($"account {MemberAccount} is not one of ours", noDirectory.Stderr, StringComparison.Ordinal);

        Assert.Equal(0, (await Keywarden("release", victim.AccessKeyId, "--config", config)).Code);
        Assert.DoesNotContain(QuarantineV3, await member.ListAttachedUserPoliciesAsync("victim", CancellationToken.None));
        Assert.Equal("Active", Assert.Single(await member.ListAccessKeysAsync("victim", CancellationToken.None)).Status);
    }

    [Fact]
    public async Task AWS_going_away_mid_run_is_recorded_and_a_rerun_completes_the_rest()
    {
        using var proxy = new DroppingProxy(moto.Endpoint) { GoDownAfterAction = "AttachUserPolicy" };
        var config = Config("[aws]\ntimeout_seconds = 2\nmax_retries = 1\n");
        string[] args = ["quarantine", _leaked.Id, "--deactivate", "--revoke-sessions", "--config", config, "--db", Db, "--endpoint-url", proxy.Endpoint, "-f", "json"];

        var interrupted = await Tests.Keywarden.RunAsync(args);
        Assert.True(interrupted.Code == 4, interrupted.All);
        Assert.True(proxy.Dropped > 0);
        var steps = interrupted.Json.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("result").GetString()).ToList();
        Assert.Equal(["done", "failed", "not-attempted"], steps);
        Assert.Equal("partial", interrupted.Json.GetProperty("status").GetString());
        Assert.Contains(QuarantineV3, await Attached("app"));
        using var admin = Iam(_admin);
        Assert.Equal("Active", Assert.Single(await admin.ListAccessKeysAsync("app", CancellationToken.None)).Status);

        // Down for the whole run: one clear line, exit 4, nothing else changed.
        var down = await Tests.Keywarden.RunAsync(args);
        Assert.True(down.Code == 4, down.All);
        Assert.Single(down.Stderr.Trim().Split('\n'));
        Assert.Contains("re-run to complete", down.Stderr, StringComparison.Ordinal);

        proxy.Down = false;
        proxy.GoDownAfterAction = null;
        var completed = await Tests.Keywarden.RunAsync(args);
        Assert.True(completed.Code == 0, completed.All);
        Assert.Equal(["unchanged", "done", "done"], completed.Json.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("result").GetString()));
        Assert.Equal("Inactive", Assert.Single(await admin.ListAccessKeysAsync("app", CancellationToken.None)).Status);
        Assert.NotNull(await admin.GetUserPolicyAsync("app", "AWSRevokeOlderSessions", CancellationToken.None));

        // Release undoes all three, including the one completed by the second run.
        Assert.Equal(0, (await Keywarden("release", _leaked.Id)).Code);
        Assert.DoesNotContain(QuarantineV3, await Attached("app"));
        Assert.Equal("Active", Assert.Single(await admin.ListAccessKeysAsync("app", CancellationToken.None)).Status);
        Assert.Null(await admin.GetUserPolicyAsync("app", "AWSRevokeOlderSessions", CancellationToken.None));
    }

    [Fact]
    public async Task An_attach_whose_answer_was_lost_is_found_done_by_the_next_run_and_released()
    {
        using var proxy = new DroppingProxy(moto.Endpoint) { GoDownBeforeAnswerOf = "AttachUserPolicy" };
        var config = Config("[aws]\ntimeout_seconds = 2\nmax_retries = 0\n");
        string[] args = ["quarantine", _leaked.Id, "--config", config, "--db", Db, "--endpoint-url", proxy.Endpoint, "-f", "json"];
        var lost = await Tests.Keywarden.RunAsync(args);
        Assert.True(lost.Code == 4, lost.All);
        Assert.Contains(QuarantineV3, await Attached("app")); // AWS did it; Keywarden never heard back

        proxy.Down = false;
        proxy.GoDownBeforeAnswerOf = null;
        var rerun = await Tests.Keywarden.RunAsync(args);
        Assert.True(rerun.Code == 0, rerun.All);
        Assert.Equal("unchanged", Assert.Single(rerun.Json.GetProperty("steps").EnumerateArray()).GetProperty("result").GetString());

        // Recorded as Keywarden's own action (before: detached), so release undoes it.
        Assert.Equal(0, (await Keywarden("release", _leaked.Id)).Code);
        Assert.DoesNotContain(QuarantineV3, await Attached("app"));
    }

    [Fact]
    public async Task Two_keys_of_one_user_share_the_quarantine_until_both_are_released()
    {
        using var admin = Iam(_admin);
        var second = await admin.CreateAccessKeyAsync("app", CancellationToken.None);
        Assert.Equal(0, (await Keywarden("quarantine", _leaked.Id)).Code);
        var both = await Keywarden("quarantine", second.AccessKeyId, "-f", "json");
        Assert.True(both.Code == 0, both.All);
        Assert.Equal("unchanged", Assert.Single(both.Json.GetProperty("steps").EnumerateArray()).GetProperty("result").GetString());

        var first = await Keywarden("release", _leaked.Id);
        Assert.True(first.Code == 0, first.All);
        Assert.Contains($"the containment of {second.AccessKeyId} still needs it", first.Stdout, StringComparison.Ordinal);
        Assert.Contains(QuarantineV3, await Attached("app")); // the second key is still exposed

        Assert.Equal(0, (await Keywarden("release", second.AccessKeyId)).Code);
        Assert.DoesNotContain(QuarantineV3, await Attached("app"));
    }

    [Fact]
    public async Task A_principal_that_does_not_own_the_key_is_refused()
    {
        var other = await Keywarden("quarantine", _leaked.Id, "--principal", "arn:aws:iam::123456789012:user/admin");
        Assert.Equal(2, other.Code);
        Assert.Contains("user admin does not have the key", other.Stderr, StringComparison.Ordinal);
        var role = await Keywarden("quarantine", _leaked.Id, "--principal", "arn:aws:iam::123456789012:role/deployer");
        Assert.Equal(2, role.Code);
        var account = await Keywarden("quarantine", _leaked.Id, "--principal", "arn:aws:iam::999999999999:user/app");
        Assert.Equal(2, account.Code);
        Assert.DoesNotContain(QuarantineV3, await Attached("admin"));
        Assert.DoesNotContain(QuarantineV3, await Attached("app"));
        Assert.Equal(0, (await Keywarden("quarantine", _leaked.Id, "--principal", "arn:aws:iam::123456789012:user/app")).Code);
    }

    [Fact]
    public async Task A_paused_aws_gives_one_clear_error_and_exit_4()
    {
        var config = Config("[aws]\ntimeout_seconds = 1\nmax_retries = 0\n");
        moto.Pause();
        Run paused;
        try
        {
            paused = await Keywarden("quarantine", _leaked.Id, "--config", config);
        }
        finally
        {
            moto.Resume();
        }

        Assert.Equal(4, paused.Code);
        Assert.Contains("nothing more was done: re-run to complete", paused.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", paused.All, StringComparison.Ordinal);
        Assert.Equal(0, (await Keywarden("quarantine", _leaked.Id, "--config", config)).Code);
        Assert.Contains(QuarantineV3, await Attached("app"));
    }

    [Fact]
    public async Task A_root_key_is_critical_and_only_a_person_can_act()
    {
        var root = await Keywarden("quarantine", _leaked.Id, "--principal", "arn:aws:iam::123456789012:root", "-f", "json");
        Assert.Equal(4, root.Code);
        Assert.Equal("manual", root.Json.GetProperty("status").GetString());
        Assert.Equal("critical", root.Json.GetProperty("severity").GetString());
        var manual = string.Join('\n', root.Json.GetProperty("manualSteps").EnumerateArray().Select(s => s.GetString()));
        Assert.Contains("aws sts assume-root", manual, StringComparison.Ordinal);
        Assert.Contains("root-task/IAMDeleteRootUserCredentials", manual, StringComparison.Ordinal);
        Assert.DoesNotContain(QuarantineV3, await Attached("app"));
    }

    [Fact]
    public async Task Usage_and_configuration_errors_exit_2_with_one_line()
    {
        var badConfig = Config("[quarantine]\npolicyy = \"V3\"\n");
        var badRole = Config("[accounts.\"123456789012\"]\nrole_arn = \"arn:aws:iam::999999999999:role/x\"\n");
        foreach (var args in new[]
        {
            new[] { "quarantine", _leaked.Id, "--config", badConfig },
            ["quarantine", _leaked.Id, "--config", badRole],
            ["quarantine", _leaked.Id, "--config", Path.Combine(_dir, "missing.toml")],
            ["quarantine", "not-a-key"],
            ["quarantine", _leaked.Id, "--principal", "arn:aws:s3:::bucket"],
            ["release", _leaked.Id],
        })
        {
            var run = await Keywarden(args);
            Assert.True(run.Code == 2, $"{string.Join(' ', args)}: {run.All}");
            Assert.Single(run.Stderr.Trim().Split('\n'));
        }
    }

    /// <summary>sts:AssumeRole through the aws CLI, as a person (or an attacker) would call it.</summary>
    private Task<Credentials> AssumeAsync((string Id, string Secret) key, string roleArn, string? externalId)
    {
        string[] args = ["sts", "assume-role", "--role-arn", roleArn, "--role-session-name", "test-session", .. externalId is null ? Array.Empty<string>() : ["--external-id", externalId]];
        var credentials = moto.Aws(args, key).GetProperty("Credentials");
        return Task.FromResult(new Credentials
        {
            AccessKeyId = credentials.GetProperty("AccessKeyId").GetString(),
            SecretAccessKey = credentials.GetProperty("SecretAccessKey").GetString(),
            SessionToken = credentials.GetProperty("SessionToken").GetString(),
        });
    }
}
