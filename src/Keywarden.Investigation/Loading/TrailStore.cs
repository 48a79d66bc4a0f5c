using System.Globalization;
using System.Text.Json;
using DuckDB.NET.Data;
using Keywarden.Detection.Sources;
using Keywarden.Investigation.Analysis;

namespace Keywarden.Investigation.Loading;

/// <summary>A time window; either end may be open.</summary>
public sealed record TimeWindow(DateTimeOffset? Since, DateTimeOffset? Until)
{
    public static TimeWindow All { get; } = new(null, null);

    public bool Contains(DateTimeOffset? time) =>
        time is null ? Since is null && Until is null : (Since is null || time >= Since) && (Until is null || time < Until);
}

/// <summary>
/// The analytical store: an embedded DuckDB database in a work folder, filled in two passes. The first pass
/// keeps a narrow index of every record (key, ARN, address, region, account, file, count and time span),
/// the calls that minted a key or a session, and the leaked key's own records in full: enough to follow the
/// lineage, pivot on addresses and learn the usual regions. The second pass reads the full records of the
/// rest of the lineage from the files that hold them only. CloudTrail's own files are read in process by
/// <see cref="RecordsReader"/>; the other forms by DuckDB itself (plain or gzipped, in parallel, with
/// explicit column types). The database lives on disk with a memory limit, so a year of an organization's
/// trail fits a small machine: DuckDB spills to its folder instead of growing.
/// </summary>
public sealed class TrailStore : IDisposable
{
    /// <summary>Calls whose answer carries a new credential (responseElements.credentials.accessKeyId) or session ARN.</summary>
    internal static readonly string[] MintingEvents = ["GetSessionToken", "GetFederationToken", "AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity", "AssumeRoot", "CreateAccessKey"];

    /// <summary>
    /// The largest CloudTrail {"Records":[...]} file, inflated, either reader takes: one object, which DuckDB
    /// must hold whole (a 600 MiB one took 700 MB of memory); CloudTrail delivers a few MB every few minutes.
    /// </summary>
    internal const long MaxRecordsFileBytes = RecordsReader.DefaultMaxInMemory;

    /// <summary>The largest single record DuckDB accepts in array and JSON-lines files (CloudTrail records are kilobytes).</summary>
    private const long MaxRecordBytes = 16L << 20;

    private readonly DuckDBConnection _connection;
    private readonly List<TrailFile> _files = [];
    private readonly Dictionary<string, ulong> _fileIds = new(StringComparer.Ordinal);
    private readonly HashSet<string> _readInProcess = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _links = new(StringComparer.Ordinal);
    private readonly string _linkFolder;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _unreadable = new();
    private readonly int _threads;
    private readonly bool _readRecordsInProcess;
    private readonly long _maxInMemory;
    private TimeWindow _window = TimeWindow.All;
    private string _capturedKey = "";
    private HashSet<string> _lineage = new(StringComparer.Ordinal);
    private HashSet<string> _sessionArns = new(StringComparer.Ordinal);
    private long _loaded;

    /// <summary>
    /// Opens a new store in <paramref name="workFolder"/>. CloudTrail's own files up to <paramref name="maxInMemory"/>
    /// bytes inflated are read in process unless <paramref name="readRecordsInProcess"/> is false (tests compare the two readers).
    /// </summary>
    public TrailStore(string workFolder, int? threads = null, string memoryLimit = "2GB", bool readRecordsInProcess = true, long maxInMemory = RecordsReader.DefaultMaxInMemory)
    {
        _maxInMemory = maxInMemory;
        _threads = threads is > 0 ? threads.Value : Environment.ProcessorCount;
        _readRecordsInProcess = readRecordsInProcess;
        Directory.CreateDirectory(workFolder);
        _linkFolder = Path.GetFullPath(Path.Combine(workFolder, "names"));
        if (_linkFolder.IndexOfAny(GlobCharacters) >= 0)
        {
            throw new TrailInputException($"{_linkFolder}: the temporary folder's path holds one of {new string(GlobCharacters)}, which DuckDB reads as a pattern; set TMPDIR to another folder");
        }

        _connection = new DuckDBConnection($"DataSource={Path.Combine(workFolder, "trail.duckdb")}");
        _connection.Open();
        Execute($"SET memory_limit = '{memoryLimit}'");
        Execute($"SET temp_directory = '{Escape(Path.Combine(workFolder, "spill"))}'");
        Execute("SET preserve_insertion_order = false");
        if (threads is > 0)
        {
            Execute($"SET threads = {threads.Value.ToString(CultureInfo.InvariantCulture)}");
        }

        // One row per (key, ARN, address, account, region, file): aggregated while reading, which costs about
        // what a filtering scan costs, where storing every record would cost far more.
        Execute("""
            CREATE TABLE idx (
              access_key_id VARCHAR, arn VARCHAR, source_ip VARCHAR, account VARCHAR, aws_region VARCHAR, file_id UBIGINT,
              records BIGINT, first_seen TIMESTAMP, last_seen TIMESTAMP)
            """);
        Execute("CREATE TABLE mints (access_key_id VARCHAR, minted_key VARCHAR, minted_arn VARCHAR, event_name VARCHAR, event_id VARCHAR, event_time TIMESTAMP)");
        Execute($"CREATE TABLE captured ({CanonicalColumnsDdl})");
        Execute("CREATE TABLE files (file_id UBIGINT, path VARCHAR, link VARCHAR)");
        Execute("CREATE TEMP TABLE lineage (key VARCHAR)");
        Execute("CREATE TEMP TABLE session_arns (arn VARCHAR)");
        Execute("CREATE TEMP TABLE attacker_ips (ip VARCHAR)");
    }

