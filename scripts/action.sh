#!/usr/bin/env bash
# The step of the GitHub Action (action.yml): install release-runner at one
# exact version, with uv when the runner has it, else with pip into a venv of
# its own; then start, resume or run the nightly, and write the step's
# outputs. Inputs come as RELEASE_INPUT_* variables (never interpolated into
# this script, so no input can inject shell). `release` itself writes the
# `version`, `tag` and `released` outputs and the summary table; this adds
# `phase` and `result`.
#
# Where the distribution comes from is the installer's business: uv's and
# pip's own settings (UV_INDEX_URL, UV_FIND_LINKS, PIP_INDEX_URL, ...) apply.
set -euo pipefail
action_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fail() {
  echo "::error::$1"
  exit 2
}

command=${RELEASE_INPUT_COMMAND:-start}
version=${RELEASE_INPUT_VERSION:-}
tool_version=${RELEASE_INPUT_TOOL_VERSION:-}
if [ -z "$tool_version" ]; then
  tool_version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$action_dir/pyproject.toml" | head -n 1)
fi
case "$command" in
  start | resume | nightly) ;;
  *) fail "command must be start, resume or nightly, not '$command'" ;;
esac
case "$tool_version" in
  "" | *[!A-Za-z0-9.+!_-]*) fail "tool-version must be a version, not '$tool_version'" ;;
esac
if [ "$command" != nightly ] && [ -z "$version" ]; then
  fail "the $command command needs the version input"
fi
# Split on whitespace, as a command line would be; no globbing.
set -f
# shellcheck disable=SC2206
extra=(${RELEASE_INPUT_ARGS:-})
set +f

temp=${RUNNER_TEMP:-${TMPDIR:-/tmp}}
tools="$temp/release-runner-$tool_version"
echo "::group::Install release-runner $tool_version"
if command -v uv >/dev/null 2>&1; then
  UV_TOOL_DIR="$tools/uv" UV_TOOL_BIN_DIR="$tools/bin" \
    uv tool install --quiet --force "release-runner==$tool_version"
  release="$tools/bin/release"
else
  python=$(command -v python3 || command -v python) || fail "neither uv nor Python is on PATH: add actions/setup-python or astral-sh/setup-uv before this step"
  "$python" -m venv "$tools/venv"
  bin="$tools/venv/bin"
  [ -d "$bin" ] || bin="$tools/venv/Scripts"
  "$bin/python" -m pip install --quiet --disable-pip-version-check "release-runner==$tool_version"
  release="$bin/release"
fi
"$release" --version
echo "::endgroup::"

# As examples/github-release.yml: a release this workspace's journal knows,
# or whose tag is on the remote already (a runner died after the push), is
# resumed; its journal is rebuilt from the world when the workspace is new.
tag_of() {
  local template
  template=$(sed -n 's/^tag *= *"\(.*\)".*$/\1/p' release.toml 2>/dev/null | head -n 1)
  template=${template:-"{version}"}
  printf '%s' "${template//\{version\}/$1}"
}
if [ "$command" = start ]; then
  if [ -f .release/state.json ]; then
    command=resume
  elif git ls-remote --exit-code --tags origin "refs/tags/$(tag_of "$version")" >/dev/null 2>&1; then
    command=resume
  fi
fi

result="$temp/release-result.json"
status=0
case "$command" in
  start | resume)
    "$release" "$command" "$version" --json "${extra[@]}" >"$result" || status=$?
    ;;
  nightly)
    date_args=()
    [ -z "$version" ] || date_args=(--date "$version")
    "$release" nightly "${date_args[@]}" "${extra[@]}" || status=$?
    # A nightly has no --json result: its journal says where it stands.
    "$release" status --nightly --json >"$result" 2>/dev/null || echo '{}' >"$result"
    ;;
esac

python=$(command -v python3 || command -v python || true)
read_json() {
  [ -n "$python" ] || return 0
  "$python" - "$result" "$1" <<'PY' || true
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    sys.exit(0)
value = doc
for key in sys.argv[2].split("."):
    value = value.get(key) if isinstance(value, dict) else None
print("" if value is None else value)
PY
}
phase=$(read_json phase)
{
  if [ "$command" = nightly ]; then
    echo "version=$(read_json release.version)"
    echo "tag="
    echo "released=$([ "$phase" = done ] && echo true || echo false)"
  fi
  echo "phase=$phase"
  echo "result=$result"
} >>"${GITHUB_OUTPUT:-/dev/null}"
exit "$status"
