#!/usr/bin/env python3
"""Score a file scan against a corpus made by bench/make-corpus.py, and render the
benchmark table of bench/scan-files.sh.  Standard library only.

  evaluate.py --corpus DIR --keywarden FINDINGS.jsonl
              [--rg-count FILE] [--rg-matches FILE] [--gitsecrets FILE]
              [--timings FILE] [--version TOOL=TEXT ...] [--note TEXT ...]
              [--table-out FILE] [--check]

DIR holds tree/, truth.jsonl and decoys.jsonl.  Keywarden's JSONL has one finding per line
(ruleId, keyId, classification, path relative to the scanned root, 1-based line, secret
{redacted, sha256} or null, ...).

The corpus manifest gives the line of each planted key ID and secret (key_line, secret_line;
a manifest with only the block's first line, `line`, is read with the offsets of KEY_OFFSET and
SECRET_OFFSET), and each is checked against the tree.  A planted credential is found when a `live`
finding has its key ID at that path and line; its secret is paired when that finding's
secret.sha256 is the SHA-256 of the planted secret.  Precision counts every `live` finding:
one that matches no planted credential is a false positive.  A decoy is classified live when a
`live` finding sits on one of its lines.

Secrets are never printed: lists show path:line, rule and key ID only.

--rg-count is `rg -c` output (path:count per file); --rg-matches is `rg -n -o` output
(path:line:keyid); --gitsecrets is git-secrets' report (path:line:text).  --timings is a TSV
of tool, run, wall seconds, peak RSS in KB, exit code (one line per timed run).
--check exits 1 unless recall and pairing are 100% and no decoy is live.
"""
import argparse
import datetime
import hashlib
import json
import os
import re
import statistics
import sys

from benchlib import fmt_s, load_jsonl, machine, mark, pct, sha256_hex, timings  # shared with the other scorer

# For a manifest without key_line / secret_line: line of the key ID and of the secret within each
# kind of block, from its first line.
KEY_OFFSET = {"credentials-file": 1, "yaml": 1}
SECRET_OFFSET = {"shell-export": 1, "credentials-file": 2, "json": 0, "yaml": 2,
                 "python-call": 0, "csharp-call": 0}

TARGETS = {"ratio_rg": 1.5, "ratio_rg_stretch": 1.0, "x_gitsecrets": 10.0, "rss_mb": 300.0}


class Corpus:
    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.tree = os.path.join(self.root, "tree")
        for name in ("truth.jsonl", "decoys.jsonl"):
            if not os.path.isfile(os.path.join(self.root, name)):
                sys.exit(f"evaluate.py: {self.root} has no {name} (not a bench/make-corpus.py output)")
        self.truth, _ = load_jsonl(os.path.join(self.root, "truth.jsonl"), "truth.jsonl")
        self.decoys, _ = load_jsonl(os.path.join(self.root, "decoys.jsonl"), "decoys.jsonl")
        self._files = {}

    def lines(self, rel):
        if rel not in self._files:
            try:
                with open(os.path.join(self.tree, rel), "rb") as f:
                    data = f.read()
            except OSError:
                data = b""
            self._files[rel] = (data.split(b"\n"), b"\x00" in data)
        return self._files[rel][0]

    def has_nul(self, rel):
        self.lines(rel)
        return self._files[rel][1]

    def locate(self, rel, needle, expected):
        """1-based line holding needle: expected if it is there, else the nearest one, else None."""
        b = needle.encode("utf-8", "surrogateescape")
        lines = self.lines(rel)
        if 1 <= expected <= len(lines) and b in lines[expected - 1]:
            return expected
        hits = [i + 1 for i, text in enumerate(lines) if b in text]
        return min(hits, key=lambda n: abs(n - expected)) if hits else None

    def size(self):
        files = total = 0
        for root, _, names in os.walk(self.tree):
            for n in names:
                p = os.path.join(root, n)
                if os.path.isfile(p) and not os.path.islink(p):
                    files += 1
                    total += os.path.getsize(p)
        return files, total


ODD_PATHS = []


