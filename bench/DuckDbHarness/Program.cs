using System.Globalization;
using DuckDB.NET.Data;

// The query a responder would write by hand: every CloudTrail record whose userIdentity.accessKeyId is
// the key, all fields, read straight from the gzipped files (no index, no lineage, no analysis).
// Usage: DuckDbHarness TRAIL_FOLDER KEYID  → prints the number of records and of distinct events.
if (args.Length != 2)
{
    Console.Error.WriteLine("usage: DuckDbHarness TRAIL_FOLDER KEYID");
    return 2;
}

var glob = Path.Combine(Path.GetFullPath(args[0]), "**", "*.json.gz").Replace("'", "''", StringComparison.Ordinal);
const string record = "STRUCT(eventVersion VARCHAR, "
    + "userIdentity STRUCT(type VARCHAR, principalId VARCHAR, arn VARCHAR, accountId VARCHAR, accessKeyId VARCHAR, userName VARCHAR, sessionContext JSON), "
    + "eventTime VARCHAR, eventSource VARCHAR, eventName VARCHAR, awsRegion VARCHAR, sourceIPAddress VARCHAR, userAgent VARCHAR, "
    + "errorCode VARCHAR, errorMessage VARCHAR, requestParameters JSON, responseElements JSON, requestID VARCHAR, eventID VARCHAR, "
    + "readOnly VARCHAR, eventType VARCHAR, managementEvent VARCHAR, recipientAccountId VARCHAR, eventCategory VARCHAR, tlsDetails JSON)";
var sql = $$"""
    SELECT r.* FROM (
      SELECT unnest(Records) AS r
      FROM read_json('{{glob}}', format = 'auto', records = 'true', compression = 'gzip', maximum_object_size = 67108864, columns = {Records: '{{record}}[]'}))
    WHERE r.userIdentity.accessKeyId = $key
    """;
using var connection = new DuckDBConnection("DataSource=:memory:");
connection.Open();
using var command = connection.CreateCommand();
command.CommandText = sql;
command.Parameters.Add(new DuckDBParameter("key", args[1]));
using var reader = command.ExecuteReader();
long rows = 0;
var ids = new HashSet<string>(StringComparer.Ordinal);
var values = new object[reader.FieldCount];
while (reader.Read())
{
    reader.GetValues(values);
    rows++;
    ids.Add(reader.GetValue(reader.GetOrdinal("eventID"))?.ToString() ?? "");
}

Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"records {rows} distinct {ids.Count}"));
return 0;
