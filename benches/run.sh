#!/usr/bin/env bash
# Benchmarks whose figures go into closing notes. Needs Debian's `time` and `wget`.
# Built with the `profiling` profile (Cargo.toml: release plus line-level debug info), so that
# `perf record` or `samply` on the same binary shows function names and lines.
# Usage: bash benches/run.sh [core|export|hosts|servers|lifecycle|pack|memory|all]   (default all)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
if [[ $what == core || $what == all ]]; then
  cargo bench --profile profiling --bench core -- --assets 1000000
fi
if [[ $what == export || $what == all ]]; then
  cargo bench --profile profiling --bench export -- --assets 10000 --profile standard --wget 100000
  cargo bench --profile profiling --bench export -- --assets 100000 --profile minimal --wget 100000
  cargo bench --profile profiling --bench export -- --assets 1000000 --profile minimal
fi
if [[ $what == hosts || $what == all ]]; then
  cargo bench --profile profiling --bench hosts -- --assets 10000 --seconds 10
fi
if [[ $what == servers || $what == all ]]; then
  cargo bench --profile profiling --bench servers -- --seconds 10 --connections 32,1000
fi
if [[ $what == lifecycle || $what == all ]]; then
  cargo bench --profile profiling --bench lifecycle -- --assets 100000 --profile minimal
fi
if [[ $what == pack || $what == all ]]; then
  cargo bench --profile profiling --bench pack -- --assets 100000 --profile minimal
  cargo bench --profile profiling --bench pack -- --assets 10000 --profile standard
fi
if [[ $what == memory || $what == all ]]; then
  cargo bench --profile profiling --bench memory -- --assets 100000
  cargo bench --profile profiling --bench memory -- --assets 1000000 --skip files
fi
