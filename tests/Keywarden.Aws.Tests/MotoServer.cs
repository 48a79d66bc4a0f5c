using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Keywarden.Aws.Tests;

/// <summary>
/// A real moto_server (the AWS API emulator) on a free loopback port for the whole test run, with AWS
/// managed policies loaded and IAM enforcement armed after a few unauthenticated set-up calls.
/// Set-up calls go through the aws CLI, as a person would make them.
/// </summary>
public sealed class MotoServer : IAsyncLifetime
{
    private Process? _process;

    public string Endpoint { get; private set; } = "";

    public int ProcessId => _process?.Id ?? 0;

    public async Task InitializeAsync()
    {
        var port = FreePort();
        var start = new ProcessStartInfo("moto_server", ["-H", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true";
        start.Environment["INITIAL_NO_AUTH_ACTION_COUNT"] = "1000000";
        _process = Process.Start(start) ?? throw new InvalidOperationException("moto_server did not start");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        Endpoint = $"http://127.0.0.1:{port}";
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        for (var i = 0; i < 300 && !_process.HasExited; i++)
        {
            try
            {
                await http.GetAsync(Endpoint + "/moto-api/");
                return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                await Task.Delay(100);
            }
        }

        throw new InvalidOperationException("moto_server did not answer within a minute");
    }

    /// <summary>Clears every account's state and allows <paramref name="unauthenticated"/> calls before IAM is enforced.</summary>
    public async Task ResetAsync(int unauthenticated)
    {
        using var http = new HttpClient();
        (await http.PostAsync(Endpoint + "/moto-api/reset", null)).EnsureSuccessStatusCode();
        (await http.PostAsync(Endpoint + "/moto-api/reset-auth", new StringContent(unauthenticated.ToString(System.Globalization.CultureInfo.InvariantCulture)))).EnsureSuccessStatusCode();
    }

    /// <summary>Enforces IAM from the next call on, keeping every account's state (set-up done unauthenticated before it).</summary>
    public async Task ArmAsync()
    {
        using var http = new HttpClient();
        (await http.PostAsync(Endpoint + "/moto-api/reset-auth", new StringContent("0"))).EnsureSuccessStatusCode();
    }

    /// <summary>Runs the aws CLI against moto and returns its JSON output.</summary>
    public JsonElement Aws(string[] args, (string Id, string Secret)? credentials = null)
    {
        var start = new ProcessStartInfo("aws", [.. args, "--endpoint-url", Endpoint, "--output", "json"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["AWS_ACCESS_KEY_ID"] = credentials?.Id ?? "test";
        start.Environment["AWS_SECRET_ACCESS_KEY"] = credentials?.Secret ?? "test";
        start.Environment["AWS_DEFAULT_REGION"] = "us-east-1";
        start.Environment.Remove("AWS_PROFILE");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEnd();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"aws {string.Join(' ', args.Take(2))} failed: {stderr.Trim()}");
        }

        return stdout.Trim().Length == 0 ? default : JsonDocument.Parse(stdout).RootElement.Clone();
    }

    /// <summary>
    /// A user with a policy attached and an access key: (key ID, secret). Made with Keywarden's own IAM
    /// client (three calls, unauthenticated while the reset allows it, else as <paramref name="as_"/>):
    /// much faster than three aws CLI start-ups.
    /// </summary>
    public (string Id, string Secret) CreateUserWithKey(string user, string policyArn, (string Id, string Secret)? as_ = null)
    {
        var (id, secret) = as_ ?? ("test", "test");
        using var iam = new Iam.IamClient(new Connection.AwsSettings { EndpointUrl = Endpoint, Region = "us-east-1" }, new Amazon.Runtime.BasicAWSCredentials(id, secret));
        iam.CreateUserAsync(user, CancellationToken.None).GetAwaiter().GetResult();
        iam.AttachUserPolicyAsync(user, policyArn, CancellationToken.None).GetAwaiter().GetResult();
        var key = iam.CreateAccessKeyAsync(user, CancellationToken.None).GetAwaiter().GetResult();
        return (key.AccessKeyId, key.SecretAccessKey);
    }

    /// <summary>
    /// Keywarden's own principal for a test: user "keywarden" whose only permission is
    /// docs/responder-policy.json (so a permission missing from it fails the test), made as <paramref name="as_"/>.
    /// </summary>
    public (string Id, string Secret) CreateResponder((string Id, string Secret) as_)
    {
        var policy = File.ReadAllText(Path.Combine(global::Keywarden.Tests.Shared.TestPaths.RepoRoot(), "docs", "responder-policy.json"));
        using var iam = new Iam.IamClient(new Connection.AwsSettings { EndpointUrl = Endpoint, Region = "us-east-1" }, new Amazon.Runtime.BasicAWSCredentials(as_.Id, as_.Secret));
        iam.CreateUserAsync("keywarden", CancellationToken.None).GetAwaiter().GetResult();
        iam.PutUserPolicyAsync("keywarden", "responder", policy, CancellationToken.None).GetAwaiter().GetResult();
        var key = iam.CreateAccessKeyAsync("keywarden", CancellationToken.None).GetAwaiter().GetResult();
        return (key.AccessKeyId, key.SecretAccessKey);
    }

    /// <summary>
    /// Makes <paramref name="key"/> the ambient credentials of in-process keywarden runs (the SDK's chain reads
    /// the environment), or clears them. Tests of one collection run one at a time, so this is safe there.
    /// </summary>
    public static void UseAmbientCredentials((string Id, string Secret)? key)
    {
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", key?.Id);
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", key?.Secret);
        Environment.SetEnvironmentVariable("AWS_PROFILE", null);
        Environment.SetEnvironmentVariable("KEYWARDEN_CONFIG", null);
    }

    public void Pause() => Signal("STOP");

    public void Resume() => Signal("CONT");

    private void Signal(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
    }

    public Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            Resume();
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }

        _process?.Dispose();
        return Task.CompletedTask;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

[CollectionDefinition(Name)]
public sealed class MotoCollection : ICollectionFixture<MotoServer>
{
    public const string Name = "moto";
}
