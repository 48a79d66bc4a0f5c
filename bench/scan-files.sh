#!/usr/bin/env bash
# File-scan benchmark, one command: keywarden vs ripgrep vs git-secrets on a generated corpus
# of real source files with planted AWS credentials; then keywarden's findings are scored
# against the corpus's ground truth.  See bench/README.md.
#
# Environment (all optional):
#   KEYWARDEN_BIN                 use this keywarden binary instead of `dotnet publish`
#   KW_BENCH_WORK                 work folder (default: bench/.work, git-ignored)
#   KW_BENCH_SOURCE               source tree to copy (default: Python's stdlib, see below)
#   KW_BENCH_COPIES               copies of the source in the corpus (default 10)
#   KW_BENCH_KEYS                 planted credentials (default 200; a quarter as many decoys)
#   KW_BENCH_SEED                 generator seed (default 7)
#   KW_BENCH_RUNS                 timed runs of keywarden and rg (default 3; median wall, max RSS)
#   KW_BENCH_GITSECRETS_TIMEOUT   seconds for the single git-secrets run (default 1200)
#   KW_BENCH_RG_PATTERN           ripgrep's regex (default '\b(AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b')
#   KW_BENCH_SKIP_GITSECRETS=1    leave git-secrets out
#   KW_BENCH_HYPERFINE=1          also time keywarden and rg with hyperfine (installs it)
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(git -C "$BENCH" rev-parse --show-toplevel 2>/dev/null || dirname "$BENCH")
cd "$REPO"

WORK=${KW_BENCH_WORK:-$REPO/bench/.work}
COPIES=${KW_BENCH_COPIES:-10}
KEYS=${KW_BENCH_KEYS:-200}
SEED=${KW_BENCH_SEED:-7}
RUNS=${KW_BENCH_RUNS:-3}
GS_TIMEOUT=${KW_BENCH_GITSECRETS_TIMEOUT:-1200}
GENERATOR=${KW_BENCH_GENERATOR:-$BENCH/make-corpus.py}
RG_PATTERN=${KW_BENCH_RG_PATTERN:-'\b(AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b'}

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf 'scan-files.sh: %s\n' "$*" >&2; exit 1; }

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
LOGS=$WORK/logs
mkdir -p "$LOGS"
[ -f "$GENERATOR" ] || die "corpus generator not found: $GENERATOR"