    /// <summary>Records read so far (duplicates included).</summary>
    public long Loaded => _loaded;

    /// <summary>"path: why" of each file that could not be read (broken gzip or JSON, an I/O error), and of each record too deep to read; the rest was read.</summary>
    public IReadOnlyList<string> Unreadable => [.. _unreadable];

    /// <summary>
    /// Characters DuckDB's file reader takes as a glob pattern (* ? [ and, in newer versions, brace lists): a file
    /// called a[b].json or *.json would be read as a pattern, losing its events or counting others twice.
    /// </summary>
    private static readonly char[] GlobCharacters = ['*', '?', '[', ']', '{', '}'];

    /// <summary>
    /// Indexes files. Files of one form and compression are read by one DuckDB query, in parallel; a failing
    /// group is retried file by file so the error names its file.
    /// </summary>
    public long Load(IReadOnlyList<TrailFile> files, TimeWindow window, string capturedKey, CancellationToken cancellationToken = default)
    {
        _capturedKey = capturedKey;
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(window);

        // Whole seconds, as CloudTrail records time and as the SQL filter compares: both readers keep the same events.
        window = new TimeWindow(WholeSeconds(window.Since), WholeSeconds(window.Until));
        files = [.. files.DistinctBy(f => f.Path, StringComparer.Ordinal).Where(Readable)];
        _window = window;
        _files.AddRange(files);
        using (var appender = _connection.CreateAppender("files"))
        {
            foreach (var file in files)
            {
                // DuckDB is never given a user's file name: it reads every name as a glob pattern. It reads a link
                // with a name of ours instead, and rows carry the hash of that name.
                var link = Path.Combine(_linkFolder, "f" + (_links.Count + 1).ToString(CultureInfo.InvariantCulture));
                _links[file.Path] = link;
                var row = appender.CreateRow();
                row.AppendNullValue();
                row.AppendValue(file.Path);
                row.AppendValue(link);
                row.EndRow();
            }
        }

        Execute("UPDATE files SET file_id = hash(link) WHERE file_id IS NULL");
        foreach (var (path, id) in Query("SELECT path, file_id FROM files", r => (r.GetString(0), Convert.ToUInt64(r.GetValue(1), CultureInfo.InvariantCulture))))
        {
            _fileIds[path] = id;
        }

        if (files.FirstOrDefault(f => f.Form == TrailForm.Records && UncompressedSize(f.Path, f.Gzip) > MaxRecordsFileBytes) is { } huge)
        {
            throw new TrailInputException($"{huge.Name}: a {{\"Records\":[...]}} file larger than the {BoundedInput.Size(MaxRecordsFileBytes)} limit once inflated (see docs/limits.md)");
        }

        var inProcess = files.Where(ReadInProcess).ToList();
        var tooLarge = IndexInProcess(inProcess, window, capturedKey, cancellationToken);
        _readInProcess.UnionWith(inProcess.Except(tooLarge).Select(f => f.Path));
        foreach (var group in files.Except(inProcess).Concat(tooLarge).GroupBy(f => (f.Form, f.Gzip)))
        {
            var paths = group.Select(f => f.Path).ToList();
            PerGroup(paths, p => IndexWithDuckDb(LinksOf(p), group.Key.Form, group.Key.Gzip, window, capturedKey, cancellationToken));
        }

        var before = _loaded;
        _loaded = Query("SELECT coalesce(sum(records), 0)::BIGINT FROM idx", r => r.GetInt64(0))[0];
        return _loaded - before;
    }

