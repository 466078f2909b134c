#!/usr/bin/env bash
# Installs the project's Python tools into git-ignored virtualenvs under .tools/, once:
#   .tools/venv   moto's ECR server (scenario tests and demo), cargo-lambda (the demo serves the
#                 functions with `cargo lambda watch`; `sam build` uses it) and zig (arm64 builds)
#   .tools/sam    aws-sam-cli and cfn-lint, apart: aws-sam-cli pins an older boto3 than moto's
# Re-running is cheap: a stamp file per virtualenv records what was installed.
set -euo pipefail
cd "$(dirname "$0")/.."

install() { # venv, requirement specs...
  local venv=$1
  shift
  local want="$*"
  local stamp="$venv/.installed"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "== installing $want into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
    echo "$want" >"$stamp"
  fi
}

install .tools/venv "moto[server]==5.2.5" "cargo-lambda==1.9.2" "ziglang==0.17.0"
install .tools/sam "aws-sam-cli==1.170.0" "cfn-lint==1.58.0"
