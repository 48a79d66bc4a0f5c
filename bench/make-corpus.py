#!/usr/bin/env python3
"""Make the file-scan corpus of bench/scan-files.sh: copies of a real source tree with AWS
credentials and look-alikes planted at recorded lines.  Standard library only.

  make-corpus.py SOURCE OUT [--copies N] [--keys K] [--decoys D] [--seed S]

Writes:
  OUT/tree/copy-NN/...   N copies of SOURCE (regular files only; symlinks and .git are left out)
  OUT/truth.jsonl        one planted credential a line:
                           path (relative to OUT/tree), line (1-based first line of the block),
                           key_line, secret_line (1-based; secret_line null without a secret),
                           key_id, secret (or null), account (what the key ID decodes to), kind
  OUT/decoys.jsonl       one look-alike a line that must not be reported as a live key:
                           path, line, lines (every line it covers), type, text
  OUT/corpus.json        the settings and totals

Plantings go into text files only (a known text extension and no NUL byte), at line boundaries of
the original file.  All plantings of one file are placed in one pass, so the recorded lines are
exact and no block is ever split by another.  The same seed and source give the same corpus.
Keys and secrets are made at run time (synthetic.py); none is a working credential.
"""
import argparse
import json
import os
import random
import shutil
import sys

import synthetic

TEXT_SUFFIXES = (".py", ".rst", ".txt", ".md", ".json", ".cfg", ".ini", ".toml", ".sh", ".yml", ".yaml", ".html")


# A credential block: (kind, lines, has_secret).  {k} is the key ID, {s} the secret, {n} a small
# number that varies the surrounding names.  The key ID and the secret each sit on one line; the
# evaluator reads their lines from the manifest, so a new shape needs no change there.
BLOCKS = [
    ("shell-export", ['export AWS_ACCESS_KEY_ID="{k}"', 'export AWS_SECRET_ACCESS_KEY="{s}"'], True),
    ("credentials-file", ["[profile deploy-{n}]", "aws_access_key_id = {k}", "aws_secret_access_key = {s}"], True),
    ("json", ['{{"AccessKeyId": "{k}", "SecretAccessKey": "{s}", "Region": "eu-west-1"}}'], True),
    ("yaml", ["aws:", "  access_key_id: {k}", "  secret_access_key: {s}"], True),
    ("python-call", ['s3 = boto3.client("s3", aws_access_key_id="{k}", aws_secret_access_key="{s}")'], True),
    ("csharp-call", ['var credentials = new BasicAWSCredentials("{k}", "{s}");'], True),
    ("env-id-only", ["AWS_ACCESS_KEY_ID={k}"], False),
    ("comment-id-only", ["# key {k} was rotated in job {n}"], False),
]

# The share of ASIA (temporary) key IDs among the planted ones; the rest are AKIA.
TEMPORARY_SHARE = 0.25


