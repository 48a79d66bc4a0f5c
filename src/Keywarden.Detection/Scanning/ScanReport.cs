using Keywarden.Detection.Findings;

namespace Keywarden.Detection.Scanning;

/// <summary>Something that could not be read (an error) or was deliberately not read in full (a warning).</summary>
public sealed record ScanProblem(string Path, string Message);

/// <summary>The result of a scan: the findings that were not suppressed, and what was read.</summary>
public sealed record ScanReport
{
    public required IReadOnlyList<Finding> Findings { get; init; }
    public required long Files { get; init; }
    public required long Bytes { get; init; }
    public required long BinarySkipped { get; init; }
    public required long Archives { get; init; }

    /// <summary>Findings not reported because of an inline keywarden:allow, the config's allow list or the baseline.</summary>
    public required int Suppressed { get; init; }

    public required IReadOnlyList<ScanProblem> Errors { get; init; }
    public required IReadOnlyList<ScanProblem> Warnings { get; init; }
    public required TimeSpan Elapsed { get; init; }

    /// <summary>A scan that had nothing to read.</summary>
    public static ScanReport Empty { get; } = new()
    {
        Findings = [],
        Files = 0,
        Bytes = 0,
        BinarySkipped = 0,
        Archives = 0,
        Suppressed = 0,
        Errors = [],
        Warnings = [],
        Elapsed = TimeSpan.Zero,
    };

    /// <summary>Findings found after the findings cap was reached: counted, not kept (a warning says so).</summary>
    public int Dropped { get; init; }

    /// <summary>The classifications among the <see cref="Dropped"/> findings, one bit each (1 &lt;&lt; classification).</summary>
    public int DroppedClassifications { get; init; }

    /// <summary>Findings written to the scan's <see cref="Writers.IFindingWriter"/> as they came, and so not in <see cref="Findings"/>.</summary>
    public int Streamed { get; init; }

    /// <summary>The classifications among the <see cref="Streamed"/> findings, one bit each (1 &lt;&lt; classification).</summary>
    public int StreamedClassifications { get; init; }

    /// <summary>The error that stopped the streamed report being written, if one did (the scan went on counting).</summary>
    public Exception? StreamFailure { get; init; }

    /// <summary>Every finding before suppression by baseline or allow list, for --write-baseline.</summary>
    public IReadOnlyList<Finding> AllFindings { get; init; } = [];
}
