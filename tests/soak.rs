//! Random-kill soak (issue 7): start a release, SIGKILL it after a random
//! delay, resume (killing again at random, a bounded number of times) until it
//! finishes; then check the invariants of an uninterrupted release. Bounded:
//! 30 runs by default (`RELEASE_SOAK_RUNS`), each against the same real
//! pypiserver behind a counting proxy, each its own version so uploads can be
//! counted per file.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::apis::Apis;
use common::pypi::Pypi;
use common::{run_or_kill, Sample};

struct Outcome {
    kills: usize,
    /// Ref lock files a killed run left, which a later run removed.
    cleared: usize,
}

fn one_run(i: usize, pypi: &Pypi, apis: &Apis, rng: &mut fastrand::Rng) -> Outcome {
    let s = Sample::new().on_pypi(pypi).announce_to(apis);
    let base_commit = s.git(&["rev-parse", "HEAD"]);
    let version = format!("0.2.{i}.pre0");
    let run = |args: &[&str], kill: Option<Duration>| {
        let r = s.run_with(s.cmd(args), run_or_kill(kill));
        (r.code, format!("{}{}", r.stdout, r.stderr))
    };

    let mut kills = 0;
    let mut cleared = 0;
    let count = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("removed ") && l.contains(".lock, "))
            .count()
    };
    let delay = Duration::from_millis(rng.u64(0..900));
    let (mut code, mut text) = run(&["start", &version], Some(delay));
    if code.is_none() {
        kills += 1;
    }
    cleared += count(&text);
    if code == Some(1) && !s.state_path().exists() {
        panic!("run {i}: start refused:\n{text}");
    }
    let mut tries = 0;
    while code != Some(0) {
        tries += 1;
        assert!(tries < 20, "run {i} did not converge:\n{text}");
        // Kill the first few resumes too, then let one finish.
        let kill = (tries <= 2 && rng.bool()).then(|| Duration::from_millis(rng.u64(0..800)));
        // Killed before the journal existed (during preflight): nothing was
        // done, so start again; otherwise resume.
        let journaled = s.state_path().exists() || s.repo.join(".release/history").is_dir();
        let args: Vec<&str> = if journaled {
            vec!["resume"]
        } else {
            vec!["start", &version]
        };
        (code, text) = run(&args, kill);
        if code.is_none() {
            kills += 1;
        }
        cleared += count(&text);
        let finished = s.history().iter().any(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with(&format!("{version}-done-"))
        });
        if code == Some(1) && text.contains("no release in progress") && finished {
            // Killed after the final archive: it had finished.
            code = Some(0);
        }
    }

    // One release commit on the base, at HEAD and on the remote; one tag on it.
    assert_eq!(
        s.git(&["rev-parse", "HEAD~1"]),
        base_commit,
        "run {i}: more than one commit"
    );
    assert_eq!(s.git(&["log", "-1", "--format=%s"]), version);
    s.assert_pushed(&version);
    assert_eq!(s.git(&["tag"]), version);
    assert!(!s.state_path().exists(), "run {i}: journal not archived");
    pypi.assert_each_file_once(&format!("0.2.{i}rc0"), &format!("run {i}: "));
    Outcome { kills, cleared }
}

#[test]
fn random_kill_soak_converges() {
    let runs: usize = std::env::var("RELEASE_SOAK_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let seed: u64 = std::env::var("RELEASE_SOAK_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    let tmp = tempfile::tempdir().unwrap();
    let pypi = Pypi::start(&tmp.path().join("server"));
    let apis = Apis::start();
    let next = AtomicUsize::new(0);
    let kills = AtomicUsize::new(0);
    let cleared = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= runs {
                    break;
                }
                let mut rng = fastrand::Rng::with_seed(seed.wrapping_add(i as u64));
                let o = one_run(i, &pypi, &apis, &mut rng);
                kills.fetch_add(o.kills, Ordering::SeqCst);
                cleared.fetch_add(o.cleared, Ordering::SeqCst);
            });
        }
    });
    let (converged, duplicates) = pypi.log().soak_counts(runs, 6, |i| format!("0.2.{i}rc0"));
    let (posts, releases) = apis.with(|st| (st.messages.len(), st.releases.len()));
    println!(
        "random kill: {converged}/{runs} runs converged, {} kills, {} ref lock files left by a kill removed, {duplicates} duplicate uploads, {} duplicate announcements (seed {seed})",
        kills.load(Ordering::SeqCst),
        cleared.load(Ordering::SeqCst),
        (posts + releases).saturating_sub(2 * runs)
    );
    assert_eq!(converged, runs);
    assert_eq!((posts, releases), (runs, runs));
    assert_eq!(duplicates, 0);
    assert_eq!(pypi.log().delivered_uploads().len(), runs * 6);
}
