//! Step 4, push: the branch, then the tag, to the remote's push URL.
//!
//! A refused branch push is classified by looking at the remote, not by parsing
//! text: if the remote branch is no longer an ancestor of the release commit,
//! someone pushed first (remote drift) and the release waits for `recover`.

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
        let r = &ctx.journal.state.release;
        let commit = ctx.release_commit()?;
        let refs = git::ls_remote(&ctx.repo, &r.remote)?;
        if refs.branch(&r.branch) == Some(commit) && refs.tag_commit(&r.tag) == Some(commit) {
            return Ok(Reconciled::Done(format!(
                "{}/{} and tag {} already at {commit}",
                r.remote, r.branch, r.tag
            )));
        }
        Ok(Reconciled::Redo)
    }

    fn run(&self, ctx: &mut Ctx) -> Result<String> {
        let r = ctx.journal.state.release.clone();
        let commit = ctx.release_commit()?;
        let branch_spec = format!("refs/heads/{0}:refs/heads/{0}", r.branch);
        match git::push(&ctx.repo, &r.remote, &branch_spec)? {
            PushResult::Accepted => {}
            PushResult::NotFastForward(why) | PushResult::Rejected(why) => {
                let upstream = git::fetch_branch(&ctx.repo, &r.remote, &r.branch)?;
                let drifted = upstream.is_some_and(|u| !git::is_ancestor(&ctx.repo, u, commit));
                if drifted {
                    let note = format!(
                        "{}/{} moved to {} while releasing ({why})",
                        r.remote,
                        r.branch,
                        upstream.map(|u| u.to_string()).unwrap_or_default()
                    );
                    ctx.journal
                        .phase_to(Phase::RemoteDrift, Some(note.clone()))?;
                    bail!(
                        "push of {} rejected: remote drift: {note}. Run `release recover` to reset to the base commit, \
                         delete the tag and fast-forward, then `release resume` to release again on top",
                        r.branch
                    );
                }
                bail!("push of {} rejected by `{}`: {why}", r.branch, r.remote);
            }
        }
        failpoint::hit("push.after_branch");
        let tag_spec = format!("refs/tags/{0}:refs/tags/{0}", r.tag);
        match git::push(&ctx.repo, &r.remote, &tag_spec)? {
            PushResult::Accepted => {}
            PushResult::NotFastForward(why) | PushResult::Rejected(why) => bail!(
                "push of tag {} rejected by `{}`: {why}; if the remote has another tag of that name, \
                 remove it there or run `release abort`",
                r.tag,
                r.remote
            ),
        }
        failpoint::hit("push.after_tag");
        Ok(format!(
            "{} and tag {} pushed to {} at {commit}",
            r.branch, r.tag, r.remote
        ))
    }
}