def norm_path(p, tree, note=False):
    """Path relative to the scanned root, with / separators.  With note, a path given
    otherwise (absolute, or relative to the current folder) is recorded in ODD_PATHS."""
    raw = p = str(p).replace("\\", "/")
    t = tree.replace("\\", "/").rstrip("/") + "/"
    if p.startswith(t):
        p = p[len(t):]
    elif not p.startswith("/") and not os.path.exists(os.path.join(tree, p)) and \
            os.path.abspath(p).startswith(t):
        p = os.path.abspath(p)[len(t):]
    while p.startswith("./"):
        p = p[2:]
    if note and p != raw:
        ODD_PATHS.append(raw)
    return p


def decoy_type(text):
    if "EXAMPLE" in text:
        return "AWS docs example"
    if "XXXXXXXX" in text:
        return "placeholder XXXX"
    if text.startswith("id = akia"):
        return "lowercase akia"
    if text.startswith("token = "):
        return "too short"
    if text.startswith("blob = "):
        return "embedded in a word"
    return "other"


# ---------------------------------------------------------------- planted credentials

def plant_index(corpus):
    """Where each planted key ID and secret really is in the tree."""
    planted = []
    for t in corpus.truth:
        kind = t.get("kind", "")
        start = int(t["line"])
        want_key = int(t.get("key_line") or start + KEY_OFFSET.get(kind, 0))
        key_line = corpus.locate(t["path"], t["key_id"], want_key)
        secret_line = want_secret = None
        if t.get("secret"):
            want_secret = int(t.get("secret_line") or start + SECRET_OFFSET.get(kind, 0))
            secret_line = corpus.locate(t["path"], t["secret"], want_secret)
        split = (key_line is not None and secret_line is not None
                 and secret_line - key_line != want_secret - want_key)
        planted.append({**t, "key_line": key_line, "secret_line": secret_line, "split": split,
                        "nul": corpus.has_nul(t["path"])})
    return planted


def decoy_lines(corpus):
    out = []
    for d in corpus.decoys:
        parts = d.get("text", "").split("\n")
        expected = d.get("lines") or [int(d["line"]) + i for i in range(len(parts))]
        where = set()
        for part, line in zip(parts, expected):
            n = corpus.locate(d["path"], part, int(line)) if part else None
            where.add(n if n is not None else int(line))
        out.append({**d, "lines": where, "type": d.get("type") or decoy_type(d.get("text", ""))})
    return out


