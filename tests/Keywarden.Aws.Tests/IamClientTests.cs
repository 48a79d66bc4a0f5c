using Amazon.Runtime;
using Keywarden.Aws.Connection;
using Keywarden.Aws.Iam;

namespace Keywarden.Aws.Tests;

/// <summary>The hand-written IAM client against moto with IAM enforcement on: the quarantine policy really stops a leaked key.</summary>
[Collection(MotoCollection.Name)]
public sealed class IamClientTests(MotoServer moto) : IAsyncLifetime
{
    private const string Admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    private const string Quarantine = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3";
    private (string Id, string Secret) _leaked;
    private (string Id, string Secret) _responder;

    public async Task InitializeAsync()
    {
        await moto.ResetAsync(unauthenticated: 3);
        _leaked = moto.CreateUserWithKey("app", Admin);
        _responder = moto.CreateUserWithKey("responder", Admin, _leaked);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>The same secret with its first character changed: a different secret, always.</summary>
    private static string Wrong(string secret) => (secret[0] == 'x' ? "y" : "x") + secret[1..];

    private IamClient Client((string Id, string Secret) key) =>
        new(new AwsSettings { EndpointUrl = moto.Endpoint, Region = "us-east-1", MaxRetries = 1 }, new BasicAWSCredentials(key.Id, key.Secret));

    [Fact]
    public async Task Quarantine_policy_denies_the_leaked_key_and_detaching_restores_it()
    {
        using var responder = Client(_responder);
        using var leaked = Client(_leaked);
        await leaked.CreateUserAsync("before-quarantine", CancellationToken.None);
        string[] runInstancesArgs = ["ec2", "run-instances", "--image-id", "ami-12c6146b", "--count", "1", "--instance-type", "t2.micro"];
        moto.Aws(runInstancesArgs, _leaked); // the leaked key can launch instances before quarantine

        var owner = await responder.GetAccessKeyUserAsync(_leaked.Id, CancellationToken.None);
        Assert.Equal("app", owner);
        await responder.AttachUserPolicyAsync(owner!, Quarantine, CancellationToken.None);
        Assert.Contains(Quarantine, await responder.ListAttachedUserPoliciesAsync(owner!, CancellationToken.None));

        var denied = await Assert.ThrowsAsync<IamException>(() => leaked.CreateUserAsync("attacker", CancellationToken.None));
        Assert.True(denied.IsAccessDenied, denied.Code);
        Assert.DoesNotContain(_leaked.Secret, denied.Message, StringComparison.Ordinal);
        var runInstances = Assert.Throws<InvalidOperationException>(() => moto.Aws(runInstancesArgs, _leaked));
        Assert.True(runInstances.Message.Contains("AccessDenied", StringComparison.Ordinal) || runInstances.Message.Contains("UnauthorizedOperation", StringComparison.Ordinal), runInstances.Message);
        moto.Aws(["ec2", "describe-instances"], _leaked); // existing resources stay manageable

        await responder.DetachUserPolicyAsync(owner!, Quarantine, CancellationToken.None);
        await leaked.CreateUserAsync("after-release", CancellationToken.None);
    }

    [Fact]
    public async Task Keys_are_listed_and_deactivated()
    {
        using var responder = Client(_responder);
        await responder.UpdateAccessKeyAsync("app", _leaked.Id, "Inactive", CancellationToken.None);
        var key = Assert.Single(await responder.ListAccessKeysAsync("app", CancellationToken.None));
        Assert.Equal(_leaked.Id, key.AccessKeyId);
        Assert.Equal("Inactive", key.Status);
        Assert.True(key.CreateDate > DateTimeOffset.UtcNow.AddHours(-1));
    }

    [Fact]
    public async Task Unknown_keys_and_users_are_told_apart_from_failures()
    {
        using var responder = Client(_responder);
        Assert.Null(await responder.GetAccessKeyUserAsync("AKIAIOSFODNN7EXAMPLE", CancellationToken.None));
        var missing = await Assert.ThrowsAsync<IamException>(() => responder.ListAccessKeysAsync("nobody", CancellationToken.None));
        Assert.True(missing.IsNoSuchEntity);

        using var wrongSecret = Client((_responder.Id, Wrong(_responder.Secret)));
        var refused = await Assert.ThrowsAsync<IamException>(() => wrongSecret.GetAccountSummaryAsync(CancellationToken.None));
        Assert.Equal("SignatureDoesNotMatch", refused.Code);
        Assert.True((await responder.GetAccountSummaryAsync(CancellationToken.None)).ContainsKey("Users"));
    }

    [Fact]
    public async Task The_responder_policy_is_enough_to_find_the_owner_quarantine_and_release()
    {
        var policy = await File.ReadAllTextAsync(Path.Combine(TestPaths.RepoRoot(), "docs", "responder-policy.json"));
        moto.Aws(["iam", "create-user", "--user-name", "keywarden"], _responder);
        moto.Aws(["iam", "put-user-policy", "--user-name", "keywarden", "--policy-name", "responder", "--policy-document", policy], _responder);
        var key = moto.Aws(["iam", "create-access-key", "--user-name", "keywarden"], _responder).GetProperty("AccessKey");
        using var keywarden = Client((key.GetProperty("AccessKeyId").GetString()!, key.GetProperty("SecretAccessKey").GetString()!));

        var owner = await keywarden.GetAccessKeyUserAsync(_leaked.Id, CancellationToken.None);
        Assert.Equal("app", owner);
        await keywarden.AttachUserPolicyAsync(owner!, Quarantine, CancellationToken.None);
        await keywarden.UpdateAccessKeyAsync(owner!, _leaked.Id, "Inactive", CancellationToken.None);
        Assert.Equal("Inactive", Assert.Single(await keywarden.ListAccessKeysAsync(owner!, CancellationToken.None)).Status);
        await keywarden.UpdateAccessKeyAsync(owner!, _leaked.Id, "Active", CancellationToken.None);
        await keywarden.DetachUserPolicyAsync(owner!, Quarantine, CancellationToken.None);

        // And nothing beyond it: the responder cannot, say, create users.
        var denied = await Assert.ThrowsAsync<IamException>(() => keywarden.CreateUserAsync("not-allowed", CancellationToken.None));
        Assert.True(denied.IsAccessDenied, denied.Code);
    }


    [Fact]
    public async Task Inventory_and_clean_up_operations_work_against_iam()
    {
        using var iam = Client(_responder);
        moto.Aws(["iam", "create-group", "--group-name", "developers"], _responder);
        moto.Aws(["iam", "add-user-to-group", "--user-name", "app", "--group-name", "developers"], _responder);
        moto.Aws(["iam", "create-login-profile", "--user-name", "app", "--password", "Pa55-word-for-tests"], _responder);
        moto.Aws(["iam", "create-role", "--role-name", "deployer", "--assume-role-policy-document", "{\"Version\":\"2012-10-17\",\"Statement\":[]}"], _responder);

        Assert.Equal("arn:aws:iam::123456789012:user/app", await iam.GetUserArnAsync("app", CancellationToken.None));
        Assert.Null(await iam.GetUserArnAsync("nobody", CancellationToken.None));
        Assert.Equal(["app", "responder"], (await iam.ListUsersAsync(CancellationToken.None)).Order(StringComparer.Ordinal));
        Assert.Equal(["developers"], await iam.ListGroupsForUserAsync("app", CancellationToken.None));

        const string Deny = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{\"DateLessThan\":{\"aws:TokenIssueTime\":\"2026-11-22T00:00:00Z\"}}}]}";
        await iam.PutUserPolicyAsync("app", "AWSRevokeOlderSessions", Deny, CancellationToken.None);
        Assert.Equal(["AWSRevokeOlderSessions"], await iam.ListUserPoliciesAsync("app", CancellationToken.None));
        await iam.DeleteUserPolicyAsync("app", "AWSRevokeOlderSessions", CancellationToken.None);
        Assert.Empty(await iam.ListUserPoliciesAsync("app", CancellationToken.None));
        await iam.PutRolePolicyAsync("deployer", "AWSRevokeOlderSessions", Deny, CancellationToken.None);
        await iam.DeleteRolePolicyAsync("deployer", "AWSRevokeOlderSessions", CancellationToken.None);

        Assert.True(await iam.HasLoginProfileAsync("app", CancellationToken.None));
        await iam.DeleteLoginProfileAsync("app", CancellationToken.None);
        Assert.False(await iam.HasLoginProfileAsync("app", CancellationToken.None));

        // The customer-managed fallback: the V3 document, created once in the account.
        var reference = Path.Combine(TestPaths.RepoRoot(), "tests", "Data", "quarantine-policies", "AWSCompromisedKeyQuarantineV3.json");
        using var published = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(reference));
        var document = published.RootElement.GetProperty("Document").GetRawText();
        Assert.True(document.Length > 2048, "too long for an inline user policy, hence a managed one");
        var arn = await iam.CreatePolicyAsync("KeywardenCompromisedKeyQuarantine", document, "/", "Keywarden: copy of AWSCompromisedKeyQuarantineV3", CancellationToken.None);
        Assert.Equal("arn:aws:iam::123456789012:policy/KeywardenCompromisedKeyQuarantine", arn);
        Assert.True(await iam.PolicyExistsAsync(arn, CancellationToken.None));
        Assert.True(await iam.PolicyExistsAsync(Quarantine, CancellationToken.None));
        Assert.False(await iam.PolicyExistsAsync("arn:aws:iam::123456789012:policy/none", CancellationToken.None));

        var second = moto.Aws(["iam", "create-access-key", "--user-name", "app"], _responder).GetProperty("AccessKey").GetProperty("AccessKeyId").GetString()!;
        await iam.DeleteAccessKeyAsync("app", second, CancellationToken.None);
        Assert.Equal([_leaked.Id], (await iam.ListAccessKeysAsync("app", CancellationToken.None)).Select(k => k.AccessKeyId));
    }

    [Fact]
    public void Partitions_give_iam_endpoints_and_managed_policy_arns()
    {
        Assert.Equal("arn:aws-cn:iam::aws:policy/AWSCompromisedKeyQuarantineV3", Partitions.OfRegion("cn-north-1").ManagedPolicyArn("AWSCompromisedKeyQuarantineV3"));
        Assert.Equal("https://iam.us-gov.amazonaws.com/", Partitions.OfRegion("us-gov-west-1").IamEndpoint);
        Assert.Equal("us-east-1", Partitions.OfRegion("eu-west-1").IamSigningRegion);
    }
}
