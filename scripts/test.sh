#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this): formatting, lints, unit tests, the
# policy-core case corpus and property tests, the template checks (cfn-lint, sam validate --lint,
# template-vs-code, for template.yaml and member.yaml), and the scenario tests against moto's
# server (ECR, and STS, Organizations and SSM for central mode and the SSM-held config).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/tools.sh moto sam

echo "== format"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== template"
export SAM_CLI_TELEMETRY=0
# The central and single-account stack, and the member stack of central mode (plain CloudFormation).
.tools/sam/bin/cfn-lint template.yaml member.yaml
# The sample templates `check` is tested on must be ones CloudFormation would take.
.tools/sam/bin/cfn-lint tests/iac/*.yaml tests/iac/cfn-*.json
AWS_DEFAULT_REGION=us-east-1 .tools/sam/bin/sam validate --lint
# The per-account stack for StackSets: the SAM template expanded ahead of time, linted as deployed.
stackset=$(mktemp --suffix=.json)
AWS_DEFAULT_REGION=us-east-1 .tools/sam/bin/python scripts/stackset.py template --out "$stackset"
.tools/sam/bin/cfn-lint "$stackset"
rm -f "$stackset"
AWS_DEFAULT_REGION=us-east-1 .tools/sam/bin/sam validate --lint --template member.yaml
echo "== tests"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# One plain total, so the closing line counts every test binary, not the last (doc tests: 0).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