def evaluate_keywarden(corpus, planted, decoys, findings):
    r = {}
    for f in findings:
        f["_path"] = norm_path(f.get("path", ""), corpus.tree, note=True)
        try:
            f["_line"] = int(f.get("line"))
        except (TypeError, ValueError):
            f["_line"] = -1
        sec = f.get("secret")
        f["_sha"] = (sec.get("sha256") or "").lower() if isinstance(sec, dict) else None
    live = [f for f in findings if f.get("classification") == "live"]
    by_loc = {}
    for f in findings:
        by_loc.setdefault((f["_path"], f["_line"]), []).append(f)

    found, paired, with_secret, missed, unpaired = 0, 0, 0, [], []
    true_live = set()
    dup = 0
    for p in planted:
        here = by_loc.get((p["path"], p["key_line"]), [])
        hits = [f for f in here if f.get("keyId") == p["key_id"] and f.get("classification") == "live"]
        for f in hits:
            true_live.add(id(f))
        dup += max(0, len(hits) - 1)
        loc = f"{p['path']}:{p['key_line']}"
        if p["secret"]:
            with_secret += 1
        if hits:
            found += 1
            if p["secret"]:
                want = sha256_hex(p["secret"])
                if any(f["_sha"] == want for f in hits):
                    paired += 1
                else:
                    shas = [f["_sha"] for f in hits]
                    why = "no secret reported" if all(s is None for s in shas) else "secret hash differs"
                    unpaired.append(f"{loc} [{p['kind']}] {why}" + (" (block split by a later planting)"
                                                                   if p["split"] else ""))
            continue
        # why was it missed?
        same_key = [f for f in findings if f.get("keyId") == p["key_id"]]
        if any(f.get("classification") != "live" and f["_path"] == p["path"] and f["_line"] == p["key_line"]
               for f in same_key):
            cls = sorted({f.get("classification") for f in same_key if f["_line"] == p["key_line"]})
            why = "reported as " + "/".join(map(str, cls))
        elif same_key:
            f0 = same_key[0]
            why = f"reported at {f0['_path']}:{f0['_line']} ({f0.get('classification')})"
        else:
            why = "not reported"
        if p["nul"]:
            why += "; file has NUL bytes"
        missed.append(f"{loc} {p['key_id']} [{p['kind']}] {why}")

    # A secret-only live finding (no key ID) of a planted secret is not a false positive.
    secret_sha = {(p["path"], sha256_hex(p["secret"])) for p in planted if p["secret"]}
    secret_only = 0
    fps = []
    for f in live:
        if id(f) in true_live:
            continue
        if not f.get("keyId") and f["_sha"] and (f["_path"], f["_sha"]) in secret_sha:
            secret_only += 1
            true_live.add(id(f))
            continue
        fps.append(f)

    decoy_live, decoy_types = 0, {}
    for d in decoys:
        on = [f for n in d["lines"] for f in by_loc.get((d["path"], n), [])]
        is_live = any(f.get("classification") == "live" for f in on)
        decoy_live += is_live
        t = decoy_types.setdefault(d["type"], {"n": 0, "live": 0, "other": 0, "none": 0})
        t["n"] += 1
        t["live" if is_live else ("other" if on else "none")] += 1

    r.update(planted=len(planted), found=found, with_secret=with_secret, paired=paired,
             missed=missed, unpaired=unpaired, live=len(live), true_live=len(true_live),
             secret_only=secret_only, duplicates=dup, fps=fps, decoys=len(decoys),
             decoy_live=decoy_live, decoy_types=decoy_types, findings=len(findings),
             split=sum(1 for p in planted if p["split"]),
             unlocated=sum(1 for p in planted if p["key_line"] is None))
    return r


# ---------------------------------------------------------------- ripgrep and git-secrets

LINE_RE = re.compile(r"^(.+?):(\d+):(.*)$")


def read_text(path):
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        return f.read().splitlines()


def rg_count_total(path):
    total = 0
    for line in read_text(path):
        n = line.rpartition(":")[2].strip()    # "path:count", or just "count" for one file
        if n.isdigit():
            total += int(n)
    return total


def line_hits(path, tree):
    """(path, line) -> text, from grep-style path:line:text output."""
    hits = {}
    for line in read_text(path):
        m = LINE_RE.match(line)
        if m:
            hits.setdefault((norm_path(m.group(1), tree), int(m.group(2))), []).append(m.group(3))
    return hits


def line_recall(planted, hits):
    return sum(1 for p in planted
               if any(p["key_id"] in text for text in hits.get((p["path"], p["key_line"]), [])))


# ---------------------------------------------------------------- table

