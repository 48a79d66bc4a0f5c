#!/usr/bin/env python3
"""Score a git-history scan against a repository made by bench/make-history.py, and render
the benchmark table of bench/scan-history.sh.  Standard library only.

  evaluate-history.py --history DIR --keywarden FINDINGS.jsonl
              [--pipeline-count FILE] [--pipeline-matches FILE] [--gitsecrets FILE]
              [--timings FILE] [--staged-hyperfine FILE] [--staged-note TEXT]
              [--version TOOL=TEXT ...] [--note TEXT ...] [--table-out FILE] [--check]

DIR holds repo/ and truth.jsonl, one line per planted credential:
  {"key_id", "secret" (or null), "path", "introduced" (commit sha), "removed" (sha or null),
   "in_head" (bool), "branch"}.
Keywarden's JSONL has one finding per line with at least keyId, classification, path, line,
secret (null or {redacted, sha256}), commit (null or {sha, author, email, date, message, path}),
commits (int) and inHead (bool).

A planted key is found when a `live` finding has its key ID.  A key may have several findings
(one per path, say); it counts as right when any of its live findings is right:
  introducing commit   finding.commit.sha == truth.introduced
  inHead               finding.inHead == truth.in_head
  secret paired        finding.secret.sha256 == sha256(truth.secret)   (keys with a secret)
A live finding whose key ID was not planted is a false positive.

--pipeline-count is `git log -p --all | rg -c PATTERN` output (one number); --pipeline-matches
is `rg -o` output of the same pipeline (key IDs, one a line); --gitsecrets is the output of
`git secrets --scan-history` (sha:path:line:text).  --timings is a TSV of tool, run, wall seconds,
peak RSS in KB, exit code[, timeout] (one line per timed run); the tools are keywarden, pipeline,
git-secrets, and for the staged scan staged-keywarden and staged-git-secrets (used when there is
no --staged-hyperfine, a `hyperfine --export-json` file with runs named keywarden and git-secrets).

Secrets are never printed: lists show key IDs, paths and commit shas only.
--check exits 1 unless recall, introducing commits, inHead and pairing are 100% and there is
no false positive.
"""
import argparse
import datetime
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys

from benchlib import fmt_s, load_jsonl, machine, mark, pct, sha256_hex, timings  # shared with the other scorer

TARGETS = {"ratio_pipeline": 1.0, "x_gitsecrets": 10.0, "x_staged": 2.0}
SHA_RE = re.compile(r"^[0-9a-f]{40}$")
GS_LINE_RE = re.compile(r"^[0-9a-f]{40}:")


def git(repo, *args):
    r = subprocess.run(["git", "-C", repo, *args], capture_output=True)
    return r.stdout.decode("utf-8", "replace") if r.returncode == 0 else None


def commit_adds_key(repo, sha, key_id):
    """True if commit sha's own diff adds a line with key_id; None if the commit is unknown."""
    if not repo or not SHA_RE.match(sha or ""):
        return None
    out = git(repo, "show", "--no-color", "--format=", "-U0", "--no-ext-diff", sha)
    if out is None:
        return None
    return any(line.startswith("+") and not line.startswith("+++") and key_id in line
               for line in out.splitlines())


# ---------------------------------------------------------------- keywarden

def norm_path(p):
    p = str(p or "").replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    return p


def commit_sha(f):
    c = f.get("commit")
    return (c.get("sha") or "").lower() if isinstance(c, dict) else None


def secret_sha(f):
    s = f.get("secret")
    return (s.get("sha256") or "").lower() if isinstance(s, dict) else None


def schema_problems(f):
    out = []
    for k in ("keyId", "classification", "path", "line", "secret", "commit", "commits", "inHead"):
        if k not in f:
            out.append(f"no {k}")
    c = f.get("commit")
    if c is not None and not (isinstance(c, dict) and SHA_RE.match(str(c.get("sha", "")).lower())):
        out.append("commit.sha not 40 hex")
    elif isinstance(c, dict):
        for k in ("author", "email", "date", "message", "path"):
            if k not in c:
                out.append(f"no commit.{k}")
    s = f.get("secret")
    if s is not None and not (isinstance(s, dict) and "sha256" in s and "redacted" in s):
        out.append("secret not {redacted, sha256}")
    if "commits" in f and not (isinstance(f["commits"], int) and not isinstance(f["commits"], bool)):
        out.append("commits not an int")
    if "inHead" in f and not isinstance(f["inHead"], bool):
        out.append("inHead not a bool")
    return out


