using System.Globalization;
using System.Text;
using DuckDB.NET.Data;
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
/// The analytical store: an embedded DuckDB database in a work folder. DuckDB reads the JSON (plain or
/// gzipped) itself, in parallel, with explicit column types, into a narrow table of the fields the
/// investigation reads; the request and response documents are kept only for the events a rule or the
/// eradication catalog looks at. The database lives on disk with a memory limit, so a year of an
/// organization's trail fits a small machine: DuckDB spills to its temp folder instead of growing.
/// </summary>
public sealed class TrailStore : IDisposable
{
    /// <summary>Calls whose answer carries a new credential (responseElements.credentials.accessKeyId) or session ARN.</summary>
    internal static readonly string[] MintingEvents = ["GetSessionToken", "GetFederationToken", "AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity", "AssumeRoot", "CreateAccessKey"];

    /// <summary>The largest single record DuckDB accepts in array and JSON-lines files (CloudTrail records are kilobytes).</summary>
    private const long MaxRecordBytes = 16L << 20;
    private readonly DuckDBConnection _connection;
    private long _loaded;

    public TrailStore(string workFolder, int? threads = null, string memoryLimit = "2GB")
    {
        Directory.CreateDirectory(workFolder);
        _connection = new DuckDBConnection($"DataSource={Path.Combine(workFolder, "trail.duckdb")}");
        _connection.Open();
        Execute($"SET memory_limit = '{memoryLimit}'");
        Execute($"SET temp_directory = '{Escape(Path.Combine(workFolder, "spill"))}'");
        Execute("SET preserve_insertion_order = false");
        if (threads is > 0)
        {
            Execute($"SET threads = {threads.Value.ToString(CultureInfo.InvariantCulture)}");
        }

        Execute("""
            CREATE TABLE events (
              event_id VARCHAR, event_time TIMESTAMP, event_source VARCHAR, event_name VARCHAR, raw_event_name VARCHAR,
              aws_region VARCHAR, source_ip VARCHAR, user_agent VARCHAR, error_code VARCHAR, error_message VARCHAR,
              identity_type VARCHAR, principal_id VARCHAR, arn VARCHAR, account_id VARCHAR, access_key_id VARCHAR, user_name VARCHAR,
              recipient_account_id VARCHAR, read_only VARCHAR, event_type VARCHAR,
              minted_key VARCHAR, minted_arn VARCHAR, request_parameters VARCHAR, response_elements VARCHAR)
            """);
        Execute("CREATE TEMP TABLE lineage (key VARCHAR)");
        Execute("CREATE TEMP TABLE session_arns (arn VARCHAR)");
        Execute("CREATE TEMP TABLE attacker_ips (ip VARCHAR)");
    }

    /// <summary>Rows loaded so far (before deduplication).</summary>
    public long Loaded => _loaded;

    /// <summary>
    /// Loads files into the store. Files of one form and compression are read by one DuckDB query, in
    /// parallel; a failing group is retried file by file so the error names its file.
    /// </summary>
    public long Load(IReadOnlyList<TrailFile> files, TimeWindow window, IReadOnlySet<string> keepDocumentsFor, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(files);
        long total = 0;
        foreach (var group in files.GroupBy(f => (f.Form, f.Gzip)))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var paths = group.Select(f => f.Path).ToList();
            try
            {
                total += LoadGroup(paths, group.Key.Form, group.Key.Gzip, window, keepDocumentsFor, cancellationToken);
            }
            catch (DuckDBException) when (paths.Count > 1)
            {
                foreach (var path in paths)
                {
                    total += LoadOne(path, group.Key.Form, group.Key.Gzip, window, keepDocumentsFor, cancellationToken);
                }
            }
            catch (DuckDBException e)
            {
                throw new TrailInputException($"{paths[0]}: cannot read CloudTrail records: {FirstLine(e.Message)}", e);
            }
        }

