#!/usr/bin/env bash
# What each Content API 1.2.0 profile dimension adds to an export (docs/profiles.md): the
# `minimal` profile alone, then with include_dependents, two base URLs, every context — each
# exported for real into a fresh directory (files, served and stored bytes from snapshot.json,
# wall time), then removed.
# Usage: bash benches/dimensions.sh demo|generated [ASSETS]   (generated: default 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin=$PWD/target/release/matrix-snapshot
what="${1:-demo}"
work=$(mktemp -d "${TMPDIR:-/tmp}/ms-dimensions.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [[ $what == demo ]]; then
  store=(); token=demo-editor; base=(--base-url https://www.uni.test)
  bases='["https://research.uni.test", "http://www.uni.test/news"]'
else
  n="${2:-10000}"
  "$bin" generate --assets "$n" --seed 1 --contexts fr,mi --out "$work/store" 2>/dev/null
  store=(--store "$work/store"); token=gen-public; base=(--base-url https://site1.example.test)
  bases='["https://site2.example.test", "http://site1.example.test"]'
fi
base_profile='data = [[], ["urls", "attributes", "metadata", "contents"]]
children_data = [[], ["urls", "attributes", "metadata", "contents"]]
sort_by = ["tree"]
sort_order = ["asc"]
limits = [100]'
printf '| profile | files | × files | served MB | stored MB | × stored | time |\n|---|---|---|---|---|---|---|\n'
first_files=0; first_stored=0
for dim in none include_dependents base_urls contexts all; do
  profile="$work/$dim.toml"
  echo "$base_profile" > "$profile"
  case $dim in
    include_dependents) echo 'include_dependents = [false, true]' >> "$profile" ;;
    base_urls) echo "base_urls = $bases" >> "$profile" ;;
    contexts) echo 'contexts = "all"' >> "$profile" ;;
    all) printf 'include_dependents = [false, true]\nbase_urls = %s\ncontexts = "all"\n' "$bases" >> "$profile" ;;
  esac
  start=$(date +%s.%N)
  "$bin" export "${store[@]}" --token "$token" "${base[@]}" --profile "$profile" \
    --router nginx --out "$work/out-$dim" --quiet 2>/dev/null
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  read -r files bytes stored < <(python3 -c "import json,sys; c=json.load(open(sys.argv[1]))['counts']; print(c['files'], c['bytes'], c['unique_bytes'])" "$work/out-$dim/snapshot.json")
  if [[ $dim == none ]]; then first_files=$files; first_stored=$stored; fi
  printf '| minimal + %s | %s | ×%.2f | %.1f | %.1f | ×%.2f | %.1f s |\n' "$dim" "$files" \
    "$(echo "$files / $first_files" | bc -l)" "$(echo "$bytes / 1000000" | bc -l)" \
    "$(echo "$stored / 1000000" | bc -l)" "$(echo "$stored / $first_stored" | bc -l)" "$secs"
  rm -rf "$work/out-$dim"
done
