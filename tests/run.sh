#!/usr/bin/env bash
# Runs every test of Keywarden: formatting, build (warnings are errors) and all test projects.
# Installs what the tests need when it is missing, so it works on a fresh machine.
# Ends with one line: "tests: N passed, N failed" (", N skipped" when any were skipped).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dotnet >/dev/null 2>&1; then
  echo "tests/run.sh: the .NET SDK (dotnet) is required" >&2
  exit 2
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "tests/run.sh: python3 is required to summarise results" >&2
  exit 2
fi

# moto_server and the aws CLI live in pyenv on this project's machines; a shell that did not read
# ~/.bashrc (CI's, say) may not have pyenv on PATH. Its shims work without pyenv itself.
for dir in "${PYENV_ROOT:-$HOME/.pyenv}/shims" /root/.pyenv/shims; do
  if [ -d "$dir" ]; then
    case ":$PATH:" in *":$dir:"*) ;; *) PATH="$PATH:$dir" ;; esac
  fi
done
export PATH

# The AWS tests run against moto_server (the AWS API emulator) and set it up with the aws CLI; both
# are on every machine of this project (see DESIGN.md). PyPI is not reachable, so they cannot be
# installed from here: say so clearly instead of failing obscurely.
for tool in moto_server aws git; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "tests/run.sh: $tool is required by the tests and is not on PATH" >&2
    exit 2
  fi
done

# A minimal CI environment may leave sbin (runuser, used to start PostgreSQL as its own user) off PATH.
for dir in /usr/local/sbin /usr/sbin /sbin; do
  case ":$PATH:" in *":$dir:"*) ;; *) [ -d "$dir" ] && PATH="$PATH:$dir" ;; esac
done
export PATH

# The storage and playbook tests start a real PostgreSQL server (Debian's package) as a process of their own.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "==> installing postgresql (Debian package) for the PostgreSQL tests"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

results="TestResults"
rm -rf "$results"
mkdir -p "$results"

dotnet restore Keywarden.slnx
echo "==> dotnet format --verify-no-changes"
dotnet format Keywarden.slnx --verify-no-changes --no-restore
echo "==> dotnet build"
dotnet build Keywarden.slnx --no-restore -c Debug -warnaserror
echo "==> dotnet test"
set +e
dotnet test Keywarden.slnx --no-build -c Debug --results-directory "$results" --logger "trx" --logger "console;verbosity=minimal"
status=$?
set -e

python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
passed = failed = skipped = 0
files = glob.glob(f"{sys.argv[1]}/**/*.trx", recursive=True)
for path in files:
    summary = ET.parse(path).getroot().find("t:ResultSummary", ns)
    counters = summary.find("t:Counters", ns)
    if summary.get("outcome") not in ("Completed", "Passed") and int(counters.get("failed", 0)) == 0:
        # A crashed test host leaves tests unrun and uncounted: count the run itself as a failure.
        print(f"tests/run.sh: a test run did not complete ({summary.get('outcome')}): {path}", file=sys.stderr)
        failed += 1
    passed += int(counters.get("passed", 0))
    failed += int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0)) + int(counters.get("aborted", 0))
    skipped += int(counters.get("notExecuted", 0))
line = f"tests: {passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
if not files:
    print("tests/run.sh: no test results were written", file=sys.stderr)
    sys.exit(1)
PY
exit $status