def evaluate_keywarden(truth, findings, repo):
    live = [f for f in findings if f.get("classification") == "live"]
    by_key = {}
    for f in live:
        by_key.setdefault(f.get("keyId"), []).append(f)
    planted_ids = {t["key_id"] for t in truth}

    r = {"planted": len(truth), "findings": len(findings), "live": len(live), "found": 0,
         "intro": 0, "in_head": 0, "path": 0, "with_secret": 0, "paired": 0, "multi": 0,
         "head_conflict": 0, "missed": [], "wrong_intro": [], "wrong_head": [], "unpaired": [],
         "wrong_path": []}
    for t in truth:
        hits = by_key.get(t["key_id"], [])
        short = (t.get("introduced") or "")[:10]
        desc = f"{t['key_id']} {t['path']} (introduced {short}, branch {t.get('branch')})"
        if t.get("secret"):
            r["with_secret"] += 1
        if not hits:
            others = [f for f in findings if f.get("keyId") == t["key_id"]]
            why = ("reported as " + "/".join(sorted({str(f.get("classification")) for f in others}))
                   if others else "not reported")
            r["missed"].append(f"{desc}: {why}")
            continue
        r["found"] += 1
        if len(hits) > 1:
            r["multi"] += 1
        if len({f.get("inHead") for f in hits}) > 1:
            r["head_conflict"] += 1
        want = (t.get("introduced") or "").lower()
        if any(commit_sha(f) == want for f in hits):
            r["intro"] += 1
        else:
            got = sorted({commit_sha(f) or "null" for f in hits})
            r["wrong_intro"].append((t, got))
        if any(f.get("inHead") is t.get("in_head") for f in hits):
            r["in_head"] += 1
        else:
            got = sorted({str(f.get("inHead")) for f in hits})
            r["wrong_head"].append(f"{desc}: in_head {t.get('in_head')}, reported {'/'.join(got)}")
        paths = {norm_path(f.get("path", "")) for f in hits}
        paths |= {norm_path(f["commit"].get("path", "")) for f in hits if isinstance(f.get("commit"), dict)}
        if t["path"] in paths:
            r["path"] += 1
        else:
            r["wrong_path"].append(f"{desc}: reported at {', '.join(sorted(paths))}")
        if t.get("secret"):
            if any(secret_sha(f) == sha256_hex(t["secret"]) for f in hits):
                r["paired"] += 1
            else:
                shas = [secret_sha(f) for f in hits]
                why = "no secret reported" if all(s is None for s in shas) else "secret hash differs"
                r["unpaired"].append(f"{desc}: {why}")

    # Wrong introducing commits: does the reported commit add the key too (on another branch, say)?
    r["wrong_intro_text"] = []
    r["wrong_intro_adds"] = 0
    for t, got in r["wrong_intro"]:
        notes = []
        for sha in got:
            adds = commit_adds_key(repo, sha, t["key_id"]) if sha != "null" else None
            if adds:
                r["wrong_intro_adds"] += 1
            notes.append(sha[:10] + ("" if adds is None else " (adds the key too)" if adds
                                     else " (does not add the key)"))
        r["wrong_intro_text"].append(f"{t['key_id']} {t['path']}: introduced {t['introduced'][:10]} "
                                     f"(branch {t.get('branch')}), reported {', '.join(notes)}")

    r["fps"] = [f for f in live if f.get("keyId") not in planted_ids]
    r["fp_keys"] = len({f.get("keyId") for f in r["fps"]})
    probs = {}
    for f in findings:
        for p in schema_problems(f):
            probs[p] = probs.get(p, 0) + 1
    r["schema"] = probs
    return r


# ---------------------------------------------------------------- pipeline and git-secrets

def read_lines(path):
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        return f.read().splitlines()


def pipeline_count(path):
    total = 0
    for line in read_lines(path):
        n = line.rpartition(":")[2].strip()
        if n.isdigit():
            total += int(n)
    return total


def keys_in(lines, truth):
    """Planted key IDs that occur in lines (the lines are never printed)."""
    ids = {t["key_id"] for t in truth}
    seen = set()
    pat = re.compile(r"(?=(A[A-Z0-9]{19}))")    # every 20-character run from an A, overlapping
    for line in lines:
        for m in pat.findall(line):
            if m in ids:
                seen.add(m)
    return seen


def is_binary(repo, sha, path):
    """git's own test: a NUL byte in the first 8000 bytes of the blob.  None if unknown."""
    if not repo or not sha:
        return None
    r = subprocess.run(["git", "-C", repo, "cat-file", "blob", f"{sha}:{path}"], capture_output=True)
    return b"\0" in r.stdout[:8000] if r.returncode == 0 else None


