using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Keywarden.Detection.Sources;

namespace Keywarden.Investigation.Integrity;

/// <summary>A public key CloudTrail signs digests with, and when it was valid (ListPublicKeys, or a key file).</summary>
public sealed record TrailPublicKey(RSA Key, string Fingerprint, DateTimeOffset? ValidFrom, DateTimeOffset? ValidTo)
{
    /// <summary>CloudTrail's fingerprint: hex MD5 of the DER (PKCS#1) public key.</summary>
    public static string FingerprintOf(RSA key)
    {
        ArgumentNullException.ThrowIfNull(key);
#pragma warning disable CA5351 // MD5 is CloudTrail's key fingerprint (a name, not a security check)
        return Convert.ToHexStringLower(MD5.HashData(key.ExportRSAPublicKey()));
#pragma warning restore CA5351
    }

    /// <summary>A PEM (RSA PUBLIC KEY or PUBLIC KEY) or DER (PKCS#1 or SubjectPublicKeyInfo) file.</summary>
    public static TrailPublicKey FromFile(string path)
    {
        byte[] bytes;
        try
        {
            bytes = BoundedInput.ReadAllBytes(path, DigestValidator.MaxPublicKeyBytes, $"public key {path}");
        }
        catch (InputException e)
        {
            throw new Loading.TrailInputException(e.Message, e);
        }

        var rsa = RSA.Create();
        try
        {
            var text = Encoding.ASCII.GetString(bytes);
            if (text.Contains("-----BEGIN", StringComparison.Ordinal))
            {
                rsa.ImportFromPem(text);
            }
            else
            {
                try
                {
                    rsa.ImportRSAPublicKey(bytes, out _);
                }
                catch (CryptographicException)
                {
                    rsa.ImportSubjectPublicKeyInfo(bytes, out _);
                }
            }
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            rsa.Dispose();
            throw new Loading.TrailInputException($"{path}: not an RSA public key (PEM or DER)", e);
        }

        return new TrailPublicKey(rsa, FingerprintOf(rsa), null, null);
    }
}

/// <summary>What is wrong with one file or link of the chain.</summary>
public sealed record IntegrityProblem(string Kind, string Path, string Detail);

/// <summary>The outcome of validating a trail's digests and log files.</summary>
public sealed record IntegrityReport(
    int Digests, int DigestsValid, int LogFiles, int LogFilesValid,
    IReadOnlyList<IntegrityProblem> Problems, IReadOnlyList<string> Notes)
{
    public bool Clean => Problems.Count == 0;
}

/// <summary>
/// Validates CloudTrail log-file integrity offline, from a folder laid out as the bucket is
/// (AWSLogs/…/CloudTrail-Digest/… and AWSLogs/…/CloudTrail/…). For each digest: its RSA signature
/// (SHA256withRSA) over the documented string — digestEndTime, "bucket/object", hex SHA-256 of the
/// uncompressed digest, the previous digest's signature ("null" for the first) — each log file's SHA-256
/// (of the uncompressed file) against the digest, and the chain (previousDigestS3Object and
/// previousDigestHashValue). A digest's own signature is S3 metadata (x-amz-meta-signature): it is read
/// from a sidecar file DIGEST.signature, or else taken from the next digest's previousDigestSignature.
/// Source: AWS CloudTrail User Guide, "CloudTrail digest file structure" and "Custom implementations of
/// CloudTrail log file integrity validation".
/// </summary>
public static partial class DigestValidator
{
    public const string SignatureSuffix = ".signature";

    /// <summary>A PEM or DER RSA public key is under 4 KiB; 64 KiB leaves room for comments and chains.</summary>
    public const long MaxPublicKeyBytes = 64L << 10;

    /// <summary>A digest lists an hour's log files of one region (a few hundred KB inflated at most); read whole within this, compressed and inflated.</summary>
    public const long MaxDigestBytes = 64L << 20;

    /// <summary>A signature is the hex of one RSA signature (512 characters for RSA-2048).</summary>
    public const long MaxSignatureBytes = 64L << 10;

