//! Step 2, bump: rewrite every version declaration and sibling pin, commit.
//!
//! The commit before the bump is journaled first (`base_commit`): it is what
//! `recover` and `abort` reset to, and what reconcile compares HEAD against to
//! tell "committed" from "half-edited" after a crash.
//!
//! With `[release] next_dev`, a second commit on top of the release commit
//! moves every package to the next version's `.dev0` (the tag stays on the
//! release commit; the branch is pushed at the second). It is planned and
//! journaled the same way, so a crash between the two commits, or after the
//! second, resumes from what is in the repository.

use anyhow::{anyhow, bail, Result};
use git2::Oid;

use super::{Ctx, Reconciled, Step};
use crate::failpoint;
use crate::journal::{BumpEdit, StepName};
use crate::ops::{self, git, sign};
use crate::packages::{self, tracks};
use crate::recovery;
use crate::version::{self, ReleaseVersion};

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
        let recorded = release
            .release_commit
            .as_deref()
            .and_then(|c| Oid::from_str(c).ok());
        let release_commit = recorded
            .or_else(|| recovery::unrecorded_release_commit(&ctx.repo, base, &release.version));
        if let Some(rc) = release_commit {
            let next_dev = release
                .next_dev_commit
                .as_deref()
                .and_then(|c| Oid::from_str(c).ok())
                .or_else(|| recovery::unrecorded_next_dev_commit(&ctx.repo, rc));
            if next_dev == Some(head) {
                ctx.journal.set_release_commit(rc.to_string());
                ctx.journal.set_next_dev_commit(head.to_string());
                return Ok(Reconciled::Done(format!(
                    "release commit {rc} and next-dev commit {head} found at HEAD"
                )));
            }
            if head == rc {
                if !wants_next_dev(ctx) {
                    ctx.journal.set_release_commit(head.to_string());
                    return Ok(Reconciled::Done(format!(
                        "release commit {head} found at HEAD"
                    )));
                }
                // The next-dev commit is still to make: undo its half-written
                // edits (ours by their recorded content), then make it.
                let mine: Vec<(String, String)> = release
                    .next_dev_edits
                    .iter()
                    .map(|e| (e.path.clone(), e.sha256.clone()))
                    .collect();
                git::reset_keep(&ctx.repo, rc, &mine, "bump")?;
                ctx.journal.release_commit_found(rc.to_string())?;
                return Ok(Reconciled::Redo);
            }
        }
        bail!(
            "HEAD moved to {head} since the bump started from {base}: a commit release did not make. \
             Keep it on a branch (`git branch my-work`), run `git reset --keep {base}`, then `release resume` (or `release abort`)"
        )
    }

    fn run(&self, ctx: &mut Ctx) -> Result<String> {
        let head = git::head_commit(&ctx.repo)?;
        let version = ctx.journal.state().release.version.clone();
        let pkgs = ctx.journal.state().release.packages.clone();
        // Resumed after the release commit (reconcile recorded it at HEAD):
        // only the next-dev commit is left.
        if let Some(rc) = ctx.journal.state().release.release_commit.as_deref() {
            if Oid::from_str(rc)? == head && wants_next_dev(ctx) {
                let planned = next_dev_plan(ctx)?;
                let note = next_dev_commit(ctx, head, planned)?;
                return Ok(format!("release commit {head} made before; {note}"));
            }
        }
        let base = head;
        // Planned before anything changes: a next-dev plan that cannot be
        // made stops the bump with nothing written.
        let next_dev = next_dev_plan(ctx)?;
        let (edits, notes) = version_edits(&ctx.root, &ctx.config, &pkgs, &version)?;
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
        refuse_dirty(ctx, &edits)?;
        ctx.journal
            .bump_planned(base.to_string(), planned(&edits))?;
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
        let note = format!(
            "{} file(s) changed in {} package(s); commit {commit}{signed}",
            changed.len(),
            pkgs.len()
        );
        match next_dev {
            Some(planned) => Ok(format!(
                "{note}; {}",
                next_dev_commit(ctx, commit, Some(planned))?
            )),
            None => Ok(note),
        }
    }
}

/// The edits that give each package its version in `pkgs` (its
/// `next_version`, else `version`) in its declaration, in every sibling pin
/// (ranges as `[pins]` says), in a maturin crate and in each `[[replace]]`
/// file, read from the tree at `root`: what both the release commit and the
/// next-dev commit write. Also returns what was left as written.
pub fn version_edits(
    root: &std::path::Path,
    config: &crate::config::Config,
    pkgs: &[packages::Package],
    version: &str,
) -> Result<(packages::Edits, packages::BumpNotes)> {
    let mut edits = packages::Edits::new();
    let versions =
        packages::replace::Versions::of(pkgs, config, version, packages::replace::today());
    let notes = packages::plan_bump(root, config, pkgs, version, &versions, &mut edits).map_err(
        |e| match e {
            packages::replace::ReplaceError::Findings(f) => anyhow!(
                "[[replace]] cannot be applied, so nothing was changed:\n  - {}\nRun `release abort`, fix release.toml or the file, then start again",
                f.join("\n  - ")
            ),
            other => other.into(),
        },
    )?;
    Ok((edits, notes))
}

