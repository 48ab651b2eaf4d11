//! Releasing from CI (issue 14): a runner that vanishes with its clone is
//! finished from a new clone with `release resume VERSION`, and one release
//! at a time across machines through `refs/release/lock` on the remote.

mod common;

#[cfg(feature = "failpoints")]
use std::sync::atomic::{AtomicUsize, Ordering};
#[cfg(feature = "failpoints")]
use std::time::Duration;

#[cfg(feature = "failpoints")]
use common::{apis::Apis, pypi::Pypi, run_or_kill};
use common::{git_bare, Run, Sample};

/// The lock ref on the origin, if any.
fn lock_on_origin(s: &Sample) -> Option<String> {
    git_bare(
        &s.origin,
        &["rev-parse", "--verify", "-q", "refs/release/lock"],
    )
    .filter(|o| !o.is_empty())
}

/// A kill after the push, the clone gone: a fresh clone is refused by the
/// dead runner's lock (named), `unlock` removes it, and `resume VERSION`
/// finishes the release as an uninterrupted one would.
#[cfg(feature = "failpoints")]
#[test]
fn a_fresh_clone_finishes_a_release_whose_runner_died_after_the_push() {
    let pypi_dir = tempfile::tempdir().unwrap();
    let pypi = Pypi::start(pypi_dir.path());
    let apis = Apis::start();
    let s = Sample::new().on_pypi(&pypi).announce_to(&apis);
    let base = s.git(&["rev-parse", "HEAD"]);
    let killed = s.run_failing(&["start", "0.2.0.pre0"], "publish.after_upload");
    assert_eq!(killed.code, None, "{}{}", killed.stdout, killed.stderr);
    assert!(lock_on_origin(&s).is_some());

    s.fresh_clone();
    let plain = s.run(&["resume"]);
    assert_eq!(plain.code, Some(1));
    assert!(
        plain.stderr.contains("release resume VERSION"),
        "{}",
        plain.stderr
    );
    let before = s.snapshot();
    let refused = s.run(&["resume", "0.2.0.pre0"]);
    assert_eq!(refused.code, Some(1));
    assert_eq!(s.snapshot(), before, "refused, nothing changed");
    for said in [
        "another release holds the lock",
        "0.2.0.pre0 by",
        "release unlock",
    ] {
        assert!(refused.stderr.contains(said), "{said}:\n{}", refused.stderr);
    }
    let unlocked = s.ok(&["unlock"]);
    assert!(
        unlocked.stdout.contains("held by 0.2.0.pre0 by"),
        "{}",
        unlocked.stdout
    );
    let done = s.ok(&["resume", "0.2.0.pre0"]);
    assert!(
        done.stdout.contains("rebuilding the journal"),
        "{}",
        done.stdout
    );
    assert!(
        done.stdout
            .contains("already served by the index, kept as served"),
        "{}",
        done.stdout
    );

    pypi.assert_each_file_once("0.2.0rc0", "");
    assert_eq!((apis.posts(), apis.releases()), (1, 1));
    assert_eq!(s.git(&["rev-parse", "0.2.0.pre0^{commit}~1"]), base);
    assert_eq!(
        git_bare(&s.origin, &["tag"]).unwrap_or_default(),
        "0.2.0.pre0"
    );
    assert_eq!(lock_on_origin(&s), None, "the lock is given back");
    s.ok(&["audit", "0.2.0.pre0"]);
    // Asked again, it is done: nothing more happens.
    let again = s.ok(&["resume", "0.2.0.pre0"]);
    assert!(
        again.stdout.contains("released already"),
        "{}",
        again.stdout
    );
    assert_eq!((apis.posts(), apis.releases()), (1, 1));
}