    private sealed record Digest(string Path, string Key, JsonElement Json, byte[] Inflated, string EndTime, string? Signature, string Chain)
    {
        public string? PreviousObject => Text("previousDigestS3Object");
        public string? PreviousSignature => Text("previousDigestSignature");
        public string? PreviousHash => Text("previousDigestHashValue");
        public string? StartTime => Text("digestStartTime");
        public string? Fingerprint => Text("digestPublicKeyFingerprint");

        public string? Text(string name) => Json.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    }

    public static IntegrityReport Validate(string folder, IReadOnlyList<TrailPublicKey> keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        RequireFolder(folder);
        var problems = new List<IntegrityProblem>();
        var notes = new List<string>();
        var walk = new Loading.TrailFileLog();
        var allFiles = Loading.TrailFileFinder.Walk(folder, walk, cancellationToken).Where(f => !f.EndsWith(SignatureSuffix, StringComparison.Ordinal)).ToList();
        foreach (var unreadable in walk.Unreadable)
        {
            var at = unreadable.IndexOf(": ", StringComparison.Ordinal);
            problems.Add(new IntegrityProblem("unreadable", unreadable[..at], unreadable[(at + 2)..]));
        }

        var byKey = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in allFiles)
        {
            if (KeyOf(file) is { } key)
            {
                byKey[key] = file;
            }
        }

        var digests = new List<Digest>();
        var digestPaths = allFiles.Where(f => f.Contains("/CloudTrail-Digest/", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        foreach (var path in digestPaths)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                var inflated = ReadDigest(path);
                using var doc = JsonDocument.Parse(inflated);
                var json = doc.RootElement.Clone();
                var end = json.GetProperty("digestEndTime").GetString() ?? "";
                var sidecar = path + SignatureSuffix;

                // A sidecar of size 0 (empty, or a FIFO that would wait for a writer) holds no signature.
                var signature = File.Exists(sidecar) && Loading.TrailFileFinder.StatedLength(sidecar) > 0
                    ? BoundedInput.ReadAllText(sidecar, MaxSignatureBytes, $"signature {sidecar}").Trim() : null;
                var chain = ChainOf(KeyOf(path) ?? path);
                digests.Add(new Digest(path, KeyOf(path) ?? path, json, inflated, end, signature, chain));
            }
            catch (InputException e)
            {
                problems.Add(new IntegrityProblem("digest-unreadable", path, e.Reason));
            }
            catch (Exception e) when (e is JsonException or InvalidDataException or KeyNotFoundException or InvalidOperationException or EndOfStreamException)
            {
                problems.Add(new IntegrityProblem("digest-unreadable", path, e.Message.Split('\n')[0]));
            }
        }

        if (digestPaths.Count == 0)
        {
            throw new Loading.TrailInputException($"{folder}: no CloudTrail digest files (AWSLogs/…/CloudTrail-Digest/…); is log file validation enabled on the trail?");
        }

        // A digest's signature, when no sidecar holds it: the next digest of its chain names it.
        var signatureOf = digests.ToDictionary(d => d.Key, d => d.Signature, StringComparer.Ordinal);
        foreach (var d in digests)
        {
            if (d.PreviousObject is { } previous && d.PreviousSignature is { } signature && signatureOf.TryGetValue(Suffix(previous), out var known) && known is null)
            {
                signatureOf[Suffix(previous)] = signature;
            }
        }

