//! The eight release steps behind one trait, and the runner that drives them.
//!
//! Each step is a journaled transition: the runner writes `running` before the
//! step touches anything and `done` or `failed` after. A step found `running` or
//! `failed` was interrupted or refused, so before running it again the runner asks
//! it to [`Step::reconcile`] with the real world (refs, remote, index) and only
//! redoes what is not already there.

pub mod announce;
pub mod audit;
pub mod build;
pub mod bump;
pub mod preflight;
pub mod publish;
pub mod pull_request;
pub mod push;
pub mod tag;

use std::path::PathBuf;

use anyhow::Result;
use git2::Repository;

use crate::config::Config;
use crate::interrupt;
use crate::journal::{Journal, Kind, Phase, StepName, StepState};
use crate::recovery;

/// Everything a step may read or act on.
pub struct Ctx {
    pub root: PathBuf,
    pub repo: Repository,
    pub config: Config,
    pub journal: Journal,
}

impl Ctx {
    /// The release commit recorded by bump; an error if bump has not recorded one.
    pub fn release_commit(&self) -> Result<git2::Oid> {
        let hex = self.journal.state().release.release_commit.as_deref().ok_or_else(|| {
            anyhow::anyhow!("the journal has no release commit yet; run `release resume` so bump records it")
        })?;
        Ok(git2::Oid::from_str(hex)?)
    }
}

/// The publish target this release uses: the one journaled when it started
/// (upload and index URL, without credentials). A different one from the
/// config or the environment now is refused, naming both: half the files on
/// one index and half on another could never be audited.
pub fn pinned_target(ctx: &Ctx) -> Result<crate::ops::Target> {
    let target = crate::ops::publish_target(&ctx.config)?;
    let p = &ctx.journal.state().publish;
    let pairs = [
        ("upload", p.upload_url.as_deref(), target.display_url()),
        ("index", p.index_url.as_deref(), target.index_display_url()),
    ];
    for (what, journaled, now) in pairs {
        if let Some(journaled) = journaled.filter(|j| *j != now) {
            anyhow::bail!(
                "the {what} URL is now {now}, but this release publishes to {journaled} (journaled when it started); \
                 a release goes to one index. Restore the URL (`[publish]` in release.toml, or unset/reset TWINE_REPOSITORY_URL), then run `release resume`"
            );
        }
    }
    Ok(target)
}

/// The command that goes on with this journal, as messages name it:
/// `release resume`, or for a nightly `release nightly --date D`.
pub fn resume_command(ctx: &Ctx) -> String {
    match ctx.journal.state().nightly_date() {
        Some(date) => format!("release nightly --date {date}"),
        None => "release resume".into(),
    }
}

/// What reconciling an interrupted step found.
pub enum Reconciled {
    /// The step's effect is already in the world; the note says what was found.
    Done(String),
    /// Not (fully) done: run the step again.
    Redo,
}

pub trait Step {
    fn name(&self) -> StepName;
    /// Look at the world after an interruption and say whether the step is done.
    fn reconcile(&self, ctx: &mut Ctx) -> Result<Reconciled>;
    /// Do the step; returns a one-line note for the journal and the output.
    fn run(&self, ctx: &mut Ctx) -> Result<String>;
    /// Tidy up once the step's `done` is on disk: what nothing needs any
    /// more (the build's clean export).
    fn after_done(&self, _ctx: &Ctx) -> Result<()> {
        Ok(())
    }
}

/// Hold the remote lock for the journal's release: keep ours (taken back
/// in this checkout), take it again if it vanished or its lease ran out,
/// refuse when another runner holds it.
pub fn hold_remote_lock(repo: &Repository, config: &Config, journal: &mut Journal) -> Result<()> {
    let r = &journal.state().release;
    if matches!(journal.state().phase, Phase::Done | Phase::Aborted) || !config.git.remote_lock {
        return Ok(());
    }
    if r.remote_lock
        .as_deref()
        .is_some_and(crate::ops::remote_lock::holding)
    {
        return Ok(());
    }
    let oid = crate::ops::remote_lock::acquire(
        repo,
        &r.remote,
        &r.version,
        r.remote_lock.as_deref(),
        config.git.lock_lease(),
    )?;
    if r.remote_lock.as_deref() != Some(oid.to_string().as_str()) {
        journal.lock_taken(oid.to_string())?;
    }
    Ok(())
}

/// The step called `name`.
pub fn step(name: StepName) -> Box<dyn Step> {
    match name {
        StepName::Preflight => Box::new(preflight::Preflight),
        StepName::Bump => Box::new(bump::Bump),
        StepName::Build => Box::new(build::Build),
        StepName::Tag => Box::new(tag::Tag),
        StepName::Push => Box::new(push::Push),
        StepName::Publish => Box::new(publish::Publish),
        StepName::Audit => Box::new(audit::Audit),
        StepName::Announce => Box::new(announce::Announce),
    }
}

/// A release's steps, in its journal's order: through a pull request the
/// push (which opens it) comes before the tag (which waits for its merge).
pub fn all_of(state: &crate::journal::State) -> Vec<Box<dyn Step>> {
    state.step_order().iter().map(|&n| step(n)).collect()
}

