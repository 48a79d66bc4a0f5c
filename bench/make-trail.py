#!/usr/bin/env python3
"""Generates a CloudTrail trail for the investigate benchmark: gzipped {"Records":[...]} files under
AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/, records in CloudTrail's real format.

A busy organization's background (many users and roles, services, regions, read-heavy) plus one
leaked IAM user key that enumerates, mints a session token (whose key then runs instances in many
regions) and creates a user and a key. Key IDs are generated here (never checked in).

Usage: make-trail.py OUT_DIR --events N [--seed S] [--records-per-file R] [--workers W]
Prints one JSON line: {"events": N, "files": F, "leakedKey": ..., "lineageKeys": [...], "lineageEvents": M}
"""
import argparse, base64, gzip, json, os, random, sys, uuid
from datetime import datetime, timedelta, timezone
from multiprocessing import Pool

B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
REGIONS = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-central-1", "eu-north-1",
           "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1", "ap-southeast-2", "ca-central-1", "sa-east-1"]
USUAL = ["us-east-1", "eu-west-1"]
CALLS = [  # (service, eventName, readOnly, weight)
    ("ec2", "DescribeInstances", True, 20), ("s3", "GetBucketAcl", True, 8), ("s3", "ListBuckets", True, 3),
    ("sts", "AssumeRole", False, 10), ("kms", "Decrypt", True, 12), ("iam", "GetRole", True, 4), ("iam", "ListRoles", True, 2),
    ("logs", "CreateLogStream", False, 6), ("lambda", "Invoke", False, 5), ("dynamodb", "DescribeTable", True, 5),
    ("ec2", "DescribeSecurityGroups", True, 4), ("ssm", "GetParameter", True, 4), ("cloudwatch", "PutMetricData", False, 6),
    ("secretsmanager", "GetSecretValue", True, 2), ("ecr", "GetAuthorizationToken", True, 3), ("elasticloadbalancing", "DescribeTargetHealth", True, 4),
]
WEIGHTED = [c for c in CALLS for _ in range(c[3])]
START = datetime(2025, 3, 1, tzinfo=timezone.utc)
DAYS = 7


def key_id(rng, prefix, account):
    z = (rng.getrandbits(1) << 47) | (int(account) << 7) | rng.getrandbits(7)
    n = (z << 32) | rng.getrandbits(32)
    body = "".join(B32[(n >> (75 - 5 * i)) & 31] for i in range(16))
    return prefix + body if body[0] not in "IJ" else key_id(rng, prefix, account)


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def record(rng, who, t, service, name, region, ip, read_only, req=None, resp=None, error=None):
    ident = {"type": who["type"], "principalId": who["principalId"], "arn": who["arn"], "accountId": who["account"], "accessKeyId": who["key"]}
    if who["type"] == "IAMUser":
        ident["userName"] = who["name"]
    else:
        ident["sessionContext"] = {"sessionIssuer": {"type": "Role", "principalId": who["principalId"], "arn": who["issuer"], "accountId": who["account"], "userName": who["name"]},
                                   "attributes": {"creationDate": ts(t - timedelta(minutes=5)), "mfaAuthenticated": "false"}}
    r = {"eventVersion": "1.08", "userIdentity": ident, "eventTime": ts(t), "eventSource": service + ".amazonaws.com", "eventName": name,
         "awsRegion": region, "sourceIPAddress": ip, "userAgent": who["agent"], "requestParameters": req, "responseElements": resp,
         "requestID": str(uuid.UUID(int=rng.getrandbits(128))), "eventID": str(uuid.UUID(int=rng.getrandbits(128))), "readOnly": read_only,
         "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": who["account"], "eventCategory": "Management",
         "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": f"{service}.{region}.amazonaws.com"}}
    if error:
        r["errorCode"], r["errorMessage"] = error, "not authorized"
    return r


def principals(seed, accounts):
    rng = random.Random(seed)
    people = []
    for i in range(300):
        account = accounts[i % len(accounts)]
        if i % 3 == 0:
            name = f"user{i}"
            people.append({"type": "IAMUser", "name": name, "account": account, "arn": f"arn:aws:iam::{account}:user/{name}",
                           "principalId": "AIDA" + key_id(rng, "", account)[:16], "key": key_id(rng, "AKIA", account),
                           "ip": f"192.0.2.{i % 250 + 1}", "agent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1"})
        else:
            name = f"app{i}"
            people.append({"type": "AssumedRole", "name": name, "account": account, "arn": f"arn:aws:sts::{account}:assumed-role/{name}/session",
                           "issuer": f"arn:aws:iam::{account}:role/{name}", "principalId": "AROA" + key_id(rng, "", account)[:16],
                           "key": key_id(rng, "ASIA", account), "ip": f"10.{i % 200}.{i % 50}.{i % 250 + 1}", "agent": "Boto3/1.34.0 Python/3.11"})
    return people