/// Refuse to write over local changes to a file `edits` rewrites.
fn refuse_dirty(ctx: &Ctx, edits: &packages::Edits) -> Result<()> {
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
    Ok(())
}

/// What bump is about to write, as the journal records it.
fn planned(edits: &packages::Edits) -> Vec<BumpEdit> {
    edits
        .iter()
        .map(|(path, text)| BumpEdit {
            path: path.clone(),
            sha256: ops::sha256_bytes(text.as_bytes()),
        })
        .collect()
}

/// Does this release make a next-dev commit? Once planned, the journal
/// says so; before, `[release] next_dev` (never through a pull request,
/// which the config refuses, nor after a dev release: main is at one).
fn wants_next_dev(ctx: &Ctx) -> bool {
    let r = &ctx.journal.state().release;
    if r.next_dev_version.is_some() {
        return true;
    }
    let Some(part) = ctx.config.release.next_dev.0 else {
        return false;
    };
    r.pull_request.is_none()
        && ReleaseVersion::parse(&r.version)
            .ok()
            .and_then(|v| version::next_dev(&v, part).ok().flatten())
            .is_some()
}

/// The next dev version and each package at it (moved from the version
/// this release gives it, each track by the primary's step), when this
/// release makes a next-dev commit.
fn next_dev_plan(ctx: &Ctx) -> Result<Option<(ReleaseVersion, Vec<packages::Package>)>> {
    if !wants_next_dev(ctx) {
        return Ok(None);
    }
    let r = &ctx.journal.state().release;
    let next = match &r.next_dev_version {
        Some(v) => ReleaseVersion::parse(v)?,
        None => {
            let part = ctx
                .config
                .release
                .next_dev
                .0
                .unwrap_or(version::Part::Minor);
            match version::next_dev(&ReleaseVersion::parse(&r.version)?, part)? {
                Some(v) => v,
                None => return Ok(None),
            }
        }
    };
    let mut pkgs: Vec<packages::Package> = r
        .packages
        .iter()
        .map(|p| packages::Package {
            version: p.release_version(&r.version).to_string(),
            next_version: None,
            ..p.clone()
        })
        .collect();
    tracks::plan(&mut pkgs, &ctx.config, &next, &Default::default()).map_err(|findings| {
        anyhow!(
            "cannot plan the next dev version {next} (`[release] next_dev`): {}; run `release abort`, fix release.toml or the versions, then start again",
            findings.join("; ")
        )
    })?;
    Ok(Some((next, pkgs)))
}

/// Make the next-dev commit on the release commit `release_commit` (at
/// HEAD): journal its plan, write, commit. Returns the note.
fn next_dev_commit(
    ctx: &mut Ctx,
    release_commit: Oid,
    plan: Option<(ReleaseVersion, Vec<packages::Package>)>,
) -> Result<String> {
    let Some((next, pkgs)) = plan else {
        return Ok("no next-dev commit".into());
    };
    let (edits, _) = version_edits(&ctx.root, &ctx.config, &pkgs, &next.typed)?;
    if edits.is_empty() {
        bail!("the next-dev commit would change nothing; run `release abort`, check the versions, then start again");
    }
    refuse_dirty(ctx, &edits)?;
    ctx.journal.next_dev_planned(
        release_commit.to_string(),
        next.typed.clone(),
        planned(&edits),
    )?;
    packages::write_edits(&ctx.root, &edits)?;
    failpoint::hit("bump.after_next_dev_edit");
    let changed: Vec<String> = edits.keys().cloned().collect();
    let message = next_dev_message(&next, &pkgs);
    let signer = sign::for_commits(&ctx.repo)?;
    let commit = git::commit_paths(&ctx.repo, &changed, &message, signer.as_ref())?;
    failpoint::hit("bump.after_next_dev_commit");
    ctx.journal.set_next_dev_commit(commit.to_string());
    Ok(format!(
        "then \"{}\" {commit}",
        message.lines().next().unwrap_or_default()
    ))
}

/// The next-dev commit's message: the primary's next dev version, and each
/// other track's.
fn next_dev_message(next: &ReleaseVersion, pkgs: &[packages::Package]) -> String {
    let mut tracks: Vec<String> = Vec::new();
    for p in pkgs {
        let v = p.release_version(&next.typed);
        if p.track.is_empty() || v == next.typed {
            continue;
        }
        let line = format!("{} {v}", p.track);
        if !tracks.contains(&line) {
            tracks.push(line);
        }
    }
    match tracks.is_empty() {
        true => format!("{}{}", recovery::NEXT_DEV_MESSAGE, next.typed),
        false => format!(
            "{}{} ({})",
            recovery::NEXT_DEV_MESSAGE,
            next.typed,
            tracks.join(", ")
        ),
    }
}
