#!/usr/bin/env bash
# Runs every benchmark — intake and the archiver, user import, the ATS sync, the
# Lambda cold starts and first invocations — each printing its own report, then prints one table of their
# headline figures, each next to its reference from the same run.
#
#   scripts/bench.sh           # the sizes the README's figures use
#   scripts/bench.sh --quick   # small sizes, to check that every benchmark runs
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${TEXTBRIDGE_VENV:-$PWD/.venv}"
jobs="${CARGO_BUILD_JOBS:-2}"
requests=2000 rows=100000 users=100000 runs=20
if [ "${1:-}" = "--quick" ]; then
    requests=300 rows=2000 users=1000 runs=3
fi

step() { printf '\n==> %s\n' "$*"; }

step "python tools for the import comparison ($venv)"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-bench.txt
export PATH="$venv/bin:$PATH" PYTHON="$venv/bin/python" MOTO_SERVER="$venv/bin/moto_server"

summary="$(mktemp)"
trap 'rm -f "$summary"' EXIT
export TEXTBRIDGE_BENCH_SUMMARY="$summary"

step "intake and archiver"
cargo bench --locked -j "$jobs" -p textbridge --bench intake -- --requests "$requests"
step "user import"
cargo bench --locked -j "$jobs" -p textbridge --bench import -- --rows "$rows"
step "ATS sync"
cargo bench --locked -j "$jobs" -p textbridge --bench sync -- --users "$users"
step "Lambda cold starts and first invocations (the release bootstraps; the latter on moto)"
cargo lambda build --release --locked --compiler cargo -j "$jobs" \
    --bin credentials --bin intake --bin records --bin users --bin imports --bin archiver --bin ats-sync
TEXTBRIDGE_BOOTSTRAP_DIR="$(cd "${CARGO_TARGET_DIR:-target}/lambda" && pwd)"
export TEXTBRIDGE_BOOTSTRAP_DIR
cargo bench --locked -j "$jobs" -p textbridge-testkit --features aws --bench cold_start -- --runs "$runs"
cargo bench --locked -j "$jobs" -p textbridge-testkit --features aws --bench first_invocation -- --runs "$runs"

step "summary ($(date -u +%Y-%m-%d), $(nproc) cores)"
echo "| benchmark | figure | this build | reference, same run |"
echo "|---|---|---|---|"
awk -F '\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$summary"