/// Before the push nothing reached the world: `resume VERSION` in a new
/// clone says so and names `release start`, which works once the dead
/// runner's lock is removed.
#[cfg(feature = "failpoints")]
#[test]
fn before_the_push_a_fresh_clone_starts_again() {
    let s = Sample::new();
    let killed = s.run_failing(&["start", "0.2.0.pre0"], "tag.after_create");
    assert_eq!(killed.code, None);
    s.fresh_clone();
    let r = s.run(&["resume", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("release start 0.2.0.pre0"),
        "{}",
        r.stderr
    );
    let before = s.snapshot();
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("release unlock"), "{}", r.stderr);
    assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);
    assert_eq!(s.snapshot(), before);
    s.ok(&["unlock"]);
    s.ok(&["start", "0.2.0.pre0"]);
    common::assert_released(&s, "0.2.0.pre0", &s.git(&["rev-parse", "HEAD~1"]));
    assert_eq!(lock_on_origin(&s), None);
}

/// Two machines start the same release at once: exactly one proceeds; the
/// other is refused by the lock (or, if it came last, by the tag) and
/// changes nothing.
#[test]
fn two_machines_starting_at_once_one_proceeds() {
    let s = Sample::new();
    let second = s.base.join("second");
    s.clone_at(&second);
    let (a, b) = std::thread::scope(|scope| {
        let one = scope.spawn(|| s.run(&["start", "0.2.0.pre0"]));
        let two = scope.spawn(|| s.run_cmd(s.cmd_in(&second, &["start", "0.2.0.pre0"])));
        (one.join().unwrap(), two.join().unwrap())
    });
    let runs: [&Run; 2] = [&a, &b];
    let ok = runs.iter().filter(|r| r.code == Some(0)).count();
    assert_eq!(
        ok, 1,
        "exactly one proceeds:\n{}\n{}\n---\n{}\n{}",
        a.stdout, a.stderr, b.stdout, b.stderr
    );
    let loser = runs.iter().find(|r| r.code != Some(0)).unwrap();
    assert_eq!(loser.code, Some(1));
    assert!(
        loser.stderr.contains("another release holds the lock")
            || loser.stderr.contains("already exists on `origin`"),
        "{}",
        loser.stderr
    );
    assert!(
        loser.stderr.contains("nothing was changed"),
        "{}",
        loser.stderr
    );
    assert_eq!(
        git_bare(&s.origin, &["tag"]).unwrap_or_default(),
        "0.2.0.pre0"
    );
    assert_eq!(lock_on_origin(&s), None);
}

/// `unlock` with no lock says so; it never touches a lock of a release
/// running in this clone.
#[test]
fn unlock_says_what_it_removes() {
    let s = Sample::new();
    let r = s.ok(&["unlock"]);
    assert!(r.stdout.contains("nothing to remove"), "{}", r.stdout);
}

/// How many runs a CI soak makes (`RELEASE_CI_SOAK_RUNS`, default 20).
#[cfg(feature = "failpoints")]
fn soak_runs() -> usize {
    std::env::var("RELEASE_CI_SOAK_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// Run `run(i, rng)` for every `i` below `runs`, two at a time (the
/// machine's cores), each with a random source seeded from `seed` and `i`.
#[cfg(feature = "failpoints")]
fn two_at_a_time(runs: usize, seed: u64, run: impl Fn(usize, &mut fastrand::Rng) + Sync) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= runs {
                    break;
                }
                run(i, &mut fastrand::Rng::with_seed(seed + i as u64));
            });
        }
    });
}

/// Random kills after the push, the clone deleted each time, finished from
/// new clones with `resume VERSION` (`RELEASE_CI_SOAK_RUNS`, default 20).
#[cfg(feature = "failpoints")]
#[test]
fn ci_soak_kills_after_the_push_and_finishes_from_new_clones() {
    let runs = soak_runs();
    let tmp = tempfile::tempdir().unwrap();
    let pypi = Pypi::start(&tmp.path().join("server"));
    let apis = Apis::start();
    let fresh_clones = AtomicUsize::new(0);
    two_at_a_time(runs, 0xc1, |i, rng| {
        let clones = soak_run(i, &pypi, &apis, rng);
        fresh_clones.fetch_add(clones, Ordering::SeqCst);
    });
    let (audited, duplicates) = pypi.log().soak_counts(runs, 6, |i| format!("0.3.{i}rc0"));
    let (posts, releases) = (apis.posts(), apis.releases());
    println!(
        "ci soak: {audited}/{runs} runs with every file on the index, {} fresh clones, {duplicates} duplicate uploads, {} duplicate announcements",
        fresh_clones.load(Ordering::SeqCst),
        (posts + releases).saturating_sub(2 * runs)
    );
    assert_eq!(audited, runs);
    assert!(fresh_clones.load(Ordering::SeqCst) >= runs);
    assert_eq!(duplicates, 0, "no file uploaded twice");
    assert_eq!((posts, releases), (runs, runs), "each announcement once");
}

