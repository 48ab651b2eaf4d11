//! Step 2, bump: rewrite every version declaration and sibling pin (and,
//! with `[notes] unreleased`, the notes' `## Unreleased` heading), run the
//! `[hooks] bump` commands, commit.
//!
//! The commit before the bump is journaled first (`base_commit`): it is what
//! `recover` and `abort` reset to, and what reconcile compares HEAD against to
//! tell "committed" from "half-edited" after a crash. The hooks are journaled
//! before the first one runs (`bump_hooks`), so that a crash during one is
//! undone from the base too, though what it changed was never planned.
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
use crate::journal::{BumpEdit, HookChange, Paths, StepName};
use crate::notes;
use crate::ops::{self, git, hooks, sign};
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
        if head == base && release.bump_hooks.is_some() {
            return undo_hooks_after_crash(ctx, base);
        }
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
        let (mut edits, left) = version_edits(&ctx.root, &ctx.config, &pkgs, &version)?;
        if !left.computed.is_empty() {
            say!(
                "    note: {} sibling pin(s) computed in code, left as written (they follow the version the code reads):",
                left.computed.len()
            );
            for c in &left.computed {
                say!("      {c}");
            }
        }
        if !left.ranges_left.is_empty() {
            say!(
                "    note: {} sibling range pin(s) left as written (`[pins] ranges = \"move\"` moves them):",
                left.ranges_left.len()
            );
            for r in &left.ranges_left {
                say!("      {r}");
            }
        }
        if edits.is_empty() {
            bail!("no version declaration changed; are the packages already at {version}? Run `release abort`, then start a greater version");
        }
        unreleased_edit(
            &ctx.root,
            &ctx.config,
            &version,
            &pkgs,
            &packages::replace::today(),
            &mut edits,
        )?;
        let hook_commands = ctx.config.hooks.bump.clone();
        // Preflight saw a clean tree, but a resume skips it: never write over
        // a file the user has changed since.
        let changed_now = refuse_dirty(ctx, &edits)?;
        // What the hooks change joins the release commit: so would any
        // change of the user's.
        if !hook_commands.is_empty() && !changed_now.is_empty() {
            bail!(
                "local changes in {}, which the bump hooks' changes would carry into the release commit: commit or stash them, then run `release resume`",
                crate::first_few(&changed_now, 8)
            );
        }
        ctx.journal
            .bump_planned(base.to_string(), planned(&edits))?;
        // Through a pull request the release commit goes on the release
        // branch: the configured branch stays where it was.
        if let Some(pr) = &ctx.journal.state().release.pull_request {
            git::start_branch(&ctx.repo, &pr.branch)?;
        }

        packages::write_edits(&ctx.root, &edits)?;
        failpoint::hit("bump.after_edit");
        let mut changed: Vec<String> = edits.keys().cloned().collect();
        if !hook_commands.is_empty() {
            changed = run_hooks(ctx, base, &hook_commands)?;
        }
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
/// Returns the files with local changes (none of them one `edits` writes).
fn refuse_dirty(ctx: &Ctx, edits: &packages::Edits) -> Result<Vec<String>> {
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
    Ok(status.changed)
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
        Some(v) => Some(ReleaseVersion::parse(v)?),
        None => None,
    };
    next_dev_packages(&ctx.config, &r.version, &r.packages, next)
}

