using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Keywarden.Investigation.Integrity;

namespace Keywarden.Investigation.Tests;

/// <summary>
/// A small CloudTrail log-file-validation chain signed with a test RSA key: hourly digests in the
/// documented layout and format, each listing its log files' SHA-256 and the previous digest's signature.
/// </summary>
internal sealed class DigestChain : IDisposable
{
    public const string Bucket = "org-trail-bucket";
    public const string Account = "111122223333";
    public const string Region = "us-east-1";

    public DigestChain(string root, int digests = 3, int logsPerDigest = 2, bool sidecarForEveryDigest = false)
    {
        Root = root;
        var start = new DateTimeOffset(2025, 1, 1, 10, 0, 0, TimeSpan.Zero);
        string? previousKey = null, previousSignature = null;
        byte[]? previousInflated = null;
        for (var d = 0; d < digests; d++)
        {
            var begin = start.AddHours(d);
            var end = begin.AddHours(1);
            var logs = new JsonArray();
            for (var l = 0; l < logsPerDigest; l++)
            {
                var time = begin.AddMinutes(10 + (l * 20));
                var key = $"AWSLogs/{Account}/CloudTrail/{Region}/{time:yyyy'/'MM'/'dd}/{Account}_CloudTrail_{Region}_{time.ToString("yyyyMMdd'T'HHmm'Z'", CultureInfo.InvariantCulture)}_{d}{l}abcdefabcdefab.json.gz";
                var content = Encoding.UTF8.GetBytes($"{{\"Records\":[{{\"eventID\":\"{Guid.NewGuid()}\",\"eventTime\":\"{time:yyyy-MM-dd'T'HH:mm:ss'Z'}\",\"eventName\":\"DescribeInstances\"}}]}}");
                WriteGzip(System.IO.Path.Combine(root, key), content);
                LogKeys.Add(key);
                logs.Add(new JsonObject
                {
                    ["s3Bucket"] = Bucket,
                    ["s3Object"] = key,
                    ["hashValue"] = Convert.ToHexStringLower(SHA256.HashData(content)),
                    ["hashAlgorithm"] = "SHA-256",
                    ["newestEventTime"] = Time(time),
                    ["oldestEventTime"] = Time(time),
                });
            }

            var digestKey = $"AWSLogs/{Account}/CloudTrail-Digest/{Region}/{end:yyyy'/'MM'/'dd}/{Account}_CloudTrail-Digest_{Region}_management_{Region}_{end.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}.json.gz";
            var digest = new JsonObject
            {
                ["awsAccountId"] = Account,
                ["digestStartTime"] = Time(begin),
                ["digestEndTime"] = Time(end),
                ["digestS3Bucket"] = Bucket,
                ["digestS3Object"] = digestKey,
                ["digestPublicKeyFingerprint"] = Key.Fingerprint,
                ["digestSignatureAlgorithm"] = "SHA256withRSA",
                ["newestEventTime"] = Time(end.AddMinutes(-5)),
                ["oldestEventTime"] = Time(begin.AddMinutes(5)),
                ["previousDigestS3Bucket"] = previousKey is null ? null : Bucket,
                ["previousDigestS3Object"] = previousKey,
                ["previousDigestHashValue"] = previousInflated is null ? null : Convert.ToHexStringLower(SHA256.HashData(previousInflated)),
                ["previousDigestHashAlgorithm"] = previousInflated is null ? null : "SHA-256",
                ["previousDigestSignature"] = previousSignature,
                ["logFiles"] = logs,
            };
            var inflated = Encoding.UTF8.GetBytes(digest.ToJsonString());
            var signature = Convert.ToHexStringLower(Key.Key.SignData(Encoding.UTF8.GetBytes(DigestValidator.SigningString(Time(end), Bucket, digestKey, inflated, previousSignature)), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
            var path = System.IO.Path.Combine(root, digestKey);
            WriteGzip(path, inflated);
            Signatures[digestKey] = signature;
            if (sidecarForEveryDigest || d == digests - 1)
            {
                File.WriteAllText(path + DigestValidator.SignatureSuffix, signature);
            }

            DigestKeys.Add(digestKey);
            (previousKey, previousSignature, previousInflated) = (digestKey, signature, inflated);
        }
    }

    public string Root { get; }

    public TrailPublicKey Key { get; } = Create();

    public List<string> DigestKeys { get; } = [];

    public List<string> LogKeys { get; } = [];

    public Dictionary<string, string> Signatures { get; } = new(StringComparer.Ordinal);

    public string Path(string key) => System.IO.Path.Combine(Root, key);

    /// <summary>The public key as a PEM file, for --public-key.</summary>
    public string WritePublicKey(string path)
    {
        File.WriteAllText(path, Key.Key.ExportRSAPublicKeyPem());
        return path;
    }

    public static void WriteGzip(string path, byte[] content)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        using var file = File.Create(path);
        using var gzip = new GZipStream(file, CompressionLevel.Fastest);
        gzip.Write(content);
    }

    public static byte[] ReadGzip(string path)
    {
        using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var output = new MemoryStream();
        gzip.CopyTo(output);
        return output.ToArray();
    }

    private static TrailPublicKey Create()
    {
        var rsa = RSA.Create(2048);
        return new TrailPublicKey(rsa, TrailPublicKey.FingerprintOf(rsa), null, null);
    }

    private static string Time(DateTimeOffset t) => t.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public void Dispose() => Key.Key.Dispose();
}
