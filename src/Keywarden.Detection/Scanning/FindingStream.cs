using Keywarden.Detection.Findings;
using Keywarden.Detection.Suppression;
using Keywarden.Detection.Writers;

namespace Keywarden.Detection.Scanning;

/// <summary>
/// Hands findings to an <see cref="IFindingWriter"/> as soon as they are final (a chunk of a file scanned:
/// pairing happens within the chunk), in the order of the walk whatever the number of workers: files in
/// walk order, each file's findings in line order. A worker ahead of the walk holds its findings until the
/// files before its own are done; past <see cref="MaxHeld"/> held findings it waits its turn, so memory stays
/// bounded however many findings there are (docs/output-formats.md, "Streamed formats").
/// </summary>
internal sealed class FindingStream(IFindingWriter writer, ScanOptions options)
{
    /// <summary>Findings held for files ahead of the one being written: about 1 KB each.</summary>
    internal const int MaxHeld = 10_000;

    private readonly object _gate = new();
    private readonly AllowList _allowList = new(options.AllowedValues);
    private readonly Dictionary<long, Held> _held = [];
    private long _next;
    private long _head;
    private int _heldCount;
    private int _written;
    private int _classifications;

    /// <summary>Findings written (after the allow list and baseline).</summary>
    public int Written => Volatile.Read(ref _written);

    /// <summary>The classifications among the written findings, one bit each, for the exit code.</summary>
    public int Classifications => Volatile.Read(ref _classifications);

    /// <summary>The first error writing the report: later findings are still counted, not written.</summary>
    public Exception? Failure { get; private set; }

    /// <summary>The next item's place in the output; called in walk order.</summary>
    public long Begin() => Interlocked.Increment(ref _next) - 1;

    /// <summary>Writes, or holds until it is <paramref name="item"/>'s turn, the final findings in <paramref name="findings"/>, and empties the list.</summary>
    public void Add(long item, List<Finding> findings, ScanSession session)
    {
        var suppressed = findings.RemoveAll(f => _allowList.Allows(f) || (options.Baseline?.Contains(f) ?? false));
        session.AddSuppressed(suppressed);
        findings.Sort(Scanner.FindingOrder.Instance);
        lock (_gate)
        {
            // The head's worker never waits, and every item before this one is being scanned or done, so this ends.
            while (item != _head && _heldCount + findings.Count > MaxHeld)
            {
                Monitor.Wait(_gate);
            }

            if (item == _head)
            {
                WriteAll(findings);
            }
            else
            {
                HeldFor(item).Findings.AddRange(findings);
                _heldCount += findings.Count;
            }
        }

        findings.Clear();
    }

    /// <summary>Marks <paramref name="item"/> done (call it in a finally): what waited for it is written.</summary>
    public void Complete(long item)
    {
        lock (_gate)
        {
            HeldFor(item).Done = true;
            while (_held.TryGetValue(_head, out var held))
            {
                WriteAll(held.Findings);
                _heldCount -= held.Findings.Count;
                held.Findings.Clear();
                if (!held.Done)
                {
                    break;
                }

                _held.Remove(_head);
                _head++;
            }

            Monitor.PulseAll(_gate);
        }
    }

    private Held HeldFor(long item)
    {
        if (!_held.TryGetValue(item, out var held))
        {
            held = new Held();
            _held[item] = held;
        }

        return held;
    }

    private void WriteAll(List<Finding> findings)
    {
        foreach (var finding in findings)
        {
            _written++;
            _classifications |= 1 << (int)finding.Classification;
            if (Failure is not null)
            {
                continue;
            }

            try
            {
                writer.Write(finding);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Failure = e;
            }
        }
    }

    private sealed class Held
    {
        public List<Finding> Findings { get; } = [];
        public bool Done { get; set; }
    }
}
