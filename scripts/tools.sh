#!/usr/bin/env bash
# Installs the project's Python tools into git-ignored virtualenvs under .tools/, once.
#   tools.sh [GROUP...]   (default: all groups)
#   moto     .tools/venv    moto's server (started through scripts/moto_server.py): the scenario
#                           tests, the demo, the benchmarks; the `server` extra brings every
#                           service's dependencies (scripts/moto_services_smoke.py checks those used)
#   sam      .tools/sam     aws-sam-cli and cfn-lint (apart: aws-sam-cli pins an older boto3)
#   lambda   .tools/lambda  cargo-lambda (`cargo lambda watch` in the demo, `sam build`) and
#                           zig (cross-compiles the arm64 bootstraps)
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

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(moto sam lambda)
for g in "${groups[@]}"; do
  case "$g" in
    moto) install .tools/venv "moto[server]==5.2.5" ;;
    sam) install .tools/sam "aws-sam-cli==1.170.0" "cfn-lint==1.58.0" ;;
    lambda) install .tools/lambda "cargo-lambda==1.9.2" "ziglang==0.17.0" ;;
    *) echo "unknown tool group \`$g\`: moto, sam, lambda" >&2; exit 2 ;;
  esac
done
