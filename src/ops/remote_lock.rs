//! One release at a time across machines: a lock ref on the remote.
//!
//! The local `flock` keeps two runners in one clone apart; two CI runners (or
//! a maintainer and a CI job) have two clones. `refs/release/lock` on the
//! remote is created with a push that only succeeds when the ref does not
//! exist (a parentless commit can never fast-forward another), so of two
//! machines pushing at once exactly one wins. Its commit message says who
//! holds it, from where and since when, and which clone took it: a lock left
//! by a runner killed in this very clone (the local `flock` proves no runner
//! of this clone is alive) is this clone's to take over. It is deleted when
//! the release ends; `release unlock` removes one whose holder died elsewhere.

use git2::{Oid, Repository};
use thiserror::Error;

use super::git::{self, PushResult};

/// The ref that holds the lock on the remote.
pub const LOCK_REF: &str = "refs/release/lock";
/// Where a fetched lock commit is kept locally, to read its message.
const SEEN_REF: &str = "refs/release/seen-lock";

#[derive(Debug, Error)]
pub enum LockError {
    #[error("another release holds the lock on `{remote}` ({LOCK_REF}): {holder}. Wait for it to finish; if that runner is gone, run `release unlock`, then run this command again")]
    Held { remote: String, holder: String },
    #[error(transparent)]
    Git(#[from] git::GitError),
    #[error("cannot write the lock commit: {0}")]
    Write(#[from] git2::Error),
}

/// Who holds the remote lock, as its commit says.
#[derive(Debug, Clone)]
pub struct Holder {
    pub oid: Oid,
    /// One line: `1.9.4 by ci@runner-7 (pid 42) since 2026-11-26T01:30:00Z`.
    pub summary: String,
    /// The clone that took it (`.release/clone-id` there).
    pub clone: Option<String>,
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

/// The lock's commit message: a summary line, then `key: value` lines.
fn message(repo: &Repository, version: &str, clone: &str) -> String {
    let who = repo
        .config()
        .ok()
        .and_then(|c| c.get_string("user.email").ok())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut text = format!(
        "release lock: {version}\n\nversion: {version}\nholder: {who}@{} (pid {})\nat: {at}\nclone: {clone}\n",
        hostname(),
        std::process::id()
    );
    // On GitHub Actions, the run that holds it.
    if let (Ok(server), Ok(repository), Ok(run)) = (
        std::env::var("GITHUB_SERVER_URL"),
        std::env::var("GITHUB_REPOSITORY"),
        std::env::var("GITHUB_RUN_ID"),
    ) {
        text.push_str(&format!("run: {server}/{repository}/actions/runs/{run}\n"));
    }
    text
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
            if let Some(run) = field(t, "run") {
                s.push_str(&format!(", {run}"));
            }
            s
        }
        None => format!("lock commit {oid}"),
    };
    let clone = text.and_then(|t| field(t, "clone")).map(str::to_string);
    Holder {
        oid,
        summary,
        clone,
    }
}

/// The lock on the remote, if any, with what its commit says.
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

/// Take the lock for `version`, or keep it when `ours` is the one there.
/// A lock this clone (`clone`) took and no runner holds any more (the
/// caller holds this clone's `flock`) is replaced. Returns the lock commit.
pub fn acquire(
    repo: &Repository,
    remote: &str,
    version: &str,
    ours: Option<&str>,
    clone: &str,
) -> Result<Oid, LockError> {
    if let Some(h) = holder(repo, remote)? {
        if ours.is_some_and(|o| o == h.oid.to_string()) {
            return Ok(h.oid);
        }
        if h.clone.as_deref() != Some(clone) {
            return Err(LockError::Held {
                remote: remote.to_string(),
                holder: h.summary,
            });
        }
        // Left by a runner of this clone that died: ours to take over.
        delete(repo, remote)?;
    }
    let sig = git2::Signature::now("release", "release@localhost")?;
    let tree = {
        let builder = repo.treebuilder(None)?;
        repo.find_tree(builder.write()?)?
    };
    // Parentless, so it can never fast-forward a lock someone else took.
    let text = message(repo, version, clone);
    let oid = repo.commit(None, &sig, &sig, &text, &tree, &[])?;
    match git::push(repo, remote, &format!("{oid}:{LOCK_REF}"))? {
        PushResult::Accepted => Ok(oid),
        PushResult::NotFastForward(_) | PushResult::Rejected(_) => {
            let holder = holder(repo, remote)?
                .map(|h| h.summary)
                .unwrap_or_else(|| "a runner that took it at the same moment".into());
            Err(LockError::Held {
                remote: remote.to_string(),
                holder,
            })
        }
    }
}

/// Delete the lock if it is `ours`; another's is left alone. True if deleted.
pub fn release(repo: &Repository, remote: &str, ours: &str) -> Result<bool, LockError> {
    match holder(repo, remote)? {
        Some(h) if h.oid.to_string() == ours => {
            delete(repo, remote)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Delete the lock whoever holds it (`release unlock`).
pub fn delete(repo: &Repository, remote: &str) -> Result<(), LockError> {
    match git::push(repo, remote, &format!(":{LOCK_REF}"))? {
        PushResult::Accepted => Ok(()),
        PushResult::NotFastForward(m) | PushResult::Rejected(m) => Err(LockError::Git(
            git::GitError::Other(format!("the remote refused to delete {LOCK_REF}: {m}")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_the_holder() {
        let text = "release lock: 1.2\n\nversion: 1.2\nholder: a@b (pid 3)\nat: 2026-01-01T00:00:00Z\nclone: c1\nrun: https://x/y/actions/runs/9\n";
        let h = summarize(Oid::zero(), Some(text));
        assert_eq!(h.clone.as_deref(), Some("c1"));
        assert_eq!(
            h.summary,
            "1.2 by a@b (pid 3) since 2026-01-01T00:00:00Z, https://x/y/actions/runs/9"
        );
    }
}
