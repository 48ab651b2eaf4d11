//! The crash matrix (issues 3, 4, 7): kill the runner at every failpoint the
//! binary lists (`release debug failpoints`), at every journal write, and
//! after every upload; `resume` (repeatedly, if it dies again) must end in
//! exactly the state of an uninterrupted release.

#![cfg(feature = "failpoints")]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use assert_cmd::prelude::*;
use common::apis::Apis;
use common::{assert_released, assert_valid, Run, Sample};

/// The sample, announcing to its own loopback APIs.
fn sample() -> (Sample, Apis) {
    let mut s = Sample::new();
    let apis = Apis::start();
    s.announce_to(&apis);
    (s, apis)
}

/// An uninterrupted release's end state, announcements included.
fn assert_done(s: &Sample, apis: &Apis, version: &str, base: &str) {
    assert_released(s, version, base);
    assert_eq!(apis.posts(), 1, "one Slack post");
    assert_eq!(apis.releases(), 1, "one GitHub release");
}

/// Every failpoint name compiled into the binary.
fn failpoints() -> Vec<String> {
    let out = std::process::Command::cargo_bin("release")
        .unwrap()
        .args(["debug", "failpoints"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn died_at(r: &Run, name: &str) -> bool {
    r.code.is_none() && r.stderr.contains(&format!("failpoint {name}: aborting"))
}

/// Resume (without failpoints) to the end; the journal left by the death must
/// be valid.
fn converge(s: &Sample) {
    if let Some(j) = s.journal() {
        assert_valid(&j);
    }
    let r = s.run(&["resume"]);
    assert!(
        r.ok(),
        "resume did not converge: {:?}\n{}\n{}",
        r.code,
        r.stdout,
        r.stderr
    );
}

/// One case of a clean start killed at `spec`. Returns whether it died there.
fn start_killed_at(spec: &str) -> bool {
    let name = spec.split('@').next().unwrap_or(spec);
    let (s, apis) = sample();
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.run_failing(&["start", "0.2.0.pre0"], spec);
    if r.ok() {
        // Not reached in this run: the release simply finished.
        assert_done(&s, &apis, "0.2.0.pre0", &base);
        return false;
    }
    assert!(
        died_at(&r, name),
        "{spec}: unexpected failure:\n{}\n{}",
        r.stdout,
        r.stderr
    );
    if s.journal().is_some() {
        converge(&s);
    } else {
        // Killed before the journal existed (or after its archive).
        if !s
            .history()
            .iter()
            .any(|p| p.to_string_lossy().contains("0.2.0.pre0-done"))
        {
            s.ok(&["start", "0.2.0.pre0"]);
        }
    }
    assert_done(&s, &apis, "0.2.0.pre0", &base);
    true
}

/// Drift, then `recover` killed at `spec`, recover again, resume.
fn recover_killed_at(spec: &str) -> bool {
    let (s, apis) = sample();
    let r = s.run_failing(&["start", "0.2.0.pre0"], "tag.after_create");
    assert!(r.code.is_none());
    let theirs = s.colleague_pushes(None);
    assert_eq!(s.run(&["resume"]).code, Some(1));
    let r = s.run_failing(&["recover"], spec);
    let died = died_at(&r, spec.split('@').next().unwrap_or(spec));
    if died {
        assert_valid(&s.journal().unwrap());
        s.ok(&["recover"]);
    }
    converge(&s);
    assert_done(&s, &apis, "0.2.0.pre0", &theirs);
    died
}

/// `abort` killed at `spec`, abort again, then release from scratch.
fn abort_killed_at(spec: &str) -> bool {
    let (s, apis) = sample();
    let base = s.git(&["rev-parse", "HEAD"]);
    assert!(s
        .run_failing(&["start", "0.2.0.pre0"], "tag.after_create")
        .code
        .is_none());
    let r = s.run_failing(&["abort"], spec);
    let died = died_at(&r, spec.split('@').next().unwrap_or(spec));
    if died {
        s.ok(&["abort"]);
    }
    assert_eq!(s.git(&["rev-parse", "HEAD"]), base);
    assert_eq!(s.git(&["tag"]), "");
    s.ok(&["start", "0.2.0.pre0"]);
    assert_done(&s, &apis, "0.2.0.pre0", &base);
    died
}

#[test]
fn crash_matrix_converges_at_every_failpoint() {
    let names = failpoints();
    assert!(names.len() >= 10, "{names:?}");
    // Counted families are tried at increasing N until a run no longer dies.
    let counted = [
        "journal.after_write",
        "journal.before_rename",
        "publish.after_upload",
    ];
    let hit: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let cases = AtomicUsize::new(0);
    let run_family = |name: &str| {
        for n in 1.. {
            let spec = format!("{name}@{n}");
            cases.fetch_add(1, Ordering::SeqCst);
            let died = if name.starts_with("recover.") {
                recover_killed_at(&spec)
            } else if name.starts_with("abort.") {
                abort_killed_at(&spec)
            } else {
                start_killed_at(&spec)
            };
            if died {
                hit.lock().unwrap().push(spec);
            }
            if !died || !counted.contains(&name) {
                break;
            }
            assert!(n < 200, "{name} never stopped firing");
        }
    };
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(name) = names.get(i) else { break };
                run_family(name);
            });
        }
    });
    let hit = hit.into_inner().unwrap();
    let missed: Vec<&String> = names
        .iter()
        .filter(|n| !hit.iter().any(|h| h.split('@').next() == Some(n.as_str())))
        .collect();
    let cases = cases.load(Ordering::SeqCst);
    println!(
        "crash matrix: {}/{} converged ({} failpoints, {} kill points, {} runs)",
        hit.len(),
        hit.len(),
        names.len(),
        hit.len(),
        cases
    );
    assert!(missed.is_empty(), "failpoints no test reaches: {missed:?}");
}
