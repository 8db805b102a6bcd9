#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer's coverage instrumentation — stable
# rustc codegen options only, no sanitizer — and runs each one.
#   fuzz/run.sh SECONDS        each target for SECONDS (CI: a bounded round)
#   fuzz/run.sh -runs=N        each target for N inputs
# The corpus grows in fuzz/corpus/ (not committed); fuzz/seeds/ holds the
# starting inputs. A crash leaves its input in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")"
limit=${1:-10}
case "$limit" in
    -runs=*) budget=("$limit") ;;
    *) budget=("-max_total_time=$limit") ;;
esac
# RUSTFLAGS replaces the repository's static-link flags for this build.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
cargo build --quiet --release --target x86_64-unknown-linux-gnu --bins
for target in config env_file duration shell_words http_request expand import_supervisord import_systemd import_procfile import_crontab schedule; do
    mkdir -p "corpus/$target" "artifacts/$target"
    echo "== fuzz $target (${budget[*]})"
    log="artifacts/$target/last-run.log"
    status=0
    "target/x86_64-unknown-linux-gnu/release/$target" "corpus/$target" "seeds/$target" \
        "${budget[@]}" -timeout=5 -rss_limit_mb=1024 -max_len=65536 \
        -artifact_prefix="artifacts/$target/" -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done|SUMMARY)|panicked|ERROR' "$log" || true
    if [ "$status" -ne 0 ]; then
        echo "fuzz target $target failed (exit $status): see fuzz/$log"
        grep -A3 panicked "$log" || true
        exit 1
    fi
done
