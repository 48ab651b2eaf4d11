//! Ctrl-C (issue 7): the journal write in progress finishes, the running step
//! is recorded as interrupted, the message says how to resume, exit 130; and
//! `resume` then converges.

mod common;
use common::{index_files, python, Run, Sample};

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// `resume` finishes the release and every file is on the index once.
fn resume_converges(s: &Sample) {
    let r = s.run(&["resume"]);
    assert!(r.ok(), "{}", r.stderr);
    assert_eq!(index_files(&s.index).len(), 6);
}

#[test]
#[cfg(feature = "failpoints")]
fn ctrl_c_during_publish_exits_130_and_resume_converges() {
    let s = Sample::new();
    let r = s.run_failing(&["start", "0.2.0.pre0"], "publish.after_upload@1:interrupt");
    let err = &r.stderr;
    assert_eq!(r.code, Some(130), "{err}");
    assert!(err.contains("release resume"), "{err}");
    let j = s.journal().unwrap();
    let (state, error) = step_state(&j, "publish");
    assert_eq!(state, "failed");
    assert!(error.contains("interrupted"), "{error}");
    assert_eq!(step_state(&j, "audit").0, "pending");
    resume_converges(&s);
}

#[test]
fn real_sigint_during_the_build_is_recorded_and_resumable() {
    let s = Sample::new();
    // A python that takes its time, so the signal lands during the build.
    let slow = s.base.join("slow-python");
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
    let mut cmd = s.cmd(&["start", "0.2.0.pre0"]);
    cmd.env("PYTHON", &slow);
    // Wait until the build is running, then Ctrl-C the runner alone.
    let r = s.run_with(cmd, |mut cmd| {
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let running = std::fs::read_to_string(s.state_path())
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
        Run::output_of(child)
    });
    let err = &r.stderr;
    assert_eq!(r.code, Some(130), "{err}");
    assert!(err.contains("release resume"), "{err}");
    let j = s.journal().unwrap();
    assert_eq!(step_state(&j, "build").0, "failed");
    resume_converges(&s);
}
