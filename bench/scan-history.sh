#!/usr/bin/env bash
# Git-history benchmark, one command: `keywarden scan --git` vs `git log -p --all | rg` vs
# `git secrets --scan-history` on a generated repository with a long history and AWS credentials
# planted at known commits; keywarden's findings are scored against the repository's ground truth
# (introducing commit, inHead, secret pairing).  Then the staged pre-commit scan:
# `keywarden scan --staged` vs `git secrets --pre_commit_hook`.  See bench/README.md.
#
# Environment (all optional):
#   KEYWARDEN_BIN                 use this keywarden binary instead of `dotnet publish`
#   KW_BENCH_WORK                 work folder (default: bench/.work, git-ignored)
#   KW_BENCH_SOURCE               source tree for the first commit (default: Python's stdlib, see below)
#   KW_BENCH_COMMITS              commits in the generated history (default 20000)
#   KW_BENCH_KEYS                 planted credentials (default 200)
#   KW_BENCH_SEED                 generator seed (default 11, make-history.py's own)
#   KW_BENCH_REPACK=1             `git repack -adf` the generated repository (delta-compressed pack)
#   KW_BENCH_RUNS                 timed runs of keywarden and the pipeline (default 3; median wall, max RSS)
#   KW_BENCH_GITSECRETS_TIMEOUT   seconds for the single `git secrets --scan-history` run (default 1800)
#   KW_BENCH_RG_PATTERN           ripgrep's regex (default '\b(AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b')
#   KW_BENCH_SKIP_GITSECRETS=1    leave `git secrets --scan-history` out (the pre-commit timing stays)
#   KW_BENCH_STAGED_RUNS          timed runs of each staged pre-commit scan (default 20)
#   KW_BENCH_HYPERFINE=0          time the staged scans with a /usr/bin/time loop instead of hyperfine
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(git -C "$BENCH" rev-parse --show-toplevel 2>/dev/null || dirname "$BENCH")
cd "$REPO"

WORK=${KW_BENCH_WORK:-$REPO/bench/.work}
COMMITS=${KW_BENCH_COMMITS:-20000}
KEYS=${KW_BENCH_KEYS:-200}
SEED=${KW_BENCH_SEED:-11}
REPACK=${KW_BENCH_REPACK:-0}
RUNS=${KW_BENCH_RUNS:-3}
GS_TIMEOUT=${KW_BENCH_GITSECRETS_TIMEOUT:-1800}
STAGED_RUNS=${KW_BENCH_STAGED_RUNS:-20}
USE_HYPERFINE=${KW_BENCH_HYPERFINE:-1}
GENERATOR=${KW_BENCH_GENERATOR:-$BENCH/make-history.py}
RG_PATTERN=${KW_BENCH_RG_PATTERN:-'\b(AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b'}

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf 'scan-history.sh: %s\n' "$*" >&2; exit 1; }

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
LOGS=$WORK/logs
mkdir -p "$LOGS"
[ -f "$GENERATOR" ] || die "history generator not found: $GENERATOR"
command -v python3 >/dev/null || die "python3 is required"
for n in "$COMMITS" "$KEYS" "$SEED" "$RUNS" "$GS_TIMEOUT" "$STAGED_RUNS"; do
    [[ $n =~ ^[0-9]+$ ]] || die "not a whole number: $n (check the KW_BENCH_* variables)"
done
if [ "$RUNS" -lt 1 ] || [ "$STAGED_RUNS" -lt 1 ]; then die "KW_BENCH_RUNS and KW_BENCH_STAGED_RUNS must be at least 1"; fi

