using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace Keywarden.Investigation.Loading;

/// <summary>The fields of a record that the index and the lineage read.</summary>
internal enum RecordField
{
    AccessKeyId,
    Arn,
    IdentityAccount,
    SourceIp,
    RecipientAccount,
    Region,
    EventName,
    EventSource,
    ErrorCode,
    EventId,
    EventTime,
}

/// <summary>Where a field's value is: a span of the file (a string without escapes, or a number or boolean as written), or text unescaped once.</summary>
internal struct FieldValue
{
    public int Start;
    public int Length;
    public string? Text;

    public readonly bool IsPresent => Length >= 0 || Text is not null;
}

[System.Runtime.CompilerServices.InlineArray(11)]
internal struct RecordFieldValues
{
    private FieldValue _first;
}

/// <summary>
/// One record as the reader found it, without building it: where each field's value is in the file and
/// where the responseElements document is. Strings are made only when asked for.
/// </summary>
internal ref struct RecordView
{
    public ReadOnlySpan<byte> Json;
    public RecordFieldValues Values;
    public int ResponseStart;
    public int ResponseEnd;
    public int Start;
    public int End;

    public readonly ReadOnlySpan<byte> Record => Json[Start..End];

    public readonly bool Has(RecordField field) => Values[(int)field].IsPresent;

    /// <summary>The value's UTF-8 bytes (unescaped), or false when absent.</summary>
    public readonly bool TryGetBytes(RecordField field, out ReadOnlySpan<byte> bytes)
    {
        var value = Values[(int)field];
        if (value.Text is { } text)
        {
            bytes = Encoding.UTF8.GetBytes(text);
            return true;
        }

        bytes = value.Length >= 0 ? Json.Slice(value.Start, value.Length) : default;
        return value.Length >= 0;
    }

    public readonly string? String(RecordField field)
    {
        var value = Values[(int)field];
        return value.Text ?? (value.Length >= 0 ? Encoding.UTF8.GetString(Json.Slice(value.Start, value.Length)) : null);
    }

    public readonly bool Equals(RecordField field, ReadOnlySpan<byte> utf8)
    {
        var value = Values[(int)field];
        return value.Text is { } text ? Encoding.UTF8.GetBytes(text).AsSpan().SequenceEqual(utf8)
            : value.Length >= 0 && Json.Slice(value.Start, value.Length).SequenceEqual(utf8);
    }

    /// <summary>The account the event happened in: recipientAccountId, else the caller's account (as the DuckDB loader coalesces them).</summary>
    public readonly RecordField AccountField => Has(RecordField.RecipientAccount) ? RecordField.RecipientAccount : RecordField.IdentityAccount;

    public readonly DateTime? Time => Values[(int)RecordField.EventTime] is { Text: null, Length: 20 } value
        ? RecordsReader.ParseTime(Json.Slice(value.Start, value.Length)) : RecordsReader.ParseTime(String(RecordField.EventTime));

    /// <summary>The key or session a successful minting call returned, as the DuckDB loader finds it; (null, null) for other calls.</summary>
    public readonly (string? Key, string? Arn) Minted()
    {
        if (ResponseStart < 0 || Has(RecordField.ErrorCode) || String(RecordField.EventName) is not { } name || !RecordsReader.MightMint(name))
        {
            return (null, null);
        }

        return RecordsReader.Minted(Analysis.TrailEvent.NormalizeEventName(name), Json[ResponseStart..ResponseEnd]);
    }
}

/// <summary>Receives the records of a file.</summary>
internal interface IRecordSink
{
    void Record(in RecordView record);
}

