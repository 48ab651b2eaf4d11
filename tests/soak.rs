//! Random-kill soak (issue 7): start a release, SIGKILL it after a random
//! delay, resume (killing again at random, a bounded number of times) until it
//! finishes; then check the invariants of an uninterrupted release. Bounded:
//! 30 runs by default (`RELEASE_SOAK_RUNS`), each against the same real
//! pypiserver behind a counting proxy, each its own version so uploads can be
//! counted per file.

mod common;
mod pypi;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use common::apis::{Apis, GITHUB_TOKEN, SLACK_TOKEN};
use common::git;
use pypi::{Proxy, PypiServer, PASSWORD, USER};

fn release(repo: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("release").unwrap();
    cmd.arg("--repo")
        .arg(repo)
        .args(args)
        .env("PYTHON", pypi::python())
        .env("TWINE_USERNAME", USER)
        .env("TWINE_PASSWORD", PASSWORD)
        .env("SLACK_RELEASE_BOT_TOKEN", SLACK_TOKEN)
        .env("GITHUB_TOKEN", GITHUB_TOKEN)
        .env_remove("TWINE_REPOSITORY_URL")
        .env_remove("RELEASE_FAILPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Run to the end, or SIGKILL after `kill_after`. Returns Some(exit code) if
/// it ended by itself.
fn run_or_kill(mut cmd: Command, kill_after: Option<Duration>) -> (Option<i32>, String) {
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return (status.code(), text);
        }
        if kill_after.is_some_and(|d| started.elapsed() >= d) {
            child.kill().unwrap(); // SIGKILL
            let _ = child.wait();
            return (None, String::new());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

struct Outcome {
    kills: usize,
}

fn one_run(i: usize, base: &Path, proxy: &Proxy, apis: &Apis, rng: &mut fastrand::Rng) -> Outcome {
    let dir = base.join(format!("run{i}"));
    std::fs::create_dir_all(&dir).unwrap();
    let repo = release::demo::make_sample(&dir).unwrap();
    let toml = repo.join("release.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let text: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("upload_url") {
                format!("upload_url = \"{}\"\nbackoff_ms = 20", proxy.url())
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&toml, text.join("\n") + "\n" + &apis.config()).unwrap();
    git(&repo, &["commit", "-qam", "soak index"]);
    git(&repo, &["push", "-q", "origin", "master"]);
    let base_commit = git(&repo, &["rev-parse", "HEAD"]);
    let version = format!("0.2.{i}.pre0");

    let mut kills = 0;
    let delay = Duration::from_millis(rng.u64(0..900));
    let (mut code, mut text) = run_or_kill(release(&repo, &["start", &version]), Some(delay));
    if code.is_none() {
        kills += 1;
    }
    if code == Some(1) && !repo.join(".release/state.json").exists() {
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
        let journaled =
            repo.join(".release/state.json").exists() || repo.join(".release/history").is_dir();
        let args: Vec<&str> = if journaled {
            vec!["resume"]
        } else {
            vec!["start", &version]
        };
        (code, text) = run_or_kill(release(&repo, &args), kill);
        if code.is_none() {
            kills += 1;
        }
        let finished = std::fs::read_dir(repo.join(".release/history"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with(&format!("{version}-done-"))
            });
        if code == Some(1) && text.contains("no release in progress") && finished {
            // Killed after the final archive: it had finished.
            code = Some(0);
        }
    }

    // One release commit on the base, at HEAD and on the remote; one tag on it.
    let head = git(&repo, &["rev-parse", "HEAD"]);
    assert_eq!(
        git(&repo, &["rev-parse", "HEAD~1"]),
        base_commit,
        "run {i}: more than one commit"
    );
    assert_eq!(git(&repo, &["log", "-1", "--format=%s"]), version);
    let origin = dir.join("origin.git");
    let remote = Command::new("git")
        .arg("--git-dir")
        .arg(&origin)
        .args(["rev-parse", "master", &format!("{version}^{{commit}}")])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&remote.stdout).trim(),
        format!("{head}\n{head}")
    );
    assert_eq!(git(&repo, &["tag"]), version);
    assert!(
        !repo.join(".release/state.json").exists(),
        "run {i}: journal not archived"
    );
    let norm = format!("0.2.{i}rc0");
    let delivered: Vec<String> = proxy
        .log
        .delivered_uploads()
        .into_iter()
        .filter(|f| f.contains(&format!("-{norm}")))
        .collect();
    assert_eq!(delivered.len(), 6, "run {i}: uploads {delivered:?}");
    let mut unique = delivered.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        6,
        "run {i}: a file was uploaded twice: {delivered:?}"
    );
    Outcome { kills }
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
    let server = PypiServer::start(&tmp.path().join("server"));
    let proxy = Proxy::start(server.port);
    let apis = Apis::start();
    let next = AtomicUsize::new(0);
    let kills = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= runs {
                    break;
                }
                let mut rng = fastrand::Rng::with_seed(seed.wrapping_add(i as u64));
                let o = one_run(i, tmp.path(), &proxy, &apis, &mut rng);
                kills.fetch_add(o.kills, Ordering::SeqCst);
            });
        }
    });
    let all = proxy.log.delivered_uploads();
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    let (posts, releases) = apis.with(|st| (st.messages.len(), st.releases.len()));
    // Counted apart from the per-run assertions: runs whose version has all
    // six files delivered to the index.
    let converged = (0..runs)
        .filter(|i| {
            let norm = format!("-0.2.{i}rc0");
            unique.iter().filter(|f| f.contains(&norm)).count() == 6
        })
        .count();
    println!(
        "random kill: {converged}/{runs} runs converged, {} kills, {} duplicate uploads, {} duplicate announcements (seed {seed})",
        kills.load(Ordering::SeqCst),
        all.len() - unique.len(),
        (posts + releases).saturating_sub(2 * runs)
    );
    assert_eq!(converged, runs);
    assert_eq!((posts, releases), (runs, runs));
    assert_eq!(all.len(), unique.len());
    assert_eq!(all.len(), runs * 6);
}