# ---------------------------------------------------------------- 1. tools
# apt_install PACKAGE...: installs with apt-get (sudo when not root); returns 1 on failure.
apt_install() {
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    step "Installing $* (apt)"
    if [ -z "${APT_UPDATED:-}" ]; then
        "${sudo[@]}" apt-get update -qq >>"$LOGS/apt.log" 2>&1 || { tail -5 "$LOGS/apt.log"; return 1; }
        APT_UPDATED=1
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$LOGS/apt.log" 2>&1 \
        || { tail -10 "$LOGS/apt.log"; return 1; }
}
missing=()
command -v git >/dev/null || missing+=(git)
command -v rg >/dev/null || missing+=(ripgrep)
command -v git-secrets >/dev/null || missing+=(git-secrets)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}" || die "apt-get install ${missing[*]} failed (log: $LOGS/apt.log)"
fi
if ! command -v git >/dev/null || ! command -v rg >/dev/null || ! command -v git-secrets >/dev/null \
    || [ ! -x /usr/bin/time ]; then
    die "git, ripgrep, git-secrets or GNU time is still missing"
fi
# hyperfine is only for the staged pre-commit timing; without it a /usr/bin/time loop does.
if [ "$USE_HYPERFINE" = 1 ] && ! command -v hyperfine >/dev/null; then
    apt_install hyperfine || info "hyperfine could not be installed; the staged scans are timed with a loop"
fi
command -v hyperfine >/dev/null || USE_HYPERFINE=0

# ---------------------------------------------------------------- 2. keywarden
if [ -n "${KEYWARDEN_BIN:-}" ]; then
    KW=$(command -v "$KEYWARDEN_BIN" || true)
    if [ -z "$KW" ] || [ ! -x "$KW" ]; then die "KEYWARDEN_BIN is not an executable: $KEYWARDEN_BIN"; fi
    KW=$(cd "$(dirname "$KW")" && pwd -P)/$(basename "$KW")
    step "Using keywarden at $KW"
else
    step "Publishing keywarden (dotnet publish -c Release)"
    dotnet publish src/Keywarden.Cli -c Release -o "$WORK/bin" --nologo >"$LOGS/publish.log" 2>&1 \
        || { tail -20 "$LOGS/publish.log"; die "dotnet publish failed (full log: $LOGS/publish.log)"; }
    KW=$WORK/bin/keywarden
    [ -x "$KW" ] || die "published, but $KW is not there (is the assembly named keywarden?)"
    info "$KW"
fi

# ---------------------------------------------------------------- 3. repository
HIST=$WORK/history
GREPO=$HIST/repo
if [ -n "${KW_BENCH_SOURCE:-}" ]; then
    SOURCE=$(cd "$KW_BENCH_SOURCE" && pwd -P) || die "KW_BENCH_SOURCE is not a folder: $KW_BENCH_SOURCE"
    SOURCE_DESC=$SOURCE
else
    # Python's standard library, real source on every machine of this kind, without test/ (so the
    # first commit stays near 14 MB), site-packages (third-party), lib-dynload/ and config-*/
    # (binaries), __pycache__ (bytecode) and any other binary file (a NUL byte in its first 8,000
    # bytes, keywarden's own test: keywarden skips binary content by design, as git grep -I, git log -p
    # and git-secrets do, so a key appended to an image would measure that choice, not the scanners).
    # bench/make-history.py itself also leaves out binary files and files of 512 KB or more.
    STDLIB=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
    SOURCE=$WORK/source-history
    SOURCE_DESC="Python stdlib $STDLIB without test, site-packages, lib-dynload, config-*, __pycache__ and binary files"
fi
STAMP="source=$SOURCE_DESC commits=$COMMITS keys=$KEYS seed=$SEED repack=$REPACK generator=$(cat "$GENERATOR" "$BENCH/synthetic.py" | sha256sum | cut -c1-16)"
if [ -f "$HIST/.complete" ] && [ "$(head -n 1 "$HIST/.complete")" = "$STAMP" ]; then
    step "Repository: reusing $GREPO"
else
    step "Repository: generating $COMMITS commits, $KEYS keys, from $SOURCE_DESC"
    rm -rf "$HIST"
    if [ -z "${KW_BENCH_SOURCE:-}" ]; then
        rm -rf "$SOURCE"
        python3 - "$STDLIB" "$SOURCE" <<'PY'
