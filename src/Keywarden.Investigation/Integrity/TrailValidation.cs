using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3;
using Keywarden.Aws.CloudTrail;
using Keywarden.Aws.Connection;
using Keywarden.Investigation.Loading;

namespace Keywarden.Investigation.Integrity;

/// <summary>`keywarden trail validate`: a folder or an S3 prefix, with a key file or CloudTrail's ListPublicKeys.</summary>
public static class TrailValidation
{
    public static async Task<IntegrityReport> RunAsync(string trail, string? publicKeyFile, AwsSettings settings, AWSCredentials? credentials = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trail);
        ArgumentNullException.ThrowIfNull(settings);
        string folder = trail;
        string? work = null;
        try
        {
            if (trail.StartsWith("s3://", StringComparison.OrdinalIgnoreCase))
            {
                // The mirrored trail names keys and addresses: a folder only its owner can read (0700).
                work = Directory.CreateTempSubdirectory("keywarden-validate-").FullName;
                folder = Path.Combine(work, "bucket");
                Directory.CreateDirectory(folder);
                await new S3TrailSource(trail, settings, credentials).MirrorAsync(folder, cancellationToken);
            }
            else
            {
                DigestValidator.RequireFolder(folder);
            }

            IReadOnlyList<TrailPublicKey> keys = publicKeyFile is not null
                ? [TrailPublicKey.FromFile(publicKeyFile)]
                : await PublicKeysAsync(folder, settings, credentials, cancellationToken);
            return DigestValidator.Validate(folder, keys, cancellationToken);
        }
        finally
        {
            if (work is not null)
            {
                try
                {
                    Directory.Delete(work, recursive: true);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                }
            }
        }
    }

    /// <summary>CloudTrail's public keys for each region that has digests, over the last 10 years (ListPublicKeys).</summary>
    private static async Task<IReadOnlyList<TrailPublicKey>> PublicKeysAsync(string folder, AwsSettings settings, AWSCredentials? credentials, CancellationToken cancellationToken)
    {
        DigestValidator.RequireFolder(folder);
        var regions = Directory.EnumerateDirectories(folder, "CloudTrail-Digest", SearchOption.AllDirectories)
            .SelectMany(Directory.EnumerateDirectories).Select(Path.GetFileName).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        var resolved = credentials ?? settings.ResolveCredentials(settings.Configure(new AmazonS3Config()));
        using var client = new CloudTrailClient(settings, resolved);
        var keys = new List<TrailPublicKey>();
        foreach (var region in regions)
        {
            try
            {
                foreach (var (der, fingerprint, from, to) in await client.ListPublicKeysAsync(region, DateTimeOffset.UtcNow.AddYears(-10), DateTimeOffset.UtcNow, cancellationToken))
                {
                    var rsa = RSA.Create();
                    rsa.ImportRSAPublicKey(der, out _);
                    keys.Add(new TrailPublicKey(rsa, fingerprint, from, to));
                }
            }
            catch (CloudTrailException e)
            {
                throw new TrailInputException($"cannot get CloudTrail's public keys for {region} (ListPublicKeys): {e.Message}; give one with --public-key FILE", e);
            }
        }

        return keys;
    }
}
