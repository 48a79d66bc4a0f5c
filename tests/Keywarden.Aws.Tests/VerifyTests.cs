using System.Text;
using Keywarden.Aws.Connection;
using Keywarden.Aws.Sts;
using Keywarden.Cli;

namespace Keywarden.Aws.Tests;

[Collection(MotoCollection.Name)]
public sealed class VerifyTests(MotoServer moto) : IAsyncLifetime
{
    private const string Admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    private (string Id, string Secret) _key;

    public async Task InitializeAsync()
    {
        await moto.ResetAsync(unauthenticated: 3);
        _key = moto.CreateUserWithKey("dev", Admin); // three unauthenticated calls, then IAM is enforced
    }

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>The same secret with its first character changed: a different secret, always.</summary>
    private static string Wrong(string secret) => (secret[0] == 'x' ? "y" : "x") + secret[1..];

    private AwsSettings Settings => new() { EndpointUrl = moto.Endpoint, Region = "us-east-1", Timeout = TimeSpan.FromSeconds(2), MaxRetries = 0 };

    [Fact]
    public async Task A_working_pair_is_active_with_its_account_and_arn()
    {
        var result = await new KeyVerifier(Settings).VerifyAsync(_key.Id, _key.Secret, null, CancellationToken.None);
        Assert.Equal(VerificationStatus.Active, result.Status);
        Assert.Equal("123456789012", result.Account);
        Assert.Equal("arn:aws:iam::123456789012:user/dev", result.Arn);
    }

    [Fact]
    public async Task A_wrong_secret_and_an_unknown_key_are_invalid()
    {
        var wrong = await new KeyVerifier(Settings).VerifyAsync(_key.Id, Wrong(_key.Secret), null, CancellationToken.None);
        Assert.Equal(VerificationStatus.Invalid, wrong.Status);
        Assert.Equal("SignatureDoesNotMatch", wrong.Reason);

        var unknown = await new KeyVerifier(Settings).VerifyAsync("AKIAIOSFODNN7EXAMPLE", _key.Secret, null, CancellationToken.None);
        Assert.Equal(VerificationStatus.Invalid, unknown.Status);
        Assert.Equal("InvalidClientTokenId", unknown.Reason);
    }

    [Fact]
    public async Task An_unreachable_endpoint_is_unknown()
    {
        var result = await new KeyVerifier(Settings with { EndpointUrl = "http://127.0.0.1:9" }).VerifyAsync(_key.Id, _key.Secret, null, CancellationToken.None);
        Assert.Equal(VerificationStatus.Unknown, result.Status);
    }

    [Fact]
    public async Task A_paused_aws_is_unknown_and_a_rerun_after_it_resumes_is_active()
    {
        moto.Pause();
        KeyVerification paused;
        try
        {
            paused = await new KeyVerifier(Settings).VerifyAsync(_key.Id, _key.Secret, null, CancellationToken.None);
        }
        finally
        {
            moto.Resume();
        }

        Assert.Equal(VerificationStatus.Unknown, paused.Status);
        Assert.Equal(VerificationStatus.Active, (await new KeyVerifier(Settings).VerifyAsync(_key.Id, _key.Secret, null, CancellationToken.None)).Status);
    }

    [Fact]
    public async Task Account_lookup_uses_keywardens_own_credentials()
    {
        var responder = moto.CreateUserWithKey("responder", Admin, _key);
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", responder.Id);
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", responder.Secret);
        try
        {
            Assert.Equal("123456789012", await new AccountLookup(Settings).GetAccessKeyAccountAsync(_key.Id, CancellationToken.None));
        }
        finally
        {
            Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", null);
            Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", null);
        }
    }

    [Fact]
    public async Task Verify_command_exit_codes_and_the_secret_never_printed()
    {
        var secretFile = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(secretFile, _key.Secret + "\n");
            var active = await RunAsync(["verify", _key.Id, "--secret-file", secretFile, "--endpoint-url", moto.Endpoint, "-f", "json"]);
            Assert.Equal(0, active.Code);
            Assert.Contains("\"status\":\"active\"", active.Stdout, StringComparison.Ordinal);

            var invalid = await RunAsync(["verify", _key.Id, "--secret-stdin", "--endpoint-url", moto.Endpoint], stdin: Wrong(_key.Secret));
            Assert.Equal(1, invalid.Code);

            var unknown = await RunAsync(["verify", _key.Id, "--secret-file", secretFile, "--endpoint-url", "http://127.0.0.1:9"]);
            Assert.Equal(3, unknown.Code);

            var both = await RunAsync(["verify", _key.Id, "--secret-file", secretFile, "--secret-stdin"]);
            Assert.Equal(2, both.Code);
            var neither = await RunAsync(["verify", _key.Id]);
            Assert.Equal(2, neither.Code);
            var malformed = await RunAsync(["verify", "not-a-key", "--secret-file", secretFile]);
            Assert.Equal(2, malformed.Code);

            foreach (var run in new[] { active, invalid, unknown, both, neither, malformed })
            {
                Assert.DoesNotContain(_key.Secret, run.Stdout + run.Stderr, StringComparison.Ordinal);
            }
        }
        finally
        {
            File.Delete(secretFile);
        }
    }

    [Fact]
    public async Task Canary_keys_are_never_verified()
    {
        var canary = Detection.Credentials.SyntheticCredentials.KeyId(new Random(1), "AKIA", "595918472158");
        var run = await RunAsync(["verify", canary, "--secret-stdin", "--endpoint-url", moto.Endpoint], stdin: _key.Secret);
        Assert.Equal(2, run.Code);
        Assert.Contains("canary-token account 595918472158", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Account_command_decodes_offline_and_asks_aws()
    {
        var offline = await RunAsync(["account", _key.Id, "--offline", "-f", "json"]);
        Assert.Equal(0, offline.Code);
        Assert.Contains("\"decodedAccountId\":\"123456789012\"", offline.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"awsAccountId\":null", offline.Stdout, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string[] args, string? stdin = null)
    {
        var stdout = new MemoryStream();
        var stderr = new StringWriter();
        var console = new CliConsole(() => new MemoryStream(Encoding.UTF8.GetBytes(stdin ?? "")), stdout, stderr, false, false);
        var code = await KeywardenApp.RunAsync(args, console, CancellationToken.None);
        return (code, Encoding.UTF8.GetString(stdout.ToArray()), stderr.ToString());
    }
}