        var listed = new HashSet<string>(StringComparer.Ordinal);
        var digestsValid = 0;
        var logFiles = 0;
        var logFilesValid = 0;
        foreach (var chain in digests.GroupBy(d => d.Chain, StringComparer.Ordinal))
        {
            var ordered = chain.OrderBy(d => d.EndTime, StringComparer.Ordinal).ToList();
            for (var i = 0; i < ordered.Count; i++)
            {
                var d = ordered[i];
                var ok = CheckSignature(d, signatureOf[d.Key], keys, problems);
                var previous = i > 0 ? ordered[i - 1] : null;
                if (d.PreviousObject is { } previousObject)
                {
                    if (previous is null || Suffix(previousObject) != previous.Key)
                    {
                        problems.Add(new IntegrityProblem("chain-gap", d.Path, $"the previous digest {previousObject} is missing: logs of that period cannot be validated (was logging stopped or the digest deleted?)"));
                        ok = false;
                    }
                    else if (d.PreviousHash is { } hash && !string.Equals(hash, Convert.ToHexStringLower(SHA256.HashData(previous.Inflated)), StringComparison.OrdinalIgnoreCase))
                    {
                        problems.Add(new IntegrityProblem("chain-broken", d.Path, $"previousDigestHashValue does not match {previous.Key}"));
                        ok = false;
                    }
                }
                else if (previous is not null)
                {
                    // A digest that starts a new chain after an earlier one: logging was stopped and started again.
                    notes.Add($"{d.Key}: starts a new chain after {previous.Key} (logging was stopped and started again between {previous.EndTime} and {d.StartTime})");
                }

                if (previous is not null && d.StartTime is { } start && string.CompareOrdinal(start, previous.EndTime) > 0
                    && DateTimeOffset.TryParse(start, CultureInfo.InvariantCulture, out var s) && DateTimeOffset.TryParse(previous.EndTime, CultureInfo.InvariantCulture, out var e) && s - e > TimeSpan.FromMinutes(5))
                {
                    problems.Add(new IntegrityProblem("time-gap", d.Path, $"no digest covers {previous.EndTime} to {start}"));
                }

                if (ok)
                {
                    digestsValid++;
                }

                foreach (var log in d.Json.TryGetProperty("logFiles", out var files) ? files.EnumerateArray() : default)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    logFiles++;
                    var key = Suffix(log.GetProperty("s3Object").GetString() ?? "");
                    listed.Add(key);
                    if (!byKey.TryGetValue(key, out var path))
                    {
                        problems.Add(new IntegrityProblem("missing", key, $"listed in {d.Key} but not found"));
                        continue;
                    }

                    var expected = log.GetProperty("hashValue").GetString() ?? "";
                    string actual;
                    try
                    {
                        actual = HashOfInflated(path, cancellationToken);
                    }
                    catch (Exception failure) when (failure is IOException or UnauthorizedAccessException or InvalidDataException)
                    {
                        problems.Add(new IntegrityProblem("unreadable", path, BoundedInput.Describe(failure, path)));
                        continue;
                    }

                    if (string.Equals(expected, actual, StringComparison.OrdinalIgnoreCase))
                    {
                        logFilesValid++;
                    }
                    else
                    {
                        problems.Add(new IntegrityProblem("changed", path, $"SHA-256 {actual} differs from {expected} in {d.Key}"));
                    }
                }
            }
        }

        foreach (var (key, path) in byKey.Where(p => p.Key.Contains("/CloudTrail/", StringComparison.Ordinal) && !listed.Contains(p.Key)).OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            problems.Add(new IntegrityProblem("extra", path, "a log file no digest lists (added after delivery, or delivered outside the validated period)"));
        }

        return new IntegrityReport(digests.Count, digestsValid, logFiles, logFilesValid, problems, notes);
    }

    /// <summary>The string CloudTrail signs: digestEndTime, bucket/object, hex SHA-256 of the uncompressed digest, previous signature or "null".</summary>
    public static string SigningString(string digestEndTime, string bucket, string key, byte[] inflatedDigest, string? previousSignature) =>
        $"{digestEndTime}\n{bucket}/{key}\n{Convert.ToHexStringLower(SHA256.HashData(inflatedDigest))}\n{previousSignature ?? "null"}";

    private static bool CheckSignature(Digest d, string? signature, IReadOnlyList<TrailPublicKey> keys, List<IntegrityProblem> problems)
    {
        if (signature is null)
        {
            problems.Add(new IntegrityProblem("signature-unknown", d.Path, $"no {SignatureSuffix} sidecar and no later digest names its signature (x-amz-meta-signature is S3 metadata: download with `keywarden trail validate s3://…`)"));
            return false;
        }

        var fingerprint = d.Fingerprint;
        var candidates = keys.Where(k => fingerprint is null || string.Equals(k.Fingerprint, fingerprint, StringComparison.OrdinalIgnoreCase)).ToList();
        if (candidates.Count == 0)
        {
            problems.Add(new IntegrityProblem("key-unknown", d.Path, $"signed with key {fingerprint}, which is not among the public keys given"));
            return false;
        }

        byte[] bytes;
        try
        {
            bytes = Convert.FromHexString(signature);
        }
        catch (FormatException)
        {
            problems.Add(new IntegrityProblem("signature-invalid", d.Path, "the signature is not hex"));
            return false;
        }

        var data = Encoding.UTF8.GetBytes(SigningString(d.EndTime, d.Text("digestS3Bucket") ?? "", d.Text("digestS3Object") ?? "", d.Inflated, d.PreviousSignature));
        if (candidates.Any(k => k.Key.VerifyData(data, bytes, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)))
        {
            return true;
        }

        problems.Add(new IntegrityProblem("signature-invalid", d.Path, "the RSA signature does not match the digest: it was changed after CloudTrail signed it"));
        return false;
    }

    /// <summary>
    /// The chain a digest belongs to: its account and region folder and its trail (the file name without
    /// the end timestamp): ACCOUNT_CloudTrail-Digest_REGION_TRAIL_REGION_YYYYMMDDTHHmmssZ.json.gz.
    /// </summary>
    internal static string ChainOf(string key)
    {
        var parts = key.Split('/');
        var folder = parts.Length > 4 ? string.Join('/', parts[..^4]) : "";
        return folder + "/" + DigestTimestamp().Replace(parts[^1], "");
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"_[0-9]{8}T[0-9]{4,6}Z(_backfill)?\.json(\.gz)?$", System.Text.RegularExpressions.RegexOptions.CultureInvariant)]
    private static partial System.Text.RegularExpressions.Regex DigestTimestamp();

    /// <summary>A file's object key from AWSLogs/ on (the bucket's optional prefix dropped), or null outside the layout.</summary>
    internal static string? KeyOf(string path)
    {
        var normalized = path.Replace('\\', '/');
        var at = normalized.IndexOf("/AWSLogs/", StringComparison.Ordinal);
        return at < 0 ? null : normalized[(at + 1)..];
    }

    private static string Suffix(string objectKey)
    {
        var at = objectKey.IndexOf("AWSLogs/", StringComparison.Ordinal);
        return at < 0 ? objectKey : objectKey[at..];
    }

    /// <summary>The trail argument must be a folder; a file given instead is said to be one.</summary>
    internal static void RequireFolder(string folder)
    {
        if (File.Exists(folder))
        {
            throw new Loading.TrailInputException($"{folder}: is a file, not a folder laid out as the trail bucket (AWSLogs/...)");
        }

        if (!Directory.Exists(folder))
        {
            throw new Loading.TrailInputException($"{folder}: no such directory");
        }
    }

    /// <summary>A digest, inflated, within <see cref="MaxDigestBytes"/> both compressed and inflated; a file of size 0 (empty, a FIFO or a device) is not opened.</summary>
    private static byte[] ReadDigest(string path)
    {
        if (Loading.TrailFileFinder.StatedLength(path) == 0)
        {
            throw new InputException(path, "empty, or not a regular file (a FIFO or a device)");
        }

        var bytes = BoundedInput.ReadAllBytes(path, MaxDigestBytes, $"digest {path}");
        if (bytes is not [0x1F, 0x8B, ..])
        {
            return bytes;
        }

        using var input = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
        return BoundedInput.ReadAllBytes(input, MaxDigestBytes, $"digest {path} (inflated)");
    }

    /// <summary>The SHA-256 of a log file's uncompressed content, streamed (a log file can be large); a file of size 0 is not opened.</summary>
    private static string HashOfInflated(string path, CancellationToken cancellationToken)
    {
        if (Loading.TrailFileFinder.StatedLength(path) == 0)
        {
            return Convert.ToHexStringLower(SHA256.HashData([]));
        }

        using var file = BoundedInput.Open(path, path);
        Span<byte> head = stackalloc byte[2];
        var gzip = file.ReadAtLeast(head, 2, throwOnEndOfStream: false) == 2 && head is [0x1F, 0x8B];
        file.Position = 0;
        using Stream content = gzip ? new GZipStream(file, CompressionMode.Decompress, leaveOpen: true) : file;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[81920];
        int read;
        while ((read = content.Read(buffer)) > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            hash.AppendData(buffer, 0, read);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
