#!/usr/bin/env python3
"""Make the repository of bench/scan-history.sh: a long git history grown from a real source tree,
with AWS credentials planted at recorded commits and some removed again.  Standard library only
(and git).

  make-history.py SOURCE OUT [--commits N] [--keys K] [--seed S] [--branches B]
                  [--remove-rate R] [--keep-rate P] [--max-file-bytes M]

The first commit holds SOURCE's text files below --max-file-bytes on branch main.  Every later
commit appends a line to 1-3 files; every (N / K)-th commit or the one after it (in turns; not the
first commit) also inserts a credential block at a line boundary of one file, outside any other
planted block; any other commit removes one of its branch's planted blocks with probability R
(the share --keep-rate of keys is never removed, so some stay at a branch tip).  The second half
of the commits alternates between B - 1 feature branches, each forked from main's last commit.
Each branch keeps its own file contents, so a key planted on one feature branch never appears on
another, and every key has exactly one introducing commit.  The repository is written with
`git fast-import` (seconds for 20,000 commits) and then checked out.

Writes:
  OUT/repo          the repository
  OUT/truth.jsonl   one planted credential a line: key_id, secret (or null), account (what the
                    key ID decodes to), kind, path, introduced (commit sha), removed (sha of the
                    first commit that removed it, or null), in_head (still in the file at the tip
                    of some branch), branch (where it was planted)
  OUT/history.json  the settings and totals
Keys and secrets are made at run time (synthetic.py); none is a working credential.
"""
import argparse
import json
import os
import random
import subprocess
import sys

import synthetic

# (kind, lines, has_secret); {k} the key ID, {s} the secret, {n} a small number.
BLOCKS = [
    ("shell-export", ["export AWS_ACCESS_KEY_ID={k}", "export AWS_SECRET_ACCESS_KEY={s}"], True),
    ("credentials-file", ["[ci-{n}]", "aws_access_key_id = {k}", "aws_secret_access_key = {s}"], True),
    ("json", ['{{"aws": {{"accessKeyId": "{k}", "secretAccessKey": "{s}"}}}}'], True),
    ("yaml", ["deploy:", "  aws_access_key_id: {k}"], False),
]
AUTHORS = [f"Dev {i} <dev{i}@example.com>" for i in range(12)]
EPOCH = 1_704_067_200   # 2024-01-01T00:00:00Z: fixed, so the same seed gives the same commit IDs


def load_source(source, max_bytes):
    """path -> bytes for SOURCE's regular text files below max_bytes, in sorted order."""
    files = {}
    for root, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d != ".git" and not os.path.islink(os.path.join(root, d)))
        for n in sorted(names):
            p = os.path.join(root, n)
            rel = os.path.relpath(p, source).replace(os.sep, "/")
            # fast-import takes a path to the end of the line, unquoted unless it starts with a quote.
            if os.path.islink(p) or not os.path.isfile(p) or "\n" in rel or rel.startswith('"'):
                continue
            if os.path.getsize(p) >= max_bytes:
                continue
            with open(p, "rb") as f:
                data = f.read()
            # git's own binary test; a key appended to a binary file is not what this measures.
            if b"\0" not in data[:8000]:
                files[rel] = data
    return files


def line_starts(data):
    """Offsets where a line starts: 0 and after every newline (not past a final unterminated line)."""
    starts = [0]
    i = data.find(b"\n")
    while i != -1:
        starts.append(i + 1)
        i = data.find(b"\n", i + 1)
    return starts


