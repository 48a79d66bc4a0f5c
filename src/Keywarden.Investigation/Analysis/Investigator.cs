using System.Net;
using Keywarden.Detection.Credentials;
using Keywarden.Investigation.Loading;
using Keywarden.Investigation.Reports;
using Keywarden.Investigation.Rules;

namespace Keywarden.Investigation.Analysis;

/// <summary>Options of one investigation.</summary>
public sealed record InvestigationOptions
{
    public IReadOnlyList<DetectionRule> Rules { get; init; } = DetectionRule.BuiltIn;
    public IReadOnlyList<EradicationEntry> Eradication { get; init; } = EradicationCatalog.BuiltIn;

    /// <summary>Where the store and downloads go (default: a new folder under the temp folder, removed afterwards).</summary>
    public string? WorkFolder { get; init; }

    /// <summary>DuckDB's memory limit; it spills to the work folder beyond it.</summary>
    public string MemoryLimit { get; init; } = "2GB";

    public int? Threads { get; init; }

    /// <summary>false: DuckDB reads CloudTrail's own files too, as it reads the other forms (tests compare the two readers).</summary>
    internal bool ReadRecordsInProcess { get; init; } = true;

    /// <summary>CloudTrail files larger than this inflated are read by DuckDB (tests lower it).</summary>
    internal long MaxFileInMemory { get; init; } = RecordsReader.DefaultMaxInMemory;
}