/// One soak run; returns how many fresh clones it took.
#[cfg(feature = "failpoints")]
fn soak_run(i: usize, pypi: &Pypi, apis: &Apis, rng: &mut fastrand::Rng) -> usize {
    let s = Sample::new().on_pypi(pypi).announce_to(apis);
    let version = format!("0.3.{i}.pre0");
    let pushed = s.run_failing(&["start", &version], "push.after_tag");
    assert_eq!(
        pushed.code, None,
        "run {i}: {}{}",
        pushed.stdout, pushed.stderr
    );
    // The runner goes on a little, then dies with its clone; each new
    // runner may die too, until one finishes.
    let first_kill = Duration::from_millis(rng.u64(0..1500));
    let mut clones = follow_to_the_end(
        &s,
        i,
        &version,
        |attempt, _| match attempt {
            0 => Some(first_kill),
            1 | 2 => rng.bool().then(|| Duration::from_millis(rng.u64(0..1500))),
            _ => None,
        },
        |_| {},
    );
    if clones == 0 {
        // The first runner finished before its kill: the clone goes anyway,
        // and a new runner asking for the release finds it done.
        s.fresh_clone();
        clones += 1;
        s.ok(&["resume", &version]);
    }
    s.ok(&["audit", &version]);
    assert_eq!(
        git_bare(&s.origin, &["tag"]).unwrap_or_default(),
        version,
        "run {i}"
    );
    assert_eq!(lock_on_origin(&s), None, "run {i}: lock given back");
    clones
}

