//! One release at a time across machines: a lock ref on the remote, held
//! on a lease.
//!
//! The local `flock` keeps two runners in one clone apart; two CI runners (or
//! a maintainer and a CI job) have two clones. `refs/release/lock` on the
//! remote is created with a push that only succeeds when the ref does not
//! exist, so of two machines pushing at once exactly one wins. Its commit
//! message says who holds it, from where, since when, and until when: the
//! holder renews the lease while it runs (a new lock commit on top of the
//! last, pushed only if the ref is still at the last), and gives the lock
//! back when the release ends or is interrupted.
//!
//! A lock whose lease ran out (its runner died without giving it back) is
//! taken over the same way: a commit on top of the old one, pushed only if
//! the ref is still at it, so of two runners taking it over one wins, and a
//! holder that renewed meanwhile keeps it. Nothing copied with a checkout
//! (`.release/`, a CI cache of it, `cp -a`) gives a right to a live lease:
//! only the very same checkout on the very same machine, where the local
//! `flock` proves no runner is alive, takes its own lock back before the
//! lease runs out. `release unlock` removes any lock at once.
//!
//! Clocks: the expiry is written with the holder's clock and read with the
//! taker's. We assume machines that release agree on the time to well
//! within a third of the lease (NTP does far better): a holder renews every
//! third of the lease, so its expiry is always at least two thirds of a
//! lease ahead of its own clock, and a taker whose clock runs ahead by less
//! than that never sees a live lease as run out.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use git2::{Oid, Repository};
use thiserror::Error;

use super::git::{self, PushResult};

/// The ref that holds the lock on the remote.
pub const LOCK_REF: &str = "refs/release/lock";
/// Where a fetched lock commit is kept locally, to read its message and
/// build on it.
const SEEN_REF: &str = "refs/release/seen-lock";

