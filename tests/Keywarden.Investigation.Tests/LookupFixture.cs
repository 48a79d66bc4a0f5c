using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Keywarden.Investigation.Tests;

/// <summary>One request the fixture answered.</summary>
internal sealed record LookupRequest(DateTime At, string Service, string Region, string? Key, string? NextToken, int Status);

/// <summary>
/// A loopback HTTP server standing in for CloudTrail's LookupEvents and EC2's DescribeRegions (moto has
/// neither), answering with recorded responses (Recorded/): AWS's JSON 1.1 error bodies, EC2's XML, and
/// pages of events in LookupEvents' envelope built from the scenario's records. The first call to each
/// region is throttled (HTTP 400 ThrottlingException, as CloudTrail answers), pages hold 10 events, and
/// every request must carry a SigV4 Authorization header scoped to its region.
/// </summary>
internal sealed partial class LookupFixture : IDisposable
{
    private const int PageSize = 10;
    private readonly HttpListener _listener = new();
    private readonly IReadOnlyList<JsonObject> _records;
    private readonly ConcurrentDictionary<string, bool> _throttled = new(StringComparer.Ordinal);
    private readonly string _recorded = Path.Combine(AppContext.BaseDirectory, "Recorded");
    private readonly Task _loop;
    private readonly Integrity.TrailPublicKey? _publicKey;

    public LookupFixture(IReadOnlyList<JsonObject> records, string? deniedKey = null, Integrity.TrailPublicKey? publicKey = null)
    {
        _records = records;
        _publicKey = publicKey;
        DeniedKey = deniedKey;
        var port = FreePort();
        Endpoint = $"http://127.0.0.1:{port}/";
        _listener.Prefixes.Add(Endpoint);
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public string Endpoint { get; }

    public string? DeniedKey { get; }

    public ConcurrentQueue<LookupRequest> Requests { get; } = new();

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            try
            {
                Answer(context);
            }
            finally
            {
                context.Response.Close();
            }
        }
    }

    private void Answer(HttpListenerContext context)
    {
        using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
        var body = reader.ReadToEnd();
        var scope = Scope().Match(context.Request.Headers["Authorization"] ?? "");
        if (!scope.Success)
        {
            Reply(context, 403, "application/x-amz-json-1.1", "{\"__type\":\"MissingAuthenticationTokenException\",\"message\":\"Missing Authentication Token\"}");
            return;
        }

        var (region, service) = (scope.Groups["region"].Value, scope.Groups["service"].Value);
        if (service == "ec2")
        {
            Requests.Enqueue(new LookupRequest(DateTime.UtcNow, service, region, null, null, 200));
            Reply(context, 200, "text/xml", File.ReadAllText(Path.Combine(_recorded, "describe-regions.xml")));
            return;
        }

        if (context.Request.Headers["X-Amz-Target"] == "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.ListPublicKeys" && _publicKey is not null)
        {
            Requests.Enqueue(new LookupRequest(DateTime.UtcNow, "cloudtrail:ListPublicKeys", region, null, null, 200));
            Reply(context, 200, "application/x-amz-json-1.1", File.ReadAllText(Path.Combine(_recorded, "list-public-keys.json"))
                .Replace("{{value}}", Convert.ToBase64String(_publicKey.Key.ExportRSAPublicKey()), StringComparison.Ordinal)
                .Replace("{{fingerprint}}", _publicKey.Fingerprint, StringComparison.Ordinal));
            return;
        }

        if (context.Request.Headers["X-Amz-Target"] != "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents")
        {
            Reply(context, 400, "application/x-amz-json-1.1", "{\"__type\":\"UnknownOperationException\"}");
            return;
        }

        using var request = JsonDocument.Parse(body);
        var key = request.RootElement.GetProperty("LookupAttributes")[0].GetProperty("AttributeValue").GetString();
        var token = request.RootElement.TryGetProperty("NextToken", out var t) ? t.GetString() : null;
        var start = DateTimeOffset.FromUnixTimeSeconds(request.RootElement.GetProperty("StartTime").GetInt64());
        var end = DateTimeOffset.FromUnixTimeSeconds(request.RootElement.GetProperty("EndTime").GetInt64());
        if (_throttled.TryAdd(region, true))
        {
            Requests.Enqueue(new LookupRequest(DateTime.UtcNow, service, region, key, token, 400));
            Reply(context, 400, "application/x-amz-json-1.1", File.ReadAllText(Path.Combine(_recorded, "throttling.json")));
            return;
        }

        if (key == DeniedKey)
        {
            Requests.Enqueue(new LookupRequest(DateTime.UtcNow, service, region, key, token, 400));
            Reply(context, 400, "application/x-amz-json-1.1", File.ReadAllText(Path.Combine(_recorded, "access-denied.json")));
            return;
        }

        Requests.Enqueue(new LookupRequest(DateTime.UtcNow, service, region, key, token, 200));
        var matching = _records
            .Where(r => r["userIdentity"]?["accessKeyId"]?.GetValue<string>() == key && r["awsRegion"]!.GetValue<string>() == region)
            .Select(r => (Record: r, Time: DateTimeOffset.Parse(r["eventTime"]!.GetValue<string>(), CultureInfo.InvariantCulture)))
            .Where(r => r.Time >= start && r.Time <= end)
            .OrderByDescending(r => r.Time) // LookupEvents answers newest first
            .ToList();
        var offset = token is null ? 0 : int.Parse(token, CultureInfo.InvariantCulture);
        var envelope = File.ReadAllText(Path.Combine(_recorded, "lookup-event-envelope.json")).Trim();
        var events = matching.Skip(offset).Take(PageSize).Select(m => envelope
            .Replace("{{eventId}}", m.Record["eventID"]!.GetValue<string>(), StringComparison.Ordinal)
            .Replace("{{eventName}}", m.Record["eventName"]!.GetValue<string>(), StringComparison.Ordinal)
            .Replace("{{readOnly}}", (m.Record["readOnly"]?.GetValue<bool>() ?? false) ? "true" : "false", StringComparison.Ordinal)
            .Replace("{{accessKeyId}}", key, StringComparison.Ordinal)
            .Replace("{{eventTime}}", m.Time.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{{eventSource}}", m.Record["eventSource"]!.GetValue<string>(), StringComparison.Ordinal)
            .Replace("{{username}}", m.Record["userIdentity"]?["userName"]?.GetValue<string>() ?? "", StringComparison.Ordinal)
            .Replace("{{cloudTrailEvent}}", JsonSerializer.Serialize(m.Record.ToJsonString()), StringComparison.Ordinal));
        var next = offset + PageSize < matching.Count ? $",\"NextToken\":\"{(offset + PageSize).ToString(CultureInfo.InvariantCulture)}\"" : "";
        Reply(context, 200, "application/x-amz-json-1.1", $"{{\"Events\":[{string.Join(",", events)}]{next}}}");
    }

    private static void Reply(HttpListenerContext context, int status, string contentType, string body)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        context.Response.ContentLength64 = bytes.Length;
        context.Response.OutputStream.Write(bytes);
    }

    [GeneratedRegex(@"^AWS4-HMAC-SHA256 Credential=[^/]+/[0-9]{8}/(?<region>[a-z0-9-]+)/(?<service>[a-z0-9]+)/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$", RegexOptions.CultureInvariant)]
    private static partial Regex Scope();

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}
