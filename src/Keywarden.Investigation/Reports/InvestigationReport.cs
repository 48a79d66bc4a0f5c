using Keywarden.Investigation.Loading;

namespace Keywarden.Investigation.Reports;

/// <summary>A key of the investigation: the leaked key (no parent) or one minted from it, and how.</summary>
public sealed record LineageKey(string KeyId, string? Parent, string How, string? EventId, DateTimeOffset? EventTime, string? SessionArn);

/// <summary>A rule that fired.</summary>
public sealed record Detection(
    string RuleId, string Title, string Category, string Severity, string Mitre,
    string EventName, string? EventSource, DateTimeOffset? EventTime, string EventId, string? KeyId,
    string? Account, string? Region, string? SourceIp, string? ErrorCode, string? ErrorMessage, int Count, string? Detail);

/// <summary>Something the lineage created or changed that must be undone, with the event that did it.</summary>
public sealed record EradicationItem(
    string Account, string Region, string ResourceType, string ResourceId, string Action, string? Detail,
    string EventName, DateTimeOffset? EventTime, string EventId, string? KeyId);

/// <summary>One event of the lineage, as the timeline shows it.</summary>
public sealed record TimelineEntry(
    DateTimeOffset? EventTime, string EventId, string EventName, string? EventSource, string? KeyId, string? Account,
    string? Region, string? SourceIp, string? ErrorCode, IReadOnlyList<string> RuleIds);

public sealed record Count(string Name, long Events);

public sealed record SourceIpSummary(string Ip, long Events, DateTimeOffset? FirstSeen, DateTimeOffset? LastSeen);

public sealed record Principal(string? Arn, string? Type, string? AccountId, string? UserName, string KeyId);

public sealed record InvestigationSummary(
    DateTimeOffset? FirstSeen, DateTimeOffset? LastSeen, long EventCount, long ErrorCount, double ErrorRatio,
    IReadOnlyList<Count> EventsByName, IReadOnlyList<Count> EventsByService, IReadOnlyList<SourceIpSummary> SourceIps,
    IReadOnlyList<Count> UserAgents, IReadOnlyList<Count> Regions, IReadOnlyList<string> Accounts, IReadOnlyList<Principal> Principals,
    IReadOnlyDictionary<string, long> DetectionsBySeverity);

/// <summary>Where the records came from and how many were read (in the time window, duplicates included).</summary>
public sealed record SourceStats(string Source, int Files, long RecordsLoaded, TimeWindow Window);

/// <summary>The whole answer of `keywarden investigate`: lineage, summary, detections, eradication list, timeline, IP pivot.</summary>
public sealed record InvestigationReport(
    string KeyId, string? DecodedAccountId, SourceStats Source,
    IReadOnlyList<LineageKey> Keys, InvestigationSummary Summary, IReadOnlyList<Detection> Detections,
    IReadOnlyList<EradicationItem> Eradication, IReadOnlyList<TimelineEntry> Timeline, IReadOnlyList<IpPivotEntry> IpPivot,
    IReadOnlyList<string> Notes)
{
    /// <summary>"path: why" of each file, folder or record that could not be read: the report covers the rest (the notes say so).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<string> Unreadable { get; init; } = [];

    /// <summary>True when no record at all was read from the source (in the time window): an empty folder or a mistyped path, not a quiet key.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool NoEventsRead => Source.RecordsLoaded == 0;
}
