//! The crash matrix (issues 3, 4, 7): kill the runner at every failpoint the
//! binary lists (`release debug failpoints`), at every journal write, after
//! every upload and every announcement; one `resume` must then end in exactly
//! the state of an uninterrupted release. Run twice: on the file:// index, and
//! on a real pypiserver behind a proxy that counts what reaches it; both with
//! the loopback Slack and GitHub stand-ins.

#![cfg(feature = "failpoints")]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use common::apis::Apis;
use common::pypi::{Pypi, PASSWORD, USER};
use common::{assert_released, assert_released_git, assert_valid, Run, Sample};

#[derive(Clone, Copy)]
enum Target<'a> {
    File,
    Pypi(&'a Pypi),
}

/// Versions for cases sharing one pypiserver must differ (file names do).
static CASE: AtomicUsize = AtomicUsize::new(0);

/// A sample announcing to its own loopback APIs and publishing to `target`;
/// returns it with the version this case releases.
fn sample(target: Target) -> (Sample, Apis, String) {
    let apis = Apis::start();
    let (s, version) = match target {
        // Credentials the file:// index does not use, for the secret scan.
        Target::File => (
            Sample::new().with_credentials(USER, PASSWORD),
            "0.2.0.pre0".to_string(),
        ),
        Target::Pypi(pypi) => (
            Sample::new().on_pypi(pypi),
            format!("0.2.{}.pre0", CASE.fetch_add(1, Ordering::SeqCst)),
        ),
    };
    (s.announce_to(&apis), apis, version)
}

/// An uninterrupted release's end state, every upload and announcement once.
fn assert_done(s: &Sample, apis: &Apis, target: Target, version: &str, base: &str) {
    match target {
        Target::File => assert_released(s, version, base),
        Target::Pypi(pypi) => {
            let j = assert_released_git(s, version, base);
            for f in j["publish"]["ledger"].as_array().unwrap() {
                let name = f["filename"].as_str().unwrap();
                assert_eq!(
                    pypi.log().delivered(name),
                    1,
                    "{name} reached the index once"
                );
            }
            s.ok(&["audit", version]);
        }
    }
    assert_eq!(apis.posts(), 1, "one Slack post");
    assert_eq!(apis.releases(), 1, "one GitHub release");
}