/// Runners follow what they are told until one finishes the release: each
/// starts as `prepare(attempt, cmd)` says (a failpoint in its environment,
/// and how long before it is killed), `seen` looks at what it printed; one
/// killed loses its clone, and the next runs `unlock` (the dead one's lock),
/// then `resume VERSION` in a new clone. Returns how many fresh clones it took.
#[cfg(feature = "failpoints")]
fn follow_to_the_end(
    s: &Sample,
    i: usize,
    version: &str,
    mut prepare: impl FnMut(usize, &mut std::process::Command) -> Option<Duration>,
    mut seen: impl FnMut(&Run),
) -> usize {
    let mut args = vec!["resume".to_string()];
    let mut clones = 0;
    for attempt in 0.. {
        assert!(attempt < 12, "run {i} did not converge");
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = s.cmd(&argv);
        let kill = prepare(attempt, &mut cmd);
        let r = s.run_with(cmd, run_or_kill(kill));
        seen(&r);
        if r.code == Some(0) {
            break;
        }
        // A runner killed while writing the lock ref into the origin (a
        // path) leaves git's `.lock` file there; the message names it, and
        // the next runner deletes it as told (no other process runs there).
        if let Some(stale) = r
            .stderr
            .split("a lock file ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .filter(|_| r.stderr.contains("delete that file"))
        {
            std::fs::remove_file(stale).unwrap();
            continue;
        }
        assert!(
            r.code.is_none() || r.stderr.contains("release unlock"),
            "run {i}: unexpected failure:\n{}{}",
            r.stdout,
            r.stderr
        );
        if r.code.is_none() {
            s.fresh_clone();
            clones += 1;
        }
        s.ok(&["unlock"]);
        args = vec!["resume".into(), version.to_string()];
    }
    clones
}

/// The CI soak on the file:// index, where a runner can die between a file
/// landing and the page that lists it: after the push, each runner is
/// killed at a random file's landing or at a random moment, its clone is
/// deleted, and the next one follows what it is told (`unlock` where named,
/// `resume VERSION` in a new clone). Every run converges, nothing is
/// burned, and no file on the index is ever replaced.
#[cfg(feature = "failpoints")]
#[test]
fn ci_soak_kills_between_a_file_landing_and_its_listing() {
    let runs = soak_runs();
    let (converged, burned, replaced, landing_kills) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    two_at_a_time(runs, 0x1a2d, |i, rng| {
        let r = landing_soak_run(i, rng);
        converged.fetch_add(usize::from(r.converged), Ordering::SeqCst);
        burned.fetch_add(r.burned, Ordering::SeqCst);
        replaced.fetch_add(r.replaced, Ordering::SeqCst);
        landing_kills.fetch_add(r.landing_kills, Ordering::SeqCst);
    });
    let (converged, burned, replaced, landing_kills) = (
        converged.into_inner(),
        burned.into_inner(),
        replaced.into_inner(),
        landing_kills.into_inner(),
    );
    println!(
        "ci soak (file:// index): {converged}/{runs} runs converged with six listed files, {landing_kills} kills between a landing and its listing, {burned} burned, {replaced} files replaced"
    );
    assert!(landing_kills >= runs, "a landing kill in every run");
    assert_eq!(converged, runs);
    assert_eq!(burned, 0, "nothing burned");
    assert_eq!(replaced, 0, "no file on the index replaced");
}

#[cfg(feature = "failpoints")]
struct LandingSoak {
    converged: bool,
    burned: usize,
    replaced: usize,
    landing_kills: usize,
}

/// One run of the file:// soak, counted by means other than its asserts.
#[cfg(feature = "failpoints")]
fn landing_soak_run(i: usize, rng: &mut fastrand::Rng) -> LandingSoak {
    use std::collections::BTreeMap;
    let s = Sample::new();
    let version = "0.2.0.pre0";
    let pushed = s.run_failing(&["start", version], "push.after_tag");
    assert_eq!(pushed.code, None, "run {i}: {}", pushed.stderr);
    let mut seen: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut out = LandingSoak {
        converged: false,
        burned: 0,
        replaced: 0,
        landing_kills: 0,
    };
    let mut record = |s: &Sample, out: &mut LandingSoak| {
        for f in common::index_files(&s.index) {
            let bytes = std::fs::read(s.index.join("simple").join(&f)).unwrap();
            match seen.get(&f) {
                Some(old) if *old != bytes => out.replaced += 1,
                Some(_) => {}
                None => {
                    seen.insert(f, bytes);
                }
            }
        }
    };
    // The first runner dies at a file's landing (before its page is
    // rewritten); the next may die at another landing or at a random
    // moment; later ones may finish.
    let landing = |cmd: &mut std::process::Command, rng: &mut fastrand::Rng| {
        let at = rng.usize(1..=6);
        cmd.env("RELEASE_FAILPOINT", format!("index.before_listing@{at}"));
    };
    let runs = std::cell::RefCell::new(Vec::new());
    follow_to_the_end(
        &s,
        i,
        version,
        |attempt, cmd| match (attempt, rng.u8(0..3)) {
            (0, _) | (1, 0) => {
                landing(cmd, rng);
                None
            }
            (1, 1) => Some(Duration::from_millis(rng.u64(0..1500))),
            _ => None,
        },
        |r| {
            runs.borrow_mut().push((r.stdout.clone(), r.stderr.clone()));
            record(&s, &mut out);
        },
    );
    for (stdout, stderr) in runs.into_inner() {
        if stderr.contains("failpoint index.before_listing: aborting") {
            out.landing_kills += 1;
        }
        out.burned += usize::from(stderr.contains("burned") || stdout.contains("burned"));
    }
    let audit = s.run(&["audit", version]);
    let listed = common::index_files(&s.index)
        .iter()
        .all(|f| common::is_listed(&s.index, f));
    out.converged = audit.ok()
        && listed
        && common::index_files(&s.index).len() == 6
        && lock_on_origin(&s).is_none();
    out
}
