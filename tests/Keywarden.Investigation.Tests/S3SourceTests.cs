using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Keywarden.Aws.Connection;
using Keywarden.Aws.Tests;
using Keywarden.Investigation.Analysis;
using Keywarden.Investigation.Loading;

namespace Keywarden.Investigation.Tests;

/// <summary>The S3 source against moto's S3: the AWSLogs layout, organization trails, and only the prefixes asked for.</summary>
[Collection(MotoCollection.Name)]
public sealed class S3SourceTests(MotoServer moto) : IDisposable
{
    private static readonly BasicAWSCredentials Credentials = new("test", "test");
    private readonly TempTree _tree = new();
    private readonly AttackScenario _scenario = new();

    private AmazonS3Client Client() => new(Credentials, new AmazonS3Config { ServiceURL = moto.Endpoint, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });

    private AwsSettings Settings => new() { EndpointUrl = moto.Endpoint, Region = "us-east-1" };

    /// <summary>Uploads the scenario's AWSLogs tree under <paramref name="prefix"/>, and another account's file and a digest beside it.</summary>
    private async Task<string> UploadAsync(string bucket, string prefix, bool organization = false)
    {
        _scenario.WriteFolder(_tree.Root);
        using var s3 = Client();
        await s3.PutBucketAsync(bucket);
        var logs = _tree.Path("AWSLogs");
        foreach (var file in Directory.EnumerateFiles(logs, "*", SearchOption.AllDirectories))
        {
            var key = prefix + "AWSLogs/" + Path.GetRelativePath(logs, file).Replace('\\', '/');
            if (organization)
            {
                key = key.Replace("AWSLogs/", "AWSLogs/o-a1b2c3d4e5/", StringComparison.Ordinal);
            }

            await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = key, FilePath = file });
        }

        var other = _tree.Path("other.json.gz");
        TrailRecords.WriteCloudTrailFile(other, _scenario.Trail.Records.Take(3));
        var otherKey = organization
            ? $"{prefix}AWSLogs/o-a1b2c3d4e5/210987654321/CloudTrail/eu-west-1/2025/01/01/210987654321_CloudTrail_eu-west-1_20250101T1000Z_x.json.gz"
            : $"{prefix}AWSLogs/210987654321/CloudTrail/eu-west-1/2025/01/01/210987654321_CloudTrail_eu-west-1_20250101T1000Z_x.json.gz";
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = otherKey, FilePath = other });
        return _tree.Path("AWSLogs");
    }

    [Fact]
    public async Task A_single_account_trail_in_S3_gives_the_same_investigation_as_the_same_files_on_disk()
    {
        var local = await UploadAsync("trail-single", "");
        var query = new TrailQuery(_scenario.LeakedKey, TimeWindow.All, [_scenario.Account], []);
        var source = new S3TrailSource("s3://trail-single", Settings, Credentials);
        var fromS3 = await Investigator.RunAsync(source, query);
        var fromDisk = await Investigator.RunAsync(new LocalTrailSource(local), query);

        Assert.Equal(fromDisk.Keys.Select(k => (k.KeyId, k.Parent, k.How)), fromS3.Keys.Select(k => (k.KeyId, k.Parent, k.How)));
        Assert.Equal(fromDisk.Detections.Select(d => (d.RuleId, d.EventId)), fromS3.Detections.Select(d => (d.RuleId, d.EventId)));
        Assert.Equal(fromDisk.Summary.EventCount, fromS3.Summary.EventCount);
        Assert.True(fromS3.Summary.EventCount > 20);
        Assert.DoesNotContain(source.DownloadedKeys, k => k.Contains("CloudTrail-Digest", StringComparison.Ordinal));
        Assert.DoesNotContain(source.DownloadedKeys, k => k.Contains("210987654321", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_organization_trail_is_read_only_for_the_accounts_regions_and_days_asked()
    {
        await UploadAsync("trail-org", "logs/", organization: true);
        var since = AttackScenario.Start.Date;
        var query = new TrailQuery(_scenario.LeakedKey, new TimeWindow(new DateTimeOffset(since, TimeSpan.Zero), null), [_scenario.Account], ["eu-west-1"]);
        var source = new S3TrailSource("s3://trail-org/logs/", Settings, Credentials);
        var report = await Investigator.RunAsync(source, query);

        Assert.NotEmpty(source.DownloadedKeys);
        Assert.All(source.DownloadedKeys, k =>
        {
            Assert.StartsWith($"logs/AWSLogs/o-a1b2c3d4e5/{_scenario.Account}/CloudTrail/", k, StringComparison.Ordinal);
            Assert.Matches("/CloudTrail/(us-east-1|eu-west-1)/2025/01/0[12]/", k);
        });
        Assert.DoesNotContain(source.ListedPrefixes, p => p.Contains("/CloudTrail/ap-south-1/", StringComparison.Ordinal) || p.Contains("2024/12/31", StringComparison.Ordinal));
        Assert.DoesNotContain(source.ListedPrefixes, p => p.Contains("210987654321/CloudTrail", StringComparison.Ordinal));

        // us-east-1 (global services) holds the lineage: the keys are all found, the GPU regions are not read.
        Assert.Equal(6, report.Keys.Count);
        Assert.Single(report.Detections, d => d.RuleId == "KWI-IMP-001");
    }

    [Fact]
    public async Task A_missing_bucket_is_one_clear_error()
    {
        var source = new S3TrailSource("s3://no-such-trail-bucket/AWSLogs/", Settings, Credentials);
        var e = await Assert.ThrowsAsync<TrailInputException>(() => Investigator.RunAsync(source, new TrailQuery(_scenario.LeakedKey, TimeWindow.All, [], [])));
        Assert.Equal("s3://no-such-trail-bucket: no such bucket", e.Message);
    }

    [Fact]
    public async Task Trail_validate_reads_digest_signatures_from_S3_metadata_and_catches_a_replaced_log()
    {
        using var chain = new DigestChain(_tree.Path("chain"), sidecarForEveryDigest: false);
        using var s3 = Client();
        await s3.PutBucketAsync("trail-digests");
        foreach (var key in chain.DigestKeys.Concat(chain.LogKeys))
        {
            var put = new PutObjectRequest { BucketName = "trail-digests", Key = key, FilePath = chain.Path(key) };
            if (chain.Signatures.TryGetValue(key, out var signature))
            {
                put.Metadata["signature"] = signature; // CloudTrail's x-amz-meta-signature
                put.Metadata["signature-algorithm"] = "SHA256withRSA";
            }

            await s3.PutObjectAsync(put);
        }

        var keyFile = chain.WritePublicKey(_tree.Path("key.pem"));
        var clean = await Integrity.TrailValidation.RunAsync("s3://trail-digests/AWSLogs/", keyFile, Settings, Credentials);
        Assert.Empty(clean.Problems);
        Assert.Equal(3, clean.DigestsValid);

        var replaced = _tree.Write("replaced.json", "{\"Records\":[]}");
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = "trail-digests", Key = chain.LogKeys[0], FilePath = replaced });
        var tampered = await Integrity.TrailValidation.RunAsync("s3://trail-digests/AWSLogs/", keyFile, Settings, Credentials);
        var problem = Assert.Single(tampered.Problems);
        Assert.Equal("changed", problem.Kind);
        Assert.EndsWith(chain.LogKeys[0], problem.Path, StringComparison.Ordinal);
    }

    public void Dispose() => _tree.Dispose();
}
