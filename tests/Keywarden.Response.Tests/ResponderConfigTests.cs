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
    public void Policies_and_notifications_are_read_with_per_account_overrides()
    {
        var config = ResponderConfig.Parse("""
            [policy]
            deactivate = "never"
            follow_up_hours = 12
            escalate_after = 2
            critical_when = ["root"]

            [policy.accounts."444455556666"]
            deactivate = "immediately"
            recipients = ["payments@example.com"]

            [notify.email]
            smtp_host = "smtp.example.com"
            from = "keywarden@example.com"
            to = ["security@example.com"]
            password_env = "SMTP_PASSWORD"

            [notify.webhook]
            urls = ["https://hooks.example.com/x"]
            """, "c.toml");
        Assert.Equal(DeactivateWhen.Never, config.PolicyFor("111122223333").Deactivate);
        Assert.Equal(TimeSpan.FromHours(12), config.PolicyFor(null).FollowUpInterval);
        var payments = config.PolicyFor("444455556666");
        Assert.Equal(DeactivateWhen.Immediately, payments.Deactivate);
        Assert.Equal(2, payments.EscalateAfter); // inherited from [policy]
        Assert.Equal(["root"], payments.CriticalWhen);
        Assert.Equal((587, "starttls"), (config.Email!.Port, config.Email.Security));
        var notifier = new Keywarden.Response.Cases.Notifier(config.Email, config.Webhook);
        Assert.Equal([("email", "security@example.com"), ("email", "payments@example.com"), ("webhook", "https://hooks.example.com/x")], notifier.Recipients(payments));
        Assert.Equal(DeactivateWhen.AfterApproval, ResponderConfig.Parse("", "d.toml").Policy.Deactivate);
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
    [InlineData("[policy]\ndeactivate = \"sometimes\"", "policy.deactivate must be never, immediately or after-approval")]
    [InlineData("[policy]\nnotify = [\"sms\"]", "policy.notify: 'sms' is not one of email, webhook")]
    [InlineData("[policy.accounts.\"1\"]\nverify = true", "an account ID is 12 digits")]
    [InlineData("[notify.email]\nfrom = \"a@b\"", "notify.email needs smtp_host and from")]
    [InlineData("[notify.email]\nsmtp_host = \"h\"\nfrom = \"a@b\"\nsecurity = \"tls1\"", "notify.email.security must be none, starttls or ssl")]
    [InlineData("[notify.webhook]\nurls = [\"ftp://x\"]", "not an http(s) URL")]
    [InlineData("[notify.sms]\n", "unknown table 'notify.sms'")]
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

    [Fact]
    public void A_credentials_file_given_as_the_config_is_named_by_line_and_column_without_its_secret()
    {
        var secret = Keywarden.Detection.Credentials.SyntheticCredentials.SecretAccessKey(new Random(3));

        var message = Assert.Throws<ResponderConfigException>(() => ResponderConfig.Parse($"[default]\naws_secret_access_key = {secret}\n", "credentials")).Message;

        Assert.Equal("config credentials: not valid TOML (line 2, column 25)", message);
    }

    [Fact]
    public void A_webhook_URL_that_is_not_http_is_named_by_position_not_by_value()
    {
        var message = Assert.Throws<ResponderConfigException>(() => ResponderConfig.Parse("[notify.webhook]\nurls = [\"https://ok.example\", \"ftp://hooks.example/T0KEN\"]", "c.toml")).Message;

        Assert.Equal("config c.toml: notify.webhook.urls[1] is not an http(s) URL", message);
    }
}
