#!/usr/bin/env bash
# Fuzzes the parsers of outside input (fuzz/fuzz_targets: the webhook parsers and
# signature checks, user-file import, phone numbers) with cargo-fuzz (libFuzzer and
# AddressSanitizer) on the stable toolchain: SECONDS per target (default 600), one
# target per core at a time, starting from the committed corpora (fuzz/corpus/TARGET).
# Installs cargo-fuzz when missing.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#   scripts/fuzz.sh --build-only      (installs cargo-fuzz and builds every target)
#
# A crash, a failed check, an input taking over 10 s or a run using over 2 GB stops
# with the input left in fuzz/artifacts/TARGET/ (replay it with
# `RUSTC_BOOTSTRAP=1 cargo fuzz run -O TARGET FILE`). Inputs that reach new code are
# kept under the target directory, not in the committed corpora; FUZZ_MERGE=1 adds
# them to fuzz/corpus/TARGET and minimises it (`cargo fuzz cmin`).
set -euo pipefail
cd "$(dirname "$0")/.."

build_only=0
if [ "${1:-}" = --build-only ]; then build_only=1; shift; fi
seconds="${1:-600}"
shift $(($# > 0 ? 1 : 0))
tools="${TEXTBRIDGE_TOOLS:-$HOME/.cache/textbridge/tools}"
cargo_fuzz_version=0.13.1

export PATH="$tools/bin:$PATH"
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $cargo_fuzz_version" ]; then
    cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked --root "$tools"
fi
# cargo-fuzz hands rustc unstable flags (-Z sanitizer=address, coverage
# instrumentation); RUSTC_BOOTSTRAP lets the stable compiler take them.
export RUSTC_BOOTSTRAP=1
export RUSTUP_TOOLCHAIN="${RUSTUP_TOOLCHAIN:-stable}"

mkdir -p "${CARGO_TARGET_DIR:-target}"
target_dir="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/fuzz"
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi

# The fuzz crate is a workspace of its own, with its own Cargo.lock: a stale one is
# refused here rather than re-resolved unseen by the build.
cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null

# -O: optimised like the shipped binaries and, like them, without overflow checks, so
# arithmetic in a dependency that wraps harmlessly in production is not reported
# (calamine's XLSX cell references, e.g.); AddressSanitizer stays on.
cargo fuzz build -O --target-dir "$target_dir"
[ "$build_only" = 0 ] || exit 0

# One target per core at a time (CARGO_BUILD_JOBS, default 2): each still fuzzes for
# SECONDS on a core of its own; the results are printed in target order.
parallel="${CARGO_BUILD_JOBS:-2}"
fuzz_one() {
    local target="$1" found="$target_dir/corpus/$1" log="$target_dir/logs/$1.log"
    mkdir -p "$found" "$(dirname "$log")"
    # -detect_leaks=0: glibc's per-thread destructor list (threads of the XLSX
    # writer) is reported as a leak at exit; memory that grows is caught by the
    # RSS limit instead.
    if ! cargo fuzz run -O "$target" --target-dir "$target_dir" "$found" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -detect_leaks=0 \
        -print_final_stats=1 >"$log" 2>&1; then
        printf '%-20s FAILED (full log: %s)\n' "$target" "$log"
        grep -E -A 12 'panicked at|ERROR: |SUMMARY' "$log" | head -n 60 || tail -n 40 "$log"
        return 1
    fi
    local runs committed new
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    committed=$(find "fuzz/corpus/$target" -type f | wc -l)
    new=$(find "$found" -type f | wc -l)
    printf '%-20s ok: %s runs in %s s; corpus: %s committed, %s found\n' \
        "$target" "$runs" "$seconds" "$committed" "$new"
    if [ "${FUZZ_MERGE:-0}" = 1 ]; then
        cp -n "$found"/* "fuzz/corpus/$target/" 2>/dev/null || true
        cargo fuzz cmin -O "$target" --target-dir "$target_dir" "fuzz/corpus/$target" -- \
            -detect_leaks=0 -rss_limit_mb=2048 >>"$log" 2>&1 || return 1
        echo "  corpus minimised: $(find "fuzz/corpus/$target" -type f | wc -l) inputs"
    fi
}

results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT
for target in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do wait -n || true; done
    (if fuzz_one "$target" >"$results/$target.out" 2>&1; then echo 0; else echo 1; fi >"$results/$target.rc") &
done
wait

failed=0
for target in "${targets[@]}"; do
    cat "$results/$target.out"
    [ "$(cat "$results/$target.rc")" = 0 ] || failed=1
done
exit "$failed"
