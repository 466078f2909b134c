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
# Each step prints the policy before and after as a compact statement diff (- removed,
# ~ rewritten, + added, = kept), each change with its rule and reason. DEMO_FULL=1 prints the
# whole JSON too.
step() { # title, target, function, event file
  echo
  echo "================ $1"
  python3 scripts/demo_ecr.py snapshot "$2" "$work/before.json"
  invoke "$3" "$4" >"$work/outcome.json"
  python3 scripts/demo_ecr.py snapshot "$2" "$work/after.json"
  echo "---- $2, $3 <- $(basename "$4")"
  python3 scripts/demo_ecr.py explain "$work/before.json" "$work/outcome.json" "$work/after.json"
  if [ -n "${DEMO_FULL:-}" ]; then
    echo "---- before"; python3 -m json.tool "$work/before.json"
    echo "---- outcome"; cat "$work/outcome.json"
    echo "---- after"; python3 -m json.tool "$work/after.json"
  fi
}

python3 scripts/demo_ecr.py event-for events/cloudtrail-ecr-set-repository-policy.json svc/public-pull "$work/public.json"
python3 scripts/demo_ecr.py event-for events/cloudtrail-ecr-set-repository-policy.json svc/partner "$work/partner.json"
python3 scripts/demo_ecr.py event-for events/cloudtrail-ecr-set-repository-policy.json sandbox-alice "$work/sandbox.json"

step "new team repository gets its baseline" team-payments/api apply-baseline events/cloudtrail-ecr-create-repository.json
# Pull through cache creates this one itself (standing in for ECR: create it, then the service event).
python3 scripts/demo_ecr.py create team-hub/library/alpine
step "repository ECR created itself (pull through cache) gets its baseline" team-hub/library/alpine apply-baseline events/cloudtrail-ecr-service-event-create-repository-pull-through-cache.json
step "public grant removed, own CI role kept" svc/public-pull enforce-policy "$work/public.json"
echo "---- what the security channel sees (chat message over SNS)"
python3 scripts/demo_ecr.py chat
echo "---- what an EventBridge rule for CRITICAL and HIGH findings delivered to its queue"
python3 scripts/demo_ecr.py findings
step "untrusted account removed, trusted one kept" svc/partner enforce-policy "$work/partner.json"
step "exempt repository left alone" sandbox-alice enforce-policy "$work/sandbox.json"
step "creation template: public grant removed before ECR creates a repository from it" template:team-hub enforce-policy events/cloudtrail-ecr-create-repository-creation-template.json
step "registry policy: a stranger's replication grant reverted, the trusted source granted" registry enforce-policy events/cloudtrail-ecr-put-registry-policy.json
step "a failed replication from the trusted source: its grant is already there" registry grant-replication events/ecr-replication-action-failed.json
step "replication from an unknown source refused" registry grant-replication events/ecr-replication-action-failed-untrusted-source.json
echo
echo "================ loop check: the guard's own write comes back as an event"
invoke enforce-policy events/cloudtrail-ecr-set-repository-policy-by-guard.json
echo "---- and the same change seen by anyone else's event: decided from live state, nothing to write"
invoke enforce-policy events/cloudtrail-ecr-set-repository-policy.json

echo
echo "================ deployable artifacts: sam build, one arm64 bootstrap per function"
if [ -n "${DEMO_SKIP_ARM64:-}" ]; then
  echo "(skipped: DEMO_SKIP_ARM64 is set)"
else
  echo "(cross-compiles release binaries with zig: several minutes the first time)"
  bash scripts/build-arm64.sh
fi