def render(args, corpus, kw, rg, gs, times):
    ver = dict(v.split("=", 1) for v in args.version if "=" in v)
    t_kw, t_rg, t_gs = times.get("keywarden"), times.get("ripgrep"), times.get("git-secrets")
    P = kw["planted"] if kw else len(corpus.truth)
    lines = ["| tool | wall time (median, s) | peak RSS (MB) | found / recall | ratio vs rg |",
             "| --- | --- | --- | --- | --- |"]

    def name(tool):
        return f"{tool} {ver.get(tool, '')}".strip()

    def ratio(t):
        if not t or not t_rg or t_rg["wall"] <= 0:
            return "n/a"
        return ("≥ " if t["timed_out"] else "") + f"{t['wall'] / t_rg['wall']:.2f}×"

    if kw is None:
        lines.append("| keywarden | not run | | | |")
    else:
        r = ratio(t_kw)
        if t_kw and t_rg:
            q = t_kw["wall"] / t_rg["wall"]
            r += (f" (target ≤ {TARGETS['ratio_rg']}×: {mark(q <= TARGETS['ratio_rg'])}; "
                  f"stretch ≤ {TARGETS['ratio_rg_stretch']}×: {mark(q <= TARGETS['ratio_rg_stretch'])})")
        rss = f"{t_kw['rss_mb']:.0f} (target < {TARGETS['rss_mb']:.0f}: {mark(t_kw['rss_mb'] < TARGETS['rss_mb'])})" \
            if t_kw else "n/a"
        lines.append(f"| {name('keywarden')} | {fmt_s(t_kw)} | {rss} | {kw['live']} live / {pct(kw['found'], P)} | {r} |")
    if rg is not None or t_rg:
        rg = rg or {"count": "?", "recall": None}
        rss = f"{t_rg['rss_mb']:.0f}" if t_rg else "n/a"
        rec = pct(rg["recall"], P) if rg["recall"] is not None else "n/a"
        lines.append(f"| {name('ripgrep')} | {fmt_s(t_rg)} | {rss} | {rg['count']} lines / {rec} | "
                     f"{'1.00×' if t_rg else 'n/a'} |")
    if gs is not None or t_gs:
        found = f"{gs['lines']} lines / {pct(gs['recall'], P)}" if gs else "n/a"
        if t_gs and t_gs["timed_out"]:
            found = "n/a (timed out)"
        rss = f"{t_gs['rss_mb']:.0f}" if t_gs else "n/a"
        lines.append(f"| {name('git-secrets')} | {fmt_s(t_gs)} | {rss} | {found} | {ratio(t_gs)} |")
    else:
        lines.append("| git-secrets | skipped | | | |")

    lines.append("")
    if kw is not None and t_kw and t_gs and t_kw["wall"] > 0:
        x = t_gs["wall"] / t_kw["wall"]
        lines.append(f"- speed-up over git-secrets (its wall time / keywarden's): "
                     f"{'≥ ' if t_gs['timed_out'] else ''}{x:.1f}× "
                     f"(target ≥ {TARGETS['x_gitsecrets']:.0f}×: {mark(x >= TARGETS['x_gitsecrets'])})")
    if kw is not None:
        lines.append(f"- recall: {kw['found']}/{P} planted credentials found as live with the right key ID, "
                     f"path and line = {pct(kw['found'], P)} (target 100%: {mark(kw['found'] == P)})")
        lines.append(f"- secret pairing: {kw['paired']}/{kw['with_secret']} planted secrets paired "
                     f"(sha256 match) = {pct(kw['paired'], kw['with_secret'])} "
                     f"(target 100%: {mark(kw['paired'] == kw['with_secret'])})")
        extra = []
        if kw["secret_only"]:
            extra.append(f"{kw['secret_only']} secret-only findings of planted secrets counted as true")
        if kw["duplicates"]:
            extra.append(f"{kw['duplicates']} duplicate finding(s)")
        lines.append(f"- precision: {kw['true_live']}/{kw['live']} live findings match a planted credential = "
                     f"{pct(kw['true_live'], kw['live'])}; false positives: {len(kw['fps'])}"
                     + (f" ({'; '.join(extra)})" if extra else ""))
        lines.append(f"- decoys classified live: {kw['decoy_live']} of {kw['decoys']} "
                     f"(target 0: {mark(kw['decoy_live'] == 0)})")
    if rg is not None:
        lines.append(f"- ripgrep `-c` total: {rg['count']} matching lines for {P} planted key IDs "
                     f"(the pattern also matches decoys such as AWS's documentation key and XXXX placeholders)")
    files, size = corpus.size()
    lines.append(f"- corpus: {files} files, {size} bytes ({size / 1e6:.0f} MB); "
                 f"{len(corpus.truth)} planted credentials, {len(corpus.decoys)} decoys")
    lines.extend(f"- {n}" for n in args.note)
    lines.append(f"- machine: {machine()}")
    lines.append(f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--keywarden", help="keywarden --format jsonl output")
    ap.add_argument("--rg-count", help="rg -c output")
    ap.add_argument("--rg-matches", help="rg -n -o output")
    ap.add_argument("--gitsecrets", help="git secrets --scan output")
    ap.add_argument("--timings", help="TSV: tool, run, wall s, peak RSS KB, exit code[, timeout]")
    ap.add_argument("--version", action="append", default=[], metavar="TOOL=TEXT")
    ap.add_argument("--note", action="append", default=[], help="an extra line under the table")
    ap.add_argument("--table-out", help="also write the Markdown table here")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless recall and pairing are 100%% and no decoy is live")
    ap.add_argument("--max-list", type=int, default=10)
    args = ap.parse_args()

    corpus = Corpus(args.corpus)
    planted = plant_index(corpus)
    decoys = decoy_lines(corpus)

    kw = None
    if args.keywarden:
        if not os.path.isfile(args.keywarden):
            sys.exit(f"evaluate.py: no such file: {args.keywarden}")
        findings, bad = load_jsonl(args.keywarden, "keywarden output")
        kw = evaluate_keywarden(corpus, planted, decoys, findings)
        kw["bad_lines"] = len(bad)
        n = args.max_list
        print(f"keywarden: {kw['findings']} findings, {kw['live']} live; "
              f"recall {kw['found']}/{kw['planted']}, secrets paired {kw['paired']}/{kw['with_secret']}, "
              f"false positives {len(kw['fps'])}, decoys live {kw['decoy_live']}/{kw['decoys']}")
        if kw["bad_lines"]:
            print(f"  {kw['bad_lines']} output line(s) were not JSON objects")
        if ODD_PATHS:
            print(f"  {len(ODD_PATHS)} finding path(s) were not relative to the scanned root "
                  f"(normalised; first: {ODD_PATHS[0]})")
        if kw["unlocated"]:
            print(f"  {kw['unlocated']} planted key(s) could not be located in the tree (corpus changed?)")
        if kw["split"]:
            print(f"  note: {kw['split']} planted block(s) were split by a later planting "
                  f"(key and secret no longer adjacent)")
        for title, items in (("missed", kw["missed"]), ("secret not paired", kw["unpaired"])):
            if items:
                print(f"  {title} ({len(items)}):")
                for s in items[:n]:
                    print(f"    {s}")
                if len(items) > n:
                    print(f"    ... {len(items) - n} more")
        if kw["fps"]:
            print(f"  false positives ({len(kw['fps'])}):")
            for f in kw["fps"][:n]:
                print(f"    {f['_path']}:{f['_line']} rule={f.get('ruleId')} keyId={f.get('keyId')}")
            if len(kw["fps"]) > n:
                print(f"    ... {len(kw['fps']) - n} more")
        if kw["duplicates"]:
            print(f"  {kw['duplicates']} duplicate live finding(s) of planted credentials")
        dt = kw["decoy_types"]
        live_types = ", ".join(f"{k} {v['live']}" for k, v in sorted(dt.items()) if v["live"])
        print(f"  decoys: {kw['decoys']}: {kw['decoy_live']} live" + (f" ({live_types})" if live_types else "")
              + f", {sum(v['other'] for v in dt.values())} reported not live, "
              f"{sum(v['none'] for v in dt.values())} not reported")

    rg = None
    if args.rg_count or args.rg_matches:
        rg = {"count": rg_count_total(args.rg_count) if args.rg_count and os.path.isfile(args.rg_count) else 0,
              "recall": None}
        if args.rg_matches and os.path.isfile(args.rg_matches):
            rg["recall"] = line_recall(planted, line_hits(args.rg_matches, corpus.tree))
    gs = None
    if args.gitsecrets and os.path.isfile(args.gitsecrets):
        hits = line_hits(args.gitsecrets, corpus.tree)
        gs = {"lines": sum(len(v) for v in hits.values()), "recall": line_recall(planted, hits)}

    times = timings(args.timings)
    if args.timings or rg or gs:
        table = render(args, corpus, kw, rg, gs, times)
        print()
        print(table, end="")
        if args.table_out:
            with open(args.table_out, "w", encoding="utf-8") as f:
                f.write(table)

    if args.check and kw is not None:
        ok = kw["found"] == kw["planted"] and kw["paired"] == kw["with_secret"] and kw["decoy_live"] == 0
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