# ---------------------------------------------------------------- 1. tools
missing=()
command -v rg >/dev/null || missing+=(ripgrep)
command -v git-secrets >/dev/null || missing+=(git-secrets)
[ -x /usr/bin/time ] || missing+=(time)
if [ "${KW_BENCH_HYPERFINE:-0}" = 1 ] && ! command -v hyperfine >/dev/null; then missing+=(hyperfine); fi
if [ ${#missing[@]} -gt 0 ]; then
    step "Installing ${missing[*]} (apt)"
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    "${SUDO[@]}" apt-get update -qq >"$LOGS/apt.log" 2>&1 || { tail -5 "$LOGS/apt.log"; die "apt-get update failed"; }
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >>"$LOGS/apt.log" 2>&1 \
        || { tail -10 "$LOGS/apt.log"; die "apt-get install ${missing[*]} failed"; }
fi
if ! command -v rg >/dev/null || ! command -v git-secrets >/dev/null || [ ! -x /usr/bin/time ]; then
    die "ripgrep, git-secrets or GNU time is still missing"
fi

# ---------------------------------------------------------------- 2. keywarden
if [ -n "${KEYWARDEN_BIN:-}" ]; then
    KW=$(command -v "$KEYWARDEN_BIN" || true)
    if [ -z "$KW" ] || [ ! -x "$KW" ]; then die "KEYWARDEN_BIN is not an executable: $KEYWARDEN_BIN"; fi
    step "Using keywarden at $KW"
else
    step "Publishing keywarden (dotnet publish -c Release)"
    dotnet publish src/Keywarden.Cli -c Release -o "$WORK/bin" --nologo >"$LOGS/publish.log" 2>&1 \
        || { tail -20 "$LOGS/publish.log"; die "dotnet publish failed (full log: $LOGS/publish.log)"; }
    KW=$WORK/bin/keywarden
    [ -x "$KW" ] || die "published, but $KW is not there (is the assembly named keywarden?)"
    info "$KW"
fi

# ---------------------------------------------------------------- 3. corpus
CORPUS=$WORK/corpus
TREE=$CORPUS/tree
if [ -n "${KW_BENCH_SOURCE:-}" ]; then
    SOURCE=$(cd "$KW_BENCH_SOURCE" && pwd -P) || die "KW_BENCH_SOURCE is not a folder: $KW_BENCH_SOURCE"
    SOURCE_DESC=$SOURCE
else
    # Python's standard library: real source on every machine of this kind.  Left out:
    # site-packages (third-party, large), __pycache__ (bytecode) and config-*/ (a 45 MB static
    # libpython.a); kept: test/ (much of the text) and lib-dynload/ (some real binaries).
    STDLIB=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
    SOURCE=$WORK/source-stdlib
    SOURCE_DESC="Python stdlib $STDLIB without site-packages, __pycache__, config-*"
fi
STAMP="source=$SOURCE_DESC copies=$COPIES keys=$KEYS seed=$SEED generator=$(cat "$GENERATOR" "$BENCH/synthetic.py" | sha256sum | cut -c1-16)"
if [ -f "$CORPUS/.complete" ] && [ "$(cat "$CORPUS/.complete")" = "$STAMP" ]; then
    step "Corpus: reusing $CORPUS"
else
    step "Corpus: generating $COPIES copies of $SOURCE_DESC"
    rm -rf "$CORPUS"
    if [ -z "${KW_BENCH_SOURCE:-}" ]; then
        rm -rf "$SOURCE"
        python3 - "$STDLIB" "$SOURCE" <<'PY'
import os, shutil, sys
src, dst = sys.argv[1:3]
def ignore(folder, names):
    skip = {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyo"))}
    if os.path.samefile(folder, src):
        skip |= {n for n in names if n in ("site-packages", "dist-packages") or n.startswith("config-")}
    return skip
shutil.copytree(src, dst, symlinks=True, ignore=ignore)
PY
    fi
    python3 "$GENERATOR" "$SOURCE" "$CORPUS" --copies "$COPIES" --keys "$KEYS" --seed "$SEED" \
        | sed 's/^/    /'
    if [ -z "${KW_BENCH_SOURCE:-}" ]; then rm -rf "$SOURCE"; fi
    echo "$STAMP" >"$CORPUS/.complete"
fi
read -r FILES BYTES < <(find "$TREE" -type f -printf '%s\n' | awk '{n++; s+=$1} END {printf "%d %d\n", n, s}')
info "$FILES files, $(awk -v b="$BYTES" 'BEGIN {printf "%.0f", b / 1e6}') MB in $TREE"
[ "$BYTES" -ge 400000000 ] || info "note: under 400 MB; raise KW_BENCH_COPIES for steadier timings"

# ---------------------------------------------------------------- 4. timed runs
step "Warming the page cache"
find "$TREE" -type f -print0 | xargs -0 cat >/dev/null
# Untimed: rg's matches with line numbers (key IDs only, no secrets), for rg's recall.
rc=0
(cd "$TREE" && rg --no-ignore --no-heading --with-filename -n -o "$RG_PATTERN" . >"$WORK/rg-matches.txt") || rc=$?
[ "$rc" -le 1 ] || die "rg -n -o exited $rc"

TIMINGS=$WORK/timings.tsv
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

step "Timing keywarden and ripgrep, $RUNS run(s) each, interleaved"
for run in $(seq 1 "$RUNS"); do
    rm -f "$WORK/keywarden.jsonl"
    measure keywarden "$run" "0 1" "" "$LOGS/keywarden.log" "$LOGS/keywarden.log" \
        "$KW" scan "$TREE" --format jsonl --output "$WORK/keywarden.jsonl" \
        || { tail -20 "$LOGS/keywarden.log"; die "keywarden exited $LAST_RC (log: $LOGS/keywarden.log)"; }
    measure ripgrep "$run" "0 1" "" "$WORK/rg-count.txt" "$LOGS/rg.log" \
        rg --no-ignore -c "$RG_PATTERN" "$TREE" \
        || { tail -20 "$LOGS/rg.log"; die "rg exited $LAST_RC (log: $LOGS/rg.log)"; }
done
# For context only: the same regex with ASCII word boundaries, which ripgrep runs much faster.
RG_ASCII_PATTERN='(?-u)\b(AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b'
measure ripgrep-ascii 1 "0 1" "" "$WORK/rg-ascii-count.txt" "$LOGS/rg-ascii.log" \
    rg --no-ignore -c "$RG_ASCII_PATTERN" "$TREE" || die "rg (ASCII) exited $LAST_RC"
RG_ASCII_S=$(awk -F'\t' '$1 == "ripgrep-ascii" {print $3}' "$TIMINGS")
if [ ! -s "$WORK/keywarden.jsonl" ]; then
    info "note: keywarden reported nothing. If it honours the .gitignore of an enclosing repository,"
    info "it skipped the git-ignored bench/.work: rerun with KW_BENCH_WORK outside the repository."
fi

GS_OUT=$WORK/git-secrets.out
rm -f "$GS_OUT"
if [ "${KW_BENCH_SKIP_GITSECRETS:-0}" = 1 ]; then
    step "git-secrets: skipped (KW_BENCH_SKIP_GITSECRETS=1)"
else
    # git-secrets reads its patterns from git config, so it runs from a scratch repository of
    # its own (outside the tree, so no .git is scanned), with the AWS patterns registered and the
    # user's and system's git config shut out.  `--scan -r DIR` greps DIR's files (GNU grep -r
    # with git-secrets' patterns and allowed list), which is how git-secrets scans a folder that
    # is not a repository.
    step "Timing git-secrets once (timeout ${GS_TIMEOUT} s)"
    GS_REPO=$WORK/git-secrets-repo
    rm -rf "$GS_REPO"
    export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
    git -c init.defaultBranch=main init -q "$GS_REPO"
    (cd "$GS_REPO" && git secrets --register-aws >/dev/null)
    (cd "$GS_REPO" && measure git-secrets 1 "0 1" "124 137" "$GS_OUT" "$GS_OUT" \
        timeout -k 10 "$GS_TIMEOUT" git secrets --scan -r "$TREE") \
        || { tail -20 "$GS_OUT"; die "git-secrets failed (output: $GS_OUT)"; }
    unset GIT_CONFIG_NOSYSTEM GIT_CONFIG_GLOBAL
fi

if [ "${KW_BENCH_HYPERFINE:-0}" = 1 ]; then
    step "hyperfine (keywarden vs rg)"
    hyperfine --style basic --warmup 1 --runs "$RUNS" -i --export-markdown "$WORK/hyperfine.md" \
        -n keywarden "'$KW' scan '$TREE' --format jsonl --output '$WORK/keywarden-hf.jsonl'" \
        -n ripgrep "rg --no-ignore -c '$RG_PATTERN' '$TREE'" 2>&1 | sed 's/^/    /'
fi

# ---------------------------------------------------------------- 5-6. score and table
step "Results"
if [ "$RUNS" -eq 1 ]; then RUNS_TEXT="1 run"; else RUNS_TEXT="median wall time and max RSS of $RUNS runs"; fi
KW_VERSION=$(timeout 20 "$KW" --version </dev/null 2>/dev/null) || KW_VERSION=""
KW_VERSION=$(head -n 1 <<<"$KW_VERSION" | tr -d '\r' | sed 's/^[Kk]eywarden[ :]*//' | cut -c1-40)
RG_VERSION=$(rg --version | awk 'NR == 1 {print $2}')  # awk reads all input: no SIGPIPE under pipefail
GS_VERSION=$(dpkg-query -W -f '${Version}' git-secrets 2>/dev/null || true)
GS_ARGS=()
if [ -f "$GS_OUT" ]; then GS_ARGS=(--gitsecrets "$GS_OUT"); fi
python3 "$BENCH/evaluate.py" --corpus "$CORPUS" --keywarden "$WORK/keywarden.jsonl" \
    --rg-count "$WORK/rg-count.txt" --rg-matches "$WORK/rg-matches.txt" "${GS_ARGS[@]}" \
    --timings "$TIMINGS" --version "keywarden=${KW_VERSION}" --version "ripgrep=${RG_VERSION}" \
    --version "git-secrets=${GS_VERSION}" \
    --note "corpus source: $SOURCE_DESC; $COPIES copies, $KEYS keys, seed $SEED" \
    --note "ripgrep: \`rg --no-ignore -c '$RG_PATTERN' TREE\`" \
    --note "for context, not a target: \`rg --no-ignore -c '$RG_ASCII_PATTERN'\` (ASCII word boundaries) took ${RG_ASCII_S} s (1 run)" \
    --note "keywarden and ripgrep: $RUNS_TEXT, after a warm-up read of the tree; git-secrets: 1 run of \`git secrets --scan -r\`" \
    --table-out "$WORK/scan-files-results.md"
printf '\nTable written to %s\n' "${WORK#"$REPO"/}/scan-files-results.md"