        _loaded += total;
        return total;
    }

    private long LoadOne(string path, TrailForm form, bool gzip, TimeWindow window, IReadOnlySet<string> keep, CancellationToken cancellationToken)
    {
        try
        {
            return LoadGroup([path], form, gzip, window, keep, cancellationToken);
        }
        catch (DuckDBException e)
        {
            throw new TrailInputException($"{path}: cannot read CloudTrail records: {FirstLine(e.Message)}", e);
        }
    }

    private long LoadGroup(IReadOnlyList<string> paths, TrailForm form, bool gzip, TimeWindow window, IReadOnlySet<string> keep, CancellationToken cancellationToken)
    {
        var sql = LoadSql(paths, form, gzip, window, keep);
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        using var registration = cancellationToken.Register(command.Cancel);
        var rows = command.ExecuteNonQuery();
        cancellationToken.ThrowIfCancellationRequested();
        return rows;
    }

    /// <summary>The INSERT … SELECT that reads one group of files; public for --emit-athena's sibling docs and tests.</summary>
    internal static string LoadSql(IReadOnlyList<string> paths, TrailForm form, bool gzip, TimeWindow window, IReadOnlySet<string> keep)
    {
        var fileList = "[" + string.Join(", ", paths.Select(p => $"'{Escape(p)}'")) + "]";
        // DuckDB reserves a buffer of twice maximum_object_size per reading thread: size it to the group's
        // largest {"Records":[...]} file (one object), and to one record for the other forms.
        var maxObject = form == TrailForm.Records ? Math.Max(1L << 20, paths.Max(p => UncompressedSize(p, gzip)) + 1024) : MaxRecordBytes;
        var common = $"compression = '{(gzip ? "gzip" : "uncompressed")}', maximum_object_size = {maxObject.ToString(CultureInfo.InvariantCulture)}";
        var source = form switch
        {
            TrailForm.Records => $"(SELECT unnest(Records) AS r FROM read_json({fileList}, format = 'auto', records = 'true', {common}, columns = {{Records: '{StructType(TrailFields.All)}[]'}}))",
            TrailForm.Array => $"read_json({fileList}, format = 'array', {common}, columns = {ColumnsParameter()}) AS r",
            _ => $"read_json({fileList}, format = 'auto', records = 'true', {common}, columns = {ColumnsParameter()}) AS r",
        };

        string Pick(string canonical) => Coalesce(TrailFields.Get(canonical));
        var keepList = keep.Count == 0 ? "''" : string.Join(", ", keep.Order(StringComparer.Ordinal).Select(k => $"'{Escape(k)}'"));
        var mintCredential = string.Join(", ", MintingEvents.Where(e => e != "CreateAccessKey").Select(e => $"'{e}'"));
        var time = Pick("eventTime");
        var sb = new StringBuilder();
        sb.Append("INSERT INTO events SELECT event_id, event_time, event_source, event_name, raw_event_name, aws_region, source_ip, user_agent, error_code, error_message, ")
          .Append("identity_type, principal_id, arn, account_id, access_key_id, user_name, recipient_account_id, read_only, event_type, ")
          .Append($"CASE WHEN event_name IN ({mintCredential}) THEN json_extract_string(resp, '$.credentials.accessKeyId') WHEN event_name = 'CreateAccessKey' THEN json_extract_string(resp, '$.accessKey.accessKeyId') END, ")
          .Append("CASE WHEN event_name = 'GetFederationToken' THEN json_extract_string(resp, '$.federatedUser.arn') WHEN event_name LIKE 'AssumeRole%' THEN json_extract_string(resp, '$.assumedRoleUser.arn') END, ")
          .Append($"CASE WHEN event_name IN ({keepList}) THEN CAST(req AS VARCHAR) END, ")
          .Append($"CASE WHEN event_name IN ({keepList}) OR event_name IN ({mintCredential}, 'CreateAccessKey') THEN CAST(resp AS VARCHAR) END ")
          .Append("FROM (SELECT ")
          .Append($"coalesce({Pick("eventID")}, 'no-event-id-' || gen_random_uuid()::VARCHAR) AS event_id, ")
          .Append($"coalesce(TRY_CAST({time} AS TIMESTAMP), CASE WHEN regexp_full_match({time}, '[0-9]{{13}}') THEN make_timestamp(TRY_CAST({time} AS BIGINT) * 1000) END) AS event_time, ")
          .Append($"{Pick("eventSource")} AS event_source, ")
          .Append($"{string.Format(CultureInfo.InvariantCulture, TrailEvent.NormalizeEventNameSql, Pick("eventName"))} AS event_name, ")
          .Append($"{Pick("eventName")} AS raw_event_name, ")
          .Append($"{Pick("awsRegion")} AS aws_region, {Pick("sourceIPAddress")} AS source_ip, {Pick("userAgent")} AS user_agent, ")
          .Append($"{Pick("errorCode")} AS error_code, {Pick("errorMessage")} AS error_message, ")
          .Append($"{Pick("userIdentity.type")} AS identity_type, {Pick("userIdentity.principalId")} AS principal_id, {Pick("userIdentity.arn")} AS arn, ")
          .Append($"{Pick("userIdentity.accountId")} AS account_id, {Pick("userIdentity.accessKeyId")} AS access_key_id, {Pick("userIdentity.userName")} AS user_name, ")
          .Append($"{Pick("recipientAccountId")} AS recipient_account_id, {Pick("readOnly")} AS read_only, {Pick("eventType")} AS event_type, ")
          .Append($"{UnwrapJson(Pick("requestParameters"))} AS req, {UnwrapJson(Pick("responseElements"))} AS resp ")
          .Append("FROM ").Append(source).Append(") ");
        var where = new List<string>();
        if (window.Since is { } since)
        {
            where.Add($"event_time >= TIMESTAMP '{since.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}'");
        }

        if (window.Until is { } until)
        {
            where.Add($"event_time < TIMESTAMP '{until.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}'");
        }

        if (where.Count > 0)
        {
            sb.Append("WHERE ").Append(string.Join(" AND ", where));
        }

        return sb.ToString();
    }

    /// <summary>The uncompressed size of a file: its length, or for gzip the ISIZE trailer (RFC 1952; modulo 4 GiB, more than any CloudTrail file).</summary>
    internal static long UncompressedSize(string path, bool gzip)
    {
        var info = new FileInfo(path);
        if (!gzip || info.Length < 18)
        {
            return info.Length;
        }

        using var stream = File.OpenRead(path);
        stream.Seek(-4, SeekOrigin.End);
        Span<byte> trailer = stackalloc byte[4];
        stream.ReadExactly(trailer);
        var size = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(trailer);

        // A multi-member gzip reports only its last member: never trust less than the compressed length × 20.
        return Math.Max(size, info.Length * 20);
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
    private static string ColumnsParameter()
    {
        var tree = Tree(TrailFields.All);
        return "{" + string.Join(", ", tree.Select(n => $"{Quote(n.Key)}: '{TypeOf(n.Value)}'")) + "}";
    }

    private static string StructType(IEnumerable<TrailFields.Field> fields) => TypeOf(Tree(fields));

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
        Fill("lineage", keys);
        Fill("session_arns", sessionArns);
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
            SELECT DISTINCT ON (event_id) access_key_id, minted_key, minted_arn, event_name, event_id, strftime(event_time, '%Y-%m-%dT%H:%M:%SZ')
            FROM events
            WHERE access_key_id IN (SELECT key FROM lineage) AND (minted_key IS NOT NULL OR minted_arn IS NOT NULL) AND error_code IS NULL
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
            SELECT access_key_id, arn, strftime(min(event_time), '%Y-%m-%dT%H:%M:%SZ')
            FROM events
            WHERE arn IN (SELECT arn FROM session_arns) AND access_key_id IS NOT NULL
              AND access_key_id NOT IN (SELECT key FROM lineage)
              AND access_key_id NOT IN (SELECT minted_key FROM events WHERE minted_key IS NOT NULL)
            GROUP BY access_key_id, arn
            """;
        return Query(sql, r => (r.GetString(0), r.GetString(1), TrailEvent.ParseTime(Str(r, 2))));
    }

    /// <summary>Every distinct event of the lineage keys, and the key-less sign-in events of the sessions it minted, in time order.</summary>
    public IReadOnlyList<TrailEvent> LineageEvents(CancellationToken cancellationToken = default)
    {
        const string sql = """
            SELECT * FROM (
              SELECT DISTINCT ON (event_id) event_id, strftime(event_time, '%Y-%m-%dT%H:%M:%SZ') AS t, event_source, raw_event_name, aws_region, source_ip, user_agent,
                error_code, error_message, identity_type, principal_id, arn, account_id, access_key_id, user_name, recipient_account_id, read_only, event_type,
                request_parameters, response_elements, event_time
              FROM events
              WHERE access_key_id IN (SELECT key FROM lineage)
                 OR (access_key_id IS NULL AND arn IN (SELECT arn FROM session_arns) AND event_source = 'signin.amazonaws.com'))
            ORDER BY event_time, event_id
            """;
        string[] names = ["eventID", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress", "userAgent", "errorCode", "errorMessage",
            "userIdentity.type", "userIdentity.principalId", "userIdentity.arn", "userIdentity.accountId", "userIdentity.accessKeyId", "userIdentity.userName",
            "recipientAccountId", "readOnly", "eventType", "requestParameters", "responseElements"];
        return Query(sql, r =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            var columns = new Dictionary<string, string?>(StringComparer.Ordinal);
            for (var i = 0; i < names.Length; i++)
            {
                columns[names[i]] = Str(r, i);
            }

            return TrailEvent.FromColumns(columns);
        });
    }

    /// <summary>Other principals active from the attacker's addresses.</summary>
    public IReadOnlyList<IpPivotEntry> IpPivot()
    {
        const string sql = """
            SELECT source_ip, coalesce(arn, principal_id, identity_type, '(unknown)'), any_value(access_key_id), count(DISTINCT event_id),
              strftime(min(event_time), '%Y-%m-%dT%H:%M:%SZ'), strftime(max(event_time), '%Y-%m-%dT%H:%M:%SZ')
            FROM events
            WHERE source_ip IN (SELECT ip FROM attacker_ips)
              AND (access_key_id IS NULL OR access_key_id NOT IN (SELECT key FROM lineage))
              AND NOT (access_key_id IS NULL AND arn IN (SELECT arn FROM session_arns))
            GROUP BY 1, 2
            ORDER BY 1, 2
            """;
        return Query(sql, r => new IpPivotEntry(r.GetString(0), r.GetString(1), Str(r, 2), r.GetInt64(3), TrailEvent.ParseTime(Str(r, 4)), TrailEvent.ParseTime(Str(r, 5))));
    }

    /// <summary>Regions each account uses without the leaked key: events of other principals from other addresses.</summary>
    public IReadOnlyDictionary<string, IReadOnlySet<string>> UsualRegions()
    {
        const string sql = """
            SELECT coalesce(recipient_account_id, account_id), aws_region
            FROM events
            WHERE (access_key_id IS NULL OR access_key_id NOT IN (SELECT key FROM lineage))
              AND (source_ip IS NULL OR source_ip NOT IN (SELECT ip FROM attacker_ips))
              AND aws_region IS NOT NULL AND coalesce(recipient_account_id, account_id) IS NOT NULL
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

    /// <summary>Distinct events in the store.</summary>
    public long DistinctEvents() => Query("SELECT count(DISTINCT event_id) FROM events", r => r.GetInt64(0))[0];

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