class FastImport:
    def __init__(self, repo, marks):
        self.proc = subprocess.Popen(["git", "-C", repo, "fast-import", "--quiet", "--export-marks=" + marks],
                                     stdin=subprocess.PIPE)
        self.out = self.proc.stdin

    def data(self, payload):
        self.out.write(b"data %d\n" % len(payload))
        self.out.write(payload)
        self.out.write(b"\n")

    def commit(self, branch, mark, author, when, message, parent, changes):
        w = self.out.write
        w(f"commit refs/heads/{branch}\nmark :{mark}\n".encode())
        w(f"author {author} {when} +0000\ncommitter {author} {when} +0000\n".encode())
        self.data(message.encode())
        if parent is not None:
            w(f"from :{parent}\n".encode())
        for path, content in changes:
            w(f"M 100644 inline {path}\n".encode())
            self.data(content)
        w(b"\n")

    def close(self):
        self.out.close()
        if self.proc.wait() != 0:
            sys.exit(f"make-history.py: git fast-import exited {self.proc.returncode}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="source tree for the first commit")
    ap.add_argument("out", help="output folder (made; its repo/ must not exist yet)")
    ap.add_argument("--commits", type=int, default=20000)
    ap.add_argument("--keys", type=int, default=200, help="planted credentials requested (one every commits / keys commits)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--branches", type=int, default=3, help="main and B - 1 feature branches")
    ap.add_argument("--remove-rate", type=float, default=0.015,
                    help="chance per commit without a planting that one planted key is removed again")
    ap.add_argument("--keep-rate", type=float, default=0.03,
                    help="share of planted keys that are never removed (left behind, as leaks often are), so "
                         "some keys are still at a branch tip")
    ap.add_argument("--max-file-bytes", type=int, default=512 * 1024, help="files this large or larger are left out")
    a = ap.parse_args()
    if a.commits < 2 or a.keys < 0 or a.branches < 1 or not 0 <= a.remove_rate <= 1 or not 0 <= a.keep_rate <= 1:
        sys.exit("make-history.py: needs --commits >= 2, --keys >= 0, --branches >= 1, "
                 "--remove-rate and --keep-rate from 0 to 1")
    out = os.path.abspath(a.out)
    repo = os.path.join(out, "repo")
    if os.path.exists(repo):
        sys.exit(f"make-history.py: {repo} exists already; remove it first")
    rng = random.Random(a.seed)
    first = load_source(a.source, a.max_file_bytes)
    if not first:
        sys.exit(f"make-history.py: no text file under {a.max_file_bytes} bytes in {a.source}")
    paths = sorted(first)

    os.makedirs(out, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", repo], check=True)
    marks = os.path.join(out, "marks")
    fi = FastImport(repo, marks)

    features = [f"feature{i}" for i in range(1, a.branches)]
    fork_at = a.commits // 2 if features else a.commits
    key_every = max(1, a.commits // max(1, a.keys))
    # Every key_every-th commit, shifted by one on odd turns so that, once the feature branches
    # alternate, plantings land on each of them and not all on the first.
    plant_at = {j * key_every + j % 2 for j in range(1, a.keys + 1)}
    trees = {"main": first}          # branch -> path -> content at its tip
    live = {"main": {}}              # branch -> key_id -> record, for blocks present at its tip
    tip = {}                         # branch -> mark of its last commit
    truth = []
    for c in range(a.commits):
        mark = c + 1
        branch = "main" if c < fork_at else features[(c - fork_at) % len(features)]
        # fast-import continues a branch from its last commit; a new feature branch forks from main's tip.
        parent = None
        if branch not in trees:
            trees[branch] = dict(trees["main"])
            live[branch] = dict(live["main"])
            parent = tip["main"]
        files = trees[branch]
        changed = {}
        author = AUTHORS[rng.randrange(len(AUTHORS))]
        when = EPOCH + c * 420 + rng.randrange(300)
        if c == 0:
            fi.commit(branch, mark, author, when, "Import the source tree\n", None, [(p, files[p]) for p in paths])
            tip[branch] = mark
            continue
        for p in rng.sample(paths, rng.randint(1, min(3, len(paths)))):
            data = files[p]
            sep = b"" if not data or data.endswith(b"\n") else b"\n"
            files[p] = changed[p] = data + sep + f"# revision {c} ({author.split(' <')[0]})\n".encode()
        message = f"Revise {', '.join(sorted(changed))}\n"
        if c in plant_at and len(truth) < a.keys:
            kind, template, has_secret = rng.choice(BLOCKS)
            k = synthetic.key_id(rng)
            s = synthetic.secret(rng) if has_secret else None
            block = ("\n".join(t.format(k=k, s=s, n=rng.randrange(1, 50)) for t in template) + "\n").encode()
            p = rng.choice(paths)
            data = files[p]
            # Not inside another planted block, which must stay whole to be removed again.
            inside = [(i, i + len(r["_block"])) for r in live[branch].values() if r["path"] == p
                      for i in [data.find(r["_block"])]]
            at = rng.choice([o for o in line_starts(data) if not any(i < o < j for i, j in inside)])
            files[p] = changed[p] = data[:at] + block + data[at:]
            rec = {"key_id": k, "secret": s, "account": synthetic.account_of(k), "kind": kind, "path": p,
                   "introduced": mark, "removed": None, "branch": branch, "_block": block,
                   "_keep": rng.random() < a.keep_rate}
            truth.append(rec)
            live[branch][k] = rec
            message = f"Configure deployment in {p}\n"
        elif (removable := sorted(k for k, r in live[branch].items() if not r["_keep"])) and rng.random() < a.remove_rate:
            rec = live[branch].pop(rng.choice(removable))
            p = rec["path"]
            files[p] = changed[p] = files[p].replace(rec["_block"], b"", 1)
            if rec["removed"] is None:
                rec["removed"] = mark
            message = f"Remove credentials from {p}\n"
        fi.commit(branch, mark, author, when, message, parent, sorted(changed.items()))
        tip[branch] = mark
    fi.close()

    sha = {}
    with open(marks, encoding="ascii") as f:
        for line in f:
            m, s = line.split()
            sha[int(m[1:])] = s
    subprocess.run(["git", "-C", repo, "checkout", "-q", "-f", "main"], check=True)

    with open(os.path.join(out, "truth.jsonl"), "w", encoding="utf-8") as f:
        for rec in truth:
            in_head = any(rec["key_id"].encode() in trees[b].get(rec["path"], b"") for b in trees)
            f.write(json.dumps({"key_id": rec["key_id"], "secret": rec["secret"], "account": rec["account"],
                                "kind": rec["kind"], "path": rec["path"], "introduced": sha[rec["introduced"]],
                                "removed": sha[rec["removed"]] if rec["removed"] else None,
                                "in_head": in_head, "branch": rec["branch"]}) + "\n")
    summary = {"source": os.path.abspath(a.source), "commits": a.commits, "branches": sorted(trees), "seed": a.seed,
               "first_commit_files": len(paths), "first_commit_bytes": sum(len(v) for v in first.values()),
               "keys": len(truth), "secrets": sum(1 for r in truth if r["secret"]),
               "in_head": sum(1 for r in truth if any(r["key_id"].encode() in trees[b].get(r["path"], b"") for b in trees))}
    with open(os.path.join(out, "history.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(f"{a.commits} commits on {len(trees)} branches, first commit {len(paths)} files; "
          f"{len(truth)} planted credentials ({summary['secrets']} with a secret, {summary['in_head']} "
          f"still at a branch tip) -> {repo}")


if __name__ == "__main__":
    main()
