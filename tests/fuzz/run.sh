#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each for SECONDS.
#
#   tests/fuzz/run.sh SECONDS [TARGET...]  (targets: ruleset expr case log)
#
# Each target starts from its committed seeds (tests/fuzz/<target>/) and
# the crash regressions (tests/fuzz/regress/<target>/); new corpus entries
# go to build-fuzz/corpus/<target>/, never into the source tree. Exit
# status: 0 when no target found anything, 1 when one crashed, leaked,
# timed out or ran out of memory (the input is saved in build-fuzz/), and
# 0 with a SKIP line when clang or libFuzzer is unavailable, so that CI
# fails only for a real finding.
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${1:?usage: run.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(ruleset expr case log)
build=${FUZZ_BUILD:-build-fuzz}

if ! command -v clang >/dev/null; then
    echo "fuzz: SKIP (clang is not installed)"
    exit 0
fi
if [ ! -f "$build/build.ninja" ]; then
    mkdir -p "$build"
    if ! CC=clang meson setup "$build" -Dfuzzers=true -Db_lundef=false \
            -Dtests=false -Dcli=false -Dexamples=false -Dbench=false \
            >"$build/fuzz-setup.log" 2>&1; then
        echo "fuzz: SKIP (meson setup failed; see $build/fuzz-setup.log)"
        exit 0
    fi
fi
if ! ninja -C "$build" >"$build/fuzz-build.log" 2>&1; then
    # A build failure with -fsanitize=fuzzer usually means libFuzzer's
    # runtime (libclang-rt-NN-dev) is missing: not a finding.
    echo "fuzz: SKIP (build failed; see $build/fuzz-build.log)"
    exit 0
fi

status=0
for t in "${targets[@]}"; do
    corpus="$build/corpus/$t"
    mkdir -p "$corpus" "$build/artifacts/$t"
    max_len=4096
    [ "$t" = ruleset ] || [ "$t" = log ] && max_len=65536
    dict=()
    [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
    log="$build/fuzz-$t.log"
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=25 \
        -rss_limit_mb=2048 -max_len="$max_len" -print_final_stats=1 \
        -artifact_prefix="$build/artifacts/$t/" "${dict[@]}" \
        "$corpus" "tests/fuzz/$t" "tests/fuzz/regress/$t" >"$log" 2>&1
    rc=$?
    cov=$(grep -E '^#[0-9]+.* cov: ' "$log" | tail -1 |
          sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\).*/cov: \1, ft: \2/p')
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    if [ $rc -ne 0 ]; then
        status=1
        echo "fuzz $t: FAILED after ${secs}s (log: $log)"
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" |
            head -5
    else
        echo "fuzz $t: ok, ${execs:-?} executions, ${cov:-no coverage line}"
    fi
done
exit $status