/// <summary>
/// Runs an investigation: loads the source into the store, follows the key's lineage, collects its
/// events, pivots on its addresses, runs the rules and builds the summary, eradication list and timeline.
/// </summary>
public static class Investigator
{
    public static async Task<InvestigationReport> RunAsync(ITrailSource source, TrailQuery query, InvestigationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(query);
        options ??= new InvestigationOptions();
        var ownFolder = options.WorkFolder is null;
        var work = options.WorkFolder ?? Path.Combine(Path.GetTempPath(), "keywarden-investigate-" + Guid.NewGuid().ToString("N"));
        // Downloaded and extracted trail files name keys and addresses: readable by the owner only.
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(work);
        }
        else
        {
            Directory.CreateDirectory(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        try
        {
            var notes = new List<string>();
            var files = await source.FetchAsync(query, work, notes, cancellationToken);
            using var store = new TrailStore(Path.Combine(work, "store"), options.Threads, options.MemoryLimit, options.ReadRecordsInProcess, options.MaxFileInMemory);
            store.Load(files, query.Window, query.KeyId, cancellationToken);
            if (files.Count > 0 && store.Unreadable.Count == files.Count)
            {
                // Nothing could be read: one file named explicitly, or a folder of broken files, is an error, not an empty report.
                throw new TrailInputException(files.Count == 1 ? store.Unreadable[0] : $"none of the {files.Count} trail files could be read, e.g. {store.Unreadable[0]}");
            }

            // The notes are the report's: what is added after the analysis is in the report too.
            var report = Analyze(store, source.Name, files.Count, query, options, notes, cancellationToken);
            List<string> unreadable = [.. source.Unreadable, .. store.Unreadable];
            if (report.NoEventsRead)
            {
                notes.Add($"no CloudTrail events were read from {source.Name}{(query.Window.Since is null && query.Window.Until is null ? "" : " in the time window")}: an empty folder or the wrong path reads like a key that did nothing");
            }

            if (unreadable.Count > 0)
            {
                notes.Add($"the investigation is partial: {unreadable.Count} file(s) or record(s) could not be read, e.g. {unreadable[0]}");
            }

            return report with { Unreadable = unreadable };
        }
        finally
        {
            if (ownFolder)
            {
                TryDelete(work);
            }
        }
    }

    /// <summary>The event names whose request and response documents the rules and the eradication catalog read (the Athena queries select them).</summary>
    internal static IReadOnlySet<string> DocumentEvents(InvestigationOptions options) =>
        options.Rules.SelectMany(r => r.NamesReadingDocuments())
            .Concat(options.Eradication.SelectMany(e => e.EventNames))
            .Concat(TrailStore.MintingEvents)
            .ToHashSet(StringComparer.Ordinal);

    internal static InvestigationReport Analyze(TrailStore store, string sourceName, int fileCount, TrailQuery query, InvestigationOptions options, List<string> notes, CancellationToken cancellationToken)
    {
        var keys = FollowLineage(store, query.KeyId, out var sessionArns);
        cancellationToken.ThrowIfCancellationRequested();
        var events = store.LineageEvents(cancellationToken);
        var ips = events.Select(e => e.SourceIp).OfType<string>().Where(ip => IPAddress.TryParse(ip, out _)).Distinct(StringComparer.Ordinal).ToList();
        store.SetAttackerIps(ips);
        var pivot = store.IpPivot();
        var usual = store.UsualRegions();
        foreach (var account in events.Select(e => e.Account).OfType<string>().Distinct(StringComparer.Ordinal).Where(a => !usual.ContainsKey(a)).Order(StringComparer.Ordinal))
        {
            notes.Add($"account {account}: no activity by other principals in this trail, so no baseline of usual regions (unusual-region rule not applied)");
        }

        var detections = RuleEngine.Evaluate(options.Rules, events, new RuleContext(usual));
        var eradication = EradicationCatalog.Build(events, options.Eradication);
        var lineageKeys = keys.Select(k => k.KeyId).ToHashSet(StringComparer.Ordinal);
        if (events.Count == 0)
        {
            notes.Add($"no event of {query.KeyId} in this trail{(query.Window.Since is null && query.Window.Until is null ? "" : " and time window")}");
        }

        var stats = new SourceStats(sourceName, fileCount, store.Loaded, query.Window);
        return new InvestigationReport(query.KeyId, AccessKeyId.DecodeAccountId(query.KeyId), stats, keys,
            Summarize(events, lineageKeys, detections), detections, eradication, Timeline(events, detections), pivot, notes);
    }

    /// <summary>
    /// Every key minted from the leaked key, recursively: GetSessionToken, GetFederationToken and AssumeRole*
    /// answers (responseElements.credentials.accessKeyId), access keys it created (CreateAccessKey), and the
    /// console sign-in pivot: a key acting as a session the lineage minted that no recorded call minted.
    /// </summary>
    internal static List<LineageKey> FollowLineage(TrailStore store, string root, out List<string> sessionArns)
    {
        var keys = new List<LineageKey> { new(root, null, "leaked", null, null, null) };
        var known = new HashSet<string>(StringComparer.Ordinal) { root };
        var arns = new Dictionary<string, MintRecord>(StringComparer.Ordinal);
        bool grew;
        do
        {
            grew = false;
            store.SetLineage(known, arns.Keys);
            foreach (var mint in store.Mints().OrderBy(m => m.EventTime).ThenBy(m => m.EventId, StringComparer.Ordinal))
            {
                if (mint.MintedArn is { } arn && arns.TryAdd(arn, mint))
                {
                    grew = true;
                }

                if (mint.MintedKey is { } key && known.Add(key))
                {
                    keys.Add(new LineageKey(key, mint.ParentKey, mint.EventName, mint.EventId, mint.EventTime, mint.MintedArn));
                    grew = true;
                }
            }

            store.SetLineage(known, arns.Keys);
            foreach (var (key, arn, first) in store.UnmintedKeysOfSessions().OrderBy(k => k.First).ThenBy(k => k.Key, StringComparer.Ordinal))
            {
                if (known.Add(key))
                {
                    var mint = arns[arn];
                    keys.Add(new LineageKey(key, mint.MintedKey ?? mint.ParentKey, $"console sign-in as {arn}", null, first, arn));
                    grew = true;
                }
            }
        }
        while (grew);

        store.SetLineage(known, arns.Keys);
        sessionArns = [.. arns.Keys];

        // The leaked key first, then in the order the keys were minted.
        return [keys[0], .. keys.Skip(1).OrderBy(k => k.EventTime).ThenBy(k => k.KeyId, StringComparer.Ordinal)];
    }

    private static InvestigationSummary Summarize(IReadOnlyList<TrailEvent> all, HashSet<string> lineage, IReadOnlyList<Reports.Detection> detections)
    {
        // eventCount: distinct events whose userIdentity.accessKeyId is in the lineage (key-less sign-in events are shown but not counted).
        var events = all.Where(e => e.AccessKeyId is { } k && lineage.Contains(k)).ToList();
        static List<Count> CountBy(IEnumerable<string?> values) =>
            [.. values.Select(v => v ?? "(none)").GroupBy(v => v, StringComparer.Ordinal).Select(g => new Count(g.Key, g.Count())).OrderByDescending(c => c.Events).ThenBy(c => c.Name, StringComparer.Ordinal)];

        var errors = events.Count(e => e.ErrorCode is not null);
        var ips = events.Where(e => e.SourceIp is not null).GroupBy(e => e.SourceIp!, StringComparer.Ordinal)
            .Select(g => new SourceIpSummary(g.Key, g.Count(), g.Min(e => e.EventTime), g.Max(e => e.EventTime)))
            .OrderBy(s => s.FirstSeen).ThenBy(s => s.Ip, StringComparer.Ordinal).ToList();
        // One principal per ARN and key: exports that drop userName or type must not split it.
        var principals = events.GroupBy(e => (e.Arn, Key: e.AccessKeyId!))
            .Select(g => new Principal(g.Key.Arn, g.Select(e => e.IdentityType).FirstOrDefault(t => t is not null), g.Select(e => e.AccountId).FirstOrDefault(a => a is not null),
                g.Select(e => e.UserName).FirstOrDefault(u => u is not null), g.Key.Key))
            .OrderBy(p => p.KeyId, StringComparer.Ordinal).ThenBy(p => p.Arn, StringComparer.Ordinal).ToList();
        var bySeverity = DetectionRule.Severities.Reverse().ToDictionary(s => s, s => (long)detections.Count(d => d.Severity == s), StringComparer.Ordinal);
        return new InvestigationSummary(
            events.Min(e => e.EventTime), events.Max(e => e.EventTime), events.Count, errors, events.Count == 0 ? 0 : Math.Round((double)errors / events.Count, 4),
            CountBy(events.Select(e => e.EventName)), CountBy(events.Select(e => e.EventSource)), ips,
            CountBy(events.Select(e => e.UserAgent)), CountBy(events.Select(e => e.AwsRegion)),
            [.. events.Select(e => e.Account).OfType<string>().Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)],
            principals, bySeverity);
    }

    private static List<TimelineEntry> Timeline(IReadOnlyList<TrailEvent> events, IReadOnlyList<Reports.Detection> detections)
    {
        var rulesByEvent = detections.GroupBy(d => d.EventId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => (IReadOnlyList<string>)[.. g.Select(d => d.RuleId).Distinct(StringComparer.Ordinal)], StringComparer.Ordinal);
        return [.. events.Select(e => new TimelineEntry(e.EventTime, e.EventId, e.RawEventName, e.EventSource, e.AccessKeyId, e.Account, e.AwsRegion, e.SourceIp, e.ErrorCode,
            rulesByEvent.TryGetValue(e.EventId, out var ids) ? ids : []))];
    }

    private static void TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
