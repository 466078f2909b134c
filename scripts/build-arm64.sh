#!/usr/bin/env bash
# `sam build` of template.yaml: one arm64 `bootstrap` per function, cross-compiled by
# cargo-lambda with zig, then checked (an aarch64 ELF for every function in the template).
# Not part of CI: a clean release build for arm64 takes several minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/tools.sh
export PATH="$PWD/.tools/lambda/bin:$PWD/.tools/sam/bin:$PATH" SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
sam build --beta-features
functions=$(python3 - <<'PY'
import re
text = open("template.yaml").read()
print(" ".join(re.findall(r"^  (\w+Function):\n    Type: AWS::Serverless::Function", text, re.M)))
PY
)
status=0
for f in $functions; do
  b=".aws-sam/build/$f/bootstrap"
  if [ -f "$b" ] && file "$b" | grep -q "ARM aarch64"; then
    printf '%-26s %s bytes, aarch64\n' "$f" "$(stat -c %s "$b")"
  else
    echo "$f: no arm64 bootstrap at $b" >&2
    status=1
  fi
done
exit $status
