using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using Keywarden.Detection.Findings;
using Keywarden.Detection.Scanning;

namespace Keywarden.Detection.Sources.Git;

/// <summary>
/// Reads objects through one long-running <c>git cat-file --batch</c> and scans each blob once. The
/// reading thread hands blobs to scanning workers, so git's inflating and Keywarden's scanning run on
/// different cores; a blob larger than <see cref="InMemoryLimit"/> is scanned as it streams.
/// </summary>
internal sealed class BlobScanner(string repository, ScanSession session)
{
    private const int InMemoryLimit = 16 * 1024 * 1024;

    /// <summary>
    /// Bytes of blobs read but not yet scanned, in MiB: without it, 64 queued blobs of 16 MiB (a repository
    /// of large, well-compressed files) would hold a gigabyte.
    /// </summary>
    private const int QueuedMiB = 64;

    private readonly SemaphoreSlim _queued = new(QueuedMiB, QueuedMiB);

    /// <summary>Objects that could not be read (missing in a partial or damaged clone).</summary>
    public int Missing { get; private set; }

    /// <summary>
    /// Scans the objects named (blob IDs or <c>rev:path</c>), returning the findings of each name that has
    /// any. Findings carry the name as their path; the caller gives them real paths and commits.
    /// </summary>
    public Dictionary<string, List<Finding>> Scan(IEnumerable<string> names)
    {
        // cat-file reads one name per line: a path with a newline cannot be asked for (it is not a blob ID either).
        if (names is IReadOnlyCollection<string> { Count: <= FewObjects } few)
        {
            return ScanFew([.. few.Where(n => !n.Contains('\n', StringComparison.Ordinal))]);
        }

        names = names.Where(n => !n.Contains('\n', StringComparison.Ordinal));

        var results = new ConcurrentDictionary<string, List<Finding>>(StringComparer.Ordinal);

        using var queue = new BlockingCollection<(string Name, byte[] Buffer, int Length)>(boundedCapacity: 64);
        // git cat-file inflates on one core and this thread reads its output; scanning needs fewer
        // workers than cores, and idle workers would only spin against git for the CPU.
        var workers = Enumerable.Range(0, Math.Max(1, session.Options.Threads - 1))
            .Select(_ => Task.Factory.StartNew(() => Work(queue, results), TaskCreationOptions.LongRunning))
            .ToArray();

        try
        {
            ReadAll(names, queue, results);
        }
        catch (GitException e)
        {
            // A corrupt object stops cat-file: what was read is still reported, and the failure is an error.
            session.AddError(".", $"git cat-file stopped: {e.Message}; objects after that point were not scanned");
        }
        finally
        {
            queue.CompleteAdding();
            Task.WaitAll(workers);
        }

        return new Dictionary<string, List<Finding>>(results, StringComparer.Ordinal);
    }

    /// <summary>Up to this many objects (a staged check) are read and scanned on the calling thread: no workers to start.</summary>
    private const int FewObjects = 64;

    private Dictionary<string, List<Finding>> ScanFew(IReadOnlyCollection<string> names)
    {
        var results = new Dictionary<string, List<Finding>>(StringComparer.Ordinal);
        if (names.Count == 0)
        {
            return results;
        }

        using var process = GitCommand.Start(GitCommand.StartInfo(repository, ["cat-file", "--batch"], redirectInput: true));
        try
        {
            return ReadFew(process, names, results);
        }
        catch (GitException e)
        {
            session.AddError(".", $"git cat-file stopped: {e.Message}; objects after that point were not scanned");
            return results;
        }
        finally
        {
            GitCommand.Stop(process);
        }
    }

    private Dictionary<string, List<Finding>> ReadFew(System.Diagnostics.Process process, IReadOnlyCollection<string> names, Dictionary<string, List<Finding>> results)
    {
        var stderr = process.StandardError.ReadToEndAsync(session.CancellationToken);
        using (var input = new StreamWriter(process.StandardInput.BaseStream, new UTF8Encoding(false)))
        {
            // 64 names of at most a few hundred bytes fit in a pipe's buffer: git can read them all before we read.
            input.Write(string.Concat(names.Select(n => n + "\n")));
        }

        var output = new BufferedStream(process.StandardOutput.BaseStream, 1 << 16);
        var scanner = new ContentScanner(session);
        foreach (var name in names)
        {
            if (NextHeader(output, name, stderr) is not var (type, size))
            {
                continue;
            }

            using (var blob = new LengthLimitedStream(output, size))
            {
                if (type == "blob")
                {
                    var findings = new List<Finding>();
                    scanner.Scan(blob, name, depth: 0, budget: null, findings);
                    if (findings.Count > 0)
                    {
                        results[name] = findings;
                    }
                }

                blob.SkipRest();
            }

            Skip(output, 1);
        }

        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new GitException(GitCommand.FirstLine(stderr.GetAwaiter().GetResult(), "git cat-file failed"));
        }

