using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Keywarden.Investigation.Tests;

/// <summary>Who makes a call: an IAM user's long-term key, or a temporary key of a session.</summary>
internal sealed record Caller(string KeyId, string Account, string Arn, string Type, string PrincipalId, string? UserName, string? IssuerArn = null)
{
    public static Caller User(string keyId, string account, string userName) =>
        new(keyId, account, $"arn:aws:iam::{account}:user/{userName}", "IAMUser", "AIDA" + Stable(userName), userName);

    public static Caller Session(string keyId, string account, string sessionArn, string type, string? issuerArn) =>
        new(keyId, account, sessionArn, type, "AROA" + Stable(sessionArn), null, issuerArn);

    private static string Stable(string s) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(s)))[..16];
}

/// <summary>
/// Writes CloudTrail records in the real format (eventVersion 1.08 fields, userIdentity with
/// sessionContext for temporary keys, requestParameters/responseElements as the services record them)
/// and the files CloudTrail and SIEM exports hold them in.
/// </summary>
internal sealed class TrailRecords
{
    private readonly List<JsonObject> _records = [];
    private readonly Random _random;
    private int _sequence;

    /// <summary>IDs come from <paramref name="seed"/>, so the same scenario writes the same records (golden files).</summary>
    public TrailRecords(int seed = 1) => _random = new Random(seed);

    public IReadOnlyList<JsonObject> Records => _records;

    public JsonObject Add(Caller caller, DateTimeOffset time, string service, string eventName, string region, string ip,
        JsonObject? request = null, JsonObject? response = null, string? errorCode = null, string? errorMessage = null, bool readOnly = false,
        string userAgent = "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.debian")
    {
        var identity = new JsonObject
        {
            ["type"] = caller.Type,
            ["principalId"] = caller.PrincipalId,
            ["arn"] = caller.Arn,
            ["accountId"] = caller.Account,
            ["accessKeyId"] = caller.KeyId,
        };
        if (caller.UserName is { } user)
        {
            identity["userName"] = user;
        }

        if (caller.Type != "IAMUser")
        {
            identity["sessionContext"] = new JsonObject
            {
                ["sessionIssuer"] = caller.IssuerArn is null ? new JsonObject() : new JsonObject { ["type"] = "Role", ["arn"] = caller.IssuerArn, ["accountId"] = caller.Account },
                ["attributes"] = new JsonObject { ["creationDate"] = Time(time.AddMinutes(-1)), ["mfaAuthenticated"] = "false" },
            };
        }

        return AddRaw(new JsonObject
        {
            ["eventVersion"] = "1.08",
            ["userIdentity"] = identity,
            ["eventTime"] = Time(time),
            ["eventSource"] = service + ".amazonaws.com",
            ["eventName"] = eventName,
            ["awsRegion"] = region,
            ["sourceIPAddress"] = ip,
            ["userAgent"] = userAgent,
            ["errorCode"] = errorCode,
            ["errorMessage"] = errorMessage,
            ["requestParameters"] = request,
            ["responseElements"] = response,
            ["requestID"] = NextGuid().ToString(),
            ["eventID"] = NextEventId(),
            ["readOnly"] = readOnly,
            ["eventType"] = "AwsApiCall",
            ["managementEvent"] = true,
            ["recipientAccountId"] = caller.Account,
            ["eventCategory"] = "Management",
            ["tlsDetails"] = new JsonObject { ["tlsVersion"] = "TLSv1.3", ["cipherSuite"] = "TLS_AES_128_GCM_SHA256", ["clientProvidedHostHeader"] = $"{service}.{region}.amazonaws.com" },
        });
    }

    public JsonObject AddRaw(JsonObject record)
    {
        // CloudTrail omits errorCode/errorMessage on success rather than writing null.
        foreach (var name in new[] { "errorCode", "errorMessage" })
        {
            if (record[name] is null)
            {
                record.Remove(name);
            }
        }

        _records.Add(record);
        return record;
    }

    public string NextEventId() => $"{NextGuid():D}".Remove(0, 4).Insert(0, (++_sequence).ToString("x4", CultureInfo.InvariantCulture));

    private Guid NextGuid()
    {
        var bytes = new byte[16];
        _random.NextBytes(bytes);
        return new Guid(bytes);
    }

    public static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>CloudTrail's own file: gzipped {"Records":[...]}.</summary>
    public static void WriteCloudTrailFile(string path, IEnumerable<JsonObject> records, bool gzip = true)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var json = new JsonObject { ["Records"] = new JsonArray([.. records.Select(r => r.DeepClone())]) }.ToJsonString();
        Write(path, json, gzip);
    }

    public static void WriteArray(string path, IEnumerable<JsonNode> records, bool gzip = false) =>
        Write(path, new JsonArray([.. records.Select(r => r.DeepClone())]).ToJsonString(new JsonSerializerOptions { WriteIndented = true }), gzip);

    public static void WriteLines(string path, IEnumerable<JsonNode> records, bool gzip = false) =>
        Write(path, string.Join('\n', records.Select(r => r.ToJsonString())) + "\n", gzip);

    public static void WriteZip(string path, IEnumerable<(string Name, JsonObject[] Records)> members)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var (name, records) in members)
        {
            using var stream = zip.CreateEntry(name).Open();
            stream.Write(Encoding.UTF8.GetBytes(new JsonObject { ["Records"] = new JsonArray([.. records.Select(r => r.DeepClone())]) }.ToJsonString()));
        }
    }

    private static void Write(string path, string content, bool gzip)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var file = File.Create(path);
        using Stream stream = gzip ? new GZipStream(file, CompressionLevel.Fastest) : file;
        stream.Write(Encoding.UTF8.GetBytes(content));
    }

    /// <summary>A SIEM pipeline's copy: fields renamed (@timestamp, event_name, source_ip_address, flattened userIdentity keys) and extras added.</summary>
    public static JsonObject AsSiemExport(JsonObject record)
    {
        var identity = record["userIdentity"]!.AsObject();
        var copy = new JsonObject
        {
            ["@timestamp"] = record["eventTime"]!.GetValue<string>(),
            ["event_id"] = record["eventID"]!.GetValue<string>(),
            ["event_name"] = record["eventName"]!.GetValue<string>(),
            ["event_source"] = record["eventSource"]!.GetValue<string>(),
            ["aws_region"] = record["awsRegion"]!.GetValue<string>(),
            ["source_ip_address"] = record["sourceIPAddress"]!.GetValue<string>(),
            ["user_agent"] = record["userAgent"]?.GetValue<string>(),
            ["userIdentity.accessKeyId"] = identity["accessKeyId"]?.GetValue<string>(),
            ["userIdentity.arn"] = identity["arn"]?.GetValue<string>(),
            ["userIdentity.type"] = identity["type"]?.GetValue<string>(),
            ["userIdentity.accountId"] = identity["accountId"]?.GetValue<string>(),
            ["recipient_account_id"] = record["recipientAccountId"]?.GetValue<string>(),
            ["request_parameters"] = record["requestParameters"]?.ToJsonString(),
            ["response_elements"] = record["responseElements"]?.DeepClone(),
            ["error_code"] = record["errorCode"]?.GetValue<string>(),
            ["siem"] = new JsonObject { ["index"] = "cloudtrail", ["ingested"] = "2025-01-01T00:00:00Z" },
            ["host"] = "collector-7",
        };
        return copy;
    }
}
