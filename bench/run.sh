#!/usr/bin/env bash
# Every benchmark, side by side on this machine (not part of CI's tests):
#   1. policy-core criterion benches, printed as ratios to the serde_json::Value floor
#   2. cold start, per-event cost, peak RSS and binary size of each function, tuned release
#      profile against cargo's defaults, on a minimal local Lambda Runtime API and moto
#   3. the sweep against Cloud Custodian on the same moto with the same 500 repositories
#   4. the organisation sweep (central mode, a Map of sweep invocations) against the
#      single-account sweep run once per account in sequence, 20 accounts x 250 repositories
# Results go to BENCHMARKS.md by hand, with the machine they ran on.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/tools.sh moto

echo "== 1. policy core"
cargo bench -p policy-core --bench core -- --noplot >/dev/null
python3 bench/core-ratios.py

echo "== 2. function binaries"
functions=(-p apply-baseline -p enforce-policy -p grant-replication -p sweep -p import-findings)
cargo build --release "${functions[@]}"
cargo build --profile release-untuned "${functions[@]}"
.tools/venv/bin/python bench/runtime.py --profiles release,release-untuned 2>/dev/null

echo "== 3. against Cloud Custodian: moto as it is, then 20 ms added to every request"
bash bench/custodian.sh
bash bench/custodian.sh --latency-ms 20

echo "== 4. organisation sweep: moto as it is, then 20 ms added to every request"
.tools/venv/bin/python bench/org_sweep.py
.tools/venv/bin/python bench/org_sweep.py --latency-ms 20
