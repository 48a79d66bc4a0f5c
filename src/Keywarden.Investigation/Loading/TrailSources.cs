using Keywarden.Aws.Connection;

namespace Keywarden.Investigation.Loading;

/// <summary>Chooses the source a --trail value names: <c>lookup</c>, <c>s3://bucket/prefix</c>, or a local path.</summary>
public static class TrailSources
{
    public static ITrailSource Create(string trail, AwsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(trail);
        if (trail.Equals("lookup", StringComparison.OrdinalIgnoreCase))
        {
            return new LookupEventsSource(settings);
        }

        if (trail.StartsWith("s3://", StringComparison.OrdinalIgnoreCase))
        {
            return new S3TrailSource(trail, settings);
        }

        return new LocalTrailSource(trail);
    }
}