def attack(seed, accounts):
    """The leaked key's events and its lineage, spread over the week."""
    rng = random.Random(seed + 1)
    account = accounts[0]
    leaked = {"type": "IAMUser", "name": "deploy-bot", "account": account, "arn": f"arn:aws:iam::{account}:user/deploy-bot",
              "principalId": "AIDA" + key_id(rng, "", account)[:16], "key": key_id(rng, "AKIA", account), "ip": "203.0.113.7", "agent": "aws-cli/2.13.0"}
    session = dict(leaked, key=key_id(rng, "ASIA", account))
    backdoor_key = key_id(rng, "AKIA", account)
    t = START + timedelta(days=2, hours=3)
    out = [record(rng, leaked, t, "sts", "GetCallerIdentity", "us-east-1", leaked["ip"], True)]
    for i in range(3000):
        s, n, ro, _ = rng.choice(WEIGHTED)
        out.append(record(rng, leaked, t + timedelta(seconds=2 * i), s, "List" + n[8:] if n.startswith("Describe") else n, rng.choice(USUAL), leaked["ip"], ro))
    t += timedelta(hours=2)
    out.append(record(rng, leaked, t, "iam", "CreateUser", "us-east-1", leaked["ip"], False, {"userName": "backup-admin"}))
    out.append(record(rng, leaked, t, "iam", "CreateAccessKey", "us-east-1", leaked["ip"], False, {"userName": "backup-admin"},
                      {"accessKey": {"accessKeyId": backdoor_key, "status": "Active", "userName": "backup-admin"}}))
    out.append(record(rng, leaked, t, "iam", "AttachUserPolicy", "us-east-1", leaked["ip"], False, {"userName": "backup-admin", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}))
    out.append(record(rng, leaked, t, "cloudtrail", "StopLogging", "us-east-1", leaked["ip"], False, {"name": "main"}, error="AccessDenied"))
    out.append(record(rng, leaked, t, "sts", "GetSessionToken", "us-east-1", leaked["ip"], False, {"durationSeconds": 129600},
                      {"credentials": {"accessKeyId": session["key"], "expiration": "Mar 5, 2025, 1:00:00 AM"}}))
    for i, region in enumerate(REGIONS * 70):
        out.append(record(rng, session, t + timedelta(seconds=30 + i), "ec2", "RunInstances", region, leaked["ip"], False,
                          {"instanceType": "p4d.24xlarge", "instancesSet": {"items": [{"imageId": "ami-0abc", "minCount": 1, "maxCount": 1}]}},
                          {"instancesSet": {"items": [{"instanceId": f"i-{rng.getrandbits(64):016x}", "instanceType": "p4d.24xlarge"}]}}))
    return out, [leaked["key"], session["key"], backdoor_key]


def write_file(args):
    seed, index, count, path, extra = args
    rng = random.Random(seed * 1000003 + index)
    people = principals(seed, ACCOUNTS)
    account, region, hour = path_parts = PARTS[index]
    base = START + timedelta(hours=hour)
    recs = []
    local = [p for p in people if p["account"] == account]
    for _ in range(count):
        who = rng.choice(local)
        s, n, ro, _ = rng.choice(WEIGHTED)
        req = {"instancesSet": {"items": [{"instanceId": f"i-{rng.getrandbits(32):08x}"}]}, "filterSet": {}} if s == "ec2" else {"name": f"res-{rng.randrange(1000)}"}
        recs.append(record(rng, who, base + timedelta(seconds=rng.randrange(3600)), s, n, region, who["ip"], ro, req))
    recs.extend(extra)
    rng.shuffle(recs)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with gzip.open(path, "wt", compresslevel=1) as f:
        json.dump({"Records": recs}, f, separators=(",", ":"))
    return len(recs)


ACCOUNTS = []
PARTS = []


def init(accounts, parts):
    ACCOUNTS[:] = accounts
    PARTS[:] = parts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--records-per-file", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    accounts = [f"{rng.randrange(10**11, 10**12)}" for _ in range(3)]
    attack_events, lineage = attack(a.seed, accounts)
    background = a.events - len(attack_events)
    files = max(1, background // a.records_per_file)
    parts, jobs = [], []
    for i in range(files):
        account = accounts[i % len(accounts)]
        region = USUAL[i % 2] if i % 5 else REGIONS[(i // 5) % len(REGIONS)]
        hour = (i * 7) % (DAYS * 24)
        parts.append((account, region, hour))
    per_file = [background // files + (1 if i < background % files else 0) for i in range(files)]
    # The attacker's events go into the files of its account and the matching region, as CloudTrail would deliver them.
    extras = [[] for _ in range(files)]
    for r in attack_events:
        candidates = [i for i, p in enumerate(parts) if p[0] == accounts[0] and p[1] == r["awsRegion"]] or [0]
        extras[candidates[int(r["eventID"].replace("-", ""), 16) % len(candidates)]].append(r)
    for i, (account, region, hour) in enumerate(parts):
        t = START + timedelta(hours=hour)
        path = os.path.join(a.out, "AWSLogs", account, "CloudTrail", region, t.strftime("%Y/%m/%d"),
                            f"{account}_CloudTrail_{region}_{t.strftime('%Y%m%dT%H%M')}Z_{i:016X}.json.gz")
        jobs.append((a.seed, i, per_file[i], path, extras[i]))
    with Pool(a.workers, initializer=init, initargs=(accounts, parts)) as pool:
        total = sum(pool.imap_unordered(write_file, jobs, chunksize=4))
    print(json.dumps({"events": total, "files": files, "leakedKey": lineage[0], "lineageKeys": lineage, "lineageEvents": len(attack_events)}))


if __name__ == "__main__":
    main()
