namespace Keywarden.Investigation.Loading;

/// <summary>
/// The CloudTrail record fields Keywarden reads, and the other names SIEM exports give them
/// (snake_case pipelines, <c>@timestamp</c>, flattened <c>userIdentity.accessKeyId</c> keys). The same table
/// drives DuckDB's typed JSON reading and the .NET reader, so both see one canonical record.
/// Names are matched exactly: DuckDB's JSON reader is case-sensitive and rejects two names that differ
/// only in case, so case variants are not aliases.
/// </summary>
internal static class TrailFields
{
    public sealed record Field(string Canonical, bool IsJson, IReadOnlyList<string[]> Paths)
    {
        /// <summary>The canonical path, e.g. ["userIdentity", "accessKeyId"].</summary>
        public string[] CanonicalPath => Canonical.Split('.');
    }

    private static Field Text(string canonical, params string[] aliases) =>
        new(canonical, false, [canonical.Split('.'), .. aliases.Select(a => a.Split('|'))]);

    // Aliases use '|' between nesting levels, so a flattened key keeps its dot: "userIdentity.accessKeyId".
    public static IReadOnlyList<Field> All { get; } =
    [
        Text("eventID", "event_id"),
        Text("eventTime", "@timestamp", "event_time", "timestamp"),
        Text("eventSource", "event_source"),
        Text("eventName", "event_name"),
        Text("awsRegion", "aws_region", "region"),
        Text("sourceIPAddress", "source_ip_address", "sourceIp", "src_ip"),
        Text("userAgent", "user_agent"),
        Text("errorCode", "error_code"),
        Text("errorMessage", "error_message"),
        Text("userIdentity.type", "user_identity|type", "userIdentity.type"),
        Text("userIdentity.principalId", "user_identity|principal_id", "userIdentity.principalId"),
        Text("userIdentity.arn", "user_identity|arn", "userIdentity.arn"),
        Text("userIdentity.accountId", "user_identity|account_id", "userIdentity.accountId"),
        Text("userIdentity.accessKeyId", "user_identity|access_key_id", "userIdentity.accessKeyId", "accessKeyId", "access_key_id"),
        Text("userIdentity.userName", "user_identity|user_name", "userIdentity.userName"),
        Text("recipientAccountId", "recipient_account_id"),
        Text("readOnly", "read_only"),
        Text("eventType", "event_type"),
        new("requestParameters", true, [["requestParameters"], ["request_parameters"]]),
        new("responseElements", true, [["responseElements"], ["response_elements"]]),
    ];

    public static Field Get(string canonical) => All.First(f => f.Canonical == canonical);
}
