using System.Collections.Concurrent;
using System.Text.Json;
using Amazon.Runtime;
using Amazon.S3;
using Keywarden.Aws.CloudTrail;
using Keywarden.Aws.Connection;
using Keywarden.Investigation.Analysis;

namespace Keywarden.Investigation.Loading;

/// <summary>
/// The LookupEvents API: the key's events in every enabled region plus us-east-1 (where global services
/// log), page by page within the per-region rate limit, then the events of every key they minted, and so
/// on. LookupEvents keeps 90 days of management events only: data events (S3 object reads, Lambda
/// invocations) are absent, and so is everyone else's activity, so the IP pivot and the usual-region
/// baseline need a trail (a folder or an S3 bucket).
/// </summary>
public sealed class LookupEventsSource(AwsSettings settings, AWSCredentials? credentials = null, HttpMessageHandler? handler = null) : ITrailSource
{
    public const int RetentionDays = 90;
    private const int RegionParallelism = 4;

    public string Name => "lookup";

    public TimeSpan MinInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan BackoffBase { get; init; } = TimeSpan.FromMilliseconds(500);

    public async Task<IReadOnlyList<TrailFile>> FetchAsync(TrailQuery query, string workFolder, ICollection<string> notes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(notes);
        // Any service's configuration resolves Keywarden's credentials the same way; S3's is at hand.
        var resolved = credentials ?? settings.ResolveCredentials(settings.Configure(new AmazonS3Config()));
        using var client = new CloudTrailClient(settings, resolved, handler) { MinInterval = MinInterval, BackoffBase = BackoffBase };
        var now = DateTimeOffset.UtcNow;
        var end = query.Window.Until ?? now;
        var oldest = now.AddDays(-RetentionDays);
        var start = query.Window.Since ?? oldest;
        if (start < oldest)
        {
            notes.Add($"LookupEvents keeps {RetentionDays} days: events before {oldest:yyyy-MM-dd} need a trail (--trail PATH or s3://)");
            start = oldest;
        }

        IReadOnlyList<string> regions;
        try
        {
            regions = query.Regions.Count > 0 ? query.Regions : await client.DescribeRegionsAsync(cancellationToken);
        }
        catch (CloudTrailException e)
        {
            throw new TrailInputException($"cannot list the enabled regions (ec2:DescribeRegions): {e.Message}; give them with --region", e);
        }

        regions = [.. regions.Append(S3TrailSource.GlobalRegion).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        var folder = Path.Combine(workFolder, "lookup");
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, "events.ndjson");
        var seen = new HashSet<string>(StringComparer.Ordinal) { query.KeyId };
        var pending = new Queue<string>([query.KeyId]);
        long total = 0;
        await using (var output = new StreamWriter(path))
        {
            while (pending.TryDequeue(out var key))
            {
                var records = new ConcurrentBag<string>();
                try
                {
                    await Parallel.ForEachAsync(regions, new ParallelOptions { MaxDegreeOfParallelism = RegionParallelism, CancellationToken = cancellationToken }, async (region, ct) =>
                    {
                        string? token = null;
                        do
                        {
                            var page = await client.LookupEventsAsync(region, key, start, end, token, ct);
                            foreach (var record in page.Records)
                            {
                                records.Add(record);
                            }

                            token = page.NextToken;
                        }
                        while (token is not null);
                    });
                }
                catch (CloudTrailException e)
                {
                    throw new TrailInputException($"LookupEvents failed: {e.Message}", e);
                }

                foreach (var record in records)
                {
                    await output.WriteLineAsync(record.ReplaceLineEndings(" ").AsMemory(), cancellationToken);
                    total++;
                    foreach (var minted in MintedKeys(record))
                    {
                        if (seen.Add(minted))
                        {
                            pending.Enqueue(minted);
                        }
                    }
                }
            }
        }

        notes.Add($"LookupEvents: {total} event(s) of {seen.Count} key(s) in {regions.Count} region(s); management events only (data events such as S3 object reads are absent); other principals are not fetched, so the IP pivot and the usual-region baseline need a trail");
        return total == 0 ? [] : [new TrailFile(path, TrailForm.Lines, Gzip: false)];
    }

    /// <summary>Keys a successful call minted: STS credentials and new access keys (the lineage, followed by more lookups).</summary>
    internal static IEnumerable<string> MintedKeys(string record)
    {
        TrailEvent e;
        try
        {
            using var doc = JsonDocument.Parse(record);
            e = TrailEvent.FromJson(doc.RootElement);
        }
        catch (JsonException)
        {
            yield break;
        }

        if (e.ErrorCode is not null || !TrailStore.MintingEvents.Contains(e.EventName, StringComparer.Ordinal))
        {
            yield break;
        }

        foreach (var path in new[] { "responseElements.credentials.accessKeyId", "responseElements.accessKey.accessKeyId" })
        {
            foreach (var value in Rules.DocumentPath.Select(e.Record, path))
            {
                if (Rules.DocumentPath.AsText(value) is { Length: > 0 } key)
                {
                    yield return key;
                }
            }
        }
    }
}
