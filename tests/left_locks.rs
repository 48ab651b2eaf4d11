//! Lock files a killed push leaves on an origin reached by path (seen in
//! CI: the random-kill soak killed a runner while libgit2 wrote a ref of
//! the origin itself, and no `resume` got past the `.lock` it left).
//!
//! To a remote reached by path libgit2 writes each ref from this process:
//! `REF.lock` is created, the new value written into it, then renamed over
//! the ref. Killed in between, the file stays and every later write of that
//! ref fails. `resume` clears one only when it can tell whose it is: it
//! holds the very value this release pushes, or (the lock ref) a lock
//! commit of this checkout, or one whose lease ran out. Anything else is
//! left where it is and named, with what to do.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{assert_released_git, git_bare, Sample};

const V: &str = "0.2.0.pre0";
/// Why a lock file holding what this release writes is removed.
#[cfg(feature = "failpoints")]
const OURS: &str = "left by a run of this release killed while writing that ref";
/// Why an empty one is.
#[cfg(feature = "failpoints")]
const EMPTY: &str =
    "empty and untouched for a while: left by a git process killed while writing that ref";

/// Write `path` as libgit2 leaves it: the value (or nothing) and a newline.
fn leave(path: &Path, value: Option<&str>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, value.map(|v| format!("{v}\n")).unwrap_or_default()).unwrap();
}

/// Every `.lock` file under the origin's refs.
fn lock_files(origin: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![origin.join("refs")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "lock") {
                found.push(p);
            }
        }
    }
    found
}

/// `r` said it removed `path`, `why`, and it is gone.
#[cfg(feature = "failpoints")]
fn assert_removed(r: &common::Run, path: &Path, why: &str) {
    let line = format!("removed {}, {why}", path.display());
    assert!(r.stdout.contains(&line), "no `{line}` in:\n{}", r.stdout);
    assert!(!path.exists(), "{} is still there", path.display());
}

fn origin_ref(s: &Sample, name: &str) -> Option<String> {
    git_bare(&s.origin, &["rev-parse", "--verify", "-q", name]).filter(|o| !o.is_empty())
}

/// Killed after its tag, before the push; then what a runner killed in
/// each of its three ref writes leaves on the origin: the branch's lock
/// holding the release commit, the tag's holding the tag, the lock ref's
/// holding this checkout's lock commit. `resume` clears each, says so,
/// and the release is whole.
#[cfg(feature = "failpoints")]
#[test]
fn resume_clears_the_lock_files_its_own_killed_pushes_left() {
    let s = Sample::new();
    let base = s.git(&["rev-parse", "HEAD"]);
    s.killed_after_tag();
    let commit = s.git(&["rev-parse", "HEAD"]);
    let tag = s.git(&["rev-parse", &format!("refs/tags/{V}")]);
    let lock = origin_ref(&s, "refs/release/lock").expect("the killed runner's lock");
    let left = [
        (s.origin.join("refs/heads/master.lock"), commit.clone()),
        (s.origin.join(format!("refs/tags/{V}.lock")), tag.clone()),
        (s.origin.join("refs/release/lock.lock"), lock),
    ];
    // (What libgit2 leaves when killed after writing the value.)
    for (path, value) in &left {
        leave(path, Some(value));
    }
    let r = s.ok(&["resume"]);
    for (path, _) in &left {
        assert_removed(&r, path, OURS);
    }
    assert_eq!(
        r.stdout.matches("killed while writing that ref").count(),
        3,
        "{}",
        r.stdout
    );
    assert_eq!(lock_files(&s.origin), Vec::<PathBuf>::new());
    assert_released_git(&s, V, &base);
    assert_eq!(origin_ref(&s, &format!("refs/tags/{V}")), Some(tag));
    assert_eq!(origin_ref(&s, "refs/release/lock"), None, "given back");
}

/// A branch lock holding a commit this release never pushes (the base: a
/// colleague's push, a hand's `echo`) is not this release's to remove:
/// `resume` stops with the file named and left as it was, the origin
/// unchanged; deleting it, as the message says, lets `resume` finish.
#[cfg(feature = "failpoints")]
#[test]
fn a_lock_file_holding_another_value_is_left_and_named() {
    let s = Sample::new();
    let base = s.git(&["rev-parse", "HEAD"]);
    s.killed_after_tag();
    let path = s.origin.join("refs/heads/master.lock");
    leave(&path, Some(&base));
    let r = s.run(&["resume"]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "the lock file {} is left there holding {base}",
            path.display()
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("delete that file"), "{}", r.stderr);
    assert!(r.stderr.contains("release resume"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{base}\n"));
    assert_eq!(origin_ref(&s, "refs/heads/master"), Some(base.clone()));
    assert_eq!(origin_ref(&s, &format!("refs/tags/{V}")), None);
    std::fs::remove_file(&path).unwrap();
    s.ok(&["resume"]);
    assert_released_git(&s, V, &base);
}

/// An empty lock file (libgit2 writes the value only as it renames the
/// file into place, so that is what a killed writer mostly leaves): a
/// fresh one may be a live git process's, so the push waits; gone
/// meanwhile, the push goes on and nothing is removed.
#[test]
fn a_push_waits_for_an_empty_ref_lock_that_goes_away() {
    let s = Sample::new();
    let base = s.git(&["rev-parse", "HEAD"]);
    let path = s.origin.join("refs/release/lock.lock");
    leave(&path, None);
    let writer = {
        let path = path.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(2));
            std::fs::remove_file(path).unwrap();
        })
    };
    let r = s.ok(&["start", V]);
    writer.join().unwrap();
    assert!(
        r.stdout
            .contains(&format!("waiting for {}", path.display())),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("removed"), "{}", r.stdout);
    assert_released_git(&s, V, &base);
    assert_eq!(lock_files(&s.origin), Vec::<PathBuf>::new());
    assert_eq!(origin_ref(&s, "refs/release/lock"), None, "given back");
}

