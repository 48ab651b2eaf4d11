//! Step 5, push: the release commit (by its id; with `[release] next_dev`
//! the next-dev commit on top of it, in the same push), then the tag, to the
//! remote's push URL. Through a pull request: the release branch, and the
//! pull request is opened (see `pull_request`).
//!
//! A non-fast-forward refusal (libgit2's, or the remote's) is remote drift,
//! whatever a fetch URL shows, and the release waits for `recover` — unless
//! the remote branch already contains the release commit (our own earlier
//! push, a colleague's commit on top): then the tag simply follows.

use anyhow::{bail, Result};

use super::{Ctx, Reconciled, Step};
use crate::failpoint;
use crate::journal::{Phase, StepName};
use crate::ops::git::{self, PushResult};

pub struct Push;

impl Step for Push {
    fn name(&self) -> StepName {
        StepName::Push
    }

    fn reconcile(&self, ctx: &mut Ctx) -> Result<Reconciled> {
        if ctx.journal.state().release.pull_request.is_some() {
            return super::pull_request::push_reconcile(ctx);
        }
        let r = &ctx.journal.state().release;
        let commit = ctx.release_commit()?;
        let tip = branch_commit(ctx)?;
        let refs = git::ls_remote(&ctx.repo, &r.remote)?;
        if refs.branch(&r.branch) == Some(tip) && refs.tag_commit(&r.tag) == Some(commit) {
            return Ok(Reconciled::Done(format!(
                "{}/{} already at {tip} and tag {} at {commit}",
                r.remote, r.branch, r.tag
            )));
        }
        Ok(Reconciled::Redo)
    }

    fn run(&self, ctx: &mut Ctx) -> Result<String> {
        if ctx.journal.state().release.pull_request.is_some() {
            return super::pull_request::push(ctx);
        }
        let r = ctx.journal.state().release.clone();
        let commit = ctx.release_commit()?;
        let tip = branch_commit(ctx)?;
        // The release commit (or the next-dev commit on it) by its id, never
        // whatever the local branch holds now: a commit made on top since is
        // not part of the release.
        let branch_spec = format!("{tip}:refs/heads/{}", r.branch);
        match git::push(&ctx.repo, &r.remote, &branch_spec)? {
            PushResult::Accepted => {}
            refused => {
                let (not_ff, why) = match refused {
                    PushResult::NotFastForward(why) => (true, why),
                    PushResult::Rejected(why) => (
                        git::push_rejection_kind(&why) == git::Rejection::NotFastForward,
                        why,
                    ),
                    PushResult::Accepted => (false, String::new()),
                };
                // A branch that already holds the release commit (our own
                // earlier push, with a colleague's commit on top) is no drift.
                let contains = git::reached_push_target(&ctx.repo, &r.remote, &r.branch, None, tip)
                    .unwrap_or(false);
                if !contains {
                    if not_ff {
                        let note = format!(
                            "{}/{} holds commits that are not in the release ({why})",
                            r.remote, r.branch
                        );
                        ctx.journal
                            .phase_to(Phase::RemoteDrift, Some(note.clone()))?;
                        bail!(
                            "push of {} rejected: remote drift: {note}. Run `release recover` to reset to the base commit, \
                             delete the tag and fast-forward, then `release resume` to release again on top",
                            r.branch
                        );
                    }
                    if looks_protected(&why) {
                        bail!(
                            "push of {} rejected by `{}`: {why}. The branch looks protected (changes land through a pull request): \
                             add `[pull_request]` to release.toml to release through one, then run `release abort` and `release start {}` again",
                            r.branch,
                            r.remote,
                            r.version
                        );
                    }
                    bail!(
                        "push of {} rejected by `{}`: {why}; fix the cause (permissions, a protected branch, a hook), then run `release resume`, or `release abort`",
                        r.branch,
                        r.remote
                    );
                }
            }
        }
        failpoint::hit("push.after_branch");
        let tag_spec = format!("refs/tags/{0}:refs/tags/{0}", r.tag);
        match git::push(&ctx.repo, &r.remote, &tag_spec)? {
            PushResult::Accepted => {}
            PushResult::NotFastForward(why) | PushResult::Rejected(why) => bail!(
                "push of tag {} rejected by `{}`: {why}; if the remote has another tag of that name, \
                 remove it there, then run `release resume`",
                r.tag,
                r.remote
            ),
        }
        failpoint::hit("push.after_tag");
        if tip != commit {
            return Ok(format!(
                "{} pushed to {} at {tip} (the next-dev commit on the release commit), tag {} at {commit}",
                r.branch, r.remote, r.tag
            ));
        }
        Ok(format!(
            "{} and tag {} pushed to {} at {commit}",
            r.branch, r.tag, r.remote
        ))
    }
}

/// What the branch is pushed at: the next-dev commit when bump made one
/// (`[release] next_dev`), else the release commit.
pub fn branch_commit(ctx: &Ctx) -> Result<git2::Oid> {
    match ctx.journal.state().release.next_dev_commit.as_deref() {
        Some(hex) => Ok(git2::Oid::from_str(hex)?),
        None => ctx.release_commit(),
    }
}

/// Do a remote's words on a refused push read like branch protection
/// (GitHub's GH006, "protected branch", a pull request required, a
/// pre-receive hook's refusal)?
pub fn looks_protected(why: &str) -> bool {
    let w = why.to_ascii_lowercase();
    [
        "gh006",
        "protected branch",
        "pull request",
        "pre-receive hook declined",
    ]
    .iter()
    .any(|s| w.contains(s))
}

/// Say so when the branch moved since the release commit (commits on top, or
/// another branch checked out): those are not part of the release, and push
/// sends the release commit only.
pub fn notice_moved_branch(ctx: &Ctx) {
    if ctx.journal.state().release.pull_request.is_some() {
        // Its commit is on the release branch, checked out on purpose.
        return;
    }
    let Ok(commit) = branch_commit(ctx) else {
        return;
    };
    let branch = &ctx.journal.state().release.branch;
    if let Some(current) = git::current_branch(&ctx.repo).filter(|b| b != branch) {
        say!(
            "note: `{current}` is checked out, not the release branch `{branch}`; the release goes on from its commit {commit}"
        );
    }
    match git::local_branch(&ctx.repo, branch) {
        // The next-dev commit a crashed bump made but did not record yet:
        // bump's reconcile takes it up.
        Some(tip)
            if git::commit_parent(&ctx.repo, tip) == Some(commit)
                && git::commit_message(&ctx.repo, tip)
                    .is_some_and(|m| m.starts_with(crate::recovery::NEXT_DEV_MESSAGE)) => {}
        Some(tip) if tip != commit => {
            if git::is_ancestor(&ctx.repo, commit, tip) {
                let (ahead, _) = git::ahead_behind(&ctx.repo, tip, commit).unwrap_or((0, 0));
                say!(
                    "note: `{branch}` has {ahead} commit(s) on top of the release commit {commit}; they are not part of the release and are not pushed"
                );
            } else {
                say!(
                    "note: `{branch}` is at {tip}, which does not contain the release commit {commit}; the release goes on from {commit}"
                );
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::looks_protected;

    #[test]
    fn protection_is_told_by_the_server_s_words() {
        for words in [
            "remote: error: GH006: Protected branch update failed for refs/heads/main.",
            "pre-receive hook declined",
            "Changes must be made through a pull request.",
            "You're not allowed to push to protected branch main", // GitLab
        ] {
            assert!(looks_protected(words), "{words}");
        }
        assert!(!looks_protected("permission denied (publickey)"));
    }
}
