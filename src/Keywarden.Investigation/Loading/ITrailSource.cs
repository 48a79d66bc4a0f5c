namespace Keywarden.Investigation.Loading;

/// <summary>What an investigation asks of a source: the key, the time window, the accounts and regions.</summary>
public sealed record TrailQuery(string KeyId, TimeWindow Window, IReadOnlyList<string> Accounts, IReadOnlyList<string> Regions);

/// <summary>A place CloudTrail records come from: local files, an S3 trail bucket, the LookupEvents API.</summary>
public interface ITrailSource
{
    /// <summary>How the source is named in reports (a path, s3://bucket/prefix, lookup).</summary>
    string Name { get; }

    /// <summary>Brings the records to local files in <paramref name="workFolder"/> (or finds them where they are); notes say what was skipped or absent.</summary>
    Task<IReadOnlyList<TrailFile>> FetchAsync(TrailQuery query, string workFolder, ICollection<string> notes, CancellationToken cancellationToken);

    /// <summary>"path: why" of each file or folder the fetch found and could not read: the investigation of the rest is partial.</summary>
    IReadOnlyList<string> Unreadable => [];
}

/// <summary>Files and folders on disk: read where they are (zip members are unpacked into the work folder).</summary>
public sealed class LocalTrailSource(string path) : ITrailSource
{
    public string Name => path;

    /// <summary>"path: why" of each file or folder found that could not be read (the investigation of the rest is partial).</summary>
    public IReadOnlyList<string> Unreadable => _unreadable;

    private readonly List<string> _unreadable = [];

    public Task<IReadOnlyList<TrailFile>> FetchAsync(TrailQuery query, string workFolder, ICollection<string> notes, CancellationToken cancellationToken)
    {
        var log = new TrailFileLog();
        var files = TrailFileFinder.Find(path, Path.Combine(workFolder, "unzipped"), log, cancellationToken);
        if (log.Skipped.Count > 0)
        {
            notes.Add($"skipped {log.Skipped.Count} file(s) that hold no CloudTrail records, e.g. {log.Skipped[0]}");
        }

        _unreadable.AddRange(log.Unreadable);
        return Task.FromResult(files);
    }
}
