using System.Text.Json.Nodes;
using Keywarden.Detection.Credentials;

namespace Keywarden.Investigation.Tests;

/// <summary>
/// The issue's attacker, as CloudTrail would record it: a leaked IAM user key that enumerates, creates a
/// user and a key, attaches AdministratorAccess, tries and then manages to stop logging, shares a snapshot
/// with a stranger, mints a session token that runs GPU instances in 10 regions and assumes a role, mints a
/// federation token that signs in to the console and creates a backdoor role; plus the background of
/// legitimate users the analysis must leave alone, and one of them working from an address the attacker
/// also used. Key IDs, secrets and tokens are generated at run time.
/// </summary>
internal sealed class AttackScenario
{
    public const string AttackerIp = "203.0.113.7";
    public const string SharedIp = "198.51.100.23";
    public const string OfficeIp = "192.0.2.10";
    public const string StrangerAccount = "444455556666";

    public static readonly string[] GpuRegions =
        ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "ap-south-1", "ap-northeast-1", "ap-southeast-1", "ap-southeast-2", "sa-east-1", "ca-central-1"];

    public static readonly string[] UsualRegions = ["us-east-1", "eu-west-1"];

    public AttackScenario(int seed = 6)
    {
        var random = new Random(seed);
        Account = random.NextInt64(100_000_000_000, 999_999_999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        LeakedKey = SyntheticCredentials.KeyId(random, "AKIA", Account);
        BackdoorKey = SyntheticCredentials.KeyId(random, "AKIA", Account);
        SessionKey = SyntheticCredentials.KeyId(random, "ASIA", Account);
        RoleKey = SyntheticCredentials.KeyId(random, "ASIA", Account);
        FederationKey = SyntheticCredentials.KeyId(random, "ASIA", Account);
        ConsoleKey = SyntheticCredentials.KeyId(random, "ASIA", Account);
        AliceKey = SyntheticCredentials.KeyId(random, "AKIA", Account);
        CiKey = SyntheticCredentials.KeyId(random, "AKIA", Account);
        SessionToken = SyntheticCredentials.SessionToken(random);
        Secret = SyntheticCredentials.SecretAccessKey(random);

        var victim = Caller.User(LeakedKey, Account, "deploy-bot");
        var t = Start;
        DateTimeOffset Next(int seconds = 7) => t = t.AddSeconds(seconds);

        // Background: alice works in us-east-1 and eu-west-1 from the office; the CI user from the shared address.
        var alice = Caller.User(AliceKey, Account, "alice");
        var ci = Caller.User(CiKey, Account, "ci-runner");
        for (var i = 0; i < 40; i++)
        {
            var region = UsualRegions[i % 2];
            Trail.Add(alice, Start.AddHours(-30).AddMinutes(i * 40), "ec2", "DescribeInstances", region, OfficeIp, readOnly: true);
        }

        Trail.Add(ci, Start.AddHours(-2), "s3", "ListBuckets", "us-east-1", SharedIp, readOnly: true);
        Trail.Add(ci, Start.AddHours(5), "ecr", "GetAuthorizationToken", "us-east-1", SharedIp, readOnly: true);

        // 1. The key is tried, then the account is enumerated (25 calls within five minutes).
        Mine(Trail.Add(victim, Next(), "sts", "GetCallerIdentity", "us-east-1", AttackerIp, readOnly: true));
        string[] enumeration = ["ListUsers", "ListRoles", "ListPolicies", "ListGroups", "ListBuckets", "DescribeInstances", "DescribeRegions", "ListFunctions20150331", "DescribeDBInstances", "ListSecrets"];
        string[] services = ["iam", "iam", "iam", "iam", "s3", "ec2", "ec2", "lambda", "rds", "secretsmanager"];
        for (var i = 0; i < 25; i++)
        {
            Mine(Trail.Add(victim, Next(5), services[i % 10], enumeration[i % 10], "us-east-1", AttackerIp, readOnly: true));
        }

        Mine(Trail.Add(victim, Next(), "ses", "GetSendQuota", "us-east-1", AttackerIp, readOnly: true));

        // 2. Persistence: a user, its key, a console password, AdministratorAccess.
        Mine(Trail.Add(victim, Next(60), "iam", "CreateUser", "us-east-1", AttackerIp,
            new JsonObject { ["userName"] = BackdoorUser }, new JsonObject { ["user"] = new JsonObject { ["userName"] = BackdoorUser, ["arn"] = $"arn:aws:iam::{Account}:user/{BackdoorUser}" } }));
        Mine(Trail.Add(victim, Next(), "iam", "CreateAccessKey", "us-east-1", AttackerIp,
            new JsonObject { ["userName"] = BackdoorUser },
            new JsonObject { ["accessKey"] = new JsonObject { ["accessKeyId"] = BackdoorKey, ["status"] = "Active", ["userName"] = BackdoorUser, ["createDate"] = TrailRecords.Time(t) } }));
        Mine(Trail.Add(victim, Next(), "iam", "AttachUserPolicy", "us-east-1", AttackerIp,
            new JsonObject { ["userName"] = BackdoorUser, ["policyArn"] = "arn:aws:iam::aws:policy/AdministratorAccess" }));
        Mine(Trail.Add(victim, Next(), "iam", "CreateLoginProfile", "us-east-1", AttackerIp,
            new JsonObject { ["userName"] = BackdoorUser, ["password"] = "HIDDEN_DUE_TO_SECURITY_REASONS", ["passwordResetRequired"] = false }));

        // 3. Defense evasion: a denied StopLogging, then one that works.
        Mine(Trail.Add(victim, Next(30), "cloudtrail", "StopLogging", "us-east-1", AttackerIp, new JsonObject { ["name"] = TrailArn },
            errorCode: "AccessDenied", errorMessage: "User: deploy-bot is not authorized to perform: cloudtrail:StopLogging"));
        FailedStopLoggingId = _mine[^1]["eventID"]!.GetValue<string>();
        Mine(Trail.Add(victim, Next(), "cloudtrail", "StopLogging", "us-east-1", AttackerIp, new JsonObject { ["name"] = TrailArn }));

        // 4. Exfiltration: a snapshot shared with a stranger's account.
        Mine(Trail.Add(victim, Next(), "ec2", "ModifySnapshotAttribute", "us-east-1", AttackerIp, new JsonObject
        {
            ["snapshotId"] = SnapshotId,
            ["attributeType"] = "CREATE_VOLUME_PERMISSION",
            ["createVolumePermission"] = new JsonObject { ["add"] = new JsonObject { ["items"] = new JsonArray(new JsonObject { ["userId"] = StrangerAccount }) } },
        }, new JsonObject { ["_return"] = true }));

        // 5. A session token (with its secret and token in the answer, as STS returns them) that does more.
        Mine(Trail.Add(victim, Next(), "sts", "GetSessionToken", "us-east-1", AttackerIp, new JsonObject { ["durationSeconds"] = 129600 },
            new JsonObject { ["credentials"] = new JsonObject { ["accessKeyId"] = SessionKey, ["sessionToken"] = SessionToken, ["expiration"] = "Jan 3, 2025, 1:00:00 AM" } }));
        var session = Caller.Session(SessionKey, Account, $"arn:aws:iam::{Account}:user/deploy-bot", "IAMUser", null) with { UserName = "deploy-bot", PrincipalId = victim.PrincipalId };
        foreach (var region in GpuRegions)
        {
            var instance = $"i-0{random.Next():x8}{Array.IndexOf(GpuRegions, region):x2}";
            Instances[region] = instance;
            Mine(Trail.Add(session, Next(20), "ec2", "RunInstances", region, AttackerIp,
                new JsonObject { ["instanceType"] = "p4d.24xlarge", ["instancesSet"] = new JsonObject { ["items"] = new JsonArray(new JsonObject { ["imageId"] = "ami-0abcdef1234567890", ["minCount"] = 1, ["maxCount"] = 1 }) } },
                new JsonObject { ["instancesSet"] = new JsonObject { ["items"] = new JsonArray(new JsonObject { ["instanceId"] = instance, ["instanceType"] = "p4d.24xlarge" }) } }));
        }

        Mine(Trail.Add(session, Next(), "ec2", "RunInstances", "eu-north-1", AttackerIp, new JsonObject { ["instanceType"] = "g5.48xlarge" },
            errorCode: "Client.VcpuLimitExceeded", errorMessage: "You have requested more vCPU capacity than your current vCPU limit"));

        // 6. The session assumes a role; the role's key opens a bucket to the world.
        var roleArn = $"arn:aws:iam::{Account}:role/OrganizationAccountAccessRole";
        var roleSessionArn = $"arn:aws:sts::{Account}:assumed-role/OrganizationAccountAccessRole/s1";
        Mine(Trail.Add(session, Next(), "sts", "AssumeRole", "us-east-1", AttackerIp, new JsonObject { ["roleArn"] = roleArn, ["roleSessionName"] = "s1" },
            new JsonObject
            {
                ["credentials"] = new JsonObject { ["accessKeyId"] = RoleKey, ["sessionToken"] = SessionToken, ["expiration"] = "Jan 2, 2025, 1:00:00 AM" },
                ["assumedRoleUser"] = new JsonObject { ["assumedRoleId"] = "AROAEXAMPLE:s1", ["arn"] = roleSessionArn },
            }));
        var role = Caller.Session(RoleKey, Account, roleSessionArn, "AssumedRole", roleArn);
        Mine(Trail.Add(role, Next(), "s3", "PutBucketPolicy", "us-east-1", AttackerIp, new JsonObject
        {
            ["bucketName"] = DataBucket,
            ["bucketPolicy"] = new JsonObject { ["Version"] = "2012-10-17", ["Statement"] = new JsonArray(new JsonObject { ["Effect"] = "Allow", ["Principal"] = "*", ["Action"] = "s3:GetObject", ["Resource"] = $"arn:aws:s3:::{DataBucket}/*" }) },
        }));

        // 7. A federation token, exchanged for a console session (a key no recorded call minted) that creates a backdoor role.
        var federatedArn = $"arn:aws:sts::{Account}:federated-user/ops";
        Mine(Trail.Add(victim, Next(), "sts", "GetFederationToken", "us-east-1", AttackerIp, new JsonObject { ["name"] = "ops", ["durationSeconds"] = 129600 },
            new JsonObject
            {
                ["credentials"] = new JsonObject { ["accessKeyId"] = FederationKey, ["sessionToken"] = SessionToken, ["expiration"] = "Jan 3, 2025, 1:00:00 AM" },
                ["federatedUser"] = new JsonObject { ["federatedUserId"] = $"{Account}:ops", ["arn"] = federatedArn },
            }));
        var federated = Caller.Session(FederationKey, Account, federatedArn, "FederatedUser", null);
        Mine(Trail.Add(federated, Next(), "signin", "GetSigninToken", "us-east-1", AttackerIp, response: new JsonObject { ["credentials"] = "Redacted" }));
        var login = Trail.Add(federated with { KeyId = "" }, Next(), "signin", "ConsoleLogin", "us-east-1", AttackerIp,
            response: new JsonObject { ["ConsoleLogin"] = "Success" }, userAgent: "Mozilla/5.0 (X11; Linux x86_64)");
        login["userIdentity"]!.AsObject().Remove("accessKeyId");
        ConsoleLoginId = login["eventID"]!.GetValue<string>();
        _signinWithoutKey.Add(login);
        var console = Caller.Session(ConsoleKey, Account, federatedArn, "FederatedUser", null);
        Mine(Trail.Add(console, Next(), "s3", "ListBuckets", "us-east-1", AttackerIp, readOnly: true, userAgent: "AWS Internal"));
        Mine(Trail.Add(console, Next(), "iam", "CreateRole", "us-east-1", AttackerIp, new JsonObject
        {
            ["roleName"] = BackdoorRole,
            ["assumeRolePolicyDocument"] = $"{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":\"arn:aws:iam::{StrangerAccount}:root\"}},\"Action\":\"sts:AssumeRole\"}}]}}",
        }, new JsonObject { ["role"] = new JsonObject { ["roleName"] = BackdoorRole, ["arn"] = $"arn:aws:iam::{Account}:role/{BackdoorRole}" } }));

        // 8. The backdoor user's key, a day later, from another address.
        var backdoor = Caller.User(BackdoorKey, Account, BackdoorUser);
        t = t.AddDays(1);
        Mine(Trail.Add(backdoor, Next(), "ec2", "AuthorizeSecurityGroupIngress", "us-east-1", SharedIp, new JsonObject
        {
            ["groupId"] = SecurityGroup,
            ["ipPermissions"] = new JsonObject { ["items"] = new JsonArray(new JsonObject { ["ipProtocol"] = "tcp", ["fromPort"] = 22, ["toPort"] = 22, ["ipRanges"] = new JsonObject { ["items"] = new JsonArray(new JsonObject { ["cidrIp"] = "0.0.0.0/0" }) } }) },
        }, new JsonObject { ["_return"] = true }));
        Mine(Trail.Add(backdoor, Next(), "lambda", "UpdateFunctionCode20150331v2", "us-east-1", SharedIp, new JsonObject { ["functionName"] = "billing-export", ["zipFile"] = "<redacted>" }));
    }

    public static readonly DateTimeOffset Start = new(2025, 1, 1, 10, 0, 0, TimeSpan.Zero);
    public const string BackdoorUser = "backup-admin";
    public const string BackdoorRole = "support-access";
    public const string SnapshotId = "snap-0123456789abcdef0";
    public const string DataBucket = "customer-exports";
    public const string SecurityGroup = "sg-0a1b2c3d4e5f60718";
    public const string TrailArn = "arn:aws:cloudtrail:us-east-1:000000000000:trail/management-events";

    public string Account { get; }
    public string LeakedKey { get; }
    public string BackdoorKey { get; }
    public string SessionKey { get; }
    public string RoleKey { get; }
    public string FederationKey { get; }
    public string ConsoleKey { get; }
    public string AliceKey { get; }
    public string CiKey { get; }

    /// <summary>A session token STS returned in responseElements: it must never reach a report.</summary>
    public string SessionToken { get; }

    /// <summary>The leaked key's secret: never in the trail, never in a report.</summary>
    public string Secret { get; }

    public string FailedStopLoggingId { get; }
    public string ConsoleLoginId { get; }
    public Dictionary<string, string> Instances { get; } = new(StringComparer.Ordinal);
    public TrailRecords Trail { get; } = new(seed: 6);

    private readonly List<JsonObject> _mine = [];
    private readonly List<JsonObject> _signinWithoutKey = [];

    /// <summary>The events whose access key is in the lineage (what eventCount counts).</summary>
    public IReadOnlyList<JsonObject> LineageEvents => _mine;

    private void Mine(JsonObject record) => _mine.Add(record);

    /// <summary>
    /// Writes the trail the way it arrives in practice: CloudTrail's gzipped files under the AWSLogs layout
    /// (per region and hour), some records duplicated in a second file, one zip of a day, a SIEM export
    /// with renamed fields as a JSON array, an NDJSON export, and a digest file to skip.
    /// </summary>
    public void WriteFolder(string root)
    {
        var records = Trail.Records;
        var siem = records.Where((_, i) => i % 11 == 3).ToHashSet();
        var ndjson = records.Where((_, i) => i % 11 == 5).ToHashSet();
        var zipped = records.Where((_, i) => i % 11 == 7).ToHashSet();
        var rest = records.Where(r => !siem.Contains(r) && !ndjson.Contains(r) && !zipped.Contains(r));
        var fileNumber = 0;
        foreach (var group in rest.GroupBy(r => (Region: r["awsRegion"]!.GetValue<string>(), Hour: r["eventTime"]!.GetValue<string>()[..13])))
        {
            var stamp = group.Key.Hour.Replace("-", "", StringComparison.Ordinal).Replace(":", "", StringComparison.Ordinal);
            var day = group.Key.Hour[..10].Replace('-', '/');
            TrailRecords.WriteCloudTrailFile(Path.Combine(root, "AWSLogs", Account, "CloudTrail", group.Key.Region, day,
                $"{Account}_CloudTrail_{group.Key.Region}_{stamp}00Z_{fileNumber++:x16}.json.gz"), group);
        }

        // CloudTrail can deliver a record twice: the same eventIDs again in another file.
        TrailRecords.WriteCloudTrailFile(Path.Combine(root, "redelivered", "again.json.gz"), _mine.Take(10));
        TrailRecords.WriteArray(Path.Combine(root, "siem", "export.json"), siem.Select(TrailRecords.AsSiemExport));
        TrailRecords.WriteLines(Path.Combine(root, "siem", "export.ndjson.gz"), ndjson, gzip: true);
        TrailRecords.WriteZip(Path.Combine(root, "archive", "day.zip"), [("AWSLogs/part1.json", [.. zipped.Take(zipped.Count / 2)]), ("AWSLogs/part2.json", [.. zipped.Skip(zipped.Count / 2)])]);
        File.WriteAllText(Path.Combine(root, "siem", "README.txt"), "exported by the SIEM\n");
        var digest = Path.Combine(root, "AWSLogs", Account, "CloudTrail-Digest", "us-east-1", "2025", "01", "01", "digest.json.gz");
        TrailRecords.WriteLines(digest, [new JsonObject { ["awsAccountId"] = Account, ["digestStartTime"] = "2025-01-01T09:00:00Z", ["logFiles"] = new JsonArray() }], gzip: true);
    }
}