    // One query for the group; when it fails, file by file, so each file that cannot be read is named and the others are read.
    private long PerGroup(List<string> paths, Func<IReadOnlyList<string>, long> run)
    {
        try
        {
            return run(paths);
        }
        catch (DuckDBException) when (paths.Count > 1)
        {
            return paths.Sum(path => PerGroup([path], run));
        }
        catch (DuckDBException e)
        {
            _unreadable.Enqueue($"{NameOf(paths[0])}: cannot read CloudTrail records: {DuckDbCause(paths[0], e.Message)}");
            return 0;
        }
    }

    /// <summary>
    /// DuckDB reads a gzip file cut short as if its data ended there, and then reports the JSON it ends in:
    /// a gzip file is checked to its end, so the cause is named. DuckDB's message names the link it read; the
    /// user's name replaces it.
    /// </summary>
    private string DuckDbCause(string path, string message)
    {
        var file = _files.First(f => f.Path == path);
        if (file.Gzip)
        {
            try
            {
                RecordsReader.CheckGzip(path);
            }
            catch (InvalidDataException e)
            {
                return e.Message;
            }
        }

        return FirstLine(message).Replace(_links[path], NameOf(path), StringComparison.Ordinal);
    }

    private string NameOf(string path) => _files.First(f => f.Path == path).Name;

    /// <summary>
    /// A file is read only when its size can be known: a gzip trailer (ISIZE) larger than deflate can
    /// inflate the file to (1032:1, RFC 1951's longest match per bit) is not a trailer, so the file was cut
    /// short. Trusting it sized DuckDB's buffers in gigabytes and failed as "out of memory".
    /// </summary>
    private bool Readable(TrailFile file)
    {
        try
        {
            UncompressedSize(file.Path, file.Gzip);
            return true;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            _unreadable.Enqueue($"{file.Name}: cannot read CloudTrail records: {BoundedInput.Describe(e, file.Path)}");
            return false;
        }
    }

    /// <summary>The links DuckDB reads for <paramref name="paths"/>, made on first use.</summary>
    private List<string> LinksOf(IEnumerable<string> paths)
    {
        var links = new List<string>();
        foreach (var path in paths)
        {
            var link = _links[path];
            if (!File.Exists(link))
            {
                Directory.CreateDirectory(_linkFolder);
                File.CreateSymbolicLink(link, Path.GetFullPath(path));
            }

            links.Add(link);
        }

        return links;
    }

