#!/usr/bin/env bash
# Runs every check and test of the repository on a machine with only Rust and
# Python 3: creates its own venv (moto, cfn-lint, SAM CLI, cargo-lambda), then
# formatting, lints, all tests (the AWS backend against a moto server the tests
# start themselves), the SAM template lint and the Lambda release build.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${TEXTBRIDGE_VENV:-$PWD/.venv}"
jobs="${CARGO_BUILD_JOBS:-2}"

step() { printf '\n==> %s\n' "$*"; }

step "python tools ($venv)"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
export PATH="$venv/bin:$PATH"
export MOTO_SERVER="$venv/bin/moto_server"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -j "$jobs" -- -D warnings

step "cargo test"
cargo test --workspace --locked -j "$jobs"

step "SAM template lint"
VENV_BIN="$venv/bin" scripts/lint-infra.sh

step "cargo lambda build --release"
cargo lambda build --release --locked --compiler cargo -j "$jobs" \
    --bin credentials --bin webhooks --bin users --bin archiver --bin ats-sync
ls -l "${CARGO_TARGET_DIR:-target}"/lambda/*/bootstrap

step "all checks passed"
