#!/usr/bin/env bash
# Create (or refresh) the Python venv used by fxsat's Python side and print its python path.
#   VENV = ${FXSAT_VENV:-$HOME/.cache/fxsat/venv}
# The venv is created from python/requirements.txt when missing; when requirements.txt
# changed since the last install (a copy is kept as $VENV/fxsat-requirements.txt) the
# requirements are re-installed into it. Progress goes to stderr, the python path to stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
req="$here/requirements.txt"
venv="${FXSAT_VENV:-$HOME/.cache/fxsat/venv}"
stamp="$venv/fxsat-requirements.txt"
py="$venv/bin/python"
base_python="${PYTHON:-python3}"

log() { echo "venv.sh: $*" >&2; }

if [[ ! -x "$py" ]]; then
    log "creating venv at $venv"
    mkdir -p "$(dirname "$venv")"
    "$base_python" -m venv "$venv" >&2
    rm -f "$stamp"
fi

if [[ ! -f "$stamp" ]] || ! cmp -s "$req" "$stamp"; then
    log "installing $req into $venv"
    "$py" -m pip install --disable-pip-version-check -q -r "$req" >&2
    cp "$req" "$stamp"
else
    log "venv up to date: $venv"
fi

echo "$py"