/// Run every step that is not done, in order. On success the release is marked
/// done and archived to `.release/history/`. Interrupted (Ctrl-C, SIGTERM),
/// the remote lock is given back: `release resume` takes it again.
pub fn run(ctx: Ctx) -> Result<()> {
    let result = run_steps(ctx);
    if result
        .as_ref()
        .is_err_and(|e| e.downcast_ref::<interrupt::Interrupted>().is_some())
    {
        match crate::ops::remote_lock::give_back() {
            Ok(Some(remote)) => tell!(
                "gave back the release lock on `{remote}` ({})",
                crate::ops::remote_lock::LOCK_REF
            ),
            Ok(None) => {}
            Err(e) => tell!(
                "warning: the release lock was not given back ({e}); it runs out with its lease, or run `release unlock`"
            ),
        }
    }
    result
}

fn run_steps(mut ctx: Ctx) -> Result<()> {
    if !matches!(
        ctx.journal.state().phase,
        Phase::InProgress | Phase::Waiting
    ) {
        anyhow::bail!(
            "the {} of {} is {}: {}",
            ctx.journal.state().kind.as_str(),
            ctx.journal.state().release.version,
            ctx.journal.state().phase.as_str(),
            crate::recovery::next(ctx.journal.state(), false).says()
        );
    }
    let kind = ctx.journal.state().kind;
    let steps = match kind {
        Kind::Release => all_of(ctx.journal.state()),
        Kind::Nightly => nightly_steps(),
    };
    for step in steps {
        let name = step.name();
        if ctx.journal.state().phase == Phase::Waiting && name == StepName::Tag {
            match pull_request::gate(&mut ctx)? {
                pull_request::Gate::Go => {}
                pull_request::Gate::Wait => return Ok(()),
            }
        }
        let state = ctx.journal.state().step_state(name);
        if state == StepState::Done {
            continue;
        }
        if interrupt::requested() {
            return Err(interrupt::Interrupted.into());
        }
        if let Some(why) = crate::ops::remote_lock::lost() {
            anyhow::bail!(
                "stopped before {name}: {why}. Another release may be running now, so nothing more is done here; \
                 when it has finished, see `release status`, then `release resume` (it takes the lock again) or `release abort`"
            );
        }
        say!("==> {name}");
        if matches!(state, StepState::Running | StepState::Failed) {
            let found = step.reconcile(&mut ctx);
            match found {
                Ok(Reconciled::Done(note)) => {
                    say!("    already done: {note}");
                    ctx.journal.step_to(name, StepState::Done, Some(note))?;
                    step.after_done(&ctx)?;
                    continue;
                }
                Ok(Reconciled::Redo) => {}
                Err(e) => return Err(fail(&mut ctx, name, e)),
            }
        }
        ctx.journal.step_to(name, StepState::Running, None)?;
        match step.run(&mut ctx) {
            Ok(note) => {
                say!("    {name} done: {note}");
                ctx.journal.step_to(name, StepState::Done, Some(note))?;
                step.after_done(&ctx)?;
            }
            Err(e) => return Err(fail(&mut ctx, name, e)),
        }
    }
    recovery::clean_up(&ctx.repo, ctx.journal.state());
    ctx.journal.phase_to(Phase::Done, None)?;
    let release = ctx.journal.state().release.clone();
    let version = release.version.clone();
    let keep = ctx.config.build.keep_releases();
    let archived = crate::journal::tidy::archive(ctx.journal, keep)?;
    recovery::let_go_of_remote_lock(&ctx.repo, &release);
    let done = match kind {
        Kind::Release => "released",
        Kind::Nightly => "published the nightly",
    };
    say!(
        "{done} {version}; journal archived to {}",
        archived.display()
    );
    Ok(())
}

/// Record a failed step and turn the error into one that names the next command.
fn fail(ctx: &mut Ctx, name: StepName, e: anyhow::Error) -> anyhow::Error {
    if interrupt::requested() {
        // Whatever the step was doing when Ctrl-C came (a build killed by the
        // same signal, say) is an interruption, not a failure of the release.
        let note = format!("interrupted during {name}");
        if let Err(write) = ctx.journal.step_to(name, StepState::Failed, Some(note)) {
            return anyhow::Error::new(interrupt::Interrupted)
                .context(format!("recording the interruption failed: {write}"));
        }
        return interrupt::Interrupted.into();
    }
    let msg = format!("{e:#}");
    if let Err(write) = ctx.journal.step_to(name, StepState::Failed, Some(msg)) {
        return e.context(format!(
            "{name} failed, and recording that failed too: {write}"
        ));
    }
    let next = crate::recovery::next(ctx.journal.state(), false).says();
    let hint = match ctx.journal.state().phase {
        Phase::InProgress => format!("{name} failed; {next}"),
        _ => format!("{name} stopped the release; {next}"),
    };
    e.context(hint)
}

/// A nightly's steps: a release's without bump, tag and push.
fn nightly_steps() -> Vec<Box<dyn Step>> {
    vec![
        Box::new(preflight::NightlyPreflight),
        Box::new(build::Build),
        Box::new(publish::Publish),
        Box::new(audit::Audit),
        Box::new(announce::Announce),
    ]
}
