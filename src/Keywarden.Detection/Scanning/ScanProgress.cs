namespace Keywarden.Detection.Scanning;

/// <summary>Live counters of a scan, updated by the workers and read by a progress display.</summary>
public sealed class ScanProgress
{
    private long _files;
    private long _bytes;
    private long _findings;
    private long _binarySkipped;
    private long _archives;

    public long Files => Interlocked.Read(ref _files);
    public long Bytes => Interlocked.Read(ref _bytes);
    public long Findings => Interlocked.Read(ref _findings);
    public long BinarySkipped => Interlocked.Read(ref _binarySkipped);
    public long Archives => Interlocked.Read(ref _archives);

    internal void AddFile(long bytes)
    {
        Interlocked.Increment(ref _files);
        Interlocked.Add(ref _bytes, bytes);
    }

    internal void AddFindings(int count) => Interlocked.Add(ref _findings, count);

    internal void AddBinarySkipped() => Interlocked.Increment(ref _binarySkipped);

    internal void AddArchive() => Interlocked.Increment(ref _archives);
}
