#!/bin/sh
# Build the release tree and print the benchmark table (bench/README.md).
exec python3 "$(dirname "$0")/run.py" "$@"
