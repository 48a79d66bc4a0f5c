using System.Text;
using DuckDB.NET.Data;

namespace Keywarden.Investigation.Loading;

/// <summary>
/// The first pass over one file: index rows aggregated by (key, ARN, address, account, region), the calls
/// that minted a key or a session, and the captured key's own records in full, as the DuckDB loader makes them.
/// </summary>
internal sealed class IndexSink(string capturedKey) : IRecordSink
{
    private static readonly int EventIdColumn = TrailFields.All.ToList().FindIndex(f => f.Canonical == "eventID");
    private static readonly RecordField[] GroupFields = [RecordField.AccessKeyId, RecordField.Arn, RecordField.SourceIp, RecordField.RecipientAccount, RecordField.Region];

    // Rows are found by the bytes of their five values, so a record makes no string unless it starts a row.
    private readonly Dictionary<byte[], Row> _rows = new(ByteKeyComparer.Instance);
    private readonly byte[] _captured = Encoding.UTF8.GetBytes(capturedKey);
    private readonly List<(string? Key, string? MintedKey, string? MintedArn, string? Name, string Id, DateTime? Time)> _mints = [];
    private readonly List<string?[]> _capturedRecords = [];
    private byte[] _scratch = new byte[1024];

    public void Record(in RecordView record)
    {
        var length = 0;
        foreach (var field in GroupFields)
        {
            var actual = field == RecordField.RecipientAccount ? record.AccountField : field;
            var present = record.TryGetBytes(actual, out var bytes);
            if (_scratch.Length < length + bytes.Length + 1)
            {
                Array.Resize(ref _scratch, (length + bytes.Length + 1) * 2);
            }

            if (present)
            {
                bytes.CopyTo(_scratch.AsSpan(length));
                length += bytes.Length;
                _scratch[length++] = 0xFF; // never in UTF-8: ends a value
            }
            else
            {
                _scratch[length++] = 0xFE; // no value
            }
        }

        var lookup = _rows.GetAlternateLookup<ReadOnlySpan<byte>>();
        var key = _scratch.AsSpan(0, length);
        if (!lookup.TryGetValue(key, out var row))
        {
            row = new Row(record.String(RecordField.AccessKeyId), record.String(RecordField.Arn), record.String(RecordField.SourceIp),
                record.String(record.AccountField), record.String(RecordField.Region));
            lookup[key] = row;
        }

        var time = record.Time;
        row.Add(time);
        if (record.Minted() is var (mintedKey, mintedArn) && (mintedKey is not null || mintedArn is not null))
        {
            _mints.Add((row.Key, mintedKey, mintedArn, record.String(RecordField.EventName), record.String(RecordField.EventId) ?? NoEventId(), time));
        }

        if (record.Equals(RecordField.AccessKeyId, _captured))
        {
            _capturedRecords.Add(Canonical(record.Record));
        }
    }

    /// <summary>A record's canonical columns; a record without an eventID gets one, as the DuckDB loader gives it.</summary>
    internal static string?[] Canonical(ReadOnlySpan<byte> record)
    {
        var columns = RecordsReader.CanonicalColumns(record);
        columns[EventIdColumn] ??= NoEventId();
        return columns;
    }

    private static string NoEventId() => "no-event-id-" + Guid.NewGuid().ToString("D");

    public void AppendTo(DuckDBAppender index, DuckDBAppender mints, DuckDBAppender captured, ulong fileId)
    {
        foreach (var row in _rows.Values)
        {
            index.CreateRow()
                .AppendValue(row.Key).AppendValue(row.Arn).AppendValue(row.Ip).AppendValue(row.Account).AppendValue(row.Region)
                .AppendValue(fileId).AppendValue(row.Count).AppendValue(row.First).AppendValue(row.Last)
                .EndRow();
        }

        foreach (var mint in _mints)
        {
            mints.CreateRow()
                .AppendValue(mint.Key).AppendValue(mint.MintedKey).AppendValue(mint.MintedArn)
                .AppendValue(mint.Name).AppendValue(mint.Id).AppendValue(mint.Time)
                .EndRow();
        }

        foreach (var columns in _capturedRecords)
        {
            TrailStore.AppendRow(captured, columns);
        }
    }

    private sealed class Row(string? key, string? arn, string? ip, string? account, string? region)
    {
        public string? Key { get; } = key;
        public string? Arn { get; } = arn;
        public string? Ip { get; } = ip;
        public string? Account { get; } = account;
        public string? Region { get; } = region;
        public long Count { get; private set; }
        public DateTime? First { get; private set; }
        public DateTime? Last { get; private set; }

        public void Add(DateTime? time)
        {
            Count++;
            if (time is { } t)
            {
                First = First is { } f && f <= t ? f : t;
                Last = Last is { } l && l >= t ? l : t;
            }
        }
    }

    /// <summary>byte[] keys looked up by span, so a lookup allocates nothing.</summary>
    private sealed class ByteKeyComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static ByteKeyComparer Instance { get; } = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => GetHashCode((ReadOnlySpan<byte>)obj);

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate)
        {
            var hash = new HashCode();
            hash.AddBytes(alternate);
            return hash.ToHashCode();
        }

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
    }
}

/// <summary>
/// The second pass over one file: the records of the lineage's other keys, and the key-less console
/// sign-ins of the sessions it minted, in full.
/// </summary>
internal sealed class LineageSink(IReadOnlySet<string> keys, IReadOnlySet<string> sessionArns) : IRecordSink
{
    public List<string?[]> Records { get; } = [];

    public void Record(in RecordView record)
    {
        var wanted = record.Has(RecordField.AccessKeyId)
            ? keys.Contains(record.String(RecordField.AccessKeyId)!)
            : record.String(RecordField.Arn) is { } arn && sessionArns.Contains(arn) && record.Equals(RecordField.EventSource, "signin.amazonaws.com"u8);
        if (wanted)
        {
            Records.Add(IndexSink.Canonical(record.Record));
        }
    }
}
