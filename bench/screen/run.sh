#!/bin/sh
# Measure `miaopi screen` throughput on a generated population.
#
# usage: bench/screen/run.sh [BUILD_DIR] [N]
#   BUILD_DIR  a meson build directory (default: build); use a release
#              build for figures worth quoting:
#                meson setup build-release --buildtype=release
#   N          population size (default 1000000)
#
# Prints miaopi's own summary (records, time, records/minute) for one
# run with results written to /dev/null, and the wall time of the whole
# command. The target is 1,000,000 records per minute on one core.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-build}
n=${2:-1000000}
data=${TMPDIR:-/tmp}/miaopi-screen-$n.jsonl
if [ ! -f "$data" ]; then
    echo "generating $n records into $data" >&2
    python3 "$here/gen_population.py" "$n" "$data"
fi
start=$(date +%s.%N)
taskset -c 0 "$build/cli/miaopi" screen \
    -r "$root/rules/sz-elderly-outreach/ruleset.xml" \
    -d 2024-05-01 -o /dev/null "$data" || true
end=$(date +%s.%N)
echo "wall: $(echo "$end - $start" | bc) s for $n records" >&2
