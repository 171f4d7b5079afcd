#!/usr/bin/env bash
# Benchmarks whose figures go into closing notes. Peak RSS needs Debian's `time` package.
# Usage: bash benches/run.sh [ASSETS]   (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
assets="${1:-1000000}"
cargo bench --bench core -- --assets "$assets"
