//! The remote lock on a lease (issue 20): a live holder renews it and is
//! never taken over, not even by a copy of its checkout; a runner killed
//! while holding it is taken over once the lease ran out; Ctrl-C/SIGTERM
//! gives it back; a holder whose lock was removed stops. And a remote's
//! refusal shows the remote's own words: of the lock (a host that takes no
//! refs outside refs/heads and refs/tags, with `[git] remote_lock = false`
//! as the way out) and of the release branch (a protected branch).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::gitdaemon::GitDaemon;
use common::{git_bare, python, Run, Sample};

/// The lock ref on the origin, if any.
fn lock_on_origin(s: &Sample) -> Option<String> {
    git_bare(
        &s.origin,
        &["rev-parse", "--verify", "-q", "refs/release/lock"],
    )
    .filter(|o| !o.is_empty())
}

/// The expiry a lock commit on the origin records.
fn expiry(s: &Sample, lock: &str) -> DateTime<Utc> {
    let text = git_bare(&s.origin, &["cat-file", "commit", lock]).unwrap_or_default();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("expires: "))
        .unwrap_or_else(|| panic!("the lock commit records no expiry:\n{text}"));
    DateTime::parse_from_rfc3339(line.trim())
        .unwrap()
        .with_timezone(&Utc)
}

