using System.Diagnostics;
using System.Net;
using static Keywarden.Detection.Credentials.SyntheticCredentials;

namespace Keywarden.Cli.Tests;

/// <summary>
/// Keywarden's own AWS access from a named profile: IAM Identity Center (SSO) profiles and the profile's
/// region. Each run is a process with a home, config and credentials file of its own: the AWS SDK reads
/// them through the environment and keeps what it read for the life of a process.
/// </summary>
public sealed class AwsProfileTests : IDisposable
{
    private readonly Random _random = new(29);
    private readonly TempTree _tree = new();

    [Fact]
    public async Task An_sso_profile_without_a_cached_token_says_to_run_aws_sso_login()
    {
        var aws = AwsFiles("""
            [profile responder]
            sso_session = corp
            sso_account_id = 123456789012
            sso_role_name = Responder
            region = eu-west-1

            [sso-session corp]
            sso_start_url = http://127.0.0.1:9/start
            sso_region = eu-west-1
            sso_registration_scopes = sso:account:access
            """);
        var run = await RunProcessAsync(aws, "investigate", KeyId(_random), "--trail", "lookup", "--profile", "responder", "--endpoint-url", "http://127.0.0.1:9");
        Assert.Equal(2, run.ExitCode);
        Assert.Equal("keywarden: error: AWS profile 'responder' signs in through IAM Identity Center (SSO) and has no valid cached token: run `aws sso login --profile responder`\n", run.Stderr);
    }

    [Theory]
    [InlineData(null, "eu-west-1")]
    [InlineData("ap-south-1", "ap-south-1")]
    public async Task A_profiles_region_signs_the_calls_when_no_region_is_given(string? region, string signed)
    {
        var aws = AwsFiles($"""
            [profile reader]
            aws_access_key_id = {KeyId(_random)}
            aws_secret_access_key = {SecretAccessKey(_random)}
            region = eu-west-1
            """);
        using var listener = new HttpListener();
        var port = FreePort();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var request = listener.GetContextAsync();
        string[] args = ["account", KeyId(_random), "--profile", "reader", "--endpoint-url", $"http://127.0.0.1:{port}"];
        var run = RunProcessAsync(aws, region is null ? args : [.. args, "--region", region]);
        var context = await request.WaitAsync(TimeSpan.FromSeconds(60));
        var authorization = context.Request.Headers["Authorization"] ?? "";

        // A refusal AWS does not retry: the command ends at once.
        context.Response.StatusCode = 403;
        context.Response.ContentType = "text/xml";
        await context.Response.OutputStream.WriteAsync("<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>no</Message></Error></ErrorResponse>"u8.ToArray());
        context.Response.Close();
        Assert.Equal(0, (await run).ExitCode);
        Assert.Contains($"/{signed}/sts/aws4_request", authorization, StringComparison.Ordinal);
    }

    public void Dispose() => _tree.Dispose();

    private Dictionary<string, string> AwsFiles(string config)
    {
        var home = _tree.Path("home");
        Directory.CreateDirectory(home);
        return new()
        {
            ["HOME"] = home,
            ["XDG_DATA_HOME"] = Path.Combine(home, "data"),
            ["AWS_CONFIG_FILE"] = _tree.Write("aws/config", config),
            ["AWS_SHARED_CREDENTIALS_FILE"] = _tree.Write("aws/credentials", ""),
        };
    }

    private static async Task<CliRun> RunProcessAsync(Dictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "keywarden.dll"), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var name in new[] { "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "KEYWARDEN_DB" })
        {
            start.Environment.Remove(name);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return new CliRun(process.ExitCode, await stdout, await stderr);
    }

    private static int FreePort()
    {
        using var socket = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