    private static DateTimeOffset? WholeSeconds(DateTimeOffset? time) =>
        time is { } t ? new DateTimeOffset(t.UtcTicks - (t.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero) : null;

    private bool ReadInProcess(TrailFile file) => _readRecordsInProcess && RecordsReader.Handles(file, _maxInMemory);

    // DuckDB reads the group into a staging table (index rows with their mints and captured records as
    // lists, aggregated while reading), which is then split into the three tables.
    private long IndexWithDuckDb(IReadOnlyList<string> paths, TrailForm form, bool gzip, TimeWindow window, string capturedKey, CancellationToken cancellationToken)
    {
        var rows = ExecuteNonQuery("CREATE OR REPLACE TEMP TABLE stage AS " + IndexSql(paths, form, gzip, window, capturedKey), cancellationToken);
        Execute("BEGIN TRANSACTION");
        try
        {
            Execute("INSERT INTO idx SELECT access_key_id, arn, source_ip, account, aws_region, file_id, records, first_seen, last_seen FROM stage");
            Execute("""
                INSERT INTO mints SELECT access_key_id, m.minted_key, m.minted_arn, m.event_name, m.event_id, m.event_time
                FROM (SELECT access_key_id, unnest(mints) AS m FROM stage WHERE len(mints) > 0)
                """);
            Execute($"INSERT INTO captured SELECT {string.Join(", ", TrailFields.All.Select(f => "c." + Quote(f.Canonical)))} FROM (SELECT unnest(captured) AS c FROM stage WHERE len(captured) > 0)");
            Execute("COMMIT");
        }
        catch (DuckDBException)
        {
            Execute("ROLLBACK");
            throw;
        }

        Execute("DROP TABLE stage");
        return rows;
    }

    /// <summary>
    /// CloudTrail's own files, read by <see cref="RecordsReader"/> in parallel; each file's rows are appended as
    /// it finishes. Returns the files that turned out too large to hold (a multi-member gzip hides its size), for DuckDB.
    /// </summary>
    private List<TrailFile> IndexInProcess(List<TrailFile> files, TimeWindow window, string capturedKey, CancellationToken cancellationToken)
    {
        if (files.Count == 0)
        {
            return [];
        }

        using var index = _connection.CreateAppender("idx");
        using var mints = _connection.CreateAppender("mints");
        using var captured = _connection.CreateAppender("captured");
        var gate = new object();
        return ForEachFile(files, cancellationToken, (file, json) =>
        {
            var sink = new IndexSink(capturedKey);
            RecordsReader.Walk(json, window, sink);
            lock (gate)
            {
                sink.AppendTo(index, mints, captured, _fileIds[file.Path]);
            }
        });
    }

    /// <summary>
    /// Reads files in parallel, each inflated whole into its thread's buffer; a file that cannot be read is
    /// named in the error. Returns the files too large to hold in memory, untouched.
    /// </summary>
    private List<TrailFile> ForEachFile(IEnumerable<TrailFile> files, CancellationToken cancellationToken, RecordsAction action)
    {
        var tooLarge = new System.Collections.Concurrent.ConcurrentBag<TrailFile>();
        var options = new ParallelOptions { MaxDegreeOfParallelism = _threads, CancellationToken = cancellationToken };

        // Parallel.ForEach hands a worker's state over to fresh tasks now and then: buffers are kept here,
        // so each thread's buffer (the size of the largest file) is allocated once, not once per task.
        var buffers = new System.Collections.Concurrent.ConcurrentBag<byte[]>();
        try
        {
            Parallel.ForEach(files, options, () => buffers.TryTake(out var kept) ? kept : new byte[1 << 20], (file, _, buffer) =>
            {
                try
                {
                    var length = RecordsReader.ReadAll(file, ref buffer, _maxInMemory);
                    action(file, buffer.AsSpan(0, length));
                }
                catch (TrailFileTooLargeException)
                {
                    tooLarge.Add(file);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // Broken gzip or JSON, text that is not UTF-8, a lone surrogate escape, an I/O error: the file is
                    // named, and the other files are still read.
                    _unreadable.Enqueue($"{file.Name}: cannot read CloudTrail records: {TrailFileFinder.Describe(e, file.Path, file.Gzip)}");
                }

                return buffer;
            }, buffers.Add);
        }
        catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(x => x is TrailInputException or OperationCanceledException) is { } first)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        }

