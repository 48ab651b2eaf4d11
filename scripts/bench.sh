#!/usr/bin/env bash
# Benchmark (issue 8): release vs twine vs uv publish vs the sequential flow,
# side by side in one run. Installs twine, uv and paste into the tool venv.
# BENCH_PACKAGES (default 80) and BENCH_REPS (default 3) size it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=$("$root/scripts/pyenv.sh")
venv=$(dirname "$(dirname "$python")")
"$python" -m pip install --quiet --disable-pip-version-check uv paste twine
cd "$root"
cargo build --quiet --release
BENCH_VENV="$venv" exec "$python" "$root/scripts/bench.py"
