//! Step 4, tag: an annotated tag on the release commit.

use anyhow::{bail, Result};

use super::{Ctx, Reconciled, Step};
use crate::failpoint;
use crate::journal::StepName;
use crate::ops::git;

pub struct Tag;

impl Step for Tag {
    fn name(&self) -> StepName {
        StepName::Tag
    }

    fn reconcile(&self, ctx: &mut Ctx) -> Result<Reconciled> {
        let tag = ctx.journal.state().release.tag.clone();
        let commit = ctx.release_commit()?;
        match git::tag_commit(&ctx.repo, &tag) {
            Some(c) if c == commit => {
                Ok(Reconciled::Done(format!("tag {tag} already on {commit}")))
            }
            Some(other) => bail!(
                "tag {tag} exists but points at {other}, not the release commit {commit}; \
                 delete it with `git tag -d {tag}` if it is stale, then run `release resume`"
            ),
            None => Ok(Reconciled::Redo),
        }
    }

    fn run(&self, ctx: &mut Ctx) -> Result<String> {
        let tag = ctx.journal.state().release.tag.clone();
        let version = ctx.journal.state().release.version.clone();
        let commit = ctx.release_commit()?;
        git::create_annotated_tag(&ctx.repo, &tag, commit, &version)?;
        failpoint::hit("tag.after_create");
        Ok(format!("annotated tag {tag} on {commit}"))
    }
}