def decoy(rng, kind):
    """(type, lines) of a look-alike that a scanner must not report as a live key."""
    if kind == "AWS docs example":
        # AWS's own documentation pair, the one key-shaped literal the project allows.
        return ["aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]
    if kind == "placeholder XXXX":
        return ["access_key = AKIA" + "X" * 16]
    if kind == "lowercase akia":
        return ["id = akia" + synthetic.base32_run(rng, 16, lower=True)]
    if kind == "too short":
        return ["token = AKIA" + synthetic.base32_run(rng, 12)]
    if kind == "embedded in a word":
        return ["blob = Q" + synthetic.key_id(rng) + "Z"]
    raise ValueError(kind)


DECOY_TYPES = ["AWS docs example", "placeholder XXXX", "lowercase akia", "too short", "embedded in a word"]


def copy_tree(source, tree, copies):
    """Copies SOURCE copies times under tree; returns the relative paths, sorted."""
    names = []
    for root, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d != ".git" and not os.path.islink(os.path.join(root, d)))
        for n in sorted(files):
            p = os.path.join(root, n)
            if os.path.isfile(p) and not os.path.islink(p):
                names.append(os.path.relpath(p, source))
    width = max(2, len(str(copies - 1)))
    out = []
    for c in range(copies):
        top = f"copy-{c:0{width}d}"
        for rel in names:
            dst = os.path.join(tree, top, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(os.path.join(source, rel), dst)
            out.append(os.path.join(top, rel).replace(os.sep, "/"))
    return out


def is_text(path):
    with open(path, "rb") as f:
        return b"\0" not in f.read()


def plant(tree, rel, insertions):
    """Inserts blocks at line boundaries of one file in one pass.  insertions: (slot, order, lines,
    record); slot i means before original line i (0-based), len(lines) means at the end.  Sets each
    record's line fields from where its block lands."""
    path = os.path.join(tree, rel)
    with open(path, "rb") as f:
        data = f.read()
    ends_with_newline = data.endswith(b"\n")
    original = data.split(b"\n")
    if ends_with_newline:
        original.pop()
    out = []
    by_slot = {}
    for ins in insertions:
        by_slot.setdefault(min(ins[0], len(original)), []).append(ins)
    for slot in range(len(original) + 1):
        for _, _, lines, rec in sorted(by_slot.get(slot, []), key=lambda i: i[1]):
            first = len(out) + 1
            rec["line"] = first
            for field, offset in rec.pop("_offsets", {}).items():
                rec[field] = None if offset is None else first + offset
            if "lines" in rec:
                rec["lines"] = list(range(first, first + len(lines)))
            out.extend(line.encode("utf-8") for line in lines)
        if slot < len(original):
            out.append(original[slot])
    body = b"\n".join(out)
    if ends_with_newline or not original:
        body += b"\n"
    with open(path, "wb") as f:
        f.write(body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="source tree to copy")
    ap.add_argument("out", help="output folder (made; its tree/ must not exist yet)")
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--keys", type=int, default=200, help="planted credentials")
    ap.add_argument("--decoys", type=int, help="planted look-alikes (default: a quarter of --keys)")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    decoys = a.keys // 4 if a.decoys is None else a.decoys
    if a.copies < 1 or a.keys < 0 or decoys < 0:
        sys.exit("make-corpus.py: --copies must be at least 1, --keys and --decoys at least 0")
    if not os.path.isdir(a.source):
        sys.exit(f"make-corpus.py: not a folder: {a.source}")
    tree = os.path.join(a.out, "tree")
    if os.path.exists(tree):
        sys.exit(f"make-corpus.py: {tree} exists already; remove it first")

    rng = random.Random(a.seed)
    files = copy_tree(a.source, tree, a.copies)
    hosts = [rel for rel in files if rel.lower().endswith(TEXT_SUFFIXES) and is_text(os.path.join(tree, rel))]
    if (a.keys or decoys) and not hosts:
        sys.exit(f"make-corpus.py: no text file in {a.source} to plant in")

    # Decide every planting first, then write each host file once.
    line_counts = {}
    plan = {}
    truth, fakes = [], []
    for i in range(a.keys + decoys):
        rel = rng.choice(hosts)
        if rel not in line_counts:
            with open(os.path.join(tree, rel), "rb") as f:
                line_counts[rel] = f.read().count(b"\n") + 1
        slot = rng.randrange(line_counts[rel] + 1)
        if i < a.keys:
            kind, template, has_secret = rng.choice(BLOCKS)
            k = synthetic.key_id(rng, "ASIA" if rng.random() < TEMPORARY_SHARE else "AKIA")
            s = synthetic.secret(rng) if has_secret else None
            lines = [t.format(k=k, s=s, n=rng.randrange(1, 100)) for t in template]
            key_at = next(j for j, t in enumerate(template) if "{k}" in t)
            secret_at = next((j for j, t in enumerate(template) if "{s}" in t), None)
            rec = {"path": rel, "line": None, "key_line": None, "secret_line": None, "key_id": k,
                   "secret": s, "account": synthetic.account_of(k), "kind": kind,
                   "_offsets": {"key_line": key_at, "secret_line": secret_at}}
            truth.append(rec)
        else:
            kind = DECOY_TYPES[(i - a.keys) % len(DECOY_TYPES)]
            lines = decoy(rng, kind)
            rec = {"path": rel, "line": None, "lines": [], "type": kind, "text": "\n".join(lines)}
            fakes.append(rec)
        plan.setdefault(rel, []).append((slot, i, lines, rec))
    for rel in sorted(plan):
        plant(tree, rel, plan[rel])

    with open(os.path.join(a.out, "truth.jsonl"), "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in truth)
    with open(os.path.join(a.out, "decoys.jsonl"), "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in fakes)
    size = sum(os.path.getsize(os.path.join(tree, rel)) for rel in files)
    summary = {"source": os.path.abspath(a.source), "copies": a.copies, "seed": a.seed, "files": len(files),
               "bytes": size, "keys": len(truth), "secrets": sum(1 for r in truth if r["secret"]),
               "decoys": len(fakes), "host_files": len(plan)}
    with open(os.path.join(a.out, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(f"{len(files)} files, {size / 1e6:.0f} MB; {len(truth)} planted credentials "
          f"({summary['secrets']} with a secret), {len(fakes)} decoys in {len(plan)} files -> {tree}")


if __name__ == "__main__":
    main()
