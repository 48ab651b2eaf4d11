//! Ctrl-C (issue 7): the journal write in progress finishes, the running step
//! is recorded as interrupted, the message says how to resume, exit 130; and
//! `resume` then converges.

mod common;
use common::python;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use assert_cmd::prelude::*;

fn release(repo: &Path, python: &Path) -> Command {
    let mut cmd = Command::cargo_bin("release").unwrap();
    cmd.arg("--repo")
        .arg(repo)
        .env("PYTHON", python)
        .env_remove("RELEASE_FAILPOINT")
        .env_remove("TWINE_REPOSITORY_URL");
    cmd
}

fn journal(repo: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(repo.join(".release/state.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn step_state(j: &serde_json::Value, step: &str) -> (String, String) {
    let s = j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == step)
        .unwrap();
    (
        s["state"].as_str().unwrap_or("").to_string(),
        s["error"].as_str().unwrap_or("").to_string(),
    )
}

fn index_files(base: &Path) -> usize {
    let simple = base.join("index/simple");
    std::fs::read_dir(&simple)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| {
                    std::fs::read_dir(e.path())
                        .unwrap()
                        .flatten()
                        .filter(|f| f.file_name() != "index.html")
                        .count()
                })
                .sum()
        })
        .unwrap_or(0)
}

/// `resume` finishes the release and every file is on the index once.
fn resume_converges(repo: &Path, base: &Path) {
    let out = release(repo, &python()).arg("resume").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(index_files(base), 6);
}

#[test]
#[cfg(feature = "failpoints")]
fn ctrl_c_during_publish_exits_130_and_resume_converges() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = release::demo::make_sample(tmp.path()).unwrap();
    let out = release(&repo, &python())
        .args(["start", "0.2.0.pre0"])
        .env("RELEASE_FAILPOINT", "publish.after_upload@1:interrupt")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("release resume"), "{err}");
    let j = journal(&repo);
    let (state, error) = step_state(&j, "publish");
    assert_eq!(state, "failed");
    assert!(error.contains("interrupted"), "{error}");
    assert_eq!(step_state(&j, "audit").0, "pending");
    resume_converges(&repo, tmp.path());
}

#[test]
fn real_sigint_during_the_build_is_recorded_and_resumable() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = release::demo::make_sample(tmp.path()).unwrap();
    // A python that takes its time, so the signal lands during the build.
    let slow = tmp.path().join("slow-python");
    std::fs::write(
        &slow,
        format!("#!/bin/sh\nsleep 1\nexec '{}' \"$@\"\n", python().display()),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let child = release(&repo, &slow)
        .args(["start", "0.2.0.pre0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the build is running, then Ctrl-C the runner alone.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running = std::fs::read_to_string(repo.join(".release/state.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|j| step_state(&j, "build").0 == "running");
        if running {
            break;
        }
        assert!(Instant::now() < deadline, "the build never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("release resume"), "{err}");
    let j = journal(&repo);
    assert_eq!(step_state(&j, "build").0, "failed");
    resume_converges(&repo, tmp.path());
}
