#!/usr/bin/env bash
# Installs the project's Python tools into git-ignored virtualenvs under .tools/, once:
#   .tools/venv      moto's ECR server (the emulator the scenario tests and the demo run against)
#                    and cargo-lambda (the demo serves the functions with `cargo lambda watch`)
# Re-running is cheap: a stamp file records what was installed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON_TOOLS="moto[server]==5.2.5 cargo-lambda==1.9.2"
venv=.tools/venv
stamp="$venv/.installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$PYTHON_TOOLS" ]; then
  echo "== installing $PYTHON_TOOLS into $venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086 # a list of requirement specs
  "$venv/bin/pip" install --quiet --disable-pip-version-check $PYTHON_TOOLS
  echo "$PYTHON_TOOLS" > "$stamp"
fi