#[derive(Debug, Error)]
pub enum LockError {
    #[error("another release holds the lock on `{remote}` ({LOCK_REF}): {holder}. Wait for it to finish (a lock its runner stopped renewing is taken over once its lease runs out); if that runner is gone and you cannot wait, run `release unlock`, then run this command again")]
    Held { remote: String, holder: String },
    #[error("`{remote}` refused the release lock ({LOCK_REF}): {why}. Fix that and run this command again; if the host refuses refs outside refs/heads and refs/tags, set `[git] remote_lock = false` in release.toml (then nothing keeps two machines from releasing at the same time)")]
    Refused { remote: String, why: String },
    #[error("`{remote}` could not write {LOCK_REF}: a lock file {path} is left there (a git process killed while writing that ref on a remote reached by path leaves it). If no git process is working on that repository now, delete that file, then run this command again")]
    StaleRefLock { remote: String, path: String },
    #[error(transparent)]
    Git(#[from] git::GitError),
    #[error("cannot write the lock commit: {0}")]
    Write(#[from] git2::Error),
}

/// Who holds the remote lock, as its commit says.
#[derive(Debug, Clone)]
pub struct Holder {
    pub oid: Oid,
    /// One line: `1.9.4 by ci@runner-7 (pid 42) since 2026-11-26T01:30:00Z,
    /// lease until 2026-11-26T01:40:00Z`.
    pub summary: String,
    /// The holding this commit belongs to: its first lock commit, which the
    /// journal records; renewals carry it as `lock:`.
    pub lock_id: Oid,
    /// When the lease runs out; `None` for a lock without one (written by an
    /// older release), which only `release unlock` removes.
    pub expires: Option<DateTime<Utc>>,
    /// The checkout it was taken in (see [`place`]).
    pub place: Option<String>,
}

impl Holder {
    fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_some_and(|e| now > e)
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// This checkout on this machine in this boot: the host, the kernel's boot
/// id, the device and inode of `.release/lock` (whose `flock` the caller
/// holds) and the checkout's `.release/clone-id`. A copy of the checkout
/// (`cp -a`, a CI cache restored) has another inode, another machine
/// another boot id, a new clone whose `.release/lock` got a freed inode
/// number another clone id; so only the checkout where no runner is alive
/// (the `flock` proves it) matches. `None` where the boot id cannot be
/// read: then only the lease frees a lock.
fn place(repo: &Repository) -> Option<String> {
    let paths = crate::journal::Paths::new(repo.workdir()?);
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    // The kernel's, not `$HOSTNAME`, which one shell exports and another not.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let meta = std::fs::metadata(paths.lock()).ok()?;
    let clone = paths.clone_id().ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(format!(
            "{} boot {} inode {}:{} clone {clone}",
            host.trim(),
            boot.trim(),
            meta.dev(),
            meta.ino(),
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = (boot, host, meta, clone);
        None
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// What a lock commit says: a summary line, then `key: value` lines.
#[derive(Debug, Clone)]
struct Fields {
    version: String,
    holder: String,
    at: DateTime<Utc>,
    expires: DateTime<Utc>,
    place: Option<String>,
    /// The holding's first lock commit, on renewals.
    lock: Option<Oid>,
    run: Option<String>,
}

impl Fields {
    fn new(repo: &Repository, version: &str, lease: Duration, lock: Option<Oid>) -> Fields {
        let who = repo
            .config()
            .ok()
            .and_then(|c| c.get_string("user.email").ok())
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "unknown".into());
        let at = Utc::now();
        // On GitHub Actions, the run that holds it.
        let run = match (
            std::env::var("GITHUB_SERVER_URL"),
            std::env::var("GITHUB_REPOSITORY"),
            std::env::var("GITHUB_RUN_ID"),
        ) {
            (Ok(server), Ok(repository), Ok(run)) => {
                Some(format!("{server}/{repository}/actions/runs/{run}"))
            }
            _ => None,
        };
        Fields {
            version: version.to_string(),
            holder: format!("{who}@{} (pid {})", hostname(), std::process::id()),
            at,
            expires: at + lease_delta(lease),
            place: place(repo),
            lock,
            run,
        }
    }

    fn message(&self) -> String {
        let mut text = format!(
            "release lock: {v}\n\nversion: {v}\nholder: {}\nat: {}\nexpires: {}\n",
            self.holder,
            stamp(self.at),
            stamp(self.expires),
            v = self.version,
        );
        if let Some(place) = &self.place {
            text.push_str(&format!("place: {place}\n"));
        }
        if let Some(lock) = self.lock {
            text.push_str(&format!("lock: {lock}\n"));
        }
        if let Some(run) = &self.run {
            text.push_str(&format!("run: {run}\n"));
        }
        text
    }
}

fn lease_delta(lease: Duration) -> chrono::Duration {
    chrono::Duration::from_std(lease).unwrap_or_else(|_| chrono::Duration::seconds(600))
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
        .map(str::trim)
}

fn summarize(oid: Oid, text: Option<&str>) -> Holder {
    let summary = match text {
        Some(t) => {
            let mut s = format!(
                "{} by {} since {}",
                field(t, "version").unwrap_or("?"),
                field(t, "holder").unwrap_or("?"),
                field(t, "at").unwrap_or("?")
            );
            match field(t, "expires") {
                Some(e) => s.push_str(&format!(", lease until {e}")),
                None => s.push_str(", with no lease (it never runs out)"),
            }
            if let Some(run) = field(t, "run") {
                s.push_str(&format!(", {run}"));
            }
            s
        }
        None => format!("lock commit {oid}"),
    };
    let text = text.unwrap_or("");
    Holder {
        oid,
        summary,
        lock_id: field(text, "lock")
            .and_then(|l| Oid::from_str(l).ok())
            .unwrap_or(oid),
        expires: field(text, "expires")
            .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
            .map(|e| e.with_timezone(&Utc)),
        place: field(text, "place").map(str::to_string),
    }
}

/// The lock on the remote, if any, with what its commit says. Its commit
/// is fetched when missing here, so a lock can be built on.
pub fn holder(repo: &Repository, remote: &str) -> Result<Option<Holder>, LockError> {
    let refs = git::ls_remote(repo, remote)?;
    let Some(oid) = refs.refs.get(LOCK_REF).copied() else {
        return Ok(None);
    };
    if repo.find_commit(oid).is_err() {
        // Best effort: without the commit the holder is named by its id.
        let _ = git::fetch_refspec(repo, remote, &format!("+{LOCK_REF}:{SEEN_REF}"));
    }
    let text = repo
        .find_commit(oid)
        .ok()
        .and_then(|c| c.message().map(str::to_string));
    Ok(Some(summarize(oid, text.as_deref())))
}

/// A lock commit: an empty tree, `parent` (the lock it renews or takes
/// over) if any.
fn write(repo: &Repository, fields: &Fields, parent: Option<Oid>) -> Result<Oid, git2::Error> {
    let sig = git2::Signature::now("release", "release@localhost")?;
    let tree = repo.find_tree(repo.treebuilder(None)?.write()?)?;
    let parents = parent.map(|p| repo.find_commit(p)).transpose()?;
    let parents: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(None, &sig, &sig, &fields.message(), &tree, &parents)
}

/// Take the lock for `version` on a lease of `lease`, and renew it in the
/// background until [`release`] or [`give_back`]. Returns the holding's
/// lock id, which the journal records.
///
/// No lock: taken. A lock of this checkout (see [`place`]; the caller holds
/// its `flock`, so no runner of it is alive): taken back, keeping its id
/// when it is `ours`. A lock whose lease ran out: taken over, saying whose
/// it was. Any other: refused, naming its holder.
pub fn acquire(
    repo: &Repository,
    remote: &str,
    version: &str,
    ours: Option<&str>,
    lease: Duration,
) -> Result<Oid, LockError> {
    let mine = stop_renewing();
    let here = place(repo);
    let found = holder(repo, remote)?;
    let mut took_over = None;
    let (parent, keep) = match &found {
        None => (None, None),
        Some(h) if (here.is_some() && h.place == here) || mine == Some(h.oid) => {
            let keep = ours.is_some_and(|o| o == h.lock_id.to_string());
            (Some(h.oid), keep.then_some(h.lock_id))
        }
        Some(h) if h.expired(Utc::now()) => {
            took_over = Some(h.summary.clone());
            (Some(h.oid), None)
        }
        Some(h) => {
            return Err(LockError::Held {
                remote: remote.to_string(),
                holder: h.summary.clone(),
            })
        }
    };
    let mut fields = Fields::new(repo, version, lease, keep);
    let oid = write(repo, &fields, parent)?;
    match push_lock(repo, remote, &format!("{oid}:{LOCK_REF}"), parent)? {
        PushResult::Accepted => {}
        PushResult::NotFastForward(_) => return Err(raced(repo, remote)),
        PushResult::Rejected(why) => {
            // Someone's lock there now is a race lost; else the remote's
            // own reason (a hook, permissions, a host that takes no refs
            // outside refs/heads and refs/tags).
            return Err(match holder(repo, remote)? {
                Some(h) if Some(h.oid) != parent => LockError::Held {
                    remote: remote.to_string(),
                    holder: h.summary,
                },
                _ => match git::lock_file_named(&why) {
                    Some(path) => LockError::StaleRefLock {
                        remote: remote.to_string(),
                        path: path.display().to_string(),
                    },
                    None => LockError::Refused {
                        remote: remote.to_string(),
                        why,
                    },
                },
            });
        }
    }
    if let Some(old) = took_over {
        say!("took over the release lock on `{remote}` ({LOCK_REF}) from {old}: its lease ran out without being renewed");
    }
    let id = keep.unwrap_or(oid);
    fields.lock = Some(id);
    start_renewing(repo, remote, fields, oid, lease);
    Ok(id)
}

fn raced(repo: &Repository, remote: &str) -> LockError {
    let holder = holder(repo, remote)
        .ok()
        .flatten()
        .map(|h| h.summary)
        .unwrap_or_else(|| "a runner that took it at the same moment".into());
    LockError::Held {
        remote: remote.to_string(),
        holder,
    }
}

/// Is this process renewing the lock `id`?
pub fn holding(id: &str) -> bool {
    with_renewer(|r| {
        r.as_ref().is_some_and(|r| {
            let s = lock(&r.shared.state);
            s.lost.is_none() && s.lock_id.to_string() == id
        })
    })
}

/// Delete the lock if it is `ours` (the lock id the journal holds) and
/// this process or this checkout holds it; another's is left alone, even
/// one whose journal was copied with the checkout. True if deleted.
pub fn release(repo: &Repository, remote: &str, ours: &str) -> Result<bool, LockError> {
    let renewed = stop_renewing();
    let Some(h) = holder(repo, remote)? else {
        return Ok(false);
    };
    let here = place(repo);
    let this_checkout = here.is_some() && h.place == here;
    if h.lock_id.to_string() != ours || !(renewed == Some(h.oid) || this_checkout) {
        return Ok(false);
    }
    remove(repo, remote, Some(h.oid))
}

/// Delete the lock whoever holds it (`release unlock`).
pub fn delete(repo: &Repository, remote: &str) -> Result<(), LockError> {
    remove(repo, remote, None).map(|_| ())
}

/// Delete the lock, only if it is still at `at` when given. True if deleted;
/// false if it had moved meanwhile.
pub fn remove(repo: &Repository, remote: &str, at: Option<Oid>) -> Result<bool, LockError> {
    let spec = format!(":{LOCK_REF}");
    let pushed = match at {
        Some(at) => push_lock(repo, remote, &spec, Some(at))?,
        None => git::push(repo, remote, &spec)?,
    };
    match pushed {
        PushResult::Accepted => Ok(true),
        PushResult::NotFastForward(_) if at.is_some() => Ok(false),
        PushResult::NotFastForward(m) | PushResult::Rejected(m) => Err(LockError::Git(
            git::GitError::Other(format!("the remote refused to delete {LOCK_REF}: {m}")),
        )),
    }
}

/// Why this process lost the lock it held (taken over after its lease ran
/// out, or removed with `release unlock`), if it did.
pub fn lost() -> Option<String> {
    with_renewer(|r| r.as_ref().and_then(|r| lock(&r.shared.state).lost.clone()))
}

/// Ctrl-C or SIGTERM: stop renewing, and delete the lock if it is still
/// the one this process holds. Returns the remote it was given back on.
pub fn give_back() -> Result<Option<String>, LockError> {
    let Some(r) = with_renewer(Option::take) else {
        return Ok(None);
    };
    let remote = r.remote.clone();
    let git_dir = r.git_dir.clone();
    let (current, lost) = r.stop();
    if lost.is_some() {
        return Ok(None);
    }
    let repo = Repository::open(&git_dir).map_err(LockError::Write)?;
    Ok(remove(&repo, &remote, Some(current))?.then_some(remote))
}

// The renewal: one background thread per process, which holds at most one
// lock.

struct Renewer {
    remote: String,
    git_dir: PathBuf,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    state: Mutex<LeaseState>,
    wake: Condvar,
}

struct LeaseState {
    /// The lock commit on the remote now (the last renewal).
    current: Oid,
    lock_id: Oid,
    stop: bool,
    lost: Option<String>,
}

impl Renewer {
    /// Stop the thread (a renewal under way finishes first); the lock
    /// commit it left on the remote, and why it lost the lock if it did.
    fn stop(mut self) -> (Oid, Option<String>) {
        lock(&self.shared.state).stop = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let s = lock(&self.shared.state);
        (s.current, s.lost.clone())
    }
}

static RENEWER: Mutex<Option<Renewer>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn with_renewer<T>(f: impl FnOnce(&mut Option<Renewer>) -> T) -> T {
    f(&mut lock(&RENEWER))
}

/// Stop renewing; the lock commit it left, if it still held the lock.
fn stop_renewing() -> Option<Oid> {
    let r = with_renewer(Option::take)?;
    match r.stop() {
        (current, None) => Some(current),
        (_, Some(_)) => None,
    }
}

fn start_renewing(repo: &Repository, remote: &str, fields: Fields, current: Oid, lease: Duration) {
    let shared = Arc::new(Shared {
        state: Mutex::new(LeaseState {
            current,
            lock_id: fields.lock.unwrap_or(current),
            stop: false,
            lost: None,
        }),
        wake: Condvar::new(),
    });
    let git_dir = repo.path().to_path_buf();
    let thread = {
        let (shared, git_dir, remote) = (shared.clone(), git_dir.clone(), remote.to_string());
        std::thread::Builder::new()
            .name("lock-lease".into())
            .spawn(move || renew(&git_dir, &remote, fields, lease, &shared))
            .ok()
    };
    if thread.is_none() {
        lock(&shared.state).lost = Some(
            "the lease could not be renewed (no thread for it); it runs out unless the release ends first".into(),
        );
    }
    with_renewer(|r| {
        *r = Some(Renewer {
            remote: remote.to_string(),
            git_dir,
            shared,
            thread,
        })
    });
}

/// A push of [`LOCK_REF`], clearing a lock file a killed runner left on a
/// remote reached by path (see [`git::LeftLock`]) when it is provably
/// dead: beyond what every push clears, one holding a lock commit of this
/// checkout (whose `flock` the caller holds, so no runner of it is alive)
/// or one whose lease ran out (the same rule as taking over a lock).
fn push_lock(
    repo: &Repository,
    remote: &str,
    refspec: &str,
    expected: Option<Oid>,
) -> Result<PushResult, git::GitError> {
    let here = place(repo);
    let dead = |left: &git::LeftLock| match left.holds {
        None => false,
        Some(oid) => {
            let message = |r: &Repository| {
                r.find_commit(oid)
                    .ok()
                    .and_then(|c| c.message().map(str::to_string))
            };
            let text = message(repo).or_else(|| {
                Repository::open_bare(&left.repo_dir)
                    .ok()
                    .and_then(|r| message(&r))
            });
            match text.filter(|t| t.starts_with("release lock:")) {
                Some(t) => {
                    let h = summarize(oid, Some(&t));
                    (here.is_some() && h.place == here) || h.expired(Utc::now())
                }
                None => false,
            }
        }
    };
    git::push_if_clearing(repo, remote, refspec, expected, &dead)
}

/// Every third of the lease, a new lock commit on top of the current one
/// with a new expiry, pushed only if the remote is still at the current
/// one. Refused: the lock was taken over or removed, and the runner stops
/// at its next safe point ([`lost`]). Unreachable: tried again until the
/// lease runs out.
fn renew(
    git_dir: &std::path::Path,
    remote: &str,
    mut fields: Fields,
    lease: Duration,
    shared: &Shared,
) {
    let every = lease / 3;
    let repo = match Repository::open(git_dir) {
        Ok(r) => r,
        Err(e) => {
            lock(&shared.state).lost = Some(format!(
                "cannot open the repository to renew the lease: {e}"
            ));
            return;
        }
    };
    loop {
        let current = {
            let s = lock(&shared.state);
            let (s, _) = shared
                .wake
                .wait_timeout_while(s, every, |s| !s.stop)
                .unwrap_or_else(|p| p.into_inner());
            if s.stop {
                return;
            }
            s.current
        };
        let expires = fields.expires;
        fields.expires = Utc::now() + lease_delta(lease);
        let pushed = write(&repo, &fields, Some(current))
            .map_err(|e| e.to_string())
            .and_then(|oid| {
                push_lock(&repo, remote, &format!("{oid}:{LOCK_REF}"), Some(current))
                    .map(|p| (oid, p))
                    .map_err(|e| e.to_string())
            });
        let last_error = match pushed {
            Ok((oid, PushResult::Accepted)) => {
                lock(&shared.state).current = oid;
                continue;
            }
            Ok((_, PushResult::NotFastForward(why))) => {
                let now = match git::ls_remote(&repo, remote)
                    .ok()
                    .and_then(|r| r.refs.get(LOCK_REF).copied())
                {
                    Some(other) => format!("another runner's lock commit {other} is there now"),
                    None => "it was removed (`release unlock`)".into(),
                };
                lock(&shared.state).lost = Some(format!(
                    "this release lost its lock on `{remote}` ({LOCK_REF}): {now} ({why})"
                ));
                return;
            }
            Ok((_, PushResult::Rejected(why))) => why,
            Err(e) => e,
        };
        // Not renewed: the old expiry stands.
        fields.expires = expires;
        if Utc::now() >= expires {
            lock(&shared.state).lost = Some(format!(
                "this release's lease on the lock on `{remote}` ({LOCK_REF}) ran out at {} without being renewed ({last_error}), so another runner may have taken it over",
                stamp(expires)
            ));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_ref_lock_is_named() {
        let why = "refs/release/lock: failed to lock file '/srv/origin.git/refs/release/lock.lock' for writing: ";
        assert_eq!(
            git::lock_file_named(why),
            Some(PathBuf::from("/srv/origin.git/refs/release/lock.lock"))
        );
        assert_eq!(git::lock_file_named("pre-receive hook declined"), None);
    }

    #[test]
    fn summary_names_the_holder_and_the_lease() {
        let text = "release lock: 1.2\n\nversion: 1.2\nholder: a@b (pid 3)\nat: 2026-01-01T00:00:00Z\nexpires: 2026-01-01T00:10:00Z\nplace: h boot x inode 1:2 clone c\nlock: 0123456789012345678901234567890123456789\nrun: https://x/y/actions/runs/9\n";
        let h = summarize(Oid::zero(), Some(text));
        assert_eq!(
            h.summary,
            "1.2 by a@b (pid 3) since 2026-01-01T00:00:00Z, lease until 2026-01-01T00:10:00Z, https://x/y/actions/runs/9"
        );
        assert_eq!(
            h.lock_id.to_string(),
            "0123456789012345678901234567890123456789"
        );
        assert_eq!(h.place.as_deref(), Some("h boot x inode 1:2 clone c"));
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert!(!h.expired(at("2026-01-01T00:09:59Z")));
        assert!(h.expired(at("2026-01-01T00:10:01Z")));
    }

    #[test]
    fn a_lock_without_a_lease_never_runs_out() {
        let text = "release lock: 1.2\n\nversion: 1.2\nholder: a@b (pid 3)\nat: 2026-01-01T00:00:00Z\nclone: c1\n";
        let h = summarize(Oid::zero(), Some(text));
        assert!(!h.expired(Utc::now()));
        assert_eq!(h.lock_id, Oid::zero());
        assert!(h.summary.contains("no lease"), "{}", h.summary);
    }
}