def print_misses(tool, truth, seen, n, repo):
    """Lists the planted keys a git-based tool did not match; returns how many sit in binary files."""
    missed = [t for t in truth if t["key_id"] not in seen]
    binary = 0
    if missed:
        print(f"{tool}: {len(seen)}/{len(truth)} planted key IDs matched; missed ({len(missed)}):")
    for i, t in enumerate(missed):
        b = is_binary(repo, t.get("introduced"), t["path"])
        binary += bool(b)
        if i < n:
            print(f"    {t['key_id']} {t['path']} (branch {t.get('branch')})" + (", binary file" if b else ""))
    if len(missed) > n:
        print(f"    ... {len(missed) - n} more")
    return binary


# ---------------------------------------------------------------- timings

def staged_times(args, times):
    """Median seconds of the staged scans: {name: (median_s, runs, exit codes or None)}."""
    out = {}
    if args.staged_hyperfine and os.path.isfile(args.staged_hyperfine):
        with open(args.staged_hyperfine, encoding="utf-8") as f:
            data = json.load(f)
        for res in data.get("results", []):
            name = res.get("command", "")
            ts = res.get("times") or []
            med = res.get("median", statistics.median(ts) if ts else None)
            if med is not None:
                out[name] = (float(med), len(ts), sorted(set(res.get("exit_codes") or [])) or None)
    for name in ("keywarden", "git-secrets"):
        t = times.get(f"staged-{name}")
        if name not in out and t:
            out[name] = (t["wall"], t["runs"], t["rcs"])
    return out


def repo_size(repo):
    if not repo or not os.path.isdir(repo):
        return None
    commits = git(repo, "rev-list", "--all", "--count")
    branches = git(repo, "for-each-ref", "--format=%(refname)", "refs/heads")
    objs = git(repo, "count-objects", "-vH") or ""
    info = dict(line.split(": ", 1) for line in objs.splitlines() if ": " in line)
    return {"commits": (commits or "?").strip(),
            "branches": len((branches or "").split()),
            "size_pack": info.get("size-pack", "?"), "in_pack": info.get("in-pack", "?"),
            "loose": info.get("count", "?")}


# ---------------------------------------------------------------- table

