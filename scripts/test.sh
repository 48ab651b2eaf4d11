#!/usr/bin/env bash
# Every test: formatting, lints, unit and integration tests (with the failpoints
# feature, so the kill-and-resume tests run). Installs what the tests need itself.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
PYTHON=$("$root/scripts/pyenv.sh")
export PYTHON
export RELEASE_TEST_PYTHON="$PYTHON"
cargo fmt --all -- --check
cargo clippy --all-targets --features failpoints -- -D warnings
cargo test --features failpoints -- "$@"