/// Every failpoint name compiled into the binary.
fn failpoints() -> Vec<String> {
    let out = common::release_cmd(&["debug", "failpoints"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn died_at(r: &Run, spec: &str) -> bool {
    let name = spec.split('@').next().unwrap_or(spec);
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

/// Checked apart from `assert_done`, by other means, so that the summary's
/// count of converged runs can disagree with the count of kills: the remote
/// has the tag on the branch tip, the journal is archived as done, and the
/// index side holds six files for the version.
fn world_converged(s: &Sample, target: Target, version: &str) -> bool {
    let tag = common::git_bare(&s.origin, &["rev-parse", &format!("{version}^{{commit}}")]);
    let tip = common::git_bare(&s.origin, &["rev-parse", "master"]);
    let archived = s
        .history()
        .iter()
        .any(|p| p.to_string_lossy().contains(&format!("{version}-done-")));
    let norm = release::version::ReleaseVersion::parse(version)
        .map(|v| v.normalized())
        .unwrap_or_default();
    let files = match target {
        Target::File => common::index_listing(&s.index)
            .iter()
            .filter(|f| f.contains(&format!("-{norm}")))
            .count(),
        Target::Pypi(pypi) => pypi.log().delivered_for(&norm).len(),
    };
    tag.is_some() && tag == tip && archived && s.journal().is_none() && files == 6
}

/// What one killed run showed: did it die at the failpoint, and did the world
/// end as an uninterrupted release's (checked by `world_converged`)?
type Outcome = (bool, bool);

/// A clean start killed at `spec`.
fn start_killed_at(target: Target, spec: &str) -> Outcome {
    let (s, apis, version) = sample(target);
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.run_failing(&["start", &version], spec);
    if r.ok() {
        // Not reached in this run: the release simply finished.
        assert_done(&s, &apis, target, &version, &base);
        return (false, false);
    }
    assert!(
        died_at(&r, spec),
        "{spec}: unexpected failure:\n{}\n{}",
        r.stdout,
        r.stderr
    );
    if s.journal().is_some() {
        converge(&s);
    } else if !s
        .history()
        .iter()
        .any(|p| p.to_string_lossy().contains(&format!("{version}-done")))
    {
        // Killed before the journal existed: nothing was done.
        s.ok(&["start", &version]);
    }
    let converged = world_converged(&s, target, &version);
    assert_done(&s, &apis, target, &version, &base);
    (true, converged)
}

/// Drift, then `recover` killed at `spec`, recover again, resume.
fn recover_killed_at(target: Target, spec: &str) -> Outcome {
    let (s, apis, version) = sample(target);
    assert!(s
        .run_failing(&["start", &version], "tag.after_create")
        .code
        .is_none());
    let theirs = s.colleague_pushes(None);
    assert_eq!(s.run(&["resume"]).code, Some(1));
    let r = s.run_failing(&["recover"], spec);
    let died = died_at(&r, spec);
    if died {
        assert_valid(&s.journal().unwrap());
        s.ok(&["recover"]);
    }
    converge(&s);
    let converged = world_converged(&s, target, &version);
    assert_done(&s, &apis, target, &version, &theirs);
    (died, converged)
}

/// `abort` killed at `spec`, abort again, then release from scratch.
fn abort_killed_at(target: Target, spec: &str) -> Outcome {
    let (s, apis, version) = sample(target);
    let base = s.git(&["rev-parse", "HEAD"]);
    assert!(s
        .run_failing(&["start", &version], "tag.after_create")
        .code
        .is_none());
    let died = died_at(&s.run_failing(&["abort"], spec), spec);
    if died {
        s.ok(&["abort"]);
    }
    assert_eq!(s.git(&["rev-parse", "HEAD"]), base);
    assert_eq!(s.git(&["tag"]), "");
    s.ok(&["start", &version]);
    let converged = world_converged(&s, target, &version);
    assert_done(&s, &apis, target, &version, &base);
    (died, converged)
}

/// Every failpoint, the counted ones at every N a run reaches.
fn matrix(label: &str, target: Target) {
    // `resume.*` points are on the way of a fresh clone's `resume VERSION`
    // (tests/from_ci.rs, tests/new_doors.rs); `index.*` ones inside the
    // file:// index only; `pr.*` ones on the way of a release through a
    // pull request (tests/pull_request.rs); `bump.after_next_dev_*` ones
    // on the way of `[release] next_dev` (tests/dev_versions.rs);
    // `bump.in_hook` on the way of a release with bump hooks (tests/hooks.rs).
    let names: Vec<String> = failpoints()
        .into_iter()
        .filter(|n| !n.starts_with("resume."))
        .filter(|n| !n.starts_with("pr."))
        .filter(|n| !n.starts_with("bump.after_next_dev"))
        .filter(|n| n != "bump.in_hook")
        .filter(|n| matches!(target, Target::File) || !n.starts_with("index."))
        .collect();
    assert!(names.len() >= 10, "{names:?}");
    let counted = [
        "journal.after_write",
        "journal.before_rename",
        "publish.after_upload",
        "index.before_listing",
        "announce.after_post",
    ];
    let hit: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let runs = AtomicUsize::new(0);
    let converged = AtomicUsize::new(0);
    let family = |name: &str| {
        for n in 1.. {
            let spec = format!("{name}@{n}");
            runs.fetch_add(1, Ordering::SeqCst);
            let (died, ok) = if name.starts_with("recover.") {
                recover_killed_at(target, &spec)
            } else if name.starts_with("abort.") {
                abort_killed_at(target, &spec)
            } else {
                start_killed_at(target, &spec)
            };
            if died {
                hit.lock().unwrap().push(spec);
                if ok {
                    converged.fetch_add(1, Ordering::SeqCst);
                }
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
                family(name);
            });
        }
    });
    let hit = hit.into_inner().unwrap();
    let missed: Vec<&String> = names
        .iter()
        .filter(|n| !hit.iter().any(|h| h.split('@').next() == Some(n.as_str())))
        .collect();
    let converged = converged.into_inner();
    println!(
        "crash matrix ({label}): {converged}/{} killed runs converged ({} failpoints, {} reached, {} runs)",
        hit.len(),
        names.len(),
        names.len() - missed.len(),
        runs.load(Ordering::SeqCst)
    );
    assert!(missed.is_empty(), "failpoints no test reaches: {missed:?}");
    assert_eq!(converged, hit.len(), "every killed run converged");
}

#[test]
fn crash_matrix_on_the_file_index() {
    matrix("file:// index", Target::File);
}

#[test]
fn crash_matrix_on_pypiserver() {
    let tmp = tempfile::tempdir().unwrap();
    let pypi = Pypi::start(tmp.path());
    matrix("pypiserver", Target::Pypi(&pypi));
}
