#!/usr/bin/env bash
# Runs every check and test of the repository on a machine with only Rust and
# Python 3: creates its own venv (moto, cfn-lint, SAM CLI, cargo-lambda, schemathesis), installs
# Chromium and chromedriver for the admin console's browser tests when missing
# (Debian/Ubuntu, as root or with sudo), then
# formatting, the test build with clippy's lints, the Lambda release build, all tests
# (the AWS backend against a moto server the tests start themselves, and the release
# bootstraps run through a local Lambda Runtime API with the template's IAM), a short
# run of every fuzz target and the SAM template lint.
#
# On 2 cores the builds are most of the time, so nothing is compiled twice that need
# not be: clippy lints the workspace's crates as the test build compiles them (no
# separate check build of the dependencies), and the venv installs while that build
# runs.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${TEXTBRIDGE_VENV:-$PWD/.venv}"
jobs="${CARGO_BUILD_JOBS:-2}"

# The machine's busy CPU time so far, in clock ticks (every core: user, nice, system,
# interrupts, steal; not idle or waiting on the disk), or 0 where /proc/stat is missing.
cpu_ticks() {
    if [ -r /proc/stat ]; then awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; else echo 0; fi
}
ticks_per_sec="$(getconf CLK_TCK 2>/dev/null || echo 100)"
step_name=
step_start=0
step_ticks="$(cpu_ticks)"
start_ticks="$step_ticks"
step_report=
# "wall m:ss, CPU m:ss" from $1 seconds and $2 clock ticks.
wall_and_cpu() {
    local cpu=$(($2 / ticks_per_sec))
    printf 'wall %d:%02d, CPU %d:%02d' $(($1 / 60)) $(($1 % 60)) $((cpu / 60)) $((cpu % 60))
}
# Ends the step before (its wall and the machine's CPU time, kept for the summary) and
# announces the next.
step() {
    local now_ticks
    now_ticks="$(cpu_ticks)"
    if [ -n "$step_name" ]; then
        step_report+="$(printf '%-44.44s %s' "$step_name" "$(wall_and_cpu $((SECONDS - step_start)) $((now_ticks - step_ticks)))")"$'\n'
    fi
    step_name="$*" step_start=$SECONDS step_ticks="$now_ticks"
    printf '\n==> %s [%d:%02d]\n' "$*" $((SECONDS / 60)) $((SECONDS % 60))
}

logs="$(mktemp -d)"
# Stops with the log $2 of a step run beside the others when its status $1 is not 0.
check_beside() { [ "$1" = 0 ] || { cat "$2"; echo "$3 failed (status: $1)"; exit 1; }; }
# The status a step run beside the others wrote to the file $1, or "never finished".
status_of() { cat "$1" 2>/dev/null || echo "never finished"; }
# Starts the command "$2"... beside what follows, in a process group of its own (for the
# trap; $! names it): its output goes to $logs/$1, its status to $logs/$1.status.
run_beside() {
    local name="$1"
    shift
    set -m
    ( status=0
      "$@" >"$logs/$name" 2>&1 || status=$?
      echo "$status" >"$logs/$name.status" ) &
    set +m
}

step "python tools ($venv): installing in the background"
# In a process group of its own (setsid), so that an early exit stops the whole of it;
# the logs go with the script.
setsid bash -c '
    [ -x "$1/bin/python" ] || python3 -m venv "$1"
    "$1/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
' venv "$venv" >"$logs/venv" 2>&1 &
venv_pid=$!
beside=
fuzz_build=
trap 'kill -- "-$venv_pid" 2>/dev/null || true
      for group in $beside $fuzz_build; do kill -- "-$group" 2>/dev/null || true; done
      rm -rf "$logs"' EXIT
export PATH="$venv/bin:$PATH"
export MOTO_SERVER="$venv/bin/moto_server"

step "chromium + chromedriver (the admin console's browser tests)"
# Under CI=true a missing browser fails those tests; without CI they are skipped.
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    echo "present: $(chromium --version 2>/dev/null | head -n 1)"
elif command -v apt-get >/dev/null; then
    sudo_if_needed=()
    [ "$(id -u)" -eq 0 ] || sudo_if_needed=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_if_needed[@]}" apt-get update -qq >/dev/null
    "${sudo_if_needed[@]}" apt-get install -y -qq chromium chromium-driver >/dev/null
    echo "installed: $(chromium --version 2>/dev/null | head -n 1)"