/// `[git]` settings, committed and pushed.
fn git_config(s: &Sample, lines: &str) {
    let toml = s.repo.join("release.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(&format!("\n[git]\n{lines}\n"));
    std::fs::write(&toml, text).unwrap();
    s.commit_and_push("release settings for the remote lock");
}

/// A python that waits while `gate` exists before it builds (the check
/// `import build` of preflight passes at once): the runner holds the lock
/// for as long as the test wants.
fn gated_python(s: &Sample) -> (PathBuf, PathBuf) {
    let gate = s.base.join("gate");
    let script = s.base.join("gated-python");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase \"$*\" in *'import build'*) ;; *) while [ -e '{}' ]; do sleep 0.05; done ;; esac\nexec '{}' \"$@\"\n",
            gate.display(),
            python().display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(&gate, "").unwrap();
    (script, gate)
}

fn spawn(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait until the runner in `repo` is building (it holds the lock by then).
fn wait_for_build(repo: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let building = std::fs::read_to_string(repo.join(".release/state.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|j| {
                j["steps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| s["name"] == "build" && s["state"] == "running")
            });
        if building {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the runner ended before its build: {status}");
        }
        assert!(Instant::now() < deadline, "the build never started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `cp -a` of a checkout, `.release/` (journal, clone-id) and all.
fn copy_checkout(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

fn sleep_until(t: DateTime<Utc>) {
    while Utc::now() < t {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `resume` in the copy at `dir`, with the real python.
fn resume_in(s: &Sample, dir: &Path, args: &[&str]) -> Run {
    let mut cmd = s.cmd_in(dir, args);
    cmd.env("PYTHON", python());
    s.run_cmd(cmd)
}

/// A runner building on a short lease renews it; a `cp -a` of its checkout
/// (journal and clone-id included) is refused each time, also after the
/// first lease would have run out; the holder then finishes.
#[test]
fn a_live_holder_is_never_taken_over_not_even_by_a_copy_of_its_checkout() {
    let s = Sample::new();
    git_config(&s, "lock_lease_secs = 6");
    let (gated, gate) = gated_python(&s);
    let copy = s.base.join("copy");
    let mut cmd = s.cmd(&["start", "0.2.0.pre0"]);
    cmd.env("PYTHON", &gated);
    let holder = s.run_with(cmd, |cmd| {
        let mut child = spawn(cmd);
        wait_for_build(&s.repo, &mut child);
        let first = lock_on_origin(&s).expect("the holder took the lock");
        copy_checkout(&s.repo, &copy);
        // Until past the first lease, twice over.
        let mut refusals = 0;
        while refusals < 2 || Utc::now() < expiry(&s, &first) + chrono::Duration::seconds(3) {
            let r = resume_in(&s, &copy, &["resume"]);
            assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
            assert!(
                r.stderr.contains("another release holds the lock"),
                "{}",
                r.stderr
            );
            assert!(r.stderr.contains("lease until"), "{}", r.stderr);
            refusals += 1;
        }
        let now = lock_on_origin(&s).expect("the holder still holds the lock");
        assert_ne!(now, first, "the lease was renewed");
        assert!(
            git_bare(&s.origin, &["merge-base", "--is-ancestor", &first, &now]).is_some(),
            "a renewal builds on the lock it renews"
        );
        std::fs::remove_file(&gate).unwrap();
        Run::output_of(child)
    });
    assert!(holder.ok(), "{}\n{}", holder.stdout, holder.stderr);
    common::assert_released(&s, "0.2.0.pre0", &s.git(&["rev-parse", "HEAD~1"]));
    assert_eq!(lock_on_origin(&s), None, "the lock is given back");
}

/// SIGKILL while holding the lock: a copy of the dead runner's checkout is
/// refused while the lease runs, then takes the lock over (saying whose it
/// was) and finishes the release.
#[test]
fn a_killed_holder_is_taken_over_once_its_lease_ran_out() {
    let s = Sample::new();
    git_config(&s, "lock_lease_secs = 6");
    let (gated, gate) = gated_python(&s);
    let mut cmd = s.cmd(&["start", "0.2.0.pre0"]);
    cmd.env("PYTHON", &gated);
    let killed = s.run_with(cmd, |cmd| {
        let mut child = spawn(cmd);
        wait_for_build(&s.repo, &mut child);
        child.kill().unwrap(); // SIGKILL
        Run::output_of(child)
    });
    assert_eq!(killed.code, None);
    std::fs::remove_file(&gate).unwrap();
    let lock = lock_on_origin(&s).expect("the dead runner's lock");
    let expires = expiry(&s, &lock);

    let copy = s.base.join("copy");
    copy_checkout(&s.repo, &copy);
    let early = resume_in(&s, &copy, &["resume"]);
    if Utc::now() < expires {
        assert_eq!(early.code, Some(1), "{}\n{}", early.stdout, early.stderr);
        assert!(
            early.stderr.contains("another release holds the lock"),
            "{}",
            early.stderr
        );
        assert_eq!(lock_on_origin(&s).as_deref(), Some(lock.as_str()));
    }
    sleep_until(expires + chrono::Duration::seconds(1));
    let done = if early.ok() {
        early
    } else {
        resume_in(&s, &copy, &["resume"])
    };
    assert!(done.ok(), "{}\n{}", done.stdout, done.stderr);
    for said in [
        "took over the release lock on `origin`",
        "0.2.0.pre0 by",
        "its lease ran out",
    ] {
        assert!(done.stdout.contains(said), "{said}:\n{}", done.stdout);
    }
    assert_eq!(
        git_bare(&s.origin, &["tag"]).unwrap_or_default(),
        "0.2.0.pre0"
    );
    assert_eq!(lock_on_origin(&s), None, "the lock is given back");
}

/// A real SIGTERM to the runner while it builds: exit 130, the lock given
/// back at once (not left to its lease), and `resume` takes it again and
/// finishes.
#[test]
fn sigterm_gives_the_lock_back_and_resume_takes_it_again() {
    let s = Sample::new();
    let (gated, gate) = gated_python(&s);
    let mut cmd = s.cmd(&["start", "0.2.0.pre0"]);
    cmd.env("PYTHON", &gated);
    let r = s.run_with(cmd, |cmd| {
        let mut child = spawn(cmd);
        wait_for_build(&s.repo, &mut child);
        assert!(lock_on_origin(&s).is_some());
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        std::fs::remove_file(&gate).unwrap();
        Run::output_of(child)
    });
    assert_eq!(r.code, Some(130), "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("release resume"), "{}", r.stderr);
    assert!(
        r.stderr.contains("gave back the release lock on `origin`"),
        "{}",
        r.stderr
    );
    assert_eq!(lock_on_origin(&s), None, "given back on SIGTERM");
    let done = s.ok(&["resume"]);
    assert!(
        done.stdout.contains("released 0.2.0.pre0"),
        "{}",
        done.stdout
    );
    assert_eq!(lock_on_origin(&s), None);
}

/// `release unlock` from elsewhere while a runner holds the lock: its next
/// renewal is refused, and it stops before its next step saying so,
/// instead of releasing without the lock.
#[test]
fn a_holder_whose_lock_was_removed_stops_at_the_next_step() {
    let s = Sample::new();
    git_config(&s, "lock_lease_secs = 3");
    let (gated, gate) = gated_python(&s);
    let other = s.base.join("other");
    s.clone_at(&other);
    let mut cmd = s.cmd(&["start", "0.2.0.pre0"]);
    cmd.env("PYTHON", &gated);
    let r = s.run_with(cmd, |cmd| {
        let mut child = spawn(cmd);
        wait_for_build(&s.repo, &mut child);
        let lock = lock_on_origin(&s).expect("the holder took the lock");
        let unlocked = s.run_cmd(s.cmd_in(&other, &["unlock"]));
        assert!(unlocked.ok(), "{}", unlocked.stderr);
        assert_eq!(lock_on_origin(&s), None);
        // Past the lease: the holder has tried to renew a few times by then.
        sleep_until(expiry(&s, &lock) + chrono::Duration::seconds(3));
        std::fs::remove_file(&gate).unwrap();
        Run::output_of(child)
    });
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    for said in [
        "stopped before tag",
        "lost its lock on `origin`",
        "release unlock",
        "release resume",
    ] {
        assert!(r.stderr.contains(said), "{said}:\n{}", r.stderr);
    }
    assert_eq!(lock_on_origin(&s), None, "not taken again behind unlock");
    assert_eq!(git_bare(&s.origin, &["tag"]).unwrap_or_default(), "");
}

/// A pre-receive hook on the origin, which is then served by `git daemon`
/// (a push to a local path runs no hooks).
fn served_with_hook(s: &Sample, hook: &str) -> GitDaemon {
    let path = s.origin.join("hooks/pre-receive");
    std::fs::write(&path, hook).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let daemon = GitDaemon::start(&s.base);
    s.git(&["remote", "set-url", "origin", &daemon.url("origin.git")]);
    daemon
}

/// A host that takes no refs outside refs/heads and refs/tags refuses the
/// lock: the error is the host's reason and names `[git] remote_lock =
/// false`, with which the release then goes through.
#[test]
fn a_host_refusing_the_lock_ref_is_named_with_its_reason() {
    let s = Sample::new();
    let _daemon = served_with_hook(
        &s,
        "#!/bin/sh\nwhile read old new ref; do\n  case \"$ref\" in\n    refs/heads/*|refs/tags/*) ;;\n    *) echo \"this host takes no refs outside refs/heads and refs/tags ($ref)\"; exit 1 ;;\n  esac\ndone\n",
    );
    let refs = || {
        (
            s.git(&["for-each-ref", "refs/heads", "refs/tags"]),
            git_bare(&s.origin, &["for-each-ref"]),
        )
    };
    let before = refs();
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    for said in [
        "this host takes no refs outside refs/heads and refs/tags (refs/release/lock)",
        "`[git] remote_lock = false`",
        "nothing was changed",
    ] {
        assert!(r.stderr.contains(said), "{said}:\n{}", r.stderr);
    }
    assert!(!r.stderr.contains("another release"), "{}", r.stderr);
    assert!(!r.stderr.contains("same moment"), "{}", r.stderr);
    assert_eq!(refs(), before, "refused, nothing changed");
    assert!(s.journal().is_none());

    git_config(&s, "remote_lock = false");
    let base = s.git(&["rev-parse", "HEAD"]);
    let done = s.ok(&["start", "0.2.0.pre0"]);
    assert!(
        done.stdout.contains("remote_lock = false"),
        "{}",
        done.stdout
    );
    common::assert_released(&s, "0.2.0.pre0", &base);
    assert_eq!(lock_on_origin(&s), None);
}

/// A protected branch: the push of the release is refused, and the error
/// shows the server's own lines, not only "pre-receive hook declined".
#[test]
fn a_protected_branch_refusal_shows_the_server_s_words() {
    let s = Sample::new();
    let _daemon = served_with_hook(
        &s,
        "#!/bin/sh\nwhile read old new ref; do\n  if [ \"$ref\" = refs/heads/master ]; then\n    echo 'error: GH006: Protected branch update failed for refs/heads/master.' >&2\n    echo 'error: Changes must be made through a pull request.' >&2\n    exit 1\n  fi\ndone\n",
    );
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    for said in [
        "push of master rejected",
        "GH006: Protected branch update failed for refs/heads/master.",
        "Changes must be made through a pull request.",
        "release resume",
    ] {
        assert!(r.stderr.contains(said), "{said}:\n{}", r.stderr);
    }
    // The journal keeps the server's words for `release status`.
    let status = s.ok(&["status"]);
    assert!(status.stdout.contains("GH006"), "{}", status.stdout);
}

/// Killed in its own checkout: `resume` there takes the lock back at once
/// (the `flock` proves no runner is alive there), keeping the lock id the
/// journal holds; a `cp -a` of that checkout made meanwhile is refused.
#[cfg(feature = "failpoints")]
#[test]
fn the_killed_runner_s_own_checkout_takes_its_lock_back_at_once() {
    let s = Sample::new();
    let killed = s.run_failing(&["start", "0.2.0.pre0"], "tag.after_create");
    assert_eq!(killed.code, None);
    let id = s.journal().unwrap()["release"]["remote_lock"]
        .as_str()
        .unwrap()
        .to_string();
    let copy = s.base.join("copy");
    copy_checkout(&s.repo, &copy);
    let refused = resume_in(&s, &copy, &["resume"]);
    assert_eq!(refused.code, Some(1), "{}", refused.stdout);
    assert!(
        refused.stderr.contains("another release holds the lock"),
        "{}",
        refused.stderr
    );
    let done = s.ok(&["resume"]);
    assert!(!done.stdout.contains("took over"), "{}", done.stdout);
    let archived: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.history().pop().unwrap()).unwrap())
            .unwrap();
    assert_eq!(archived["release"]["remote_lock"], id.as_str());
    assert_eq!(lock_on_origin(&s), None);
}