/// <summary>
/// Reads CloudTrail's own <c>{"Records":[...]}</c> files in process, which is most of any trail: the file is
/// inflated whole (GZipStream is zlib-ng) and Utf8JsonReader walks each record once, taking the dozen fields
/// the index needs and skipping the rest; only the records a caller asks for are parsed in full. On the
/// 5-million-event benchmark this reads about twice as fast as DuckDB's read_json with typed columns, which
/// must build every record before it can filter. DuckDB still stores the index and answers the queries,
/// and reads the other forms (bare arrays and JSON lines, with the field names of SIEM exports).
/// Written here because no package reads CloudTrail; the JSON itself is System.Text.Json's.
/// </summary>
internal static class RecordsReader
{
    /// <summary>
    /// Files larger than this (inflated) go to DuckDB, which streams them. CloudTrail delivers a file every
    /// few minutes per account and region, a few MB inflated; one thread holds one file, so this bounds the
    /// reader's memory to threads × 256 MiB.
    /// </summary>
    public const long DefaultMaxInMemory = 256L << 20;

    /// <summary>Calls whose answer carries a new credential at responseElements.credentials.accessKeyId.</summary>
    private static readonly HashSet<string> MintsCredential = new(TrailStore.MintingEvents.Where(e => e != "CreateAccessKey"), StringComparer.Ordinal);

    public static bool Handles(TrailFile file, long maxInMemory) =>
        file.Form == TrailForm.Records && TrailStore.UncompressedSize(file.Path, file.Gzip) <= maxInMemory;