else
    echo "no apt-get: install Chromium and chromedriver by hand for the console's browser tests"
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy + the test build"
# Clippy's driver is rustc with the lints added: as the workspace's compiler it lints
# every target clippy --all-targets would check while compiling it for the tests.
# Every cargo test below runs with the same two variables, so nothing is rebuilt.
lint=(env RUSTC_WORKSPACE_WRAPPER=clippy-driver CLIPPY_ARGS=-Dwarnings)
"${lint[@]}" cargo test --workspace --all-targets --locked -j "$jobs" --no-run

step "python tools: waiting for the install"
venv_status=0
wait "$venv_pid" || venv_status=$?
check_beside "$venv_status" "$logs/venv" "the install"
echo "ready: $("$venv/bin/pip" freeze --disable-pip-version-check | wc -l) packages"

step "cargo lambda build --release (and the fuzz targets' build beside it, at the lowest priority)"
# The seven links of the release build run two at a time, each on one core: the last
# leaves a core idle for about a minute and a half. The fuzz targets' build (its own
# target dir) takes that time at the lowest priority (`nice -n 19`), and what it has not
# done by then it finishes beside the tests, still at the lowest priority.
run_beside fuzz-build env CARGO_BUILD_JOBS="$jobs" nice -n 19 scripts/fuzz.sh --build-only
fuzz_build=$!
# Built before the tests: shared/testkit/tests/{runtime_api,deployed}.rs run these
# bootstraps (under CI=true a missing one fails those tests instead of skipping).
cargo lambda build --release --locked --compiler cargo -j "$jobs" \
    --bin credentials --bin intake --bin records --bin users --bin imports --bin archiver --bin ats-sync
ls -l "${CARGO_TARGET_DIR:-target}"/lambda/*/bootstrap

step "cargo test"
TEXTBRIDGE_BOOTSTRAP_DIR="$(cd "${CARGO_TARGET_DIR:-target}/lambda" && pwd)"
export TEXTBRIDGE_BOOTSTRAP_DIR
# The AWS backend's end-to-end tests (`aws::` of shared/lambda/tests/it) spend most of
# their time waiting on moto's one Python process: they run beside all the others (the
# two filters are complements, so every test runs exactly once). The others run four
# at a time in each binary:
# most wait on servers of their own (the local server, schemathesis, Chromium) more
# than they compute.
run_beside aws "${lint[@]}" cargo test --workspace --locked -j "$jobs" -- aws::
beside=$!
status=0
"${lint[@]}" cargo test --workspace --locked -j "$jobs" -- --skip aws:: --test-threads 4 || status=$?
wait "$beside" || true
aws_status="$(status_of "$logs/aws.status")"
echo "--- the AWS backend's end-to-end tests (aws::), run beside the others:"
if [ "$aws_status" = 0 ] && grep -qE '^test result: ok\. [1-9]' "$logs/aws"; then
    grep -E '^test .* ok$|^test result: ok\. [1-9]' "$logs/aws"
else
    cat "$logs/aws"
    [ "$aws_status" != 0 ] || { echo "no test matched aws::"; aws_status=1; }
fi
if [ "$status" != 0 ] || [ "$aws_status" != 0 ]; then exit 1; fi

step "fuzz smoke run (every fuzz target, ${FUZZ_SECONDS:-20} s each) and the SAM template lint beside it"
wait "$fuzz_build" || true
fuzz_build=
check_beside "$(status_of "$logs/fuzz-build.status")" "$logs/fuzz-build" \
    "the fuzz targets' build (run beside the release build and the tests)"
echo "built beside the release build and the tests: $(tail -n 1 "$logs/fuzz-build")"
# The lint (two Python tools, about 10 s of one core) runs at the lowest priority: it
# takes the core the fuzz run's last target leaves idle, not fuzzing time from the others.
run_beside lint env VENV_BIN="$venv/bin" nice -n 19 scripts/lint-infra.sh
beside=$!
CARGO_BUILD_JOBS="$jobs" scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
wait "$beside" || true
beside=
echo "--- the SAM template lint, run beside the fuzz run:"
cat "$logs/lint"
check_beside "$(status_of "$logs/lint.status")" /dev/null "the SAM template lint"

step "all checks passed"
echo "each step's wall time and the machine's busy CPU time over it (both cores):"
printf '%s' "$step_report"
printf '%-44s %s\n' "in all" "$(wall_and_cpu "$SECONDS" $(($(cpu_ticks) - start_ticks)))"
