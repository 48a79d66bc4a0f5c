using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Xml.Linq;
using Amazon.Runtime;
using Keywarden.Aws.Connection;

namespace Keywarden.Aws.CloudTrail;

/// <summary>An error CloudTrail (or EC2) answered, with its code; the message never carries a credential.</summary>
public sealed class CloudTrailException : Exception
{
    public CloudTrailException() { }
    public CloudTrailException(string message) : base(message) { }
    public CloudTrailException(string message, Exception inner) : base(message, inner) { }
    public CloudTrailException(string code, string message, HttpStatusCode status) : base($"{code}: {message}") => (Code, Status) = (code, status);

    public string Code { get; } = "";
    public HttpStatusCode Status { get; }
}

/// <summary>One page of LookupEvents: each event's full CloudTrail record (the CloudTrailEvent string) and the token of the next page.</summary>
public sealed record LookupPage(IReadOnlyList<string> Records, string? NextToken);

/// <summary>
/// CloudTrail's LookupEvents (JSON 1.1, X-Amz-Target com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents)
/// and EC2's DescribeRegions (Query), signed with SigV4. LookupEvents allows about 2 requests per second per
/// account and region, answers throttling as HTTP 400 ThrottlingException, returns 50 events per page and
/// keeps 90 days of management events. Sources: AWS CloudTrail API Reference, "LookupEvents"; AWS CloudTrail
/// User Guide, "Quotas in AWS CloudTrail".
/// </summary>
public sealed class CloudTrailClient : IDisposable
{
    public const string LookupTarget = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";
    public const string ListPublicKeysTarget = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.ListPublicKeys";

    private readonly AwsSettings _settings;
    private readonly AWSCredentials _credentials;
    private readonly HttpClient _http;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DateTime> _lastCall = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, SemaphoreSlim> _gates = new(StringComparer.Ordinal);

    public CloudTrailClient(AwsSettings settings, AWSCredentials credentials, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _settings = settings;
        _credentials = credentials;
        // Pacing is the last step before the wire, so the interval holds between the moments requests leave.
        _http = new HttpClient(new PacingHandler(this, handler ?? new HttpClientHandler())) { Timeout = settings.Timeout };
    }

    /// <summary>The least time between two calls to one region (LookupEvents' quota is 2 per second).</summary>
    public TimeSpan MinInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Retries of a throttled call, with exponential backoff from <see cref="BackoffBase"/>.</summary>
    public int ThrottleRetries { get; init; } = 6;