/// [`next_dev_plan`] from the plan: `release` as typed and its packages
/// (each with the version this release gives it); `next` when already
/// settled (journaled), else from `[release] next_dev`. Also what a dry run
/// shows.
pub fn next_dev_packages(
    config: &crate::config::Config,
    release: &str,
    pkgs: &[packages::Package],
    next: Option<ReleaseVersion>,
) -> Result<Option<(ReleaseVersion, Vec<packages::Package>)>> {
    let next = match next {
        Some(v) => v,
        None => {
            let part = config.release.next_dev.0.unwrap_or(version::Part::Minor);
            match version::next_dev(&ReleaseVersion::parse(release)?, part)? {
                // Spelled as main spelled its dev version before this
                // release: OpenTelemetry writes `1.45.0.dev`, not `.dev0`.
                Some(v) => match tracks::group(pkgs, config)
                    .first()
                    .and_then(|t| t.common_version())
                {
                    Some(before) => version::dev_spelled_like(v, before),
                    None => v,
                },
                None => return Ok(None),
            }
        }
    };
    let mut pkgs: Vec<packages::Package> = pkgs
        .iter()
        .map(|p| packages::Package {
            version: p.release_version(release).to_string(),
            next_version: None,
            ..p.clone()
        })
        .collect();
    tracks::plan(&mut pkgs, config, &next, &Default::default()).map_err(|findings| {
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

/// `[notes] unreleased`: a final release's `## Unreleased` heading made its
/// own, dated `date` (`YYYY-MM-DD`), as one more of the bump's edits. Also
/// what a release commit found in the world is checked against.
pub fn unreleased_edit(
    root: &std::path::Path,
    config: &crate::config::Config,
    version: &str,
    pkgs: &[packages::Package],
    date: &str,
    edits: &mut packages::Edits,
) -> Result<()> {
    let config = &config.notes;
    if !config.unreleased || !ReleaseVersion::parse(version)?.is_final() {
        return Ok(());
    }
    let file = config.file.clone();
    let text = match edits.get(&file) {
        Some(t) => t.clone(),
        None => std::fs::read_to_string(root.join(&file)).map_err(|e| {
            anyhow!("cannot read the notes file {file}: {e}; fix it, then run `release resume` (or `release abort`)")
        })?,
    };
    let style = notes::Style::of(config, notes::tracks_of(pkgs, version));
    let Some(new) = notes::promote_unreleased(&text, version, &style, date) else {
        bail!(
            "{file} has no `## Unreleased` heading to make the heading of {version} from ([notes] unreleased): add one, commit it, then run `release resume` (or `release abort`)"
        );
    };
    edits.insert(file, new);
    Ok(())
}

/// Run the bump hooks after the version edits; the paths the release
/// commit takes (the edits and what the hooks changed). A failing hook
/// puts the tree back at `base` first, so nothing is half-done.
fn run_hooks(ctx: &mut Ctx, base: Oid, commands: &[String]) -> Result<Vec<String>> {
    let before = hooks::untracked(&ctx.repo)?;
    ctx.journal.bump_hooks_starting(before.clone())?;
    let r = &ctx.journal.state().release;
    let vars = hooks::Vars {
        version: r.version.clone(),
        prev_version: r.previous_version.clone().unwrap_or_default(),
        tracks: notes::tracks_of(&r.packages, &r.version),
    };
    let give_up = |ctx: &Ctx, why: String| -> anyhow::Error {
        let undone = hooks::changes(&ctx.repo, &before)
            .and_then(|changed| hooks::undo(&ctx.repo, &ctx.root, base, &changed, None));
        match undone {
            Ok(()) => anyhow!(
                "{why}\nNothing was committed; the work tree is back at {base}."
            ),
            Err(e) => anyhow!(
                "{why}\nNothing was committed, but undoing the hooks' changes failed ({e}); run `release resume` to try again (or `release abort`)"
            ),
        }
    };
    for (i, template) in commands.iter().enumerate() {
        let command = vars.fill(template);
        say!("    hook: {command}");
        ctx.journal.bump_hook_started(command.clone())?;
        if let Err(e) = hooks::run(&ctx.root, &command, &vars) {
            return Err(give_up(ctx, e.to_string()));
        }
        let so_far = hooks::changes(&ctx.repo, &before)?;
        let so_far = hooks::snapshot(&ctx.root, &so_far)
            .into_iter()
            .map(|(path, sha256)| HookChange { path, sha256 })
            .collect();
        ctx.journal.bump_hook_finished(so_far)?;
        if i == 0 {
            failpoint::hit("bump.in_hook");
        }
    }
    let changed = hooks::changes(&ctx.repo, &before)?;
    if let Err(e) = hooks::committable(&ctx.root, &changed) {
        return Err(give_up(ctx, e.to_string()));
    }
    if let Some(missing) = missing_notes(ctx) {
        return Err(give_up(ctx, missing));
    }
    Ok(changed)
}

/// A final release that is announced needs its notes section; with bump
/// hooks, preflight cannot know it (a hook may write it), so it is looked
/// for here, in the tree about to be committed.
fn missing_notes(ctx: &Ctx) -> Option<String> {
    let r = &ctx.journal.state().release;
    let announcing = ctx.config.announce.slack.is_some() || ctx.config.announce.github.is_some();
    let version = ReleaseVersion::parse(&r.version).ok()?;
    if !announcing || !version.is_final() {
        return None;
    }
    let file = &ctx.config.notes.file;
    let text = std::fs::read_to_string(ctx.root.join(file)).unwrap_or_default();
    let style = notes::Style::of(&ctx.config.notes, notes::tracks_of(&r.packages, &r.version));
    notes::section(&text, &version, &style).is_none().then(|| {
        format!(
            "after the bump hooks, {file} has no `{}` section to announce {} with",
            notes::expected_heading(&r.version, &style),
            r.version
        )
    })
}

/// A crash during the bump hooks: see [`hooks::undo_interrupted`].
fn undo_hooks_after_crash(ctx: &mut Ctx, base: Oid) -> Result<Reconciled> {
    let release = &ctx.journal.state().release;
    let Some(ran) = &release.bump_hooks else {
        return Ok(Reconciled::Redo);
    };
    let aside = hooks::undone_dir(&Paths::new(&ctx.root).dir, &release.version);
    let copied = hooks::undo_interrupted(
        &ctx.repo,
        &ctx.root,
        base,
        &ran.untracked_before,
        &release.hooks_known(),
        &aside,
    )?;
    say!(
        "    the bump hooks were interrupted (started: {}); the work tree is put back as at {base}",
        ran.started.join("; ")
    );
    if !copied.is_empty() {
        say!(
            "    {} file(s) changed or made after the last hook finished ({}) were copied first to {}: a change of yours among them is there",
            copied.len(),
            crate::first_few(&copied, 8),
            aside.display()
        );
    }
    Ok(Reconciled::Redo)
}
