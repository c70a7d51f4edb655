#!/usr/bin/env bash
# Creates (once) the virtualenv with the real SDKs that tests/sdk_compat runs
# against: target/sdk-venv. Only this step uses the network (pip); it is
# skipped while target/sdk-venv/.stamp matches the requirement files.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/sdk-venv
stamp=$(cat tests/sdk_compat/requirements-sdks.txt tests/sdk_compat/requirements-deps.txt | sha256sum | cut -d' ' -f1)
if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$stamp" ]; then
  exit 0
fi
rm -rf "$venv"
python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" -r tests/sdk_compat/requirements-deps.txt
"${pip[@]}" --no-deps -r tests/sdk_compat/requirements-sdks.txt
echo "$stamp" > "$venv/.stamp"