    /// <summary>The whole file, inflated, into <paramref name="buffer"/> (grown as needed); returns its length.</summary>
    public static int ReadAll(TrailFile file, ref byte[] buffer, long maxInMemory)
    {
        maxInMemory = Math.Min(maxInMemory, Array.MaxLength);
        var expected = TrailStore.UncompressedSize(file.Path, file.Gzip);
        if (buffer.Length < expected + 1)
        {
            buffer = new byte[Math.Min(maxInMemory, expected + 1)];
        }

        using var stream = new FileStream(file.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        using Stream source = file.Gzip ? new GZipStream(stream, CompressionMode.Decompress) : stream;
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                if (buffer.Length >= maxInMemory)
                {
                    // Full: a file of exactly the limit ends here; anything more is too large.
                    if (source.ReadByte() < 0)
                    {
                        return length;
                    }

                    throw new TrailFileTooLargeException();
                }

                Array.Resize(ref buffer, (int)Math.Min(maxInMemory, (long)buffer.Length * 2));
            }

            var read = source.Read(buffer, length, buffer.Length - length);
            if (read == 0)
            {
                if (file.Gzip)
                {
                    CheckComplete(file.Path, length);
                }

                return length;
            }

            length += read;
            if (length > maxInMemory)
            {
                throw new TrailFileTooLargeException();
            }
        }
    }

    /// <summary>
    /// GZipStream ends quietly where a gzip file is cut short, as if the data ended there. A single-member
    /// file's trailer (ISIZE, RFC 1952) states the inflated size: when it differs from what was read, the file
    /// is either several members (trails merged with `cat`) or cut short, and SharpZipLib, which checks every
    /// member's end and CRC, tells which.
    /// </summary>
    private static void CheckComplete(string path, int length)
    {
        using (var trailer = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1))
        {
            if (trailer.Length >= 18)
            {
                trailer.Seek(-4, SeekOrigin.End);
                Span<byte> size = stackalloc byte[4];
                trailer.ReadExactly(size);
                if (System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(size) == (uint)length)
                {
                    return;
                }
            }
        }

        CheckGzip(path);
    }

    /// <summary>Inflates a gzip file to its end, every member, checking each CRC; a file cut short or damaged is an <see cref="InvalidDataException"/>.</summary>
    internal static void CheckGzip(string path)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            using var gzip = new ICSharpCode.SharpZipLib.GZip.GZipInputStream(file);
            gzip.CopyTo(Stream.Null);
        }
        catch (Exception e) when (e is ICSharpCode.SharpZipLib.SharpZipBaseException or EndOfStreamException)
        {
            throw new InvalidDataException("truncated or damaged gzip (the file ends before its compressed data does)", e);
        }
    }

    /// <summary>Walks the records of one file; returns how many there were (within the window or not).</summary>
    public static long Walk(ReadOnlySpan<byte> json, TimeWindow window, IRecordSink sink)
    {
        if (json.StartsWith(Encoding.UTF8.Preamble))
        {
            json = json[3..];
        }

        // Several objects one after another are read as DuckDB reads them: every one (trails merged with
        // `cat`, including gzip files concatenated into one multi-member file).
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = MaxDepth, AllowMultipleValues = true });
        long records = 0;
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                continue;
            }

            records += WalkObject(ref reader, json, window, sink);
        }

        return records;
    }

    internal const int MaxDepth = 512;

    internal static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = MaxDepth };

    private static long WalkObject(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, TimeWindow window, IRecordSink sink)
    {
        long records = 0;
        while (Next(ref reader) == JsonTokenType.PropertyName)
        {
            if (!reader.ValueTextEquals("Records"u8))
            {
                Next(ref reader);
                reader.Skip();
                continue;
            }

            if (Next(ref reader) != JsonTokenType.StartArray)
            {
                reader.Skip();
                continue;
            }

            while (Next(ref reader) != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    reader.Skip();
                    continue;
                }

                var view = new RecordView { Json = json, Start = (int)reader.TokenStartIndex };
                ReadRecord(ref reader, ref view);
                view.End = (int)reader.BytesConsumed;
                records++;
                if (window.Since is null && window.Until is null || InWindow(view.Time, window))
                {
                    sink.Record(view);
                }
            }
        }

        return records;
    }

    private static bool InWindow(DateTime? time, TimeWindow window) => time is { } t && window.Contains(new DateTimeOffset(t, TimeSpan.Zero));

    private static JsonTokenType Next(ref Utf8JsonReader reader)
    {
        if (!reader.Read())
        {
            throw new JsonException("the file ends inside the JSON");
        }

        return reader.TokenType;
    }

    private static void ReadRecord(ref Utf8JsonReader reader, ref RecordView view)
    {
        for (var i = 0; i < RecordFieldCount; i++)
        {
            view.Values[i] = new FieldValue { Length = -1 };
        }

        view.ResponseStart = view.ResponseEnd = -1;
        while (Next(ref reader) == JsonTokenType.PropertyName)
        {
            switch (TopLevelField(ref reader))
            {
                case Identity:
                    if (Next(ref reader) != JsonTokenType.StartObject)
                    {
                        reader.Skip();
                        continue;
                    }

                    while (Next(ref reader) == JsonTokenType.PropertyName)
                    {
                        var field = reader.ValueTextEquals("accessKeyId"u8) ? RecordField.AccessKeyId
                            : reader.ValueTextEquals("arn"u8) ? RecordField.Arn
                            : reader.ValueTextEquals("accountId"u8) ? RecordField.IdentityAccount : (RecordField)(-1);
                        if (field >= 0)
                        {
                            view.Values[(int)field] = Scalar(ref reader);
                        }
                        else
                        {
                            Next(ref reader);
                            reader.Skip();
                        }
                    }

                    break;
                case Response:
                    Next(ref reader);
                    if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.String)
                    {
                        view.ResponseStart = (int)reader.TokenStartIndex;
                        reader.Skip();
                        view.ResponseEnd = (int)reader.BytesConsumed;
                    }

                    break;
                case Other:
                    Next(ref reader);
                    reader.Skip();
                    break;
                case var field:
                    view.Values[field] = Scalar(ref reader);
                    break;
            }
        }
    }

    private const int RecordFieldCount = 11;
    private const int Identity = -1;
    private const int Response = -2;
    private const int Other = -3;

    /// <summary>Which top-level property the reader is on: a <see cref="RecordField"/>, or userIdentity, responseElements, or another.</summary>
    private static int TopLevelField(ref Utf8JsonReader reader)
    {
        if (reader.ValueIsEscaped || reader.HasValueSequence)
        {
            // Never in CloudTrail's files; compare the unescaped name.
            var name = reader.GetString()!;
            return name switch
            {
                "userIdentity" => Identity,
                "responseElements" => Response,
                _ => Array.IndexOf(TopLevelNames, name) is var i and >= 0 ? (int)TopLevelFields[i] : Other,
            };
        }

        // Dispatch on length first: most names are ruled out without comparing bytes.
        var span = reader.ValueSpan;
        return span.Length switch
        {
            7 when span.SequenceEqual("eventID"u8) => (int)RecordField.EventId,
            9 when span.SequenceEqual("eventTime"u8) => (int)RecordField.EventTime,
            9 when span.SequenceEqual("eventName"u8) => (int)RecordField.EventName,
            9 when span.SequenceEqual("awsRegion"u8) => (int)RecordField.Region,
            9 when span.SequenceEqual("errorCode"u8) => (int)RecordField.ErrorCode,
            11 when span.SequenceEqual("eventSource"u8) => (int)RecordField.EventSource,
            12 when span.SequenceEqual("userIdentity"u8) => Identity,
            15 when span.SequenceEqual("sourceIPAddress"u8) => (int)RecordField.SourceIp,
            16 when span.SequenceEqual("responseElements"u8) => Response,
            18 when span.SequenceEqual("recipientAccountId"u8) => (int)RecordField.RecipientAccount,
            _ => Other,
        };
    }

    private static readonly string[] TopLevelNames = ["eventID", "eventTime", "eventName", "awsRegion", "errorCode", "eventSource", "sourceIPAddress", "recipientAccountId"];
    private static readonly RecordField[] TopLevelFields = [RecordField.EventId, RecordField.EventTime, RecordField.EventName, RecordField.Region, RecordField.ErrorCode, RecordField.EventSource, RecordField.SourceIp, RecordField.RecipientAccount];

    internal static bool MightMint(string name) =>
        name.StartsWith("Get", StringComparison.Ordinal) || name.StartsWith("Assume", StringComparison.Ordinal) || name.StartsWith("CreateAccessKey", StringComparison.Ordinal);

    /// <summary>The key or session a successful minting call returned, as the DuckDB loader finds it.</summary>
    internal static (string? Key, string? Arn) Minted(string name, ReadOnlySpan<byte> response)
    {
        if (!MintsCredential.Contains(name) && name != "CreateAccessKey")
        {
            return (null, null);
        }

        using var document = ParseJsonValue(response);
        if (document is null)
        {
            return (null, null);
        }

        var root = document.RootElement;
        var key = name == "CreateAccessKey" ? StringAt(root, "accessKey", "accessKeyId") : StringAt(root, "credentials", "accessKeyId");
        var arn = name == "GetFederationToken" ? StringAt(root, "federatedUser", "arn")
            : name.StartsWith("AssumeRole", StringComparison.Ordinal) ? StringAt(root, "assumedRoleUser", "arn") : null;
        return (key, arn);
    }

    private static string? StringAt(JsonElement element, string first, string second) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(first, out var inner) && inner.ValueKind == JsonValueKind.Object
        && inner.TryGetProperty(second, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>A JSON document, or one a SIEM export carried as a JSON string; null when neither.</summary>
    private static JsonDocument? ParseJsonValue(ReadOnlySpan<byte> value)
    {
        try
        {
            var document = JsonDocument.Parse(value.ToArray(), DocumentOptions);
            if (document.RootElement.ValueKind != JsonValueKind.String)
            {
                return document;
            }

            var text = document.RootElement.GetString()!;
            document.Dispose();
            return JsonDocument.Parse(text, DocumentOptions);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A scalar's place (strings unescaped, numbers and booleans as written); absent for null, objects and arrays.</summary>
    private static FieldValue Scalar(ref Utf8JsonReader reader)
    {
        switch (Next(ref reader))
        {
            case JsonTokenType.String when reader.ValueIsEscaped || reader.HasValueSequence:
                return new FieldValue { Length = -1, Text = reader.GetString() };
            case JsonTokenType.String:
                // ValueSpan of a string starts one byte after the opening quote.
                return new FieldValue { Start = (int)reader.TokenStartIndex + 1, Length = reader.ValueSpan.Length };
            case JsonTokenType.Number or JsonTokenType.True or JsonTokenType.False:
                return new FieldValue { Start = (int)reader.TokenStartIndex, Length = reader.ValueSpan.Length };
            case JsonTokenType.Null:
                return new FieldValue { Length = -1 };
            default:
                reader.Skip();
                return new FieldValue { Length = -1 };
        }
    }

    /// <summary>CloudTrail's own timestamp, 2025-03-01T12:34:56Z, read from its bytes; anything else as text.</summary>
    internal static DateTime? ParseTime(ReadOnlySpan<byte> value)
    {
        if (value.Length == 20 && value[4] == '-' && value[7] == '-' && value[10] == 'T' && value[13] == ':' && value[16] == ':' && value[19] == 'Z'
            && Digits(value, 0, 4, out var year) && Digits(value, 5, 2, out var month) && Digits(value, 8, 2, out var day)
            && Digits(value, 11, 2, out var hour) && Digits(value, 14, 2, out var minute) && Digits(value, 17, 2, out var second)
            && year >= 1 && month is >= 1 and <= 12 && day >= 1 && day <= DateTime.DaysInMonth(year, month) && hour < 24 && minute < 60 && second < 60)
        {
            return new DateTime(year, month, day, hour, minute, second, DateTimeKind.Utc);
        }

        return ParseTime(Encoding.UTF8.GetString(value));
    }

    private static bool Digits(ReadOnlySpan<byte> value, int start, int count, out int number)
    {
        number = 0;
        for (var i = start; i < start + count; i++)
        {
            if (!char.IsAsciiDigit((char)value[i]))
            {
                return false;
            }

            number = number * 10 + (value[i] - '0');
        }

        return true;
    }

    /// <summary>eventTime as DuckDB's loader reads it: a timestamp, or 13 digits of epoch milliseconds.</summary>
    internal static DateTime? ParseTime(string? value)
    {
        if (value is null)
        {
            return null;
        }

        if (value.Length == 13 && value.All(char.IsAsciiDigit))
        {
            return DateTime.UnixEpoch.AddMilliseconds(long.Parse(value, CultureInfo.InvariantCulture));
        }

        return DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed)
            ? parsed.UtcDateTime : null;
    }

    /// <summary>
    /// A record's canonical fields as the DuckDB loader stores them (TrailFields' CloudTrail names; documents
    /// as JSON text, or the document a JSON string holds; other values as text).
    /// </summary>
    public static string?[] CanonicalColumns(ReadOnlySpan<byte> record)
    {
        using var document = JsonDocument.Parse(record.ToArray(), DocumentOptions);
        var root = document.RootElement;
        var columns = new string?[TrailFields.All.Count];
        for (var i = 0; i < columns.Length; i++)
        {
            var field = TrailFields.All[i];
            var value = root;
            foreach (var part in field.CanonicalPath)
            {
                if (value.ValueKind != JsonValueKind.Object || !value.TryGetProperty(part, out value))
                {
                    value = default;
                    break;
                }
            }

            columns[i] = value.ValueKind switch
            {
                JsonValueKind.Undefined or JsonValueKind.Null => null,
                JsonValueKind.String when field.IsJson => InnerJson(value.GetString()!),
                JsonValueKind.String => value.GetString(),
                _ => value.GetRawText(),
            };
        }

        return columns;
    }

    private static string? InnerJson(string text)
    {
        try
        {
            using var inner = JsonDocument.Parse(text, DocumentOptions);
            return inner.RootElement.GetRawText();
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>A file larger inflated than the reader holds in memory: DuckDB, which streams, reads it instead.</summary>
internal sealed class TrailFileTooLargeException : Exception
{
    public TrailFileTooLargeException() { }
    public TrailFileTooLargeException(string message) : base(message) { }
    public TrailFileTooLargeException(string message, Exception inner) : base(message, inner) { }
}