def render(args, truth, kw, pipe, gs, times, staged, size):
    ver = dict(v.split("=", 1) for v in args.version if "=" in v)
    t_kw, t_p, t_gs = times.get("keywarden"), times.get("pipeline"), times.get("git-secrets")
    P = len(truth)
    lines = ["| tool | wall time (median, s) | peak RSS (MB) | found / recall | ratio vs `git log -p \\| rg` |",
             "| --- | --- | --- | --- | --- |"]

    def ratio(t):
        if not t or not t_p or t_p["wall"] <= 0:
            return "n/a"
        return ("≥ " if t["timed_out"] else "") + f"{t['wall'] / t_p['wall']:.2f}×"

    name = f"keywarden {ver.get('keywarden', '')}".strip()
    if kw is None:
        lines.append(f"| {name} | {fmt_s(t_kw) if t_kw else 'not run'} | | | |")
    else:
        r = ratio(t_kw)
        if t_kw and t_p and t_p["wall"] > 0:
            r += f" (target ≤ {TARGETS['ratio_pipeline']:.1f}×: {mark(t_kw['wall'] / t_p['wall'] <= TARGETS['ratio_pipeline'])})"
        rss = f"{t_kw['rss_mb']:.0f}" if t_kw else "n/a"
        lines.append(f"| {name} | {fmt_s(t_kw)} | {rss} | {kw['live']} live / {pct(kw['found'], P)} | {r} |")
    vers = ", ".join(f"{t} {ver[t]}" for t in ("git", "ripgrep") if ver.get(t))
    pname = "`git log -p --all \\| rg -c`" + (f" ({vers})" if vers else "")
    if pipe is not None or t_p:
        pipe = pipe or {"count": "?", "recall": None}
        rss = f"{t_p['rss_mb']:.0f}" if t_p else "n/a"
        rec = pct(pipe["recall"], P) if pipe["recall"] is not None else "n/a"
        lines.append(f"| {pname} | {fmt_s(t_p)} | {rss} | {pipe['count']} lines / {rec} | "
                     f"{'1.00×' if t_p else 'n/a'} |")
    gname = f"`git secrets --scan-history` {ver.get('git-secrets', '')}".strip()
    if gs is not None or t_gs:
        found = f"{gs['lines']} lines / {pct(gs['recall'], P)}" if gs else "n/a"
        if t_gs and t_gs["timed_out"]:
            found = "n/a (timed out)"
        rss = f"{t_gs['rss_mb']:.0f}" if t_gs else "n/a"
        lines.append(f"| {gname} | {fmt_s(t_gs)} | {rss} | {found} | {ratio(t_gs)} |")
    else:
        lines.append(f"| {gname} | skipped | | | |")

    lines.append("")
    if t_kw and t_gs and t_kw["wall"] > 0:
        x = t_gs["wall"] / t_kw["wall"]
        lines.append(f"- speed-up over git-secrets (its wall time / keywarden's): "
                     f"{'≥ ' if t_gs['timed_out'] else ''}{x:.1f}× "
                     f"(target ≥ {TARGETS['x_gitsecrets']:.0f}×: {mark(x >= TARGETS['x_gitsecrets'])})")
    if t_kw and t_p and t_p["wall"] > 0:
        q = t_kw["wall"] / t_p["wall"]
        lines.append(f"- ratio vs `git log -p --all | rg` (keywarden's wall time / the pipeline's): {q:.2f}× "
                     f"(target ≤ {TARGETS['ratio_pipeline']:.1f}×: {mark(q <= TARGETS['ratio_pipeline'])})")
    if t_kw and 2 in t_kw["rcs"]:
        lines.append("- keywarden exited 2 (some objects unreadable) in at least one run; see its log")
    if kw is not None:
        lines.append(f"- recall: {kw['found']}/{P} planted keys found as a live finding with that key ID "
                     f"= {pct(kw['found'], P)} (target 100%: {mark(kw['found'] == P)})")
        lines.append(f"- introducing commit right: {kw['intro']}/{P} (target {P}/{P}: {mark(kw['intro'] == P)})")
        lines.append(f"- inHead right: {kw['in_head']}/{P} (target {P}/{P}: {mark(kw['in_head'] == P)}); "
                     f"{sum(1 for t in truth if t.get('in_head'))} planted keys are still at a branch tip")
        lines.append(f"- secrets paired (sha256 match): {kw['paired']}/{kw['with_secret']} "
                     f"(target 100%: {mark(kw['paired'] == kw['with_secret'])})")
        lines.append(f"- false positives: {len(kw['fps'])} live finding(s) of {kw['fp_keys']} key ID(s) "
                     f"that were not planted (target 0: {mark(not kw['fps'])})")
        lines.append(f"- findings: {kw['findings']} ({kw['live']} live); {kw['multi']} planted key(s) had "
                     f"more than one live finding" + (f", {kw['head_conflict']} of them with differing inHead"
                                                      if kw["head_conflict"] else ""))
    if pipe is not None:
        lines.append(f"- `git log -p --all | rg -c`: {pipe['count']} matching lines for {P} planted keys "
                     f"(a key shows up when added and when removed, and again when another branch "
                     f"touches its file)")
        if pipe["recall"] is not None and pipe["recall"] < P:
            binary = pipe.get("binary", 0)
            lines.append(f"- {P - pipe['recall']} planted key(s) never show up in `git log -p` output"
                         + (f", {binary} of them in files git takes for binary (their diffs read "
                            f"\"Binary files differ\"; `git grep -I` skips them too)" if binary else ""))
    if staged:
        k, g = staged.get("keywarden"), staged.get("git-secrets")

        def ms(v):
            return f"{v[0] * 1000:.1f} ms" + (f" ({v[1]} runs)" if v[1] else "")
        if k and g and k[0] > 0:
            x = g[0] / k[0]
            lines.append(f"- staged pre-commit scan (3 staged files, 1 with a new key): `keywarden scan --staged` "
                         f"{ms(k)} vs `git secrets --pre_commit_hook` {ms(g)}: {x:.1f}× faster "
                         f"(target ≥ {TARGETS['x_staged']:.0f}×: {mark(x >= TARGETS['x_staged'])})")
        else:
            parts = [f"{n} {ms(v)}" for n, v in (("keywarden", k), ("git-secrets", g)) if v]
            lines.append(f"- staged pre-commit scan: {'; '.join(parts) or 'not run'}")
    lines.extend(f"- {n}" for n in args.staged_note)
    if size:
        lines.append(f"- repository: {size['commits']} commits on {size['branches']} branches, "
                     f"size-pack {size['size_pack']} ({size['in_pack']} objects, {size['loose']} loose); "
                     f"{P} planted keys")
    lines.extend(f"- {n}" for n in args.note)
    lines.append(f"- machine: {machine()}")
    lines.append(f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--history", required=True, help="make-history.py output: repo/ and truth.jsonl")
    ap.add_argument("--keywarden", help="keywarden --format jsonl output")
    ap.add_argument("--pipeline-count", help="git log -p --all | rg -c output")
    ap.add_argument("--pipeline-matches", help="git log -p --all | rg -o output")
    ap.add_argument("--gitsecrets", help="git secrets --scan-history output")
    ap.add_argument("--timings", help="TSV: tool, run, wall s, peak RSS KB, exit code[, timeout]")
    ap.add_argument("--staged-hyperfine", help="hyperfine --export-json of the staged scans")
    ap.add_argument("--staged-note", action="append", default=[], help="a line about the staged scan")
    ap.add_argument("--version", action="append", default=[], metavar="TOOL=TEXT")
    ap.add_argument("--note", action="append", default=[], help="an extra line under the table")
    ap.add_argument("--table-out", help="also write the Markdown table here")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless recall, commits, inHead and pairing are 100%% and there is no false positive")
    ap.add_argument("--max-list", type=int, default=10)
    args = ap.parse_args()

    hist = os.path.abspath(args.history)
    truth_path = os.path.join(hist, "truth.jsonl")
    if not os.path.isfile(truth_path):
        sys.exit(f"evaluate-history.py: {hist} has no truth.jsonl (not a bench/make-history.py output)")
    truth, _ = load_jsonl(truth_path, "truth.jsonl")
    repo = os.path.join(hist, "repo")
    repo = repo if os.path.isdir(repo) else None

    kw = None
    if args.keywarden:
        if not os.path.isfile(args.keywarden):
            sys.exit(f"evaluate-history.py: no such file: {args.keywarden}")
        findings, bad = load_jsonl(args.keywarden, "keywarden output")
        kw = evaluate_keywarden(truth, findings, repo)
        n = args.max_list
        P = kw["planted"]
        print(f"keywarden: {kw['findings']} findings, {kw['live']} live; recall {kw['found']}/{P}, "
              f"introducing commit {kw['intro']}/{P}, inHead {kw['in_head']}/{P}, path {kw['path']}/{P}, "
              f"secrets paired {kw['paired']}/{kw['with_secret']}, false positives {len(kw['fps'])}, "
              f"keys with >1 finding {kw['multi']}")
        if bad:
            print(f"  {len(bad)} output line(s) were not JSON objects")
        if kw["schema"]:
            print("  schema: " + ", ".join(f"{k}: {v} finding(s)" for k, v in sorted(kw["schema"].items())))
        lists = (("missed", kw["missed"]), ("wrong introducing commit", kw["wrong_intro_text"]),
                 ("wrong inHead", kw["wrong_head"]), ("path not reported", kw["wrong_path"]),
                 ("secret not paired", kw["unpaired"]))
        for title, items in lists:
            if items:
                print(f"  {title} ({len(items)}):")
                for s in items[:n]:
                    print(f"    {s}")
                if len(items) > n:
                    print(f"    ... {len(items) - n} more")
        if kw["fps"]:
            print(f"  false positives ({len(kw['fps'])}):")
            for f in kw["fps"][:n]:
                c = commit_sha(f)
                print(f"    {f.get('path')}:{f.get('line')} rule={f.get('ruleId')} keyId={f.get('keyId')}"
                      + (f" commit={c[:10]}" if c else ""))
            if len(kw["fps"]) > n:
                print(f"    ... {len(kw['fps']) - n} more")

    pipe = None
    if args.pipeline_count or args.pipeline_matches:
        pipe = {"count": pipeline_count(args.pipeline_count)
                if args.pipeline_count and os.path.isfile(args.pipeline_count) else "?", "recall": None}
        if args.pipeline_matches and os.path.isfile(args.pipeline_matches):
            seen = keys_in(read_lines(args.pipeline_matches), truth)
            pipe["recall"] = len(seen)
            pipe["binary"] = print_misses("git log -p | rg", truth, seen, args.max_list, repo)
    gs = None
    if args.gitsecrets and os.path.isfile(args.gitsecrets):
        hits = [line for line in read_lines(args.gitsecrets) if GS_LINE_RE.match(line)]
        seen = keys_in(hits, truth)
        gs = {"lines": len(hits), "recall": len(seen)}
        print_misses("git secrets --scan-history", truth, seen, args.max_list, repo)

    times = timings(args.timings)
    staged = staged_times(args, times)
    table = render(args, truth, kw, pipe, gs, times, staged, repo_size(repo))
    print()
    print(table, end="")
    if args.table_out:
        with open(args.table_out, "w", encoding="utf-8") as f:
            f.write(table)

    if args.check and kw is not None:
        P = kw["planted"]
        ok = (kw["found"] == P and kw["intro"] == P and kw["in_head"] == P
              and kw["paired"] == kw["with_secret"] and not kw["fps"])
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
