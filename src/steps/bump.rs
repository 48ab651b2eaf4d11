//! Step 2, bump: rewrite every version declaration and sibling pin, commit.
//!
//! The commit before the bump is journaled first (`base_commit`): it is what
//! `recover` and `abort` reset to, and what reconcile compares HEAD against to
//! tell "committed" from "half-edited" after a crash.

use anyhow::{bail, Result};
use git2::Oid;

use super::{Ctx, Reconciled, Step};
use crate::failpoint;
use crate::journal::{BumpEdit, StepName};
use crate::ops::{self, git, sign};
use crate::packages;
use crate::recovery;

pub struct Bump;

impl Step for Bump {
    fn name(&self) -> StepName {
        StepName::Bump
    }

    fn reconcile(&self, ctx: &mut Ctx) -> Result<Reconciled> {
        let release = &ctx.journal.state().release;
        let Some(base) = release.base_commit.as_deref() else {
            // Interrupted before the base was recorded: nothing was edited yet.
            return Ok(Reconciled::Redo);
        };
        let base = Oid::from_str(base)?;
        let head = git::head_commit(&ctx.repo)?;
        if head == base {
            // Our edits may be half-written: undo exactly those (recognised by
            // the content recorded before writing), keeping any work of the
            // user's. A file we wrote that the user changed since is theirs now.
            let changed = git::status(&ctx.repo)?.changed;
            let theirs: Vec<&str> = release
                .bump_edits
                .iter()
                .filter(|e| changed.contains(&e.path))
                .filter(|e| {
                    std::fs::read(ctx.root.join(&e.path))
                        .map(|b| ops::sha256_bytes(&b) != e.sha256)
                        .unwrap_or(true)
                })
                .map(|e| e.path.as_str())
                .collect();
            if !theirs.is_empty() {
                bail!(
                    "{} changed since bump wrote it, so it is not undone: commit or stash the change, then run `release resume` (or `release abort`)",
                    theirs.join(", ")
                );
            }
            git::reset_keep(&ctx.repo, base, &recovery::ours(release), "bump")?;
            return Ok(Reconciled::Redo);
        }
        if recovery::unrecorded_release_commit(&ctx.repo, base, &release.version) == Some(head) {
            ctx.journal.set_release_commit(head.to_string());
            return Ok(Reconciled::Done(format!(
                "release commit {head} found at HEAD"
            )));
        }
        bail!(
            "HEAD moved to {head} since the bump started from {base}: a commit release did not make. \
             Keep it on a branch (`git branch my-work`), run `git reset --keep {base}`, then `release resume` (or `release abort`)"
        )
    }

    fn run(&self, ctx: &mut Ctx) -> Result<String> {
        let base = git::head_commit(&ctx.repo)?;
        let version = ctx.journal.state().release.version.clone();
        let pkgs = ctx.journal.state().release.packages.clone();
        let mut edits = packages::Edits::new();
        let versions = packages::replace::Versions::of(
            &pkgs,
            &ctx.config,
            &version,
            packages::replace::today(),
        );
        let notes =
            packages::plan_bump(&ctx.root, &ctx.config, &pkgs, &version, &versions, &mut edits)
                .map_err(|e| match e {
                    packages::replace::ReplaceError::Findings(f) => anyhow::anyhow!(
                        "[[replace]] cannot be applied, so nothing was changed:\n  - {}\nRun `release abort`, fix release.toml or the file, then start again",
                        f.join("\n  - ")
                    ),
                    other => other.into(),
                })?;
        if !notes.computed.is_empty() {
            say!(
                "    note: {} sibling pin(s) computed in code, left as written (they follow the version the code reads):",
                notes.computed.len()
            );
            for c in &notes.computed {
                say!("      {c}");
            }
        }
        if !notes.ranges_left.is_empty() {
            say!(
                "    note: {} sibling range pin(s) left as written (`[pins] ranges = \"move\"` moves them):",
                notes.ranges_left.len()
            );
            for r in &notes.ranges_left {
                say!("      {r}");
            }
        }
        if edits.is_empty() {
            bail!("no version declaration changed; are the packages already at {version}? Run `release abort`, then start a greater version");
        }
        // Preflight saw a clean tree, but a resume skips it: never write over
        // a file the user has changed since.
        let status = git::status(&ctx.repo)?;
        let dirty: Vec<&String> = status
            .changed
            .iter()
            .chain(&status.untracked)
            .filter(|p| edits.contains_key(p.as_str()))
            .collect();
        if !dirty.is_empty() {
            bail!(
                "local changes in {}, which bump rewrites: commit or stash them, then run `release resume`",
                dirty.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
        let planned = edits
            .iter()
            .map(|(path, text)| BumpEdit {
                path: path.clone(),
                sha256: ops::sha256_bytes(text.as_bytes()),
            })
            .collect();
        ctx.journal.bump_planned(base.to_string(), planned)?;
        // Through a pull request the release commit goes on the release
        // branch: the configured branch stays where it was.
        if let Some(pr) = &ctx.journal.state().release.pull_request {
            git::start_branch(&ctx.repo, &pr.branch)?;
        }

        packages::write_edits(&ctx.root, &edits)?;
        failpoint::hit("bump.after_edit");
        let changed: Vec<String> = edits.keys().cloned().collect();
        let signer = sign::for_commits(&ctx.repo)?;
        let commit = git::commit_paths(&ctx.repo, &changed, &version, signer.as_ref())?;
        failpoint::hit("bump.after_commit");
        ctx.journal.set_release_commit(commit.to_string());
        let signed = signer
            .map(|s| format!(", signed with {}", s.describe()))
            .unwrap_or_default();
        Ok(format!(
            "{} file(s) changed in {} package(s); commit {commit}{signed}",
            changed.len(),
            pkgs.len()
        ))
    }
}
