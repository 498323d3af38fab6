#!/usr/bin/env bash
# Turns allure-results into ONE self-contained HTML file that opens offline.
#   scripts/report.sh reports/<run>/allure-results [reports/<run>/report]
# Prints the path of the HTML file.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
results="$(cd "${1:?usage: scripts/report.sh RESULTS_DIR [OUTPUT_DIR]}" && pwd)"
out="${2:-$(dirname "$results")/report}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$root/tools/allure"
# an upgrade runbook's session writes its one-line summary (fixtures/run_summary.py): the title
name="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["title"])' \
  "$results/run-summary.json" 2>/dev/null || true)"
REPORT_NAME="${name:-Talos runbook}" REPORT_OUTPUT="$out" REPORT_RESULTS="$results" \
  node_modules/.bin/allure generate --config allurerc.mjs "$results" >/dev/null
# The awesome template hard-codes a Google Tag Manager script: the report must open offline and
# call nobody, so strip it.
sed -i '/googletagmanager\.com\/gtag/,/^    <\/script>$/d' "$out/index.html"
echo "$out/index.html"
