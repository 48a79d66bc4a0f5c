using System.Text.Json;
using Keywarden.Aws.Containment;

namespace Keywarden.Response.Tests;

public sealed class PrincipalTests
{
    [Theory]
    [InlineData("arn:aws:iam::111122223333:user/alice", PrincipalKind.User, "alice", "arn:aws:iam::111122223333:user/alice")]
    [InlineData("arn:aws:iam::111122223333:user/division/team/bob", PrincipalKind.User, "bob", "arn:aws:iam::111122223333:user/division/team/bob")]
    [InlineData("arn:aws:iam::111122223333:root", PrincipalKind.Root, "root", "arn:aws:iam::111122223333:root")]
    [InlineData("arn:aws:sts::111122223333:assumed-role/deployer/session-1", PrincipalKind.Role, "deployer", "arn:aws:iam::111122223333:role/deployer")]
    [InlineData("arn:aws-cn:iam::111122223333:role/path/ci", PrincipalKind.Role, "ci", "arn:aws-cn:iam::111122223333:role/path/ci")]
    [InlineData("arn:aws-us-gov:sts::111122223333:federated-user/carol", PrincipalKind.FederatedUser, "carol", "arn:aws-us-gov:sts::111122223333:federated-user/carol")]
    public void Arns_name_their_principal(string arn, PrincipalKind kind, string name, string resolved)
    {
        var owner = KeyOwner.FromArn(arn)!;
        Assert.Equal((kind, name, "111122223333", resolved), (owner.Kind, owner.Name, owner.AccountId, owner.Arn));
        Assert.Equal(arn.Split(':')[1], owner.Partition);
    }

    [Theory]
    [InlineData("arn:aws:s3:::bucket")]
    [InlineData("arn:aws:iam::1111:user/x")]
    [InlineData("arn:aws:iam::111122223333:group/admins")]
    [InlineData("arn:aws:iam::111122223333:user/")]
    [InlineData("not an arn")]
    public void Anything_else_is_not_a_principal(string arn) => Assert.Null(KeyOwner.FromArn(arn));

    [Fact]
    public void The_embedded_quarantine_documents_are_the_published_ones()
    {
        foreach (var name in QuarantinePolicies.Names)
        {
            var reference = Path.Combine(Keywarden.Tests.Shared.TestPaths.RepoRoot(), "tests", "Data", "quarantine-policies", name + ".json");
            using var published = JsonDocument.Parse(File.ReadAllText(reference));
            var document = published.RootElement.TryGetProperty("Document", out var d) ? d : published.RootElement.GetProperty("PolicyVersion").GetProperty("Document");
            using var embedded = JsonDocument.Parse(QuarantinePolicies.Document(name));
            Assert.True(JsonElement.DeepEquals(document, embedded.RootElement), name);
            Assert.True(QuarantinePolicies.Document(name).Length > 2048, "too long for an inline user policy");
        }
    }

    [Fact]
    public void Revoking_sessions_denies_everything_issued_before_the_time()
    {
        using var document = JsonDocument.Parse(QuarantinePolicies.RevokeOlderSessions(new DateTimeOffset(2026, 11, 23, 1, 2, 3, TimeSpan.FromHours(2))));
        var statement = Assert.Single(document.RootElement.GetProperty("Statement").EnumerateArray());
        Assert.Equal("Deny", statement.GetProperty("Effect").GetString());
        Assert.Equal("*", statement.GetProperty("Action")[0].GetString());
        Assert.Equal("2026-11-22T23:02:03Z", statement.GetProperty("Condition").GetProperty("DateLessThan").GetProperty("aws:TokenIssueTime").GetString());
    }

    [Fact]
    public void Root_steps_name_the_assume_root_task_policy()
    {
        var steps = string.Join('\n', ContainmentPlanner.RootSteps("111122223333", "AKIAIOSFODNN7EXAMPLE"));
        Assert.Contains("--target-principal 111122223333", steps, StringComparison.Ordinal);
        Assert.Contains("arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials", steps, StringComparison.Ordinal);
        Assert.Contains("delete-access-key --access-key-id AKIAIOSFODNN7EXAMPLE", steps, StringComparison.Ordinal);
    }
}
