using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Keywarden.Investigation.Loading;

namespace Keywarden.Investigation.Analysis;

/// <summary>
/// One CloudTrail record in canonical form: the fields Keywarden reads under their CloudTrail names,
/// whatever names the source used. <see cref="Record"/> is that canonical JSON, which rules and the
/// eradication catalog navigate by path.
/// </summary>
public sealed partial class TrailEvent
{
    private TrailEvent(JsonElement record)
    {
        Record = record;
        EventId = Text("eventID") ?? "";
        RawEventName = Text("eventName") ?? "";
        EventName = NormalizeEventName(RawEventName);
        EventTime = ParseTime(Text("eventTime"));
        EventSource = Text("eventSource");
        AwsRegion = Text("awsRegion");
        SourceIp = Text("sourceIPAddress");
        UserAgent = Text("userAgent");
        ErrorCode = Text("errorCode");
        ErrorMessage = Text("errorMessage");
        IdentityType = Text("userIdentity.type");
        Arn = Text("userIdentity.arn");
        AccountId = Text("userIdentity.accountId");
        AccessKeyId = Text("userIdentity.accessKeyId");
        UserName = Text("userIdentity.userName");
        RecipientAccountId = Text("recipientAccountId");
    }

    public JsonElement Record { get; }
    public string EventId { get; }

    /// <summary>The event name without an API-version suffix (UpdateFunctionCode20150331v2 → UpdateFunctionCode).</summary>
    public string EventName { get; }

    /// <summary>The event name as recorded.</summary>
    public string RawEventName { get; }

    public DateTimeOffset? EventTime { get; }
    public string? EventSource { get; }
    public string? AwsRegion { get; }
    public string? SourceIp { get; }
    public string? UserAgent { get; }
    public string? ErrorCode { get; }
    public string? ErrorMessage { get; }
    public string? IdentityType { get; }
    public string? Arn { get; }
    public string? AccountId { get; }
    public string? AccessKeyId { get; }
    public string? UserName { get; }
    public string? RecipientAccountId { get; }

    /// <summary>The account the event happened in: recipientAccountId, else the caller's account.</summary>
    public string? Account => RecipientAccountId ?? AccountId;

    /// <summary>
    /// Lambda and a few other services record event names with the API version they called
    /// (UpdateFunctionCode20150331v2, AddPermission20150331v2); rules match on the name without it.
    /// </summary>
    public static string NormalizeEventName(string name) => VersionSuffix().Replace(name, "");

    /// <summary>The same normalization in DuckDB SQL, for the loader.</summary>
    internal const string NormalizeEventNameSql = "regexp_replace({0}, '[0-9]{{8}}(v[0-9]+)?$', '')";

    [GeneratedRegex("[0-9]{8}(v[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex VersionSuffix();

    /// <summary>A record as found in a file or an API answer, in CloudTrail's own shape or with aliased field names.</summary>
    public static TrailEvent FromJson(JsonElement source)
    {
        var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            var groups = TrailFields.All.GroupBy(f => f.CanonicalPath.Length == 1 ? "" : f.CanonicalPath[0], StringComparer.Ordinal);
            foreach (var group in groups)
            {
                if (group.Key.Length > 0)
                {
                    writer.WriteStartObject(group.Key);
                }

                foreach (var field in group)
                {
                    var value = field.Paths.Select(p => Navigate(source, p)).FirstOrDefault(v => v is { ValueKind: not JsonValueKind.Null and not JsonValueKind.Undefined });
                    if (value is not { } found)
                    {
                        continue;
                    }

                    writer.WritePropertyName(field.CanonicalPath[^1]);
                    if (field.IsJson)
                    {
                        WriteJsonValue(writer, found);
                    }
                    else
                    {
                        writer.WriteStringValue(found.ValueKind == JsonValueKind.String ? found.GetString() : found.GetRawText());
                    }
                }

                if (group.Key.Length > 0)
                {
                    writer.WriteEndObject();
                }
            }

            writer.WriteEndObject();
        }

        return new TrailEvent(JsonDocument.Parse(buffer.ToArray(), RecordsReader.DocumentOptions).RootElement);
    }

    /// <summary>From the canonical columns the DuckDB store returns.</summary>
    internal static TrailEvent FromColumns(IReadOnlyDictionary<string, string?> columns)
    {
        var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            var identityOpen = false;
            foreach (var field in TrailFields.All)
            {
                if (!columns.TryGetValue(field.Canonical, out var value) || value is null)
                {
                    continue;
                }

                var path = field.CanonicalPath;
                if (path.Length == 2 && !identityOpen)
                {
                    writer.WriteStartObject(path[0]);
                    identityOpen = true;
                }
                else if (path.Length == 1 && identityOpen)
                {
                    writer.WriteEndObject();
                    identityOpen = false;
                }

                writer.WritePropertyName(path[^1]);
                if (field.IsJson)
                {
                    using var doc = JsonDocument.Parse(value, RecordsReader.DocumentOptions);
                    WriteJsonValue(writer, doc.RootElement);
                }
                else
                {
                    writer.WriteStringValue(value);
                }
            }

            if (identityOpen)
            {
                writer.WriteEndObject();
            }

            writer.WriteEndObject();
        }

        return new TrailEvent(JsonDocument.Parse(buffer.ToArray(), RecordsReader.DocumentOptions).RootElement);
    }

    // Some SIEM exports carry requestParameters as a JSON string: store the object it holds.
    private static void WriteJsonValue(Utf8JsonWriter writer, JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.String && value.GetString() is { } text && text.TrimStart().StartsWith('{'))
        {
            try
            {
                using var inner = JsonDocument.Parse(text, RecordsReader.DocumentOptions);
                inner.RootElement.WriteTo(writer);
                return;
            }
            catch (JsonException)
            {
            }
        }

        value.WriteTo(writer);
    }

    private static JsonElement? Navigate(JsonElement element, string[] path)
    {
        foreach (var part in path)
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(part, out element))
            {
                return null;
            }
        }

        return element;
    }

    private string? Text(string canonical)
    {
        var value = Navigate(Record, canonical.Split('.'));
        return value is { ValueKind: JsonValueKind.String } s ? s.GetString() : null;
    }

    internal static DateTimeOffset? ParseTime(string? value) =>
        value is not null && DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time) ? time : null;

    public override string ToString() => new StringBuilder().Append(EventTime?.ToString("O", CultureInfo.InvariantCulture)).Append(' ').Append(EventName).Append(' ').Append(EventId).ToString();
}
