#!/usr/bin/env bash
# Benchmark (issues 8 and 15): release vs twine vs uv publish vs the sequential
# flow, side by side in one run: on loopback, with isolated builds, through a
# proxy adding 50 ms per request, and peak memory with a large file. Installs
# twine, uv and paste into the tool venv (and GNU time, with apt, as root).
# Sizes: BENCH_PACKAGES (default 80), BENCH_REPS (default 3), BENCH_BIG_MB
# (default 500); BENCH_PARTS=loopback,isolation,latency,memory picks parts;
# BENCH_QUICK=1 skips the slow sequential flows.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=$("$root/scripts/pyenv.sh")
venv=$(dirname "$(dirname "$python")")
"$python" -m pip install --quiet --disable-pip-version-check uv paste twine
if [ ! -x /usr/bin/time ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get install -y -q time >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q time >/dev/null 2>&1; } || true
fi
cd "$root"
cargo build --quiet --release
BENCH_VENV="$venv" exec "$python" "$root/scripts/bench.py"
