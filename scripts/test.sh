#!/usr/bin/env bash
# Every test: formatting, lints, unit and integration tests (with the failpoints
# feature, so the kill-and-resume tests run). Installs what the tests need itself.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# The ssh push test needs a real sshd; install it where we can (root with apt),
# otherwise that one test says it is skipped.
if [ ! -x /usr/sbin/sshd ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing openssh-server for the ssh push test" >&2
  (apt-get install -y -q openssh-server >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q openssh-server >/dev/null 2>&1; }) ||
    echo "could not install openssh-server: the ssh push test will be skipped" >&2
fi
PYTHON=$("$root/scripts/pyenv.sh")
export PYTHON
export RELEASE_TEST_PYTHON="$PYTHON"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --features failpoints -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --features failpoints -- --nocapture "$@" 2>&1 | tee "$log"
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { p += $4; f += $6; s += $8 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
