using System.Collections.Concurrent;
using Keywarden.Detection.Findings;
using Keywarden.Detection.Scanning;

namespace Keywarden.Detection.Sources.Git;

/// <summary>
/// Scans blobs read straight from pack files on every core while their IDs are still arriving. IDs are
/// gathered into batches sorted by pack offset, so a worker reads neighbouring entries and finds delta
/// bases in its own cache. Loose, missing and very large objects are left to git cat-file at the end.
/// </summary>
internal sealed class PackBlobScan(PackStore store, ScanSession session) : IDisposable
{
    private const int BatchSize = 1024;
    // Unbounded: batches hold only IDs, and a failing worker must never leave the producer blocked.
    private readonly BlockingCollection<List<(int Pack, long Offset, string Name)>> _batches = new();
    private readonly ConcurrentDictionary<string, List<Finding>> _results = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _elsewhere = new();
    private List<(int Pack, long Offset, string Name)> _batch = new(BatchSize);

    /// <summary>Queues a blob (called from one producer thread).</summary>
    public void Add(string blob)
    {
        Span<byte> id = stackalloc byte[20];
        if (Convert.FromHexString(blob, id, out _, out var written) == System.Buffers.OperationStatus.Done && written == 20
            && store.TryLocate(id, out var pack, out var offset))
        {
            _batch.Add((pack, offset, blob));
            if (_batch.Count == BatchSize)
            {
                Flush();
            }
        }
        else
        {
            _elsewhere.Enqueue(blob);
        }
    }

    public void CompleteAdding()
    {
        Flush();
        _batches.CompleteAdding();
    }

    /// <summary>Scans batches on every core until the producer completes.</summary>
    public void Run()
    {
        var workers = Math.Max(1, session.Options.Threads);
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, _ =>
        {
            var reader = new PackObjectReader(store);
            var content = new ContentScanner(session);
            var findings = new List<Finding>();
            foreach (var batch in _batches.GetConsumingEnumerable(session.CancellationToken))
            {
                foreach (var (pack, offset, name) in batch)
                {
                    try
                    {
                        var blob = reader.Read(pack, offset);
                        try
                        {
                            if (blob.Type != 3)
                            {
                                continue;
                            }

                            findings.Clear();
                            content.Scan(blob.Data.AsMemory(0, blob.Length), name, findings);
                            if (findings.Count > 0)
                            {
                                _results[name] = [.. findings];
                            }
                        }
                        finally
                        {
                            blob.Return();
                        }
                    }
                    catch (Exception e) when (e is LargeObjectException or InvalidDataException or IOException or IndexOutOfRangeException or ArgumentException or OutOfMemoryException)
                    {
                        // git knows more forms than this reader: let it try.
                        _elsewhere.Enqueue(name);
                    }
                }
            }
        });
    }

    /// <summary>Scans what the packs did not hold (loose objects here, the rest through cat-file) and returns every blob's findings.</summary>
    public Dictionary<string, List<Finding>> Finish(BlobScanner scanner)
    {
        var content = new ContentScanner(session);
        var viaGit = new List<string>();
        foreach (var name in _elsewhere)
        {
            byte[]? data;
            string type;
            try
            {
                data = store.ReadLoose(name, out type);
            }
            catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException or LargeObjectException)
            {
                data = null; // too large for memory, or damaged: cat-file streams it, or says what is wrong
                type = "";
            }

            if (data is null)
            {
                viaGit.Add(name); // missing, or packed where only git finds it: cat-file reports it
                continue;
            }

            if (type == "blob")
            {
                var findings = new List<Finding>();
                content.Scan(data, name, findings);
                if (findings.Count > 0)
                {
                    _results[name] = findings;
                }
            }
        }

        foreach (var (name, findings) in scanner.Scan(viaGit))
        {
            _results[name] = findings;
        }

        return new Dictionary<string, List<Finding>>(_results, StringComparer.Ordinal);
    }

    private void Flush()
    {
        if (_batch.Count == 0)
        {
            return;
        }

        _batch.Sort((a, b) => a.Pack != b.Pack ? a.Pack.CompareTo(b.Pack) : a.Offset.CompareTo(b.Offset));
        _batches.Add(_batch, session.CancellationToken);
        _batch = new List<(int, long, string)>(BatchSize);
    }

    public void Dispose() => _batches.Dispose();
}
