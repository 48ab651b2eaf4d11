//! The GitHub Action (action.yml) run as the Actions runner runs a
//! composite action (tests/common/run_action.py): its step with
//! `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY` and the other `GITHUB_*`
//! variables, installing release-runner from the wheel built here with no
//! network, releasing the sample monorepo to a pypiserver on loopback.

mod common;

use std::path::Path;
use std::process::Command;

use common::wheel::{pyproject_version, tool_path};
use common::Sample;

/// Run the action in `s`'s repository with `inputs`; the action's outputs,
/// the step summary, the run.
fn run_action(
    s: &Sample,
    inputs: serde_json::Value,
    wheels: &Path,
) -> (serde_json::Value, String, common::Run) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runner = s.base.join("runner");
    std::fs::create_dir_all(&runner).unwrap();
    let summary = runner.join("summary.md");
    let job_output = runner.join("job-output");
    let mut cmd = common::release_cmd(&[]);
    // Only the environment of release_cmd (no credentials, no CI files of
    // the machine the tests run on), not the binary.
    let mut action = Command::new(common::python());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => action.env(k, v),
            None => action.env_remove(k),
        };
    }
    cmd = action;
    cmd.arg(root.join("tests/common/run_action.py"))
        .arg(root)
        .arg(inputs.to_string())
        .current_dir(&s.repo)
        .env("PATH", tool_path())
        .env("HOME", &s.base)
        .env("CI", "true")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", &s.repo)
        .env("GITHUB_REPOSITORY", "acme/monorepo")
        .env("GITHUB_RUN_ID", "1")
        .env("GITHUB_OUTPUT", &job_output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("RUNNER_TEMP", &runner)
        // The wheel built here is the only source; uv may not reach out.
        .env("UV_OFFLINE", "1")
        .env("UV_NO_INDEX", "1")
        .env("UV_FIND_LINKS", wheels)
        .env("UV_CACHE_DIR", runner.join("uv-cache"))
        .env("UV_PYTHON", common::python())
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_NO_CONFIG", "1");
    for (k, v) in &s.env {
        cmd.env(k, v);
    }
    let r = s.run_cmd(cmd);
    let outputs = serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "no outputs from the action ({e}):\n{}\n{}",
            r.stdout, r.stderr
        )
    });
    let summary = std::fs::read_to_string(summary).unwrap_or_default();
    (outputs, summary, r)
}

#[test]
fn the_action_releases_with_the_installed_tool_and_sets_outputs_and_summary() {
    let s = Sample::new().with_pypi();
    let base = s.git(&["rev-parse", "HEAD"]);
    let tmp = tempfile::tempdir().unwrap();
    let wheels = tmp.path().join("wheels");
    common::wheel::build(&wheels);
    let inputs = serde_json::json!({
        "version": "0.2.0.pre0",
        "tool-version": pyproject_version(),
    });
    let (outputs, summary, r) = run_action(&s, inputs, &wheels);
    assert!(r.ok(), "the action failed ({:?}):\n{}", r.code, r.stderr);
    assert!(
        r.stderr
            .contains(&format!("release {}", pyproject_version())),
        "the installed command runs: {}",
        r.stderr
    );
    assert_eq!(outputs["version"], "0.2.0.pre0", "{outputs}");
    assert_eq!(outputs["tag"], "0.2.0.pre0", "{outputs}");
    assert_eq!(outputs["released"], "true", "{outputs}");
    assert_eq!(outputs["phase"], "done", "{outputs}");
    let result: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(outputs["result"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(result["released"], true);
    assert!(summary.contains("## Released 0.2.0.pre0"), "{summary}");
    assert!(summary.contains("| demo-core | 0.2.0.pre0 |"), "{summary}");
    common::assert_released_git(&s, "0.2.0.pre0", &base);

    // Run again (a re-run of the workflow): the journal in the workspace
    // is resumed, not started twice.
    let inputs = serde_json::json!({ "version": "0.2.0.pre0", "command": "start" });
    let (outputs, _, r) = run_action(&s, inputs, &wheels);
    assert!(r.ok(), "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "0.2.0.pre0 was released already (its journal is in .release/history/); nothing to do"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(outputs["version"], "0.2.0.pre0", "{outputs}");
    assert_eq!(outputs["released"], "true", "{outputs}");
    assert_eq!(outputs["phase"], "done", "{outputs}");

    // A command the action does not know is refused before anything runs.
    let inputs = serde_json::json!({ "version": "0.3.0.pre0", "command": "publish" });
    let (outputs, _, r) = run_action(&s, inputs, &wheels);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(
        r.stderr
            .contains("::error::command must be start, resume or nightly, not 'publish'"),
        "{}",
        r.stderr
    );
    assert_eq!(outputs["released"], "", "{outputs}");
}
