#!/usr/bin/env bash
# The main job, end to end on this machine: moto's ECR server, repositories with bad policies,
# the three functions served by `cargo lambda watch` and invoked with the sample events in
# events/, each policy printed before and after; one finding as the security channel reads it
# (chat over SNS) and as an EventBridge rule routes it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/tools.sh
export PATH="$PWD/.tools/venv/bin:$PWD/.tools/lambda/bin:$PATH"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done; echo "port $1 never opened" >&2; return 1; }

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

moto_port=$(free_port)
.tools/venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)
wait_port "$moto_port"
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing

echo "== moto's ECR on $AWS_ENDPOINT_URL: creating repositories with bad policies"
python3 scripts/demo_ecr.py setup
echo "== findings outlets on moto: an SNS topic for chat and an EventBridge rule, each into an SQS queue"
python3 scripts/demo_ecr.py outlets config/example.json "$work/config.json"

cat >"$work/env" <<ENV
GUARD_CONFIG_FILE=$work/config.json
GUARD_ACCOUNT_ID=123456789012
GUARD_ROLE_ARN=arn:aws:iam::123456789012:role/ecr-policy-guard
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
RUST_LOG=warn
ENV
lambda_port=$(free_port)
echo "== cargo lambda watch on 127.0.0.1:$lambda_port (builds the functions on first invoke)"
cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$lambda_port" --env-file "$work/env" --ignore-changes >"$work/watch.log" 2>&1 &
pids+=($!)
wait_port "$lambda_port" || { cat "$work/watch.log"; exit 1; }

invoke() { # function, event file
  cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "$lambda_port" "$1" --data-file "$2" -o json
  echo
}
step() { # title, target, function, event file
  echo
  echo "================ $1"
  echo "---- $2 before"; python3 scripts/demo_ecr.py show "$2"
  echo "---- $3 <- $(basename "$4")"; invoke "$3" "$4"
  echo "---- $2 after"; python3 scripts/demo_ecr.py show "$2"
}

python3 scripts/demo_ecr.py event-for events/cloudtrail-ecr-set-repository-policy.json svc/public-pull "$work/public.json"
python3 scripts/demo_ecr.py event-for events/cloudtrail-ecr-set-repository-policy.json svc/partner "$work/partner.json"
python3 scripts/demo_ecr.py event-for events/cloudtrail-ecr-set-repository-policy.json sandbox-alice "$work/sandbox.json"

step "new team repository gets its baseline" team-payments/api apply-baseline events/cloudtrail-ecr-create-repository.json
step "public grant removed, own CI role kept" svc/public-pull enforce-policy "$work/public.json"
echo "---- what the security channel sees (chat message over SNS)"
python3 scripts/demo_ecr.py chat
echo "---- what an EventBridge rule for CRITICAL and HIGH findings delivered to its queue"
python3 scripts/demo_ecr.py findings
step "untrusted account removed, trusted one kept" svc/partner enforce-policy "$work/partner.json"
step "exempt repository left alone" sandbox-alice enforce-policy "$work/sandbox.json"
step "registry policy: grant to an account that is no replication source reverted" registry enforce-policy events/cloudtrail-ecr-put-registry-policy.json
step "replication from a trusted source granted" registry grant-replication events/ecr-replication-action-failed.json
step "replication from an unknown source refused" registry grant-replication events/ecr-replication-action-failed-untrusted-source.json
echo
echo "================ loop check: the guard's own write comes back as an event"
invoke enforce-policy events/cloudtrail-ecr-set-repository-policy-by-guard.json
echo "---- and the same change seen by anyone else's event: decided from live state, nothing to write"
invoke enforce-policy events/cloudtrail-ecr-set-repository-policy.json

echo
echo "================ deployable artifacts: sam build, one arm64 bootstrap per function"
echo "(cross-compiles release binaries with zig: several minutes the first time)"
bash scripts/build-arm64.sh
