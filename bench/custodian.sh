#!/usr/bin/env bash
# Cloud Custodian vs `ecr-policy-guard sweep` on the same moto ECR server (BENCHMARKS.md,
# "Against Cloud Custodian"). Installs what it needs first, then runs bench/custodian.py:
#   .tools/venv  moto's server and boto3 (scripts/tools.sh)
#   .tools/c7n   Cloud Custodian, apart: c7n pins its own boto3
# Arguments go to bench/custodian.py (--repos N, --rounds N, --timeout S, --keep).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/tools.sh moto
want="c7n==0.9.53"
if [ ! -f .tools/c7n/.installed ] || [ "$(cat .tools/c7n/.installed)" != "$want" ]; then
  echo "== installing $want into .tools/c7n"
  python3 -m venv .tools/c7n
  .tools/c7n/bin/pip install --quiet --disable-pip-version-check "$want"
  echo "$want" >.tools/c7n/.installed
fi
cargo build --release --quiet -p ecr-policy-guard
exec timeout 3600 .tools/venv/bin/python bench/custodian.py "$@"
