using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Keywarden.Aws.Connection;

namespace Keywarden.Investigation.Loading;

/// <summary>
/// A CloudTrail bucket (AWSSDK.S3): walks the documented layout
/// <c>[prefix/]AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/</c>, lists only the prefixes of the
/// accounts, regions and days asked for, and downloads the log files in parallel into the work folder.
/// Source: AWS CloudTrail User Guide, "Finding your CloudTrail log files" (single-account and organization trails).
/// </summary>
public sealed partial class S3TrailSource : ITrailSource
{
    /// <summary>Global services (IAM, STS, CloudFront...) log in us-east-1: always read it.</summary>
    public const string GlobalRegion = "us-east-1";

    private const int Parallelism = 8;
    private readonly AwsSettings _settings;
    private readonly AWSCredentials? _credentials;
    private readonly string _bucket;
    private readonly string _prefix;

    public S3TrailSource(string uri, AwsSettings settings, AWSCredentials? credentials = null)
    {
        ArgumentNullException.ThrowIfNull(uri);
        _settings = settings;
        _credentials = credentials;
        var rest = uri["s3://".Length..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        _bucket = slash < 0 ? rest : rest[..slash];
        _prefix = slash < 0 ? "" : rest[(slash + 1)..];
        if (_bucket.Length == 0)
        {
            throw new TrailInputException($"{uri}: no bucket name (expected s3://bucket/prefix)");
        }

        if (_prefix.Length > 0 && !_prefix.EndsWith('/'))
        {
            _prefix += "/";
        }

        Name = uri;
    }

    public string Name { get; }

    /// <summary>The prefixes listed and the objects downloaded by the last fetch (tests read them).</summary>
    public IReadOnlyCollection<string> ListedPrefixes => _listed;

    public IReadOnlyCollection<string> DownloadedKeys => _downloaded;

    private readonly ConcurrentBag<string> _listed = [];
    private readonly ConcurrentBag<string> _downloaded = [];
    private readonly List<string> _unreadable = [];

    /// <summary>"path: why" of each downloaded file that could not be read.</summary>
    public IReadOnlyList<string> Unreadable => _unreadable;

    public async Task<IReadOnlyList<TrailFile>> FetchAsync(TrailQuery query, string workFolder, ICollection<string> notes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(notes);
        var config = _settings.Configure(new AmazonS3Config());
        if (_settings.EndpointUrl is not null)
        {
            // An S3-compatible endpoint (moto, MinIO, a VPC endpoint) addresses buckets by path.
            config.ForcePathStyle = true;
        }

        var credentials = _credentials ?? _settings.ResolveCredentials(config);
        using var s3 = new AmazonS3Client(credentials, config);
        try
        {
            var dayPrefixes = await DayPrefixesAsync(s3, query, cancellationToken);
            var keys = new ConcurrentBag<string>();
            await Parallel.ForEachAsync(dayPrefixes, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken }, async (prefix, ct) =>
            {
                foreach (var key in await ListAsync(s3, prefix, delimiter: false, ct))
                {
                    if (IsLogFile(key))
                    {
                        keys.Add(key);
                    }
                }
            });

            var target = Path.Combine(workFolder, "s3");
            await Parallel.ForEachAsync(keys.Order(StringComparer.Ordinal), new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken }, async (key, ct) =>
            {
                var path = Path.Combine(target, SafeRelativePath(key));
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                using var response = await s3.GetObjectAsync(_bucket, key, ct);
                await using (var file = File.Create(path))
                {
                    await response.ResponseStream.CopyToAsync(file, ct);
                }

                _downloaded.Add(key);
            });

            notes.Add($"s3://{_bucket}: {keys.Count} log file(s) downloaded from {dayPrefixes.Count} day prefix(es)");
            if (keys.IsEmpty)
            {
                return [];
            }

            // A downloaded object that cannot be read is named and the others are investigated, as in a local folder.
            var log = new TrailFileLog();
            var files = TrailFileFinder.Find(target, Path.Combine(workFolder, "unzipped"), log, cancellationToken);
            _unreadable.AddRange(log.Unreadable);
            return files;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound || e.ErrorCode == "NoSuchBucket")
        {
            throw new TrailInputException($"s3://{_bucket}: no such bucket", e);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.Forbidden)
        {
            throw new TrailInputException($"s3://{_bucket}/{_prefix}: access denied ({e.ErrorCode}): Keywarden's credentials need s3:ListBucket and s3:GetObject", e);
        }
    }

    /// <summary>
    /// Copies everything under the prefix (log files and digests) into <paramref name="folder"/>, keeping the
    /// object keys as paths, and writes each digest's signature (S3 metadata x-amz-meta-signature) beside
    /// it as DIGEST.signature, for <see cref="Integrity.DigestValidator"/>.
    /// </summary>
    public async Task<int> MirrorAsync(string folder, CancellationToken cancellationToken)
    {
        var config = _settings.Configure(new AmazonS3Config());
        if (_settings.EndpointUrl is not null)
        {
            config.ForcePathStyle = true;
        }

        using var s3 = new AmazonS3Client(_credentials ?? _settings.ResolveCredentials(config), config);
        try
        {
            var keys = (await ListAsync(s3, _prefix, delimiter: false, cancellationToken)).Where(k => k.EndsWith(".json.gz", StringComparison.Ordinal) || k.EndsWith(".json", StringComparison.Ordinal)).ToList();
            await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken }, async (key, ct) =>
            {
                var path = Path.Combine(folder, SafeRelativePath(key));
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                using var response = await s3.GetObjectAsync(_bucket, key, ct);
                await using (var file = File.Create(path))
                {
                    await response.ResponseStream.CopyToAsync(file, ct);
                }

                if (response.Metadata["x-amz-meta-signature"] is { Length: > 0 } signature)
                {
                    await File.WriteAllTextAsync(path + Integrity.DigestValidator.SignatureSuffix, signature, ct);
                }
            });
            return keys.Count;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound || e.ErrorCode == "NoSuchBucket")
        {
            throw new TrailInputException($"s3://{_bucket}: no such bucket", e);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.Forbidden)
        {
            throw new TrailInputException($"s3://{_bucket}/{_prefix}: access denied ({e.ErrorCode}): Keywarden's credentials need s3:ListBucket and s3:GetObject", e);
        }
    }

    /// <summary>The day folders to list: accounts (and organization folders), then regions, then the days of the window.</summary>
    private async Task<List<string>> DayPrefixesAsync(IAmazonS3 s3, TrailQuery query, CancellationToken cancellationToken)
    {
        var marker = _prefix.IndexOf("AWSLogs/", StringComparison.Ordinal);
        var root = marker >= 0 ? _prefix[..(marker + "AWSLogs/".Length)] : _prefix + "AWSLogs/";
        var below = marker >= 0 ? _prefix[(marker + "AWSLogs/".Length)..] : "";

        // A prefix that already names a CloudTrail folder (…/CloudTrail/us-east-1/2025/) is read as given.
        if (below.Contains("CloudTrail/", StringComparison.Ordinal))
        {
            return [_prefix];
        }

        var accountFolders = new List<string>();
        var named = below.TrimEnd('/').Split('/')[^1];
        if (AccountId().IsMatch(named))
        {
            accountFolders.Add(root + below); // the prefix names an account folder
        }
        else
        {
            foreach (var entry in await ListAsync(s3, root + below, delimiter: true, cancellationToken))
            {
                var name = entry[(root.Length + below.Length)..].TrimEnd('/');
                if (AccountId().IsMatch(name))
                {
                    accountFolders.Add(entry);
                }
                else if (OrgId().IsMatch(name))
                {
                    // An organization trail: AWSLogs/o-ORGID/ACCOUNT/CloudTrail/...
                    accountFolders.AddRange((await ListAsync(s3, entry, delimiter: true, cancellationToken)).Where(a => AccountId().IsMatch(a[entry.Length..].TrimEnd('/'))));
                }
            }
        }

        accountFolders = [.. accountFolders.Distinct(StringComparer.Ordinal).Where(a => query.Accounts.Count == 0 || query.Accounts.Contains(a.TrimEnd('/').Split('/')[^1], StringComparer.Ordinal))];
        var days = new List<string>();
        foreach (var account in accountFolders)
        {
            var cloudTrail = account + "CloudTrail/";
            var regions = await ListAsync(s3, cloudTrail, delimiter: true, cancellationToken);
            foreach (var regionFolder in regions)
            {
                var region = regionFolder[cloudTrail.Length..].TrimEnd('/');
                if (query.Regions.Count > 0 && region != GlobalRegion && !query.Regions.Contains(region, StringComparer.Ordinal))
                {
                    continue;
                }

                days.AddRange(await DaysAsync(s3, regionFolder, query.Window, cancellationToken));
            }
        }

        return days;
    }

    /// <summary>
    /// The day folders of a region within the window. CloudTrail names folders by delivery time, a few
    /// minutes after the events: the day after the window's end is read too.
    /// </summary>
    private async Task<IEnumerable<string>> DaysAsync(IAmazonS3 s3, string regionFolder, TimeWindow window, CancellationToken cancellationToken)
    {
        if (window.Since is { } since)
        {
            var last = (window.Until ?? DateTimeOffset.UtcNow).UtcDateTime.Date.AddDays(1);
            var days = new List<string>();
            for (var day = since.UtcDateTime.Date; day <= last; day = day.AddDays(1))
            {
                days.Add(regionFolder + day.ToString("yyyy'/'MM'/'dd'/'", CultureInfo.InvariantCulture));
            }

            return days;
        }

        // No start: walk the year, month and day folders that exist, up to the window's end.
        var found = new List<string>();
        foreach (var year in await ListAsync(s3, regionFolder, delimiter: true, cancellationToken))
        {
            foreach (var month in await ListAsync(s3, year, delimiter: true, cancellationToken))
            {
                foreach (var day in await ListAsync(s3, month, delimiter: true, cancellationToken))
                {
                    var parts = day[regionFolder.Length..].TrimEnd('/').Split('/');
                    if (window.Until is { } until && parts.Length == 3
                        && DateTime.TryParseExact(string.Join('-', parts), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var date)
                        && date > until.UtcDateTime.Date.AddDays(1))
                    {
                        continue;
                    }

                    found.Add(day);
                }
            }
        }

        return found;
    }

    /// <summary>One prefix: the sub-folders (delimiter) or every object key, following continuation tokens.</summary>
    private async Task<List<string>> ListAsync(IAmazonS3 s3, string prefix, bool delimiter, CancellationToken cancellationToken)
    {
        _listed.Add(prefix);
        var result = new List<string>();
        var request = new ListObjectsV2Request { BucketName = _bucket, Prefix = prefix, Delimiter = delimiter ? "/" : null };
        do
        {
            var response = await s3.ListObjectsV2Async(request, cancellationToken);
            if (delimiter)
            {
                result.AddRange(response.CommonPrefixes ?? []);
            }
            else
            {
                result.AddRange((response.S3Objects ?? []).Select(o => o.Key));
            }

            request.ContinuationToken = response.NextContinuationToken;
            if (response.IsTruncated != true)
            {
                break;
            }
        }
        while (request.ContinuationToken is not null);

        return result;
    }

    private static bool IsLogFile(string key) =>
        !TrailFileFinder.IsDigestPath(key) && (key.EndsWith(".json.gz", StringComparison.Ordinal) || key.EndsWith(".json", StringComparison.Ordinal));

    /// <summary>An object key as a path under the work folder, without '..' or a leading '/'.</summary>
    internal static string SafeRelativePath(string key) =>
        Path.Combine([.. key.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(p => p is "." or ".." ? "_" : p)]);

    [GeneratedRegex("^[0-9]{12}$", RegexOptions.CultureInvariant)]
    private static partial Regex AccountId();

    [GeneratedRegex("^o-[a-z0-9]{10,32}$", RegexOptions.CultureInvariant)]
    private static partial Regex OrgId();
}