/// One that stays empty and untouched is no live writer's, and holds
/// nothing to lose: killed after the tag, the origin's branch lock left
/// empty, `resume` waits, removes it, saying why, and finishes.
#[cfg(feature = "failpoints")]
#[test]
fn an_abandoned_empty_ref_lock_is_removed() {
    let s = Sample::new();
    let base = s.git(&["rev-parse", "HEAD"]);
    s.killed_after_tag();
    let path = s.origin.join("refs/heads/master.lock");
    leave(&path, None);
    let r = s.ok(&["resume"]);
    assert_removed(&r, &path, EMPTY);
    assert_eq!(lock_files(&s.origin), Vec::<PathBuf>::new());
    assert_released_git(&s, V, &base);
}

/// The same in the checkout itself. Killed while moving the branch to the
/// release commit (the commit written, the branch and index not yet), and
/// then while writing the tag: each `.lock` holds what this release was
/// writing there (a commit of the same tree, parent and message; a tag of
/// that name on the release commit), so `resume` clears it and goes on.
#[cfg(feature = "failpoints")]
#[test]
fn resume_clears_the_checkout_s_lock_files_its_own_killed_writes_left() {
    let s = Sample::new();
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.run_failing(&["start", V], "bump.after_commit");
    assert_eq!(r.code, None);
    let commit = s.git(&["rev-parse", "HEAD"]);
    s.git(&["update-ref", "refs/heads/master", &base]);
    s.git(&["read-tree", &base]);
    let branch = s.repo.join(".git/refs/heads/master.lock");
    leave(&branch, Some(&commit));
    let r = s.run_failing(&["resume"], "tag.after_create");
    assert_eq!(r.code, None, "{}\n{}", r.stdout, r.stderr);
    assert_removed(&r, &branch, OURS);
    let tag = s.git(&["rev-parse", &format!("refs/tags/{V}")]);
    s.git(&["update-ref", "-d", &format!("refs/tags/{V}")]);
    let tag_lock = s.repo.join(format!(".git/refs/tags/{V}.lock"));
    leave(&tag_lock, Some(&tag));
    let r = s.ok(&["resume"]);
    assert_removed(&r, &tag_lock, OURS);
    assert_released_git(&s, V, &base);
}

/// A lock on the checkout's branch holding anything else (a commit of the
/// user's own `git commit` under way) is left: `resume` stops naming it and
/// what to do; once it is gone, as the message says, `resume` finishes.
#[cfg(feature = "failpoints")]
#[test]
fn a_checkout_lock_holding_another_commit_is_left_and_named() {
    let s = Sample::new();
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.run_failing(&["start", V], "bump.after_edit");
    assert_eq!(r.code, None);
    let branch = s.repo.join(".git/refs/heads/master.lock");
    leave(&branch, Some(&base));
    let r = s.run(&["resume"]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!("'{}'", branch.display())),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("delete that `.lock` file"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("release resume"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(&branch).unwrap(),
        format!("{base}\n")
    );
    assert_eq!(s.git(&["rev-parse", "HEAD"]), base);
    std::fs::remove_file(&branch).unwrap();
    s.ok(&["resume"]);
    assert_released_git(&s, V, &base);
}

/// `.git/index.lock` holding an index (a git command at work, `git commit
/// -a` waiting for its editor) is left: `abort` after a kill in the bump
/// stops, naming it, and the file is left as it was. An empty one,
/// untouched (what a process killed while libgit2 writes the index
/// leaves), is removed after the wait, and `abort` goes back to the base.
#[cfg(feature = "failpoints")]
#[test]
fn an_index_lock_is_removed_only_when_empty_and_untouched() {
    let s = Sample::new();
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.run_failing(&["start", V], "bump.after_edit");
    assert_eq!(r.code, None);
    let index_lock = s.repo.join(".git/index.lock");
    std::fs::write(&index_lock, b"DIRC\x00\x00\x00\x02 an index being written").unwrap();
    let r = s.run(&["abort"]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(".git/index.lock is there"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("delete that file"), "{}", r.stderr);
    assert_eq!(
        std::fs::read(&index_lock).unwrap(),
        b"DIRC\x00\x00\x00\x02 an index being written"
    );
    assert_eq!(s.git(&["rev-parse", "HEAD"]), base);
    assert!(s.journal().is_some(), "the release is still there to abort");

    let s = Sample::new();
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.run_failing(&["start", V], "bump.after_edit");
    assert_eq!(r.code, None);
    let index_lock = s.repo.join(".git/index.lock");
    leave(&index_lock, None);
    let r = s.ok(&["abort"]);
    assert_removed(&r, &index_lock, EMPTY);
    assert_eq!(s.git(&["rev-parse", "HEAD"]), base);
    assert_eq!(s.git(&["status", "--porcelain"]), "");
}
