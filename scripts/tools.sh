#!/usr/bin/env bash
# Installs the project's Python tools into git-ignored virtualenvs under .tools/, once:
#   .tools/venv      moto's ECR server (the emulator the scenario tests and the demo run against)
# Re-running is cheap: a stamp file records what was installed.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO="moto[server]==5.2.5"
venv=.tools/venv
stamp="$venv/.installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$MOTO" ]; then
  echo "== installing $MOTO into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$MOTO"
  echo "$MOTO" > "$stamp"
fi
