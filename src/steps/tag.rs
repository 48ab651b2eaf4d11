//! Step 4, tag: an annotated tag on the release commit, signed as `git tag -s`
//! signs it when git's config (`tag.gpgSign`) or `release start --sign` asks.
//! Through a pull request, the commit it landed as (see `pull_request`).

use anyhow::{bail, Result};

use super::{Ctx, Reconciled, Step};
use crate::failpoint;
use crate::journal::StepName;
use crate::ops::{git, sign};

pub struct Tag;

impl Step for Tag {
    fn name(&self) -> StepName {
        StepName::Tag
    }

    fn reconcile(&self, ctx: &mut Ctx) -> Result<Reconciled> {
        if ctx.journal.state().release.pull_request.is_some() {
            return super::pull_request::tag_reconcile(ctx);
        }
        let tag = ctx.journal.state().release.tag.clone();
        let commit = ctx.release_commit()?;
        match git::tag_commit(&ctx.repo, &tag) {
            Some(c) if c == commit => {
                let wanted = sign::for_tags(&ctx.repo, ctx.journal.state().release.sign)?;
                let signed = git::is_signed_tag(&ctx.repo, &tag);
                if wanted.is_some() && !signed {
                    bail!(
                        "tag {tag} is on the release commit {commit} but is not signed, and signing was asked for; \
                         delete it with `git tag -d {tag}`, then run `release resume` to make a signed one"
                    );
                }
                let how = if signed { "signed " } else { "" };
                Ok(Reconciled::Done(format!(
                    "{how}tag {tag} already on {commit}"
                )))
            }
            Some(other) => bail!(
                "tag {tag} exists but points at {other}, not the release commit {commit}; \
                 delete it with `git tag -d {tag}` if it is stale, then run `release resume`"
            ),
            None => Ok(Reconciled::Redo),
        }
    }

    fn run(&self, ctx: &mut Ctx) -> Result<String> {
        if ctx.journal.state().release.pull_request.is_some() {
            return super::pull_request::tag(ctx);
        }
        let r = &ctx.journal.state().release;
        let (tag, version) = (r.tag.clone(), r.version.clone());
        let commit = ctx.release_commit()?;
        let signer = sign::for_tags(&ctx.repo, r.sign)?;
        git::create_annotated_tag(&ctx.repo, &tag, commit, &version, signer.as_ref())?;
        failpoint::hit("tag.after_create");
        Ok(match signer {
            Some(s) => format!(
                "annotated tag {tag} on {commit}, signed with {}",
                s.describe()
            ),
            None => format!("annotated tag {tag} on {commit}"),
        })
    }
}
