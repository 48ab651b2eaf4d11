//! Step 2, bump: rewrite every version declaration and sibling pin, commit.
//!
//! The commit before the bump is journaled first (`base_commit`): it is what
//! `recover` and `abort` reset to, and what reconcile compares HEAD against to
//! tell "committed" from "half-edited" after a crash.

use anyhow::{bail, Result};
use git2::Oid;

use super::{Ctx, Reconciled, Step};
use crate::failpoint;
use crate::journal::StepName;
use crate::ops::git;
use crate::packages;

pub struct Bump;

impl Step for Bump {
    fn name(&self) -> StepName {
        StepName::Bump
    }

    fn reconcile(&self, ctx: &mut Ctx) -> Result<Reconciled> {
        let release = &ctx.journal.state.release;
        let Some(base) = release.base_commit.as_deref() else {
            // Interrupted before the base was recorded: nothing was edited yet.
            return Ok(Reconciled::Redo);
        };
        let base = Oid::from_str(base)?;
        let head = git::head_commit(&ctx.repo)?;
        if head == base {
            // Edits may be half-written: the tree was clean at preflight, so
            // going back to the base loses nothing of the user's.
            git::reset_hard(&ctx.repo, base)?;
            return Ok(Reconciled::Redo);
        }
        let is_release_commit = git::commit_parent(&ctx.repo, head) == Some(base)
            && git::commit_message(&ctx.repo, head).as_deref() == Some(release.version.as_str());
        if is_release_commit {
            ctx.journal.state.release.release_commit = Some(head.to_string());
            return Ok(Reconciled::Done(format!(
                "release commit {head} found at HEAD"
            )));
        }
        bail!(
            "HEAD is {head}, neither the base commit {base} nor a release commit on it; \
             inspect the branch, then run `release abort` to reset to the base"
        )
    }

    fn run(&self, ctx: &mut Ctx) -> Result<String> {
        let base = git::head_commit(&ctx.repo)?;
        ctx.journal.state.release.base_commit = Some(base.to_string());
        ctx.journal.state.release.release_commit = None;
        ctx.journal.save()?;

        let version = ctx.journal.state.release.version.clone();
        let pkgs = ctx.journal.state.release.packages.clone();
        let siblings = packages::sibling_names(&pkgs);
        let mut changed = Vec::new();
        for p in &pkgs {
            changed.extend(packages::bump_package(&ctx.root, p, &siblings, &version)?);
        }
        changed.sort();
        changed.dedup();
        if changed.is_empty() {
            bail!("no version declaration changed; are the packages already at {version}?");
        }
        failpoint::hit("bump.after_edit");
        let commit = git::commit_paths(&ctx.repo, &changed, &version)?;
        failpoint::hit("bump.after_commit");
        ctx.journal.state.release.release_commit = Some(commit.to_string());
        Ok(format!(
            "{} file(s) changed in {} package(s); commit {commit}",
            changed.len(),
            pkgs.len()
        ))
    }
}
