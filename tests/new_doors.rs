//! No wrong release through the new doors (issue 20): what `resume VERSION`
//! takes from the world must prove itself, nothing is pruned that a live
//! journal names, and every word about a stopped release is true.

mod common;

use std::path::Path;

use common::{git_bare, index_files, Sample};

/// The lock ref on the origin, if any.
fn lock_on_origin(s: &Sample) -> Option<String> {
    git_bare(
        &s.origin,
        &["rev-parse", "--verify", "-q", "refs/release/lock"],
    )
    .filter(|o| !o.is_empty())
}

/// Every version file of the sample moved from 0.1.0 to `to`, pins included,
/// as a hand-made bump would.
fn bump_by_hand(repo: &Path, to: &str) {
    for rel in [
        "python_modules/demo-cli/demo_cli/version.py",
        "python_modules/demo-cli/setup.py",
        "python_modules/demo-core/pyproject.toml",
        "python_modules/libraries/demo-aws/demo_aws/version.py",
        "python_modules/libraries/demo-aws/pyproject.toml",
    ] {
        let p = repo.join(rel);
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, text.replace("0.1.0", to)).unwrap();
    }
}

fn refused_with_nothing_changed(s: &Sample, version: &str, said: &[&str]) {
    let before = s.snapshot();
    let r = s.run(&["resume", version]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    for w in said {
        assert!(r.stderr.contains(w), "`{w}` in:\n{}", r.stderr);
    }
    s.assert_unchanged_but_the_local_lock(&before);
    assert!(s.journal().is_none(), "no journal written");
    assert_eq!(lock_on_origin(s), None, "no remote lock taken");
    assert!(index_files(&s.index).is_empty(), "nothing published");
}

/// No tag, but a commit named like the release on the branch that does not
/// declare it (a hand-made commit): never tagged nor published.
#[test]
fn a_commit_named_like_the_release_that_does_not_declare_it_is_refused() {
    let s = Sample::new();
    std::fs::write(s.repo.join("NOTES.txt"), "not a bump\n").unwrap();
    s.commit_and_push("0.2.0.pre0");
    s.fresh_clone();
    refused_with_nothing_changed(
        &s,
        "0.2.0.pre0",
        &[
            "`origin` has no tag for 0.2.0.pre0",
            "named 0.2.0.pre0 on `origin/master`",
            "does not declare 0.2.0.pre0",
            "is not a release commit",
            "Run `release start 0.2.0.pre0`",
        ],
    );
    s.ok(&["start", "0.2.0.pre0"]);
    s.assert_pushed("0.2.0.pre0");
}

/// A tag pushed by hand on a commit that still declares 0.1.0.
#[test]
fn a_hand_pushed_tag_on_a_commit_of_another_version_is_refused() {
    let s = Sample::new();
    s.git(&["tag", "0.2.0.pre0"]);
    s.git(&["push", "-q", "origin", "0.2.0.pre0"]);
    s.fresh_clone();
    refused_with_nothing_changed(
        &s,
        "0.2.0.pre0",
        &[
            "tag 0.2.0.pre0 on `origin`",
            "does not declare 0.2.0.pre0",
            "demo-core at 0.1.0",
            "git push origin :refs/tags/0.2.0.pre0",
            "release start 0.2.0.pre0",
        ],
    );
}

/// A lightweight tag on an unmerged feature branch never moves master: not
/// when the tagged commit carries other work, not when it sits on top of
/// commits master does not have.
#[test]
fn a_tag_on_an_unmerged_feature_branch_never_moves_the_branch() {
    let s = Sample::new();
    let master = s.git(&["rev-parse", "master"]);
    // One commit on top of master: the bump plus unreviewed work.
    s.git(&["switch", "-qc", "feature"]);
    bump_by_hand(&s.repo, "0.2.0.pre0");
    std::fs::write(s.repo.join("UNREVIEWED.txt"), "not reviewed\n").unwrap();
    s.git(&["add", "-A"]);
    s.git(&["commit", "-qm", "0.2.0.pre0"]);
    s.git(&["tag", "0.2.0.pre0"]);
    s.git(&["push", "-q", "origin", "feature", "0.2.0.pre0"]);
    s.fresh_clone();
    refused_with_nothing_changed(
        &s,
        "0.2.0.pre0",
        &[
            "not the bump `release` makes",
            "UNREVIEWED.txt beyond the version edits",
        ],
    );
    assert_eq!(
        git_bare(&s.origin, &["rev-parse", "master"]).unwrap(),
        master,
        "master did not move"
    );

    // Two commits on top of master (work, then an exact bump), tagged.
    let s = Sample::new();
    let master = s.git(&["rev-parse", "master"]);
    s.git(&["switch", "-qc", "feature"]);
    std::fs::write(s.repo.join("UNREVIEWED.txt"), "not reviewed\n").unwrap();
    s.git(&["add", "-A"]);
    s.git(&["commit", "-qm", "feature work"]);
    bump_by_hand(&s.repo, "0.2.0.pre0");
    s.git(&["commit", "-qam", "0.2.0.pre0"]);
    s.git(&["tag", "0.2.0.pre0"]);
    s.git(&["push", "-q", "origin", "feature", "0.2.0.pre0"]);
    s.fresh_clone();
    refused_with_nothing_changed(
        &s,
        "0.2.0.pre0",
        &["nor one commit on top of it", "move `master` past commits"],
    );
    assert_eq!(
        git_bare(&s.origin, &["rev-parse", "master"]).unwrap(),
        master,
        "master did not move"
    );
}

/// The one commit the push step would add is accepted: a maintainer whose
/// runner died after the tag pushed the tag alone by hand; a new clone
/// finishes the release, pushing that commit as the branch's next one.
#[cfg(feature = "failpoints")]
#[test]
fn the_release_commit_one_on_top_of_the_branch_is_finished_from_a_fresh_clone() {
    let s = Sample::new();
    let base = s.git(&["rev-parse", "HEAD"]);
    let killed = s.run_failing(&["start", "0.2.0.pre0"], "tag.after_create");
    assert_eq!(killed.code, None);
    s.git(&["push", "-q", "origin", "0.2.0.pre0"]);
    s.fresh_clone();
    s.ok(&["unlock"]);
    let done = s.ok(&["resume", "0.2.0.pre0"]);
    assert!(
        done.stdout.contains("rebuilding the journal"),
        "{}",
        done.stdout
    );
    let tagged = s.git(&["rev-parse", "0.2.0.pre0^{commit}"]);
    assert_eq!(s.git(&["rev-parse", "0.2.0.pre0^{commit}~1"]), base);
    assert_eq!(
        git_bare(&s.origin, &["rev-parse", "master"]).unwrap(),
        tagged,
        "master moved by exactly the release commit"
    );
    assert_eq!(index_files(&s.index).len(), 6);
    s.ok(&["audit", "0.2.0.pre0"]);
}

/// A runner killed after a file landed in the file:// index but before the
/// page listing it was rewritten; the clone is gone. The new clone's journal
/// is rebuilt from the world, builds the sdist again (other bytes), learns
/// from the index that the file is there, and adopts the served bytes: not
/// burned, each file once, the audit passes.
#[cfg(feature = "failpoints")]
#[test]
fn a_file_landed_but_not_listed_is_adopted_not_burned() {
    let s = Sample::new();
    // One upload at a time, so the kill is at the first package's sdist (its
    // wheel goes first, by name): an sdist rebuilt later differs by its
    // timestamps, while a wheel may come out byte for byte the same.
    let toml = s.repo.join("release.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, text.replace("[publish]\n", "[publish]\njobs = 1\n")).unwrap();
    s.commit_and_push("one upload at a time");
    let killed = s.run_failing(&["start", "0.2.0.pre0"], "index.before_listing@2");
    assert_eq!(killed.code, None, "{}{}", killed.stdout, killed.stderr);
    let landed = index_files(&s.index);
    assert_eq!(landed.len(), 2, "{landed:?}");
    assert!(landed.iter().any(|f| f.ends_with(".tar.gz")), "{landed:?}");
    let listed = |f: &str| common::is_listed(&s.index, f);
    assert!(
        landed.iter().any(|f| !listed(f)),
        "a file landed that no page lists yet: {landed:?}"
    );
    let landed_bytes: Vec<Vec<u8>> = landed
        .iter()
        .map(|f| std::fs::read(s.index.join("simple").join(f)).unwrap())
        .collect();
    s.fresh_clone();
    s.ok(&["unlock"]);
    let done = s.ok(&["resume", "0.2.0.pre0"]);
    assert!(!done.stdout.contains("burned"), "{}", done.stdout);
    assert!(done.stdout.contains("kept as served"), "{}", done.stdout);
    for (f, bytes) in landed.iter().zip(&landed_bytes) {
        assert_eq!(
            &std::fs::read(s.index.join("simple").join(f)).unwrap(),
            bytes,
            "{f}: the served file is the dead runner's"
        );
    }
    assert_eq!(index_files(&s.index).len(), 6, "each file once");
    for f in index_files(&s.index) {
        assert!(listed(&f), "{f} listed");
    }
    s.ok(&["audit", "0.2.0.pre0"]);
}

/// The count of a resumed publish adds up to every file, the one journaled
/// as uploaded before the kill included.
#[cfg(feature = "failpoints")]
#[test]
fn the_resume_summary_counts_every_file() {
    let s = Sample::new();
    // The second upload's record rides with the first (group commit), so
    // kill at the third: at least one is journaled, one more is unrecorded.
    let killed = s.run_failing(&["start", "0.2.0.pre0"], "publish.after_upload@3");
    assert_eq!(killed.code, None);
    let journal = s.journal().unwrap();
    let recorded = journal["publish"]["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["state"] == "uploaded")
        .count();
    let status = s.ok(&["status"]);
    assert!(
        status.stdout.contains("publish    interrupted"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("sent or being sent"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("next: the run was interrupted"),
        "{}",
        status.stdout
    );
    let done = s.ok(&["resume"]);
    let line = done
        .stdout
        .lines()
        .find(|l| l.contains("uploaded now"))
        .unwrap_or_else(|| panic!("{}", done.stdout));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .filter_map(|w| w.parse().ok())
        .collect();
    // "<recorded> of <total> file(s) on file://…: <sent> uploaded now,
    // <found> found already there, <before> recorded as uploaded before"
    let n = numbers.len();
    let (recorded_now, total) = (numbers[0], numbers[1]);
    let (sent, found, before) = (numbers[n - 3], numbers[n - 2], numbers[n - 1]);
    assert_eq!(total, 6, "{line}");
    assert_eq!(recorded_now, 6, "{line}");
    assert_eq!(before, recorded, "{line}");
    assert_eq!(sent + found + before, total, "{line}");
    assert_eq!(index_files(&s.index).len(), 6);
}

/// A nightly that finishes never prunes the files of a release still in
/// progress, and nightlies never push a finished release's files out.
#[cfg(feature = "failpoints")]
#[test]
fn nightlies_never_prune_a_release_in_progress_nor_count_as_releases() {
    let s = Sample::new();
    let dist = s.repo.join(".release/dist");
    // An aborted attempt at 0.2.0.pre0 is archived under that version...
    let toml = s.repo.join("release.toml");
    let good = std::fs::read_to_string(&toml).unwrap();
    let setup = s.repo.join("python_modules/demo-cli/setup.py");
    let setup_good = std::fs::read_to_string(&setup).unwrap();
    std::fs::write(
        &setup,
        format!("raise SystemExit('broken on purpose')\n{setup_good}"),
    )
    .unwrap();
    s.commit_and_push("a setup.py that fails");
    let failed = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(failed.code, Some(1));
    // The build's own line says what failed, with something after its colon.
    assert!(
        failed.stderr.contains(
            "the build of 1 package(s) failed (demo-cli); nothing was tagged or pushed:\n  - "
        ),
        "{}",
        failed.stderr
    );
    let status = s.ok(&["status"]);
    assert!(
        status.stdout.contains("build      failed"),
        "{}",
        status.stdout
    );
    s.ok(&["abort"]);
    let status = s.ok(&["status"]);
    assert!(
        status.stdout.contains("not tagged, not pushed to origin"),
        "{}",
        status.stdout
    );
    assert!(
        !status.stdout.contains("this release is finished"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("was aborted"), "{}", status.stdout);
    std::fs::write(&setup, &setup_good).unwrap();
    s.commit_and_push("setup.py fixed");
    // ...then it is started again and killed mid-publish.
    let killed = s.run_failing(&["start", "0.2.0.pre0"], "publish.after_upload");
    assert_eq!(killed.code, None);
    assert!(dist.join("0.2.0rc0").is_dir());
    // A nightly runs to its end and archives.
    s.ok(&["nightly", "--date", "20240101"]);
    assert!(
        dist.join("0.2.0rc0").is_dir(),
        "the release in progress keeps its files"
    );
    let done = s.ok(&["resume"]);
    assert!(!done.stdout.contains("burned"), "{}", done.stdout);
    s.ok(&["audit", "0.2.0.pre0"]);

    // keep_releases = 1: two nightlies after the release leave its files.
    assert!(good.contains("isolation = false\n"), "{good}");
    std::fs::write(
        &toml,
        good.replace(
            "isolation = false\n",
            "isolation = false\nkeep_releases = 1\n",
        ),
    )
    .unwrap();
    s.commit_and_push("keep one release");
    s.ok(&["nightly", "--date", "20240102"]);
    s.ok(&["nightly", "--date", "20240103"]);
    assert!(
        dist.join("0.2.0rc0").is_dir(),
        "nightlies do not count toward keep_releases: {:?}",
        std::fs::read_dir(&dist)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect::<Vec<_>>()
    );
}

/// Leftovers of a dev install are not refused (builds use a clean export),
/// and nothing ignored is touched.
#[test]
fn leftovers_of_a_dev_install_are_not_refused_and_stay() {
    let s = Sample::new();
    let core = s.repo.join("python_modules/demo-core");
    std::fs::create_dir_all(core.join("demo_core.egg-info")).unwrap();
    std::fs::write(core.join("demo_core.egg-info/PKG-INFO"), "Version: 0.0.1\n").unwrap();
    std::fs::create_dir_all(core.join("demo_core/__pycache__")).unwrap();
    std::fs::write(core.join("demo_core/__pycache__/x.pyc"), "stale").unwrap();
    // Ignored by git in the sample: a developer's secrets file.
    std::fs::write(
        s.repo.join(".gitignore"),
        "*.egg-info\n__pycache__/\n.env\n",
    )
    .unwrap();
    s.commit_and_push("ignore dev leftovers");
    std::fs::write(s.repo.join(".env"), "TOKEN=mine\n").unwrap();
    let r = s.ok(&["start", "0.2.0.pre0"]);
    assert!(!r.stdout.contains("git clean"), "{}", r.stdout);
    assert_eq!(
        std::fs::read_to_string(s.repo.join(".env")).unwrap(),
        "TOKEN=mine\n"
    );
    assert!(core.join("demo_core.egg-info/PKG-INFO").exists());
    s.ok(&["audit", "0.2.0.pre0"]);
}

/// An announcement that fails after the files are published leads to
/// `release resume`, never to a roll-forward.
#[test]
fn an_announce_failure_leads_to_resume_not_a_roll_forward() {
    let apis = common::apis::Apis::start();
    let s = Sample::new().announce_to(&apis);
    apis.fault(
        "/slack/chat.postMessage",
        common::apis::Fault::Refuse(200, r#"{"ok":false,"error":"not_in_channel"}"#),
        100,
    );
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(r.stderr.contains("release resume"), "{}", r.stderr);
    assert!(!r.stderr.contains("roll forward"), "{}", r.stderr);
    let status = s.ok(&["status"]);
    assert!(
        status.stdout.contains("every file is published"),
        "{}",
        status.stdout
    );
    apis.clear_faults();
    s.ok(&["resume"]);
}

/// `--date` is a real, plausible day, and an earlier date never throws away
/// a later unfinished nightly.
#[cfg(feature = "failpoints")]
#[test]
fn nightly_dates_are_bounded_and_only_a_later_date_supersedes() {
    let s = Sample::new();
    for bad in ["00000101", "99991231", "19691231"] {
        let r = s.run(&["nightly", "--date", bad]);
        assert_eq!(r.code, Some(2), "a usage error, {bad}: {}", r.stdout);
        assert!(r.stderr.contains("is outside 19700101"), "{}", r.stderr);
    }
    let killed = s.run_failing(&["nightly", "--date", "20240102"], "build.after_build");
    assert_eq!(killed.code, None);
    let r = s.run(&["nightly", "--date", "20240101"]);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(
        r.stderr.contains("release nightly --date 20240102"),
        "{}",
        r.stderr
    );
    assert!(s.repo.join(".release/nightly.json").exists(), "kept");
    s.ok(&["nightly", "--date", "20240102"]);
    assert!(index_files(&s.index)
        .iter()
        .any(|f| f.contains("dev20240102")));
}

/// `resume VERSION` in a clone without a journal holds the clone's lock from
/// the moment it finds no journal until the rebuilt journal is written: a
/// second runner in the same clone at that moment is refused.
#[cfg(feature = "failpoints")]
#[test]
fn resume_version_without_a_journal_holds_its_lock_throughout() {
    let s = Sample::new();
    let killed = s.run_failing(&["start", "0.2.0.pre0"], "push.after_tag");
    assert_eq!(killed.code, None);
    s.fresh_clone();
    s.ok(&["unlock"]);
    let mut first = s.cmd(&["resume", "0.2.0.pre0"]);
    first
        .env("RELEASE_FAILPOINT", "resume.without_journal:sleep")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = first.spawn().unwrap();
    // Once it is at the point (it says so), a second runner comes.
    let lock = s.repo.join(".release/lock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !lock.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let second = s.run(&["resume", "0.2.0.pre0"]);
    let first = common::Run::output_of(child);
    assert!(
        first
            .stderr
            .contains("failpoint resume.without_journal: sleeping"),
        "{}",
        first.stderr
    );
    assert!(first.ok(), "{}\n{}", first.stdout, first.stderr);
    assert_eq!(second.code, Some(1), "{}\n{}", second.stdout, second.stderr);
    assert!(
        second.stderr.contains("another release"),
        "{}",
        second.stderr
    );
    assert_eq!(index_files(&s.index).len(), 6);
}

/// A runner killed between the bump's commit and its journal record: `abort`
/// recognises the release commit (on the base, the version as its message)
/// and goes back to the base, as bump's own reconcile would.
#[cfg(feature = "failpoints")]
#[test]
fn abort_after_a_kill_right_after_the_bump_commit() {
    let s = Sample::new();
    let base = s.git(&["rev-parse", "HEAD"]);
    let killed = s.run_failing(&["start", "0.2.0.pre0"], "bump.after_commit");
    assert_eq!(killed.code, None);
    assert_ne!(s.git(&["rev-parse", "HEAD"]), base);
    s.ok(&["abort"]);
    assert_eq!(s.git(&["rev-parse", "HEAD"]), base);
    assert_eq!(s.git(&["status", "--porcelain"]), "");
    s.ok(&["start", "0.2.0.pre0"]);
}

/// A git process killed while writing the lock ref into an origin reached
/// by path leaves git's `.lock` file there; one holding a value that is
/// not this release's (here a commit that is no lock commit) is not ours
/// to remove: the refusal names that file and what to do, nothing
/// changes, and once it is deleted the release goes on.
#[test]
fn a_stale_ref_lock_file_on_the_origin_is_named() {
    let s = Sample::new();
    let stale = s.origin.join("refs/release/lock.lock");
    std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
    std::fs::write(&stale, format!("{}\n", s.git(&["rev-parse", "HEAD"]))).unwrap();
    let before = s.snapshot();
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(
        r.stderr
            .contains(&format!("a lock file {} is left there", stale.display())),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("delete that file"), "{}", r.stderr);
    s.assert_unchanged_but_the_local_lock(&before);
    std::fs::remove_file(&stale).unwrap();
    s.ok(&["start", "0.2.0.pre0"]);
}
