using System.Globalization;
using System.Text;
using Keywarden.Investigation.Loading;

namespace Keywarden.Investigation.Athena;

/// <summary>
/// The Athena DDL and queries equivalent to an investigation, for trails too big for one machine. The
/// table follows AWS's documented CloudTrail table (CloudTrailInputFormat, JSON SerDe) with partition
/// projection over region and date; the queries follow the lineage with a recursive CTE (Athena engine
/// v3, Trino) and return the events, the rule-relevant calls, the eradication candidates and the IP pivot.
/// Source: AWS Athena User Guide, "Querying AWS CloudTrail logs" and "Partition projection".
/// </summary>
public static class AthenaQueries
{
    public const string Table = "keywarden_cloudtrail";

    public static string Emit(TrailQuery query, string trail)
    {
        ArgumentNullException.ThrowIfNull(query);
        var location = trail.StartsWith("s3://", StringComparison.OrdinalIgnoreCase)
            ? trail.TrimEnd('/') + "/"
            : "s3://YOUR-TRAIL-BUCKET/AWSLogs/";
        var account = query.Accounts.Count == 1 ? query.Accounts[0] : "${account}";
        var key = query.KeyId;
        var dateFilter = DateFilter(query.Window);
        const string template = "${account}/CloudTrail/${region}/${day}";
        const string versionSuffix = "[0-9]{8}(v[0-9]+)?$";
        var sb = new StringBuilder();
        sb.AppendLine("-- Keywarden: Athena equivalent of `keywarden investigate` (run each statement in turn).");
        sb.AppendLine(CultureInfo.InvariantCulture, $"-- Key: {key}. Table location: {location} (an organization trail adds o-ORGID/ before the account).");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"""
            CREATE EXTERNAL TABLE IF NOT EXISTS {Table} (
              eventVersion STRING,
              userIdentity STRUCT<type: STRING, principalId: STRING, arn: STRING, accountId: STRING, invokedBy: STRING, accessKeyId: STRING, userName: STRING,
                sessionContext: STRUCT<attributes: STRUCT<mfaAuthenticated: STRING, creationDate: STRING>,
                  sessionIssuer: STRUCT<type: STRING, principalId: STRING, arn: STRING, accountId: STRING, userName: STRING>>>,
              eventTime STRING, eventSource STRING, eventName STRING, awsRegion STRING, sourceIpAddress STRING, userAgent STRING,
              errorCode STRING, errorMessage STRING, requestParameters STRING, responseElements STRING, additionalEventData STRING,
              requestId STRING, eventId STRING, readOnly STRING, eventType STRING, recipientAccountId STRING,
              resources ARRAY<STRUCT<arn: STRING, accountId: STRING, type: STRING>>
            )
            PARTITIONED BY (account STRING, region STRING, day STRING)
            ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
            STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'
            OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
            LOCATION '{location}'
            TBLPROPERTIES (
              'projection.enabled' = 'true',
              'projection.account.type' = 'enum', 'projection.account.values' = '{(query.Accounts.Count > 0 ? string.Join(",", query.Accounts) : account)}',
              'projection.region.type' = 'enum', 'projection.region.values' = '{(query.Regions.Count > 0 ? string.Join(",", query.Regions.Append("us-east-1").Distinct(StringComparer.Ordinal)) : "us-east-1,us-east-2,us-west-1,us-west-2,eu-west-1,eu-west-2,eu-west-3,eu-central-1,eu-north-1,ap-south-1,ap-northeast-1,ap-northeast-2,ap-northeast-3,ap-southeast-1,ap-southeast-2,ca-central-1,sa-east-1")}',
              'projection.day.type' = 'date', 'projection.day.format' = 'yyyy/MM/dd', 'projection.day.range' = '2013/01/01,NOW', 'projection.day.interval' = '1', 'projection.day.interval.unit' = 'DAYS',
              'storage.location.template' = '{location}{template}'
            );
            """);
        sb.AppendLine();
        sb.AppendLine("-- 1. Lineage: every key minted from the leaked key, recursively (GetSessionToken, GetFederationToken, AssumeRole*, CreateAccessKey).");
        sb.AppendLine(CultureInfo.InvariantCulture, $"""
            WITH RECURSIVE lineage(key_id, parent, how, depth) AS (
              SELECT '{key}', CAST(NULL AS VARCHAR), 'leaked', 0
              UNION ALL
              SELECT COALESCE(json_extract_scalar(t.responseElements, '$.credentials.accessKeyId'), json_extract_scalar(t.responseElements, '$.accessKey.accessKeyId')),
                     l.key_id, t.eventName, l.depth + 1
              FROM {Table} t JOIN lineage l ON t.userIdentity.accessKeyId = l.key_id
              WHERE t.errorCode IS NULL AND l.depth < 10{dateFilter}
                AND t.eventName IN ('GetSessionToken', 'GetFederationToken', 'AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity', 'AssumeRoot', 'CreateAccessKey')
            )
            SELECT DISTINCT key_id, parent, how FROM lineage WHERE key_id IS NOT NULL;
            """);
        sb.AppendLine();
        sb.AppendLine("-- 2. Every event of the lineage (replace the key list with the keys of query 1), deduplicated by eventId.");
        var keyList = $"'{key}' /* , 'ASIA...' from query 1 */";
        sb.AppendLine(CultureInfo.InvariantCulture, $"""
            SELECT eventTime, eventId, eventSource, eventName, awsRegion, sourceIpAddress, userAgent, errorCode, userIdentity.accessKeyId AS accessKeyId, userIdentity.arn AS arn, recipientAccountId
            FROM (SELECT *, row_number() OVER (PARTITION BY eventId ORDER BY eventTime) AS n FROM {Table} WHERE userIdentity.accessKeyId IN ({keyList}){dateFilter})
            WHERE n = 1
            ORDER BY eventTime;
            """);
        sb.AppendLine();
        sb.AppendLine("-- 3. Summary: events by name, service, region and source IP.");
        sb.AppendLine(CultureInfo.InvariantCulture, $"""
            SELECT eventSource, regexp_replace(eventName, '{versionSuffix}', '') AS eventName, awsRegion, sourceIpAddress,
                   count(DISTINCT eventId) AS events, sum(CASE WHEN errorCode IS NULL THEN 0 ELSE 1 END) AS errors, min(eventTime) AS firstSeen, max(eventTime) AS lastSeen
            FROM {Table} WHERE userIdentity.accessKeyId IN ({keyList}){dateFilter}
            GROUP BY 1, 2, 3, 4 ORDER BY events DESC;
            """);
        sb.AppendLine();
        sb.AppendLine("-- 4. Calls the detection rules look at (attempts included, whatever the errorCode) and the eradication candidates.");
        var names = string.Join(", ", Analysis.Investigator.DocumentEvents(new Analysis.InvestigationOptions()).Concat(["GetCallerIdentity", "ListBuckets", "StopLogging", "DeleteTrail", "DeleteDetector", "DisableSecurityHub", "DeleteFlowLogs", "LeaveOrganization", "DeactivateMFADevice", "GetSecretValue", "GetPasswordData", "InvokeModel", "ConsoleLogin"])
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).Select(n => $"'{n}'"));
        sb.AppendLine(CultureInfo.InvariantCulture, $"""
            SELECT eventTime, eventId, eventSource, eventName, awsRegion, errorCode, userIdentity.accessKeyId AS accessKeyId, requestParameters, responseElements
            FROM {Table} WHERE userIdentity.accessKeyId IN ({keyList}){dateFilter}
              AND regexp_replace(eventName, '{versionSuffix}', '') IN ({names})
            ORDER BY eventTime;
            """);
        sb.AppendLine();
        sb.AppendLine("-- 5. IP pivot: other principals active from the addresses the lineage used.");
        sb.AppendLine(CultureInfo.InvariantCulture, $"""
            WITH ips AS (SELECT DISTINCT sourceIpAddress FROM {Table} WHERE userIdentity.accessKeyId IN ({keyList}){dateFilter})
            SELECT t.sourceIpAddress, t.userIdentity.arn, t.userIdentity.accessKeyId, count(DISTINCT t.eventId) AS events, min(t.eventTime) AS firstSeen, max(t.eventTime) AS lastSeen
            FROM {Table} t JOIN ips ON t.sourceIpAddress = ips.sourceIpAddress
            WHERE (t.userIdentity.accessKeyId IS NULL OR t.userIdentity.accessKeyId NOT IN ({keyList})){dateFilter.Replace("day ", "t.day ", StringComparison.Ordinal)}
            GROUP BY 1, 2, 3 ORDER BY 1, events DESC;
            """);
        sb.AppendLine();
        sb.AppendLine("-- 6. Regions the account normally uses (everyone but the lineage), for the unusual-region rule.");
        sb.AppendLine(CultureInfo.InvariantCulture, $"""
            SELECT recipientAccountId, awsRegion, count(*) AS events
            FROM {Table} WHERE (userIdentity.accessKeyId IS NULL OR userIdentity.accessKeyId NOT IN ({keyList})){dateFilter}
            GROUP BY 1, 2 ORDER BY 1, events DESC;
            """);
        return sb.ToString();
    }

    private static string DateFilter(TimeWindow window)
    {
        var parts = new List<string>();
        if (window.Since is { } since)
        {
            parts.Add($"day >= '{since.UtcDateTime.ToString("yyyy/MM/dd", CultureInfo.InvariantCulture)}' AND eventTime >= '{since.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)}'");
        }

        if (window.Until is { } until)
        {
            parts.Add($"day <= '{until.UtcDateTime.ToString("yyyy/MM/dd", CultureInfo.InvariantCulture)}' AND eventTime < '{until.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)}'");
        }

        return parts.Count == 0 ? "" : " AND " + string.Join(" AND ", parts);
    }
}
