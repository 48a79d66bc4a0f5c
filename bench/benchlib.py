"""Helpers shared by the benchmark scorers (evaluate.py, evaluate-history.py): standard library only."""
import hashlib
import json
import sys
import os
import statistics


def sha256_hex(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def pct(a, b):
    return f"{100.0 * a / b:.1f}%" if b else "n/a"


def mark(ok):
    return "met" if ok else "**MISSED**"


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = "?"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
    except OSError:
        pass
    return f"{os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), {cpu}, {ram}, Linux {os.uname().release}"


def timings(path):
    runs = {}
    if not path or not os.path.isfile(path):
        return runs
    for line in _lines(path):
        parts = line.split("\t")
        if len(parts) < 5 or parts[0] == "tool":
            continue
        tool, _, wall, rss, rc = parts[:5]
        timed_out = len(parts) > 5 and parts[5] == "timeout"
        try:
            runs.setdefault(tool, []).append((float(wall), int(rss), int(rc), timed_out))
        except ValueError:
            continue
    out = {}
    for tool, rs in runs.items():
        out[tool] = {"runs": len(rs), "wall": statistics.median(r[0] for r in rs),
                     "rss_mb": max(r[1] for r in rs) / 1024.0,
                     "timed_out": any(r[3] for r in rs), "rcs": sorted({r[2] for r in rs})}
    return out


def fmt_s(t):
    if t is None:
        return "not run"
    if t["timed_out"]:
        return f"≥ {t['wall']:.1f} (timed out)"
    return f"{t['wall']:.2f}" + (" (1 run)" if t["runs"] == 1 else f" ({t['runs']} runs)")


def _lines(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read().splitlines()


def load_jsonl(path, what):
    rows, bad = [], []
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        for n, raw in enumerate(f, 1):
            raw = raw.strip()
            if not raw:
                continue
            try:
                obj = json.loads(raw)
            except ValueError:
                bad.append(n)
                continue
            if isinstance(obj, dict):
                rows.append(obj)
            else:
                bad.append(n)
    if bad:
        print(f"warning: {what}: {len(bad)} line(s) are not JSON objects (first: line {bad[0]})",
              file=sys.stderr)
    return rows, bad