        return results;
    }

    private void Work(BlockingCollection<(string Name, byte[] Buffer, int Length)> queue, ConcurrentDictionary<string, List<Finding>> results)
    {
        var scanner = new ContentScanner(session);
        var findings = new List<Finding>();
        foreach (var (name, buffer, length) in queue.GetConsumingEnumerable())
        {
            try
            {
                findings.Clear();
                scanner.Scan(buffer.AsMemory(0, length), name, findings);
                if (findings.Count > 0)
                {
                    results[name] = [.. findings];
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A worker never dies: the reader would wait for it forever.
                session.AddError(name, $"cannot scan object: {ProblemText.Describe(e)}");
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
                _queued.Release(QueuedUnits(length));
            }
        }
    }

    /// <summary>The whole MiB a blob of <paramref name="length"/> bytes holds of <see cref="QueuedMiB"/>, at least one.</summary>
    private static int QueuedUnits(long length) => (int)Math.Max(1, (length + (1 << 20) - 1) >> 20);

    private void ReadAll(IEnumerable<string> names, BlockingCollection<(string, byte[], int)> queue, ConcurrentDictionary<string, List<Finding>> results)
    {
        // --buffer: names are written ahead by another thread, so git need not flush after each object.
        using var process = GitCommand.Start(GitCommand.StartInfo(repository, ["cat-file", "--batch", "--buffer"], redirectInput: true));
        try
        {
            ReadAll(process, names, queue, results);
        }
        finally
        {
            GitCommand.Stop(process);
        }
    }

    private void ReadAll(System.Diagnostics.Process process, IEnumerable<string> names, BlockingCollection<(string, byte[], int)> queue, ConcurrentDictionary<string, List<Finding>> results)
    {
        var stderr = process.StandardError.ReadToEndAsync(session.CancellationToken);
        using var requested = new BlockingCollection<string>();
        var writer = Task.Run(() =>
        {
            try
            {
                using var input = new StreamWriter(process.StandardInput.BaseStream, new UTF8Encoding(false), 1 << 16);
                foreach (var name in names)
                {
                    requested.Add(name);
                    input.Write(name);
                    input.Write('\n');
                }
            }
            finally
            {
                requested.CompleteAdding();
            }
        });

        var output = new BufferedStream(process.StandardOutput.BaseStream, 1 << 20);
        var inline = new ContentScanner(session);
        var inlineFindings = new List<Finding>();
        foreach (var name in requested.GetConsumingEnumerable(session.CancellationToken))
        {
            if (NextHeader(output, name, stderr) is not var (type, size))
            {
                continue;
            }

            if (type != "blob")
            {
                Skip(output, size + 1);
                continue;
            }

            if (size <= InMemoryLimit)
            {
                // Only this thread takes units, so taking them one at a time cannot deadlock.
                for (var unit = QueuedUnits(size); unit > 0; unit--)
                {
                    _queued.Wait(session.CancellationToken);
                }

                var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(size, 1));
                ReadExactly(output, buffer.AsSpan(0, (int)size));
                Skip(output, 1);
                queue.Add((name, buffer, (int)size), session.CancellationToken);
            }
            else
            {
                inlineFindings.Clear();
                using (var blob = new LengthLimitedStream(output, size))
                {
                    inline.Scan(blob, name, depth: 0, budget: null, inlineFindings);
                    blob.SkipRest();
                }

                Skip(output, 1);
                if (inlineFindings.Count > 0)
                {
                    results[name] = [.. inlineFindings];
                }
            }
        }

        writer.GetAwaiter().GetResult();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new GitException(GitCommand.FirstLine(stderr.GetAwaiter().GetResult(), "git cat-file failed"));
        }
    }

    /// <summary>
    /// The next object's type and size, or null for "&lt;name&gt; missing" or "ambiguous" (nothing follows):
    /// a missing blob ID is counted; a missing <c>rev:path</c> only means the path is not there.
    /// </summary>
    private (string Type, long Size)? NextHeader(Stream output, string name, Task<string> stderr)
    {
        var header = ReadLine(output) ?? throw Ended(stderr);
        var parsed = GitCommand.ParseBatchHeader(header);
        if (parsed is null && !name.Contains(':', StringComparison.Ordinal))
        {
            Missing++;
        }

        return parsed;
    }

    /// <summary>cat-file stopped answering: git's own reason, from its standard error.</summary>
    private static GitException Ended(Task<string> stderr) =>
        new(GitCommand.FirstLine(stderr.Wait(TimeSpan.FromSeconds(5)) ? stderr.Result : "", "git cat-file ended early"));

    private static string? ReadLine(Stream stream)
    {
        var bytes = new List<byte>(64);
        while (true)
        {
            var b = stream.ReadByte();
            if (b < 0)
            {
                return bytes.Count == 0 ? null : Encoding.UTF8.GetString([.. bytes]);
            }

            if (b == '\n')
            {
                return Encoding.UTF8.GetString([.. bytes]);
            }

            bytes.Add((byte)b);
        }
    }

    private static void ReadExactly(Stream stream, Span<byte> buffer)
    {
        if (ContentScanner.ReadFully(stream, buffer) < buffer.Length)
        {
            throw new GitException("git cat-file output ended inside an object");
        }
    }

    private static void Skip(Stream stream, long count)
    {
        Span<byte> scratch = stackalloc byte[4096];
        while (count > 0)
        {
            var read = stream.Read(scratch[..(int)Math.Min(scratch.Length, count)]);
            if (read == 0)
            {
                throw new GitException("git cat-file output ended inside an object");
            }

            count -= read;
        }
    }

    /// <summary>The next <c>length</c> bytes of a stream, as a stream of their own.</summary>
    private sealed class LengthLimitedStream(Stream inner, long length) : Stream
    {
        private readonly long _length = length;
        private long _remaining = length;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => _length;
        public override long Position { get => _length - _remaining; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_remaining == 0)
            {
                return 0;
            }

            var n = inner.Read(buffer[..(int)Math.Min(buffer.Length, _remaining)]);
            _remaining -= n;
            return n;
        }

        public void SkipRest()
        {
            var rest = _remaining;
            _remaining = 0;
            Skip(inner, rest);
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
