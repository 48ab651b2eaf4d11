#!/usr/bin/env bash
# The demo: releases a generated sample monorepo (examples/monorepo) with a bare
# origin to a file:// index, showing every step. Installs what it needs itself.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=$("$root/scripts/pyenv.sh")
export PYTHON
cd "$root"
exec cargo run --quiet --release -- demo "$@"
