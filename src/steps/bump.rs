//! Step 2, bump: rewrite every version declaration and sibling pin (and,
//! with `[notes] unreleased`, the notes' `## Unreleased` heading), run the
//! `[hooks] bump` commands, commit.
//!
//! The commit before the bump is journaled first (`base_commit`): it is what
//! `recover` and `abort` reset to, and what reconcile compares HEAD against to
//! tell "committed" from "half-edited" after a crash. The hooks are journaled
//! before the first one runs (`bump_hooks`), so that a crash during one is
//! undone from the base too, though what it changed was never planned.

use anyhow::{anyhow, bail, Result};
use git2::Oid;

use super::{Ctx, Reconciled, Step};
use crate::failpoint;
use crate::journal::{BumpEdit, HookChange, Paths, StepName};
use crate::notes;
use crate::ops::{self, git, hooks, sign};
use crate::packages;
use crate::recovery;
use crate::version::ReleaseVersion;

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
        let pins = packages::release_pins(&pkgs, &version);
        let mut edits = packages::Edits::new();
        let mut computed = Vec::new();
        for p in &pkgs {
            computed.extend(packages::bump_package(&ctx.root, p, &pins, &mut edits)?);
            // A maturin package's crate carries the version too.
            if let Some(v) = pins.get(&p.normalized_name) {
                packages::cargo::bump(&ctx.root, p, v, &mut edits)?;
            }
        }
        if !computed.is_empty() {
            say!(
                "    note: {} sibling pin(s) computed in code, left as written (they follow the version the code reads):",
                computed.len()
            );
            for c in &computed {
                say!("      {c}");
            }
        }
        if edits.is_empty() {
            bail!("no version declaration changed; are the packages already at {version}? Run `release abort`, then start a greater version");
        }
        plan_notes(ctx, &version, &pkgs, &mut edits)?;
        let hook_commands = ctx.config.hooks.bump.clone();
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
        // What the hooks change joins the release commit: so would any
        // change of the user's.
        if !hook_commands.is_empty() && !status.changed.is_empty() {
            bail!(
                "local changes in {}, which the bump hooks' changes would carry into the release commit: commit or stash them, then run `release resume`",
                crate::first_few(&status.changed, 8)
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
        Ok(format!(
            "{} file(s) changed in {} package(s); commit {commit}{signed}",
            changed.len(),
            pkgs.len()
        ))
    }
}

/// With `[notes] unreleased`, a final release's notes heading made from
/// `## Unreleased`, dated today (UTC), planned with the version edits so
/// it is journaled, committed and undone with them. Pre-releases leave it.
fn plan_notes(
    ctx: &Ctx,
    version: &str,
    pkgs: &[packages::Package],
    edits: &mut packages::Edits,
) -> Result<()> {
    let config = &ctx.config.notes;
    if !config.unreleased || !ReleaseVersion::parse(version)?.is_final() {
        return Ok(());
    }
    let file = config.file.clone();
    let text = match edits.get(&file) {
        Some(t) => t.clone(),
        None => std::fs::read_to_string(ctx.root.join(&file)).map_err(|e| {
            anyhow!("cannot read the notes file {file}: {e}; fix it, then run `release resume` (or `release abort`)")
        })?,
    };
    let style = notes::Style::of(config, notes::tracks_of(pkgs, version));
    let date = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let Some(new) = notes::promote_unreleased(&text, version, &style, &date) else {
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
