"""Run a composite action's steps as the GitHub Actions runner does.

Usage: run_action.py ACTION_DIR INPUTS_JSON

Reads ACTION_DIR/action.yml, gives every input its value (the one passed,
else its default), and runs each step's `run:` with `bash --noprofile
--norc -eo pipefail` in the current folder, with the step's `env:` (its
`${{ inputs.* }}` expressions filled in), GITHUB_ACTION_PATH, and a
GITHUB_OUTPUT file of its own, read back into the step's outputs as the
runner reads it. GITHUB_STEP_SUMMARY and the other GITHUB_* variables come
from the caller. The steps' log (their stdout and stderr) goes to stderr;
the action's outputs, as JSON, to stdout. Exits with the first failing
step's code.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import yaml


def main():
    action_dir, given = sys.argv[1], json.loads(sys.argv[2])
    with open(os.path.join(action_dir, "action.yml")) as f:
        action = yaml.safe_load(f)
    if action["runs"]["using"] != "composite":
        sys.exit("not a composite action")
    declared = action.get("inputs", {})
    unknown = set(given) - set(declared)
    if unknown:
        sys.exit(f"inputs the action does not declare: {sorted(unknown)}")
    inputs = {k: str(given.get(k, v.get("default", ""))) for k, v in declared.items()}
    steps = {}

    def expand(text):
        def one(m):
            expr = m.group(1).strip()
            if expr.startswith("inputs."):
                return inputs[expr[len("inputs."):]]
            if expr == "github.action_path":
                return action_dir
            found = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)
            if found:
                return steps.get(found.group(1), {}).get(found.group(2), "")
            sys.exit(f"an expression this runner does not know: {expr}")

        return re.sub(r"\$\{\{(.*?)\}\}", one, str(text))

    code = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, step in enumerate(action["runs"]["steps"]):
            if step.get("shell") != "bash" or "run" not in step:
                sys.exit(f"step {i}: only `run:` steps with `shell: bash` are run here")
            output = os.path.join(tmp, f"output-{i}")
            script = os.path.join(tmp, f"step-{i}.sh")
            open(output, "w").close()
            with open(script, "w") as f:
                f.write(expand(step["run"]))
            env = dict(os.environ, GITHUB_ACTION_PATH=action_dir, GITHUB_OUTPUT=output)
            env.update({k: expand(v) for k, v in step.get("env", {}).items()})
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", script],
                env=env,
                stdout=sys.stderr,
            )
            steps[step.get("id", f"step{i}")] = read_outputs(output)
            if done.returncode != 0:
                code = done.returncode
                break
        outputs = {k: expand(v["value"]) for k, v in action.get("outputs", {}).items()}
    print(json.dumps(outputs))
    sys.exit(code)


def read_outputs(path):
    """`name=value` lines and `name<<DELIMITER` blocks, as the runner reads them."""
    out = {}
    with open(path) as f:
        lines = f.read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block = []
            i += 1
            while i < len(lines) and lines[i] != delimiter:
                block.append(lines[i])
                i += 1
            out[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        i += 1
    return out


if __name__ == "__main__":
    main()
