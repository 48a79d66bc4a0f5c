using Keywarden.Aws.Containment;
using Keywarden.Response.Configuration;

namespace Keywarden.Response.Tests;

public sealed class ResponderConfigTests
{
    [Fact]
    public void Every_key_is_read()
    {
        var config = ResponderConfig.Parse("""
            [aws]
            profile = "security"
            region = "eu-west-1"
            endpoint_url = "http://127.0.0.1:5000"
            timeout_seconds = 5
            max_retries = 3

            [quarantine]
            policy = "V2"
            managed_policy = false

            [storage]
            db = "Host=db;Database=keywarden"

            [accounts."111122223333"]
            name = "security"

            [accounts."444455556666"]
            name = "workloads"
            role_arn = "arn:aws:iam::444455556666:role/KeywardenResponder"
            external_id = "abc"
            """, "config.toml");
        Assert.Equal(("security", "eu-west-1", "http://127.0.0.1:5000"), (config.Profile, config.Region, config.EndpointUrl));
        Assert.Equal((TimeSpan.FromSeconds(5), 3), (config.Timeout!.Value, config.MaxRetries!.Value));
        Assert.Equal(QuarantinePolicies.V2, config.QuarantinePolicy);
        Assert.False(config.UseManagedPolicy);
        Assert.Equal("Host=db;Database=keywarden", config.Database);
        Assert.Equal(2, config.Accounts.Entries.Count);
        Assert.Null(config.Accounts.Find("111122223333")!.RoleArn);
        Assert.Equal(("arn:aws:iam::444455556666:role/KeywardenResponder", "abc"), (config.Accounts.Find("444455556666")!.RoleArn, config.Accounts.Find("444455556666")!.ExternalId));
        Assert.Null(config.Accounts.Find("999999999999"));
    }

    [Fact]
    public void Defaults_are_v3_managed_and_no_directory()
    {
        var config = ResponderConfig.Parse("", "empty.toml");
        Assert.Equal(QuarantinePolicies.V3, config.QuarantinePolicy);
        Assert.True(config.UseManagedPolicy);
        Assert.False(config.Accounts.IsConfigured);
    }

    [Theory]
    [InlineData("[aws]\nregionn = \"x\"", "unknown key 'aws.regionn'")]
    [InlineData("[quarantin]\n", "unknown table 'quarantin'")]
    [InlineData("[quarantine]\npolicy = \"V9\"", "quarantine.policy must be")]
    [InlineData("[quarantine]\nmanaged_policy = \"no\"", "managed_policy must be true or false")]
    [InlineData("[accounts.\"12345\"]\nname = \"x\"", "an account ID is 12 digits")]
    [InlineData("[accounts.\"111122223333\"]\nrole_arn = \"arn:aws:iam::444455556666:role/x\"", "is a role in account 444455556666, not 111122223333")]
    [InlineData("[accounts.\"111122223333\"]\nrole_arn = \"arn:aws:iam::111122223333:user/x\"", "is not a role ARN")]
    [InlineData("[accounts.\"111122223333\"]\nexternal_id = \"x\"", "has external_id but no role_arn")]
    [InlineData("[aws]\ntimeout_seconds = 0", "timeout_seconds must be a whole number from 1 to 300")]
    [InlineData("[aws\n", "config c.toml:")]
    public void Mistakes_are_named(string text, string expected)
    {
        var error = Assert.Throws<ResponderConfigException>(() => ResponderConfig.Parse(text, "c.toml"));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.StartsWith("config c.toml: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_explicit_file_must_exist()
    {
        var error = Assert.Throws<ResponderConfigException>(() => ResponderConfig.Load("/nonexistent/keywarden.toml"));
        Assert.Contains("no such file", error.Message, StringComparison.Ordinal);
    }
}