    public TimeSpan BackoffBase { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Events of one access key in one region and window, one page.</summary>
    public async Task<LookupPage> LookupEventsAsync(string region, string accessKeyId, DateTimeOffset start, DateTimeOffset end, string? nextToken, CancellationToken cancellationToken)
    {
        var body = new Dictionary<string, object?>
        {
            ["LookupAttributes"] = new[] { new Dictionary<string, string> { ["AttributeKey"] = "AccessKeyId", ["AttributeValue"] = accessKeyId } },
            ["StartTime"] = start.ToUnixTimeSeconds(),
            ["EndTime"] = end.ToUnixTimeSeconds(),
            ["MaxResults"] = 50,
        };
        if (nextToken is not null)
        {
            body["NextToken"] = nextToken;
        }

        var answer = await SendAsync(region, "cloudtrail", JsonSerializer.Serialize(body), LookupTarget, cancellationToken);
        var records = new List<string>();
        using var doc = JsonDocument.Parse(answer);
        if (doc.RootElement.TryGetProperty("Events", out var events) && events.ValueKind == JsonValueKind.Array)
        {
            foreach (var e in events.EnumerateArray())
            {
                if (e.TryGetProperty("CloudTrailEvent", out var record) && record.ValueKind == JsonValueKind.String)
                {
                    records.Add(record.GetString()!);
                }
            }
        }

        var token = doc.RootElement.TryGetProperty("NextToken", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        return new LookupPage(records, string.IsNullOrEmpty(token) ? null : token);
    }

    /// <summary>The regions enabled for the account (ec2:DescribeRegions).</summary>
    public async Task<IReadOnlyList<string>> DescribeRegionsAsync(CancellationToken cancellationToken)
    {
        var answer = await SendAsync(_settings.ResolvedRegion, "ec2", "Action=DescribeRegions&Version=2016-11-15", target: null, cancellationToken);
        var xml = XDocument.Parse(answer);
        return [.. xml.Descendants().Where(e => e.Name.LocalName == "regionName").Select(e => e.Value).Distinct(StringComparer.Ordinal)];
    }

    /// <summary>
    /// The public keys CloudTrail signed a region's digest files with between two times (ListPublicKeys):
    /// the DER (PKCS#1) key, its fingerprint and validity.
    /// </summary>
    public async Task<IReadOnlyList<(byte[] Der, string Fingerprint, DateTimeOffset? From, DateTimeOffset? To)>> ListPublicKeysAsync(string region, DateTimeOffset start, DateTimeOffset end, CancellationToken cancellationToken)
    {
        var keys = new List<(byte[], string, DateTimeOffset?, DateTimeOffset?)>();
        string? token = null;
        do
        {
            var body = new Dictionary<string, object?> { ["StartTime"] = start.ToUnixTimeSeconds(), ["EndTime"] = end.ToUnixTimeSeconds() };
            if (token is not null)
            {
                body["NextToken"] = token;
            }

            using var doc = JsonDocument.Parse(await SendAsync(region, "cloudtrail", JsonSerializer.Serialize(body), ListPublicKeysTarget, cancellationToken));
            foreach (var key in doc.RootElement.TryGetProperty("PublicKeyList", out var list) ? list.EnumerateArray() : default)
            {
                static DateTimeOffset? Time(JsonElement e, string name) =>
                    e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? DateTimeOffset.FromUnixTimeMilliseconds((long)(v.GetDouble() * 1000)) : null;
                keys.Add((Convert.FromBase64String(key.GetProperty("Value").GetString() ?? ""), key.GetProperty("Fingerprint").GetString() ?? "", Time(key, "ValidityStartTime"), Time(key, "ValidityEndTime")));
            }

            token = doc.RootElement.TryGetProperty("NextToken", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        }
        while (!string.IsNullOrEmpty(token));

        return keys;
    }

    private async Task<string> SendAsync(string region, string service, string body, string? target, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var endpoint = new Uri(_settings.EndpointUrl ?? $"https://{service}.{region}.amazonaws.com/");
            var credentials = await _credentials.GetCredentialsAsync();
            using var request = target is not null
                ? JsonProtocolSigner.Sign(endpoint, region, service, target, body, credentials, DateTime.UtcNow)
                : Connection.QuerySigner.Sign(endpoint, region, service, body, credentials, DateTime.UtcNow);
            request.Options.Set(RegionOption, region);
            using var response = await _http.SendAsync(request, cancellationToken);
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                return text;
            }

            var (code, message) = ParseError(text, response);
            var throttled = code is "ThrottlingException" or "Throttling" or "RequestLimitExceeded" or "TooManyRequestsException" || response.StatusCode == HttpStatusCode.TooManyRequests;
            if (throttled && attempt < ThrottleRetries)
            {
                // Exponential backoff with jitter (AWS Architecture Blog, "Exponential Backoff And Jitter").
                var delay = BackoffBase * Math.Pow(2, attempt) * (0.5 + (Random.Shared.NextDouble() / 2));
                await Task.Delay(delay, cancellationToken);
                continue;
            }

            throw new CloudTrailException(code, $"{service}.{region}: {message}", response.StatusCode);
        }
    }

    private static readonly HttpRequestOptionsKey<string> RegionOption = new("keywarden.region");

    private sealed class PacingHandler(CloudTrailClient client, HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Options.TryGetValue(RegionOption, out var region))
            {
                await client.PaceAsync(region, cancellationToken);
            }

            return await base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>Waits until <see cref="MinInterval"/> has passed since the last request left for the region.</summary>
    private async Task PaceAsync(string region, CancellationToken cancellationToken)
    {
        var gate = _gates.GetOrAdd(region, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        try
        {
            var due = (_lastCall.TryGetValue(region, out var last) ? last : DateTime.MinValue) + MinInterval;
            for (var now = DateTime.UtcNow; now < due; now = DateTime.UtcNow)
            {
                await Task.Delay(due - now, cancellationToken);
            }

            _lastCall[region] = DateTime.UtcNow;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>JSON 1.1 errors: {"__type":"…#Code","message":…}; Query errors: XML Code and Message.</summary>
    private static (string Code, string Message) ParseError(string body, HttpResponseMessage response)
    {
        var headerType = response.Headers.TryGetValues("x-amzn-ErrorType", out var values) ? values.FirstOrDefault()?.Split(':')[0] : null;
        try
        {
            if (body.TrimStart().StartsWith('{'))
            {
                using var doc = JsonDocument.Parse(body);
                var type = doc.RootElement.TryGetProperty("__type", out var t) ? t.GetString() : headerType;
                var message = doc.RootElement.TryGetProperty("message", out var m) || doc.RootElement.TryGetProperty("Message", out m) ? m.GetString() : null;
                return ((type ?? "").Split('#')[^1], message ?? ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture));
            }

            if (body.TrimStart().StartsWith('<'))
            {
                var xml = XDocument.Parse(body);
                var code = xml.Descendants().FirstOrDefault(e => e.Name.LocalName == "Code")?.Value;
                var message = xml.Descendants().FirstOrDefault(e => e.Name.LocalName == "Message")?.Value;
                return (code ?? "", message ?? "");
            }
        }
        catch (Exception e) when (e is JsonException or System.Xml.XmlException)
        {
        }

        return (headerType ?? $"HTTP{(int)response.StatusCode}", $"HTTP {(int)response.StatusCode}");
    }

    public void Dispose()
    {
        _http.Dispose();
        foreach (var gate in _gates.Values)
        {
            gate.Dispose();
        }
    }
}