        return [.. tooLarge];
    }

    private delegate void RecordsAction(TrailFile file, ReadOnlySpan<byte> json);

    private static string CanonicalColumnsDdl => string.Join(", ", TrailFields.All.Select(f => $"{Quote(f.Canonical)} VARCHAR"));

    private long ExecuteNonQuery(string sql, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        using var registration = cancellationToken.Register(command.Cancel);
        var rows = command.ExecuteNonQuery();
        cancellationToken.ThrowIfCancellationRequested();
        return rows;
    }

    /// <summary>
    /// The source of canonical records for one group of files: a SELECT whose columns are the canonical
    /// field names (eventID, userIdentity.accessKeyId, ...) computed from every alias, plus file_id.
    /// </summary>
    internal static string CanonicalSource(IReadOnlyList<string> paths, TrailForm form, bool gzip, IReadOnlyList<string> canonicalFields)
    {
        // CloudTrail's own {"Records":[...]} files use CloudTrail's names; the aliases of SIEM exports are
        // looked for in arrays and JSON lines only, which keeps the struct DuckDB fills per record small.
        var fields = canonicalFields.Select(TrailFields.Get).Select(f => form == TrailForm.Records ? f with { Paths = [f.CanonicalPath] } : f).ToList();
        var fileList = "[" + string.Join(", ", paths.Select(p => $"'{Escape(p)}'")) + "]";

        // DuckDB reserves a buffer of twice maximum_object_size per reading thread: size it to the group's
        // largest {"Records":[...]} file (one object), and to one record for the other forms.
        var maxObject = form == TrailForm.Records ? Math.Min(MaxRecordsFileBytes + 1024, Math.Max(1L << 20, paths.Max(p => UncompressedSize(p, gzip)) + 1024)) : MaxRecordBytes;
        var common = $"compression = '{(gzip ? "gzip" : "uncompressed")}', maximum_object_size = {maxObject.ToString(CultureInfo.InvariantCulture)}, filename = true";
        var source = form switch
        {
            TrailForm.Records => $"(SELECT unnest(Records) AS r, filename FROM read_json({fileList}, format = 'auto', records = 'true', {common}, columns = {{Records: '{TypeOf(Tree(fields))}[]'}}))",
            TrailForm.Array => $"read_json({fileList}, format = 'array', {common}, columns = {ColumnsParameter(fields)}) AS r",
            _ => $"read_json({fileList}, format = 'auto', records = 'true', {common}, columns = {ColumnsParameter(fields)}) AS r",
        };
        var columns = fields.Select(f => f.Canonical switch
        {
            "eventID" => $"coalesce({Coalesce(f)}, 'no-event-id-' || gen_random_uuid()::VARCHAR) AS {Quote(f.Canonical)}",
            _ when f.IsJson => $"{UnwrapJson(Coalesce(f))} AS {Quote(f.Canonical)}",
            _ => $"{Coalesce(f)} AS {Quote(f.Canonical)}",
        });
        return $"SELECT {string.Join(", ", columns)}, hash(filename) AS file_id FROM {source}";
    }

    /// <summary>The first pass: aggregates every record into the index, keeping each successful minting call.</summary>
    internal static string IndexSql(IReadOnlyList<string> paths, TrailForm form, bool gzip, TimeWindow window, string capturedKey)
    {
        var all = TrailFields.All.Select(f => f.Canonical).ToList();
        var capture = string.Join(", ", all.Select(n => $"{Quote(n)} := {Quote(n)}::VARCHAR"));
        var mintCredential = string.Join(", ", MintingEvents.Where(e => e != "CreateAccessKey").Select(e => $"'{e}'"));
        var name = string.Format(CultureInfo.InvariantCulture, TrailEvent.NormalizeEventNameSql, "\"eventName\"");
        var time = TimeExpression("\"eventTime\"");
        return $"""
            SELECT access_key_id, arn, source_ip, account, aws_region, file_id, count(*) AS records, min(event_time) AS first_seen, max(event_time) AS last_seen,
              list(struct_pack(minted_key := minted_key, minted_arn := minted_arn, event_name := event_name, event_id := event_id, event_time := event_time))
                FILTER (WHERE (minted_key IS NOT NULL OR minted_arn IS NOT NULL) AND error_code IS NULL) AS mints,
              list(struct_pack({capture})) FILTER (WHERE access_key_id = '{Escape(capturedKey)}') AS captured
            FROM (
              SELECT *, "userIdentity.accessKeyId" AS access_key_id, "userIdentity.arn" AS arn, "sourceIPAddress" AS source_ip,
                coalesce("recipientAccountId", "userIdentity.accountId") AS account, "awsRegion" AS aws_region, file_id,
                {time} AS event_time, "errorCode" AS error_code, "eventName" AS event_name, "eventID" AS event_id,
                CASE WHEN {name} IN ({mintCredential}) THEN json_extract_string("responseElements", '$.credentials.accessKeyId')
                     WHEN {name} = 'CreateAccessKey' THEN json_extract_string("responseElements", '$.accessKey.accessKeyId') END AS minted_key,
                CASE WHEN {name} = 'GetFederationToken' THEN json_extract_string("responseElements", '$.federatedUser.arn')
                     WHEN {name} LIKE 'AssumeRole%' THEN json_extract_string("responseElements", '$.assumedRoleUser.arn') END AS minted_arn
              FROM ({CanonicalSource(paths, form, gzip, all)})
              {WindowFilter(time, window)})
            GROUP BY ALL
            """;
    }

    private static string TimeExpression(string column) =>
        $"coalesce(TRY_CAST({column} AS TIMESTAMP), CASE WHEN regexp_full_match({column}, '[0-9]{{13}}') THEN make_timestamp(TRY_CAST({column} AS BIGINT) * 1000) END)";

    private static string WindowFilter(string time, TimeWindow window)
    {
        var where = new List<string>();
        if (window.Since is { } since)
        {
            where.Add($"{time} >= TIMESTAMP '{since.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}'");
        }

        if (window.Until is { } until)
        {
            where.Add($"{time} < TIMESTAMP '{until.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}'");
        }

        return where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where);
    }

    /// <summary>Deflate inflates at most about 1032 bytes per compressed byte (a 258-byte match in 2 bits; RFC 1951).</summary>
    internal const long MaxDeflateRatio = 1032;

    /// <summary>The uncompressed size of a file: its length, or for gzip the ISIZE trailer (RFC 1952; modulo 4 GiB, more than any CloudTrail file).</summary>
    internal static long UncompressedSize(string path, bool gzip)
    {
        // Through symbolic links (DuckDB reads links of ours; a trail may hold links): FileInfo.Length is the link's own.
        var info = new FileInfo(path);
        if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo target)
        {
            info = target;
        }

        if (!gzip || info.Length < 18)
        {
            return info.Length;
        }

        using var stream = File.OpenRead(path);
        stream.Seek(-4, SeekOrigin.End);
        Span<byte> trailer = stackalloc byte[4];
        stream.ReadExactly(trailer);
        var size = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(trailer);
        if (size > info.Length * MaxDeflateRatio)
        {
            throw new InvalidDataException("truncated or damaged gzip (its trailer states a size it cannot inflate to)");
        }

        // A multi-member gzip reports only its last member, which can look smaller than the file: then
        // assume JSON's usual 20:1 ratio. CloudTrail writes single-member files, whose ISIZE is exact.
        return size >= info.Length ? size : Math.Min(info.Length * 20, 1L << 30);
    }

    // A SIEM export may carry the document as a JSON string; read the object inside it.
    private static string UnwrapJson(string expression) =>
        $"CASE WHEN json_type({expression}) = 'VARCHAR' THEN TRY_CAST(json_extract_string({expression}, '$') AS JSON) ELSE {expression} END";

    private static string Coalesce(TrailFields.Field field)
    {
        var parts = field.Paths.Select(p => "r." + string.Join('.', p.Select(Quote))).ToList();
        return parts.Count == 1 ? parts[0] : $"coalesce({string.Join(", ", parts)})";
    }

    /// <summary>DuckDB's columns parameter: every name any alias uses, nested names as STRUCTs.</summary>
    private static string ColumnsParameter(IEnumerable<TrailFields.Field> fields)
    {
        var tree = Tree(fields);
        return "{" + string.Join(", ", tree.Select(n => $"{Quote(n.Key)}: '{TypeOf(n.Value)}'")) + "}";
    }

    private static SortedDictionary<string, object> Tree(IEnumerable<TrailFields.Field> fields)
    {
        var root = new SortedDictionary<string, object>(StringComparer.Ordinal);
        foreach (var field in fields)
        {
            foreach (var path in field.Paths)
            {
                var node = root;
                for (var i = 0; i < path.Length - 1; i++)
                {
                    if (!node.TryGetValue(path[i], out var child))
                    {
                        child = new SortedDictionary<string, object>(StringComparer.Ordinal);
                        node[path[i]] = child;
                    }

                    node = (SortedDictionary<string, object>)child;
                }

                node[path[^1]] = field.IsJson ? "JSON" : "VARCHAR";
            }
        }

        return root;
    }

    private static string TypeOf(object node) => node switch
    {
        string type => type,
        SortedDictionary<string, object> children => "STRUCT(" + string.Join(", ", children.Select(c => $"{Quote(c.Key)} {TypeOf(c.Value)}")) + ")",
        _ => throw new InvalidOperationException("unexpected node"),
    };

    private static string Quote(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    internal static string Escape(string value) => value.Replace("'", "''", StringComparison.Ordinal);

    private static string FirstLine(string message) => message.Split('\n')[0].Trim();

    /// <summary>Replaces the keys of the lineage, the session ARNs it minted and the attacker's addresses, which later queries join on.</summary>
    public void SetLineage(IEnumerable<string> keys, IEnumerable<string> sessionArns)
    {
        _lineage = keys.ToHashSet(StringComparer.Ordinal);
        _sessionArns = sessionArns.ToHashSet(StringComparer.Ordinal);
        Fill("lineage", _lineage);
        Fill("session_arns", _sessionArns);
    }

    public void SetAttackerIps(IEnumerable<string> ips) => Fill("attacker_ips", ips);

    private void Fill(string table, IEnumerable<string> values)
    {
        Execute($"DELETE FROM {table}");
        using var appender = _connection.CreateAppender(table);
        foreach (var value in values.Distinct(StringComparer.Ordinal))
        {
            var row = appender.CreateRow();
            row.AppendValue(value);
            row.EndRow();
        }
    }

    /// <summary>Successful calls by a lineage key that minted a credential or a session.</summary>
    public IReadOnlyList<MintRecord> Mints()
    {
        const string sql = """
            SELECT access_key_id, minted_key, minted_arn, event_name, event_id, strftime(min(event_time), '%Y-%m-%dT%H:%M:%SZ')
            FROM mints WHERE access_key_id IN (SELECT key FROM lineage)
            GROUP BY ALL
            """;
        return Query(sql, r => new MintRecord(r.GetString(0), Str(r, 1), Str(r, 2), r.GetString(3), r.GetString(4), TrailEvent.ParseTime(Str(r, 5))));
    }

    /// <summary>
    /// Keys seen acting as a session the lineage minted (same ARN) that no recorded call minted: the console
    /// sign-in pivot, where a federation token becomes a console session through the sign-in endpoint.
    /// </summary>
    public IReadOnlyList<(string Key, string Arn, DateTimeOffset? First)> UnmintedKeysOfSessions()
    {
        const string sql = """
            SELECT access_key_id, arn, strftime(min(first_seen), '%Y-%m-%dT%H:%M:%SZ')
            FROM idx
            WHERE arn IN (SELECT arn FROM session_arns) AND access_key_id IS NOT NULL
              AND access_key_id NOT IN (SELECT key FROM lineage)
              AND access_key_id NOT IN (SELECT minted_key FROM mints WHERE minted_key IS NOT NULL)
            GROUP BY access_key_id, arn
            """;
        return Query(sql, r => (r.GetString(0), r.GetString(1), TrailEvent.ParseTime(Str(r, 2))));
    }

    /// <summary>
    /// The second pass: every distinct event of the lineage keys, and the key-less sign-in events of the
    /// sessions it minted, in time order, read in full from the files that hold them.
    /// </summary>
    public IReadOnlyList<TrailEvent> LineageEvents(CancellationToken cancellationToken = default)
    {
        // The leaked key's own records were captured while indexing; only the files that hold records of the
        // keys minted from it (or key-less sign-ins of its sessions) are read again.
        var wanted = Query($"""
            SELECT DISTINCT f.path FROM idx e JOIN files f ON e.file_id = f.file_id
            WHERE (e.access_key_id IN (SELECT key FROM lineage) AND e.access_key_id <> '{Escape(_capturedKey)}')
               OR (e.access_key_id IS NULL AND e.arn IN (SELECT arn FROM session_arns))
            """, r => r.GetString(0)).ToHashSet(StringComparer.Ordinal);
        var names = TrailFields.All.Select(f => f.Canonical).ToList();
        Execute("DROP TABLE IF EXISTS lineage_events");
        Execute($"CREATE TEMP TABLE lineage_events ({string.Join(", ", names.Select(n => $"{Quote(n)} VARCHAR"))})");
        Execute("INSERT INTO lineage_events SELECT * FROM captured WHERE \"userIdentity.accessKeyId\" IN (SELECT key FROM lineage)");
        var files = _files.Where(f => wanted.Contains(f.Path)).DistinctBy(f => f.Path, StringComparer.Ordinal).ToList();
        // The reader that indexed a file reads it again.
        var inProcess = files.Where(f => _readInProcess.Contains(f.Path)).ToList();
        var tooLarge = ReadLineageInProcess(inProcess, cancellationToken);
        foreach (var group in files.Except(inProcess).Concat(tooLarge).GroupBy(f => (f.Form, f.Gzip)))
        {
            var time = TimeExpression("\"eventTime\"");
            var window = WindowFilter(time, _window);
            var filter = $"""
                (("userIdentity.accessKeyId" IN (SELECT key FROM lineage) AND "userIdentity.accessKeyId" <> '{Escape(_capturedKey)}')
                  OR ("userIdentity.accessKeyId" IS NULL AND "userIdentity.arn" IN (SELECT arn FROM session_arns) AND "eventSource" = 'signin.amazonaws.com'))
                """;
            PerGroup([.. group.Select(f => f.Path)], paths => ExecuteNonQuery(
                $"INSERT INTO lineage_events SELECT {string.Join(", ", names.Select(Quote))} FROM ({CanonicalSource(LinksOf(paths), group.Key.Form, group.Key.Gzip, names)}) "
                + (window.Length == 0 ? $"WHERE {filter}" : $"{window} AND {filter}"),
                cancellationToken));
        }

        var sql = $"""
            SELECT {string.Join(", ", names.Select(n => n == "eventTime" ? $"strftime({TimeExpression(Quote(n))}, '%Y-%m-%dT%H:%M:%SZ')" : Quote(n)))}
            FROM (SELECT DISTINCT ON ("eventID") * FROM lineage_events)
            ORDER BY {TimeExpression("\"eventTime\"")}, "eventID"
            """;
        var events = Query(sql, r =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            var columns = new Dictionary<string, string?>(StringComparer.Ordinal);
            for (var i = 0; i < names.Count; i++)
            {
                columns[names[i]] = Str(r, i);
            }

            try
            {
                return TrailEvent.FromColumns(columns);
            }
            catch (JsonException)
            {
                // DuckDB has no depth limit; the in-process reader and System.Text.Json hold every record to 512 levels.
                _unreadable.Enqueue($"event {columns["eventID"]}: nested deeper than {RecordsReader.MaxDepth} levels, not read");
                return null;
            }
        });
        return [.. events.OfType<TrailEvent>()];
    }

    /// <summary>The second pass over CloudTrail's own files (those the index shows hold wanted records): only matching records are parsed in full.</summary>
    private List<TrailFile> ReadLineageInProcess(List<TrailFile> files, CancellationToken cancellationToken)
    {
        if (files.Count == 0)
        {
            return [];
        }

        var keys = _lineage.Where(k => k != _capturedKey).ToHashSet(StringComparer.Ordinal);
        using var appender = _connection.CreateAppender("lineage_events");
        var gate = new object();
        return ForEachFile(files, cancellationToken, (file, json) =>
        {
            var sink = new LineageSink(keys, _sessionArns);
            RecordsReader.Walk(json, _window, sink);
            lock (gate)
            {
                foreach (var columns in sink.Records)
                {
                    AppendRow(appender, columns);
                }
            }
        });
    }

    internal static void AppendRow(DuckDBAppender appender, IReadOnlyList<string?> columns)
    {
        var row = appender.CreateRow();
        foreach (var value in columns)
        {
            if (value is null)
            {
                row.AppendNullValue();
            }
            else
            {
                row.AppendValue(value);
            }
        }

        row.EndRow();
    }

    /// <summary>Other principals active from the attacker's addresses.</summary>
    public IReadOnlyList<IpPivotEntry> IpPivot()
    {
        const string sql = """
            SELECT source_ip, coalesce(arn, '(unknown)'), any_value(access_key_id), sum(records)::BIGINT,
              strftime(min(first_seen), '%Y-%m-%dT%H:%M:%SZ'), strftime(max(last_seen), '%Y-%m-%dT%H:%M:%SZ')
            FROM idx
            WHERE source_ip IN (SELECT ip FROM attacker_ips)
              AND (access_key_id IS NULL OR access_key_id NOT IN (SELECT key FROM lineage))
              AND NOT (access_key_id IS NULL AND coalesce(arn IN (SELECT arn FROM session_arns), false))
            GROUP BY 1, 2
            ORDER BY 1, 2
            """;
        return Query(sql, r => new IpPivotEntry(r.GetString(0), r.GetString(1), Str(r, 2), r.GetInt64(3), TrailEvent.ParseTime(Str(r, 4)), TrailEvent.ParseTime(Str(r, 5))));
    }

    /// <summary>Regions each account uses without the leaked key: events of other principals from other addresses.</summary>
    public IReadOnlyDictionary<string, IReadOnlySet<string>> UsualRegions()
    {
        const string sql = """
            SELECT account, aws_region
            FROM idx
            WHERE (access_key_id IS NULL OR access_key_id NOT IN (SELECT key FROM lineage))
              AND (source_ip IS NULL OR source_ip NOT IN (SELECT ip FROM attacker_ips))
              AND aws_region IS NOT NULL AND account IS NOT NULL
            GROUP BY 1, 2
            """;
        var result = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var (account, region) in Query(sql, r => (r.GetString(0), r.GetString(1))))
        {
            if (!result.TryGetValue(account, out var set))
            {
                result[account] = set = new HashSet<string>(StringComparer.Ordinal);
            }

            set.Add(region);
        }

        return result.ToDictionary(p => p.Key, p => (IReadOnlySet<string>)p.Value, StringComparer.Ordinal);
    }

    private List<T> Query<T>(string sql, Func<DuckDBDataReader, T> map)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        using var reader = (DuckDBDataReader)command.ExecuteReader();
        var list = new List<T>();
        while (reader.Read())
        {
            list.Add(map(reader));
        }

        return list;
    }

    private static string? Str(DuckDBDataReader reader, int i) => reader.IsDBNull(i) ? null : reader.GetValue(i).ToString();

    private void Execute(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public void Dispose() => _connection.Dispose();
}

/// <summary>A call by <paramref name="ParentKey"/> that minted <paramref name="MintedKey"/> or the session <paramref name="MintedArn"/>.</summary>
public sealed record MintRecord(string ParentKey, string? MintedKey, string? MintedArn, string EventName, string EventId, DateTimeOffset? EventTime);

/// <summary>Another principal seen from an address the leaked key used.</summary>
public sealed record IpPivotEntry(string SourceIp, string Principal, string? AccessKeyId, long EventCount, DateTimeOffset? FirstSeen, DateTimeOffset? LastSeen);
