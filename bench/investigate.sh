#!/usr/bin/env bash
# Investigate benchmark, one command: `keywarden investigate` vs jq vs a raw DuckDB SQL query on a
# generated CloudTrail trail (gzipped {"Records":[...]} files in the AWSLogs layout). See bench/README.md.
#
# Environment (all optional):
#   KEYWARDEN_BIN        use this keywarden binary instead of `dotnet publish`
#   KW_BENCH_WORK        work folder (default: bench/.work/investigate, git-ignored)
#   KW_BENCH_EVENTS      events in the trail (default 5000000)
#   KW_BENCH_SEED        generator seed (default 6)
#   KW_BENCH_RUNS        timed runs of keywarden and of the raw query (default 3; median wall, max RSS)
#   KW_BENCH_JQ_RUNS     timed runs of jq (default 1: it is the slow one)
#   KW_BENCH_SKIP_JQ=1   leave jq out
#   KW_BENCH_HYPERFINE=1 also time keywarden and the raw query with hyperfine (installs it)
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(git -C "$BENCH" rev-parse --show-toplevel 2>/dev/null || dirname "$BENCH")
cd "$REPO"

WORK=${KW_BENCH_WORK:-$REPO/bench/.work/investigate}
EVENTS=${KW_BENCH_EVENTS:-5000000}
SEED=${KW_BENCH_SEED:-6}
RUNS=${KW_BENCH_RUNS:-3}
JQ_RUNS=${KW_BENCH_JQ_RUNS:-1}

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf 'investigate.sh: %s\n' "$*" >&2; exit 1; }

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
LOGS=$WORK/logs
mkdir -p "$LOGS"