import os, shutil, sys
src, dst = sys.argv[1:3]
def ignore(folder, names):
    skip = {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyo"))}
    if os.path.samefile(folder, src):
        skip |= {n for n in names if n in ("test", "site-packages", "dist-packages", "lib-dynload")
                 or n.startswith("config-")}
    return skip
def binary(path):
    with open(path, "rb") as f:
        return b"\0" in f.read(8000)
def ignore_binary(folder, names):
    skip = ignore(folder, names)
    return skip | {n for n in names if n not in skip and os.path.isfile(os.path.join(folder, n))
                   and not os.path.islink(os.path.join(folder, n)) and binary(os.path.join(folder, n))}
shutil.copytree(src, dst, symlinks=True, ignore=ignore_binary)
PY
    fi
    t0=$EPOCHREALTIME
    # The generator's git commands must not pick up the user's config (hooks, templates, signing).
    GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null python3 "$GENERATOR" "$SOURCE" "$HIST" \
        --commits "$COMMITS" --keys "$KEYS" --seed "$SEED" 2>&1 | sed 's/^/    /'
    GEN_S=$(awk -v a="${t0/,/.}" -v b="${EPOCHREALTIME/,/.}" 'BEGIN {printf "%.0f", b - a}')
    info "generated in $GEN_S s"
    if [ "$REPACK" = 1 ]; then
        t0=$EPOCHREALTIME
        GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git -C "$GREPO" repack -adf -q
        info "git repack -adf: $(awk -v a="${t0/,/.}" -v b="${EPOCHREALTIME/,/.}" 'BEGIN {printf "%.0f", b - a}') s"
    fi
    if [ -z "${KW_BENCH_SOURCE:-}" ]; then rm -rf "$SOURCE"; fi
    [ -s "$HIST/truth.jsonl" ] || die "the generator wrote no truth.jsonl"
    printf '%s\n%s\n' "$STAMP" "$GEN_S" >"$HIST/.complete"
fi
GEN_S=$(sed -n 2p "$HIST/.complete")
ROOT_COMMIT=$(git -C "$GREPO" rev-list --max-parents=0 main | tail -n 1)
read -r ROOT_FILES ROOT_BYTES < <(git -C "$GREPO" ls-tree -r -l "$ROOT_COMMIT" \
    | awk '{n++; s+=$4} END {printf "%d %d\n", n, s}')
N_COMMITS=$(git -C "$GREPO" rev-list --all --count)
SIZE_PACK=$(git -C "$GREPO" count-objects -vH | awk -F': ' '$1 == "size-pack" {print $2}')
PLANTED=$(grep -c . "$HIST/truth.jsonl")
info "$N_COMMITS commits, $PLANTED planted keys, size-pack $SIZE_PACK; first commit $ROOT_FILES files," \
    "$(awk -v b="$ROOT_BYTES" 'BEGIN {printf "%.1f", b / 1e6}') MB; generated in ${GEN_S:-?} s"

# ---------------------------------------------------------------- 4. timed history scans
# From here on, every git (and git-secrets, and keywarden) runs without the user's and system's
# git config, so their settings cannot change what is scanned or how fast.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
# git-secrets reads its patterns from the repository's config (idempotent).
(cd "$GREPO" && git secrets --register-aws >/dev/null)

step "Warming the page cache"
cat "$GREPO"/.git/objects/pack/* >/dev/null 2>&1 || true
git -C "$GREPO" rev-list --all --objects >/dev/null
# Untimed: the pipeline's matches (key IDs only, no secrets), for its recall.
PIPELINE_MATCHES=$WORK/history-pipeline-matches.txt
# shellcheck disable=SC2016  # $1 and $2 are the inner bash's arguments
bash -c 'set +o pipefail; git -C "$1" log -p --all | rg -o "$2"' pipeline "$GREPO" "$RG_PATTERN" \
    >"$PIPELINE_MATCHES" || [ $? -eq 1 ] || die "git log -p | rg -o failed"

TIMINGS=$WORK/history-timings.tsv
LAST_RC=0
printf 'tool\trun\twall_s\tpeak_rss_kb\texit\tnote\n' >"$TIMINGS"
# measure TOOL RUN OK_CODES TIMEOUT_CODES OUT ERR COMMAND...
# Times COMMAND with GNU time (wall seconds, peak RSS of the largest process), its stdout to OUT
# and stderr to ERR; appends a line to TIMINGS; returns 1 on an exit code outside OK_CODES.
measure() {
    local tool=$1 run=$2 ok=$3 tmo=$4 out=$5 err=$6 tf=$WORK/.time rc=0 note="" last
    shift 6
    if [ "$out" = "$err" ]; then
        /usr/bin/time -f '%e %M' -o "$tf" "$@" >"$out" 2>&1 || rc=$?
    else
        /usr/bin/time -f '%e %M' -o "$tf" "$@" >"$out" 2>"$err" || rc=$?
    fi
    last=$(tail -n 1 "$tf")
    rm -f "$tf"
    case " $tmo " in *" $rc "*) note=timeout ;; esac
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$run" "${last% *}" "${last#* }" "$rc" "$note" >>"$TIMINGS"
    printf '    %-11s run %s: %7.2f s, %5d MB peak, exit %s%s\n' "$tool" "$run" "${last% *}" \
        $(( ${last#* } / 1024 )) "$rc" "${note:+ (timed out)}"
    LAST_RC=$rc
    case " $ok $tmo " in *" $rc "*) return 0 ;; *) return 1 ;; esac
}

KW_OUT=$WORK/history-keywarden.jsonl
KW_EXIT2=0
step "Timing keywarden and git log -p | rg, $RUNS run(s) each, interleaved"
for run in $(seq 1 "$RUNS"); do
    rm -f "$KW_OUT"
    # Exit 1: findings; exit 2: some objects could not be read (reported, the run still counts).
    measure keywarden "$run" "0 1 2" "" "$LOGS/history-keywarden.log" "$LOGS/history-keywarden.log" \
        "$KW" scan --git "$GREPO" --format jsonl --output "$KW_OUT" \
        || { tail -20 "$LOGS/history-keywarden.log"; die "keywarden exited $LAST_RC (log: $LOGS/history-keywarden.log)"; }
    if [ "$LAST_RC" -eq 2 ]; then KW_EXIT2=1; fi
    if [ ! -f "$KW_OUT" ]; then
        tail -20 "$LOGS/history-keywarden.log"
        die "keywarden exited $LAST_RC without writing $KW_OUT (does it support scan --git? log: $LOGS/history-keywarden.log)"
    fi
    # The usual pipeline; pipefail off (as in an interactive shell), rg's exit 1 (no match) is fine.
    # shellcheck disable=SC2016  # $1 and $2 are the inner bash's arguments
    measure pipeline "$run" "0 1" "" "$WORK/history-pipeline-count.txt" "$LOGS/history-pipeline.log" \
        bash -c 'set +o pipefail; git -C "$1" log -p --all | rg -c "$2"' pipeline "$GREPO" "$RG_PATTERN" \
        || { tail -20 "$LOGS/history-pipeline.log"; die "git log -p | rg exited $LAST_RC (log: $LOGS/history-pipeline.log)"; }
done
if [ "$KW_EXIT2" = 1 ]; then
    info "note: keywarden exited 2 (some objects unreadable); its messages:"
    grep -v '^\s*$' "$LOGS/history-keywarden.log" | tail -5 | sed 's/^/      /'
fi
[ -s "$KW_OUT" ] || info "note: keywarden reported nothing ($KW_OUT is empty)"

GS_OUT=$WORK/history-git-secrets.out
rm -f "$GS_OUT"
if [ "${KW_BENCH_SKIP_GITSECRETS:-0}" = 1 ]; then
    step "git secrets --scan-history: skipped (KW_BENCH_SKIP_GITSECRETS=1)"
else
    # git-secrets 1.3: `git log --all -G<patterns>` to find the commits whose diffs match, then
    # `git grep` of the whole tree of each of them.  One run; exit 1 means it matched something.
    step "Timing git secrets --scan-history once (timeout ${GS_TIMEOUT} s)"
    (cd "$GREPO" && measure git-secrets 1 "0 1" "124 137" "$GS_OUT" "$GS_OUT" \
        timeout -k 10 "$GS_TIMEOUT" git secrets --scan-history) \
        || { tail -20 "$GS_OUT"; die "git-secrets failed (output: $GS_OUT)"; }
fi

# ---------------------------------------------------------------- 5. staged pre-commit scan
# A normal clone of the history (made once), three files modified and staged, one of them with a
# new key made up now; then whole-process timings of the two pre-commit scans, run from inside it.
WT=$HIST/worktree
step "Staged pre-commit scan: preparing $WT"
if ! git -C "$WT" rev-parse --is-inside-work-tree >/dev/null 2>&1 \
    || [ "$(git -C "$WT" rev-parse --show-toplevel)" != "$WT" ]; then
    rm -rf "$WT"
    git clone -q "$GREPO" "$WT"
fi
git -C "$WT" reset -q --hard HEAD
git -C "$WT" clean -qfdx
(cd "$WT" && git secrets --register-aws >/dev/null)
STAGED_KEY_FILE=$WORK/history-staged-key.txt
mapfile -t STAGED_PATHS < <(cd "$WT" && git ls-files -z | python3 -c '
import random, string, sys
paths = [p for p in sys.stdin.read().split("\0") if p]
text = [p for p in paths if p.endswith((".py", ".txt", ".cfg", ".json", ".md", ".toml", ".yml", ".sh"))] or paths
if len(text) < 3:
    sys.exit("fewer than 3 files in the work tree")
picks = [text[len(text) // 4], text[len(text) // 2], text[3 * len(text) // 4]]
rng = random.SystemRandom()
key = "AKIA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))
secret = "".join(rng.choice(string.ascii_letters + string.digits + "/+") for _ in range(40))
edits = ["\n# staged edit: tidy up\n",
         "\n# staged edit: load settings\nAWS_REGION = \"eu-west-1\"\nAWS_ACCESS_KEY_ID = \"%s\"\n"
         "AWS_SECRET_ACCESS_KEY = \"%s\"\n" % (key, secret),
         "\n# staged edit: one more line\n"]
for p, e in zip(picks, edits):
    with open(p, "a", encoding="utf-8") as f:
        f.write(e)
with open(sys.argv[1], "w") as f:      # the key ID only, never the secret
    f.write(key + "\n")
print("\n".join(picks))
' "$STAGED_KEY_FILE")
[ ${#STAGED_PATHS[@]} -eq 3 ] || die "could not pick and modify 3 files in $WT"
git -C "$WT" add -- "${STAGED_PATHS[@]}"
STAGED_KEY=$(cat "$STAGED_KEY_FILE")
info "staged: ${STAGED_PATHS[*]} (new key $STAGED_KEY in ${STAGED_PATHS[1]})"

# Untimed check runs: keywarden should report the new key (exit 1), git-secrets should block (exit 1).
STAGED_NOTES=()
STAGED_KW_OUT=$WORK/history-staged-keywarden.jsonl
rm -f "$STAGED_KW_OUT"
KW_STAGED_OK=1
rc=0
(cd "$WT" && "$KW" scan --staged --format jsonl --output "$STAGED_KW_OUT") \
    >"$LOGS/history-staged-keywarden.log" 2>&1 || rc=$?
if { [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; } || [ ! -f "$STAGED_KW_OUT" ]; then
    tail -10 "$LOGS/history-staged-keywarden.log" | sed 's/^/      /'
    info "keywarden scan --staged exited $rc$([ -f "$STAGED_KW_OUT" ] || echo ' without a report'):" \
        "not timed (log: $LOGS/history-staged-keywarden.log)"
    STAGED_NOTES+=("\`keywarden scan --staged\` exited $rc in the check run$([ -f "$STAGED_KW_OUT" ] \
        || echo ' without writing its report'), so it was not timed")
    KW_STAGED_OK=0
elif [ -f "$STAGED_KW_OUT" ] && grep -q "\"keyId\": *\"$STAGED_KEY\"" "$STAGED_KW_OUT"; then
    info "keywarden scan --staged: exit $rc, reports the new key"
    [ "$rc" -eq 1 ] || STAGED_NOTES+=("\`keywarden scan --staged\` reported the new key but exited $rc (1 expected)")
else
    info "keywarden scan --staged: exit $rc, does NOT report the new key"
    STAGED_NOTES+=("\`keywarden scan --staged\` (exit $rc) did not report the newly staged key")
fi
rc=0
(cd "$WT" && git secrets --pre_commit_hook) >"$LOGS/history-staged-git-secrets.log" 2>&1 || rc=$?
info "git secrets --pre_commit_hook: exit $rc (1 expected: it blocks the commit)"
[ "$rc" -eq 1 ] || STAGED_NOTES+=("\`git secrets --pre_commit_hook\` exited $rc in the check run (1 expected)")

STAGED_JSON=$WORK/history-staged-hyperfine.json
rm -f "$STAGED_JSON"
if [ "$USE_HYPERFINE" = 1 ]; then
    step "Timing the staged scans with hyperfine (--warmup 2 --runs $STAGED_RUNS)"
    HF_ARGS=(--style basic --warmup 2 --runs "$STAGED_RUNS" -i --export-json "$STAGED_JSON")
    # Without an intermediate shell when hyperfine can (-N, hyperfine >= 1.13).  (No grep -q or
    # head after a pipe in this script: under pipefail the writer's broken pipe would count.)
    if hyperfine --help 2>/dev/null | grep -E '^ *-N\b' >/dev/null; then HF_ARGS+=(-N); fi
    HF_CMDS=()
    [ "$KW_STAGED_OK" = 1 ] && HF_CMDS+=(-n keywarden "'$KW' scan --staged")
    HF_CMDS+=(-n git-secrets "git secrets --pre_commit_hook")
    (cd "$WT" && hyperfine "${HF_ARGS[@]}" "${HF_CMDS[@]}") >"$LOGS/history-hyperfine.log" 2>&1 \
        || { tail -20 "$LOGS/history-hyperfine.log"; die "hyperfine failed (log: $LOGS/history-hyperfine.log)"; }
    grep -E '^(Benchmark|  Time|  Range)' "$LOGS/history-hyperfine.log" | sed 's/^/    /'
    STAGED_HOW="hyperfine --warmup 2 --runs $STAGED_RUNS -i"
    if [[ " ${HF_ARGS[*]} " == *" -N "* ]]; then STAGED_HOW+=" -N (no shell)"; fi
else
    # A loop instead: 2 warm-up runs, then STAGED_RUNS interleaved runs of each; the wall time is
    # taken with bash's microsecond clock around /usr/bin/time (whose own %e has 10 ms steps).
    step "Timing the staged scans, $STAGED_RUNS runs each (loop with /usr/bin/time)"
    staged_run() {   # TOOL RUN COMMAND...
        local tool=$1 run=$2 tf=$WORK/.time rc=0 t0 t1
        shift 2
        t0=$EPOCHREALTIME
        (cd "$WT" && /usr/bin/time -f '%M' -o "$tf" "$@") >/dev/null 2>&1 || rc=$?
        t1=$EPOCHREALTIME
        [ "$run" = warmup ] && { rm -f "$tf"; return 0; }
        printf '%s\t%s\t%s\t%s\t%s\t\n' "$tool" "$run" \
            "$(awk -v a="${t0/,/.}" -v b="${t1/,/.}" 'BEGIN {printf "%.6f", b - a}')" \
            "$(tail -n 1 "$tf")" "$rc" >>"$TIMINGS"
        rm -f "$tf"
    }
    for run in warmup warmup $(seq 1 "$STAGED_RUNS"); do
        [ "$KW_STAGED_OK" = 1 ] && staged_run staged-keywarden "$run" "$KW" scan --staged
        staged_run staged-git-secrets "$run" git secrets --pre_commit_hook
    done
    for tool in staged-keywarden staged-git-secrets; do
        awk -F'\t' -v t="$tool" '$1 == t {print $3}' "$TIMINGS" | sort -g \
            | awk -v t="$tool" '{v[NR] = $1} END {if (NR) printf "    %-18s median %.1f ms of %d runs\n", t,
                1000 * (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), NR}'
    done
    STAGED_HOW="a loop of $STAGED_RUNS runs each after 2 warm-ups, wall time from bash's EPOCHREALTIME around /usr/bin/time"
fi

# ---------------------------------------------------------------- 6. score and table
step "Results"
if [ "$RUNS" -eq 1 ]; then RUNS_TEXT="1 run"; else RUNS_TEXT="median wall time and max RSS of $RUNS runs"; fi
KW_VERSION=$(timeout 20 "$KW" --version </dev/null 2>/dev/null) || KW_VERSION=""
KW_VERSION=$(head -n 1 <<<"$KW_VERSION" | tr -d '\r' | sed 's/^[Kk]eywarden[ :]*//' | cut -c1-40)
RG_VERSION=$(rg --version | awk 'NR == 1 {print $2}')
GIT_VERSION=$(git --version | awk '{print $3}')
GS_VERSION=$(dpkg-query -W -f '${Version}' git-secrets 2>/dev/null || true)
EVAL_ARGS=()
[ -f "$KW_OUT" ] && EVAL_ARGS+=(--keywarden "$KW_OUT")
[ -f "$GS_OUT" ] && EVAL_ARGS+=(--gitsecrets "$GS_OUT")
[ -f "$STAGED_JSON" ] && EVAL_ARGS+=(--staged-hyperfine "$STAGED_JSON")
for n in "${STAGED_NOTES[@]}"; do EVAL_ARGS+=(--staged-note "$n"); done
if [ "$REPACK" = 1 ]; then PACK_TEXT="repacked with \`git repack -adf\`"; else PACK_TEXT="as written by git fast-import (no repack)"; fi
python3 "$BENCH/evaluate-history.py" --history "$HIST" "${EVAL_ARGS[@]}" \
    --pipeline-count "$WORK/history-pipeline-count.txt" --pipeline-matches "$PIPELINE_MATCHES" \
    --timings "$TIMINGS" --version "keywarden=${KW_VERSION}" --version "ripgrep=${RG_VERSION}" \
    --version "git=${GIT_VERSION}" --version "git-secrets=${GS_VERSION}" \
    --staged-note "staged scans timed with $STAGED_HOW, from inside a clone with 3 modified files staged" \
    --note "generated by make-history.py: $COMMITS commits, $KEYS keys requested, seed $SEED, in ${GEN_S:-?} s; pack $PACK_TEXT" \
    --note "first commit: $ROOT_FILES files, $(awk -v b="$ROOT_BYTES" 'BEGIN {printf "%.1f", b / 1e6}') MB from $SOURCE_DESC" \
    --note "keywarden: \`keywarden scan --git REPO --format jsonl --output FILE\`; pipeline: \`git -C REPO log -p --all | rg -c '$RG_PATTERN'\` (bash -c, no pipefail)" \
    --note "keywarden and the pipeline: $RUNS_TEXT, interleaved, after a warm-up read of the pack; git-secrets: 1 run of \`git secrets --scan-history\` (AWS patterns registered in the repository), timeout ${GS_TIMEOUT} s" \
    --note "git config: GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null for every tool" \
    --table-out "$WORK/scan-history-results.md"
printf '\nTable written to %s\n' "${WORK#"$REPO"/}/scan-history-results.md"