# ---------------------------------------------------------------- 1. tools
missing=()
command -v jq >/dev/null || missing+=(jq)
if [ "${KW_BENCH_HYPERFINE:-0}" = 1 ] && ! command -v hyperfine >/dev/null; then missing+=(hyperfine); fi
[ -x /usr/bin/time ] || missing+=(time)
command -v python3 >/dev/null || die "python3 is required (the trail generator)"
if [ ${#missing[@]} -gt 0 ]; then
    step "Installing ${missing[*]} (apt)"
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    "${SUDO[@]}" apt-get update -qq >"$LOGS/apt.log" 2>&1 || { tail -5 "$LOGS/apt.log"; die "apt-get update failed"; }
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >>"$LOGS/apt.log" 2>&1 \
        || { tail -10 "$LOGS/apt.log"; die "apt-get install ${missing[*]} failed"; }
fi
command -v jq >/dev/null && [ -x /usr/bin/time ] || die "jq or GNU time is still missing"

# ---------------------------------------------------------------- 2. keywarden and the raw-SQL harness
if [ -n "${KEYWARDEN_BIN:-}" ]; then
    KW=$(command -v "$KEYWARDEN_BIN" || true)
    [ -n "$KW" ] && [ -x "$KW" ] || die "KEYWARDEN_BIN is not an executable: $KEYWARDEN_BIN"
    step "Using keywarden at $KW"
else
    step "Publishing keywarden (dotnet publish -c Release)"
    dotnet publish src/Keywarden.Cli -c Release -o "$WORK/bin" --nologo >"$LOGS/publish.log" 2>&1 \
        || { tail -20 "$LOGS/publish.log"; die "dotnet publish failed (full log: $LOGS/publish.log)"; }
    KW=$WORK/bin/keywarden
fi
step "Building the DuckDB.NET harness (bench/DuckDbHarness)"
dotnet publish bench/DuckDbHarness -c Release -o "$WORK/harness" --nologo >"$LOGS/harness.log" 2>&1 \
    || { tail -20 "$LOGS/harness.log"; die "harness build failed (full log: $LOGS/harness.log)"; }
HARNESS=$WORK/harness/DuckDbHarness

# ---------------------------------------------------------------- 3. trail
TRAIL=$WORK/trail
STAMP="events=$EVENTS seed=$SEED generator=$(sha256sum "$BENCH/make-trail.py" | cut -c1-16)"
if [ ! -f "$TRAIL/.stamp" ] || [ "$(cat "$TRAIL/.stamp")" != "$STAMP" ]; then
    step "Generating $EVENTS events (bench/make-trail.py)"
    rm -rf "$TRAIL"
    start=$(date +%s)
    python3 "$BENCH/make-trail.py" "$TRAIL" --events "$EVENTS" --seed "$SEED" >"$WORK/trail.json"
    echo "$STAMP" >"$TRAIL/.stamp"
    info "generated in $(( $(date +%s) - start )) s"
fi
KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["leakedKey"])' "$WORK/trail.json")
FILES=$(find "$TRAIL" -name '*.json.gz' | wc -l)
GZ_BYTES=$(du -sb "$TRAIL" | cut -f1)
info "$FILES files, $((GZ_BYTES / 1048576)) MiB gzipped; leaked key ${KEY:0:8}… (generated)"
step "Warming the page cache (untimed)"
cat $(find "$TRAIL" -name '*.json.gz') >/dev/null

# ---------------------------------------------------------------- 4. timed runs
# time_run NAME LOGFILE CMD... : appends "wall_seconds max_rss_kb" to $WORK/NAME.times
time_run() {
    local name=$1 log=$2; shift 2
    /usr/bin/time -f '%e %M' -o "$WORK/$name.last" "$@" >"$log" 2>"$log.err" || { cat "$log.err" >&2; die "$name failed"; }
    cat "$WORK/$name.last" >>"$WORK/$name.times"
    info "$name: $(cut -d' ' -f1 "$WORK/$name.last") s, $(( $(cut -d' ' -f2 "$WORK/$name.last") / 1024 )) MiB"
}
rm -f "$WORK"/*.times
step "Timing keywarden investigate, the raw DuckDB query ($RUNS runs each, interleaved)"
for i in $(seq "$RUNS"); do
    time_run keywarden "$WORK/keywarden.out" "$KW" investigate "$KEY" --trail "$TRAIL" --format json --output "$WORK/report.json"
    time_run raw-sql "$WORK/raw-sql.out" "$HARNESS" "$TRAIL" "$KEY"
done
if [ "${KW_BENCH_HYPERFINE:-0}" = 1 ]; then
    step "hyperfine: keywarden and the raw query"
    hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$WORK/hyperfine.md" \
        "$KW investigate $KEY --trail $TRAIL --format json --output $WORK/report.json" \
        "$HARNESS $TRAIL $KEY"
fi
JQ_SCRIPT='.Records[] | select(.userIdentity.accessKeyId == $k)'
if [ "${KW_BENCH_SKIP_JQ:-0}" != 1 ]; then
    step "Timing jq ($JQ_RUNS run(s)): zcat FILES | jq -c '$JQ_SCRIPT'"
    find "$TRAIL" -name '*.json.gz' | sort >"$WORK/files.txt"
    for i in $(seq "$JQ_RUNS"); do
        time_run jq "$WORK/jq.out" bash -c 'xargs -a "$1" zcat | jq -c --arg k "$2" "$3"' _ "$WORK/files.txt" "$KEY" "$JQ_SCRIPT"
    done
fi

# ---------------------------------------------------------------- 5. results
step "Results"
python3 - "$WORK" "$EVENTS" "$FILES" "$GZ_BYTES" "${KW_BENCH_SKIP_JQ:-0}" <<'PY'
import json, os, statistics, sys, platform, subprocess, datetime
work, events, files, gz, skip_jq = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
def load(name):
    path = os.path.join(work, name + ".times")
    if not os.path.exists(path):
        return None
    rows = [tuple(map(float, l.split())) for l in open(path) if l.strip()]
    return statistics.median(r[0] for r in rows), max(r[1] for r in rows) / 1024, len(rows)
report = json.load(open(os.path.join(work, "report.json")))
truth = json.load(open(os.path.join(work, "trail.json")))
raw_out = open(os.path.join(work, "raw-sql.out")).read().split()
jq_lines = sum(1 for _ in open(os.path.join(work, "jq.out"))) if not skip_jq else None
kw, raw, jq = load("keywarden"), load("raw-sql"), load("jq")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
lines = [
    f"Machine: {os.cpu_count()} cores ({cpu}), {round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB; {datetime.date.today().isoformat()}",
    f"Trail: {events:,} events in {files:,} gzipped CloudTrail files ({gz / 2**20:,.0f} MiB); the leaked key and its lineage: {truth['lineageEvents']:,} events, {len(truth['lineageKeys'])} keys",
    "",
    "| tool | what it answers | wall time (median) | events/s | peak RSS |",
    "| --- | --- | --- | --- | --- |",
    f"| `keywarden investigate` | lineage ({len(report['keys'])} keys), {report['summary']['eventCount']:,} events, {len(report['detections'])} detections, {len(report['eradication'])} to eradicate, IP pivot, report | {kw[0]:.2f} s | {events / kw[0]:,.0f} | {kw[1]:,.0f} MiB |",
    f"| raw DuckDB SQL (DuckDB.NET harness) | the key's own records ({raw_out[1]}) | {raw[0]:.2f} s | {events / raw[0]:,.0f} | {raw[1]:,.0f} MiB |",
]
if jq:
    lines.append(f"| `zcat \\| jq -c 'select(accessKeyId == KEY)'` | the key's own records ({jq_lines}) | {jq[0]:.2f} s | {events / jq[0]:,.0f} | {jq[1]:,.0f} MiB |")
lines.append("")
lines.append(f"keywarden vs raw SQL: {kw[0] / raw[0]:.2f}× the time (target ≤ 2×)" + (f"; vs jq: {jq[0] / kw[0]:.1f}× faster (target ≥ 10×)" if jq else ""))
text = "\n".join(lines)
print(text)
open(os.path.join(work, "results.md"), "w").write(text + "\n")
PY
info "written to $WORK/results.md"
