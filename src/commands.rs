//! What each command does, in terms of the journal, the steps and the ops.
//!
//! Kept apart from `cli.rs` so that parsing stays thin and the demo can call
//! the same functions a user's command line does.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use git2::{Oid, Repository};

use crate::config::Config;
use crate::failpoint;
use crate::journal::{self, Journal, Lock, Paths, Phase, Release, State, StepName, StepState};
use crate::ops::{self, git};
use crate::packages;
use crate::steps::{self, preflight, Ctx};
use crate::version::ReleaseVersion;

/// Options every command takes.
#[derive(Debug, Clone, Default)]
pub struct Global {
    pub repo: Option<PathBuf>,
    pub config: Option<PathBuf>,
}

struct Opened {
    root: PathBuf,
    repo: Repository,
    config: Config,
    paths: Paths,
}

fn open(global: &Global) -> Result<Opened> {
    let start = match &global.repo {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let repo = git::open(&start)?;
    let root = git::workdir(&repo)?;
    let config = match &global.config {
        Some(path) => Config::load(path, true)?,
        None => Config::load(&root.join("release.toml"), false)?,
    };
    let paths = Paths::new(&root);
    Ok(Opened {
        root,
        repo,
        config,
        paths,
    })
}

/// Take the lock and load the journal; an error if no release is in progress.
fn load(o: &Opened) -> Result<Journal> {
    let lock = Lock::acquire(&o.paths)?;
    Journal::load(&o.paths, lock)?.ok_or_else(|| {
        anyhow!(
            "no release in progress (no {}); start one with `release start VERSION`",
            o.paths.state().display()
        )
    })
}

fn ctx(o: Opened, journal: Journal) -> Ctx {
    Ctx {
        root: o.root,
        repo: o.repo,
        config: o.config,
        journal,
    }
}

pub fn version(global: &Global) -> Result<()> {
    let o = open(global)?;
    let pkgs = packages::discover(&o.root, &o.config)?;
    let width = pkgs.iter().map(|p| p.name.len()).max().unwrap_or(0);
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for p in &pkgs {
        println!("{:width$}  {}  ({})", p.name, p.version, p.path);
        *counts.entry(&p.version).or_default() += 1;
    }
    if counts.len() > 1 {
        let common = counts
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(v, _)| *v)
            .unwrap_or_default();
        let odd: Vec<String> = pkgs
            .iter()
            .filter(|p| p.version != common)
            .map(|p| format!("{} ({})", p.name, p.version))
            .collect();
        bail!(
            "versions differ: most packages are at {common}, but not {}",
            odd.join(", ")
        );
    }
    Ok(())
}

pub fn start(
    global: &Global,
    version: &str,
    dry_run: bool,
    skip_prerelease_check: bool,
) -> Result<()> {
    let o = open(global)?;
    // A runner already at work is refused at once; but nothing is created
    // until preflight has passed, so a refused start leaves no trace.
    let held = if dry_run {
        None
    } else {
        Lock::acquire_existing(&o.paths)?
    };
    let held = match held {
        Some(lock) => match Journal::load(&o.paths, lock)? {
            // A finished release whose archive was interrupted is archived now.
            Some(j) if matches!(j.state.phase, Phase::Done | Phase::Aborted) => {
                finish_archive(j)?;
                Lock::acquire_existing(&o.paths)?
            }
            Some(j) => Some(j.into_lock()),
            None => Lock::acquire_existing(&o.paths)?,
        },
        None => None,
    };
    if let Some(existing) = journal::read(&o.paths.state())? {
        bail!(
            "a release of {} is already in the journal ({}); run `{}`, or `release abort` to give it up",
            existing.release.version,
            existing.phase.as_str(),
            existing.next_action()
        );
    }
    let input = preflight::Input {
        root: &o.root,
        repo: &o.repo,
        config: &o.config,
        version,
        skip_prerelease_check,
    };
    println!("==> preflight");
    let plan = preflight::check(&input).map_err(|f| preflight::findings_error(version, &f))?;
    let note = preflight::plan_note(&plan);
    if dry_run {
        print_plan(&o, &plan);
        println!("dry run: preflight found nothing to refuse; nothing was changed");
        return Ok(());
    }
    let lock = match held {
        Some(l) => l,
        None => Lock::acquire(&o.paths)?,
    };
    if journal::read(&o.paths.state())?.is_some() {
        bail!("another release was started meanwhile; see `release status`");
    }
    let release = Release {
        version: plan.version.typed.clone(),
        normalized_version: plan.version.normalized(),
        previous_version: plan.previous_version.clone(),
        tag: plan.tag.clone(),
        branch: o.config.branch.clone(),
        remote: o.config.remote.clone(),
        base_commit: None,
        release_commit: None,
        packages: plan.packages.clone(),
        skip_prerelease_check,
        rolled_forward_from: None,
    };
    let mut state = State::new(release);
    state.publish.upload_url = plan.upload_url.clone();
    state.publish.index_url = plan.index_url.clone();
    let mut journal = Journal::create(&o.paths, lock, state)?;
    journal.step_to(StepName::Preflight, StepState::Running, None)?;
    journal.step_to(StepName::Preflight, StepState::Done, Some(note.clone()))?;
    println!("    preflight done: {note}");
    steps::run(ctx(o, journal))
}

fn print_plan(o: &Opened, plan: &preflight::Plan) {
    println!("plan:");
    println!(
        "  version   {} -> {} (files carry {})",
        plan.previous_version.as_deref().unwrap_or("?"),
        plan.version.typed,
        plan.version.normalized()
    );
    println!("  tag       {} (annotated)", plan.tag);
    println!("  push      {} to {}", o.config.branch, o.config.remote);
    println!(
        "  publish   {}",
        plan.upload_url.as_deref().unwrap_or("(no target)")
    );
    println!("  packages  {}", plan.packages.len());
    for p in &plan.packages {
        println!(
            "    {} {} -> {}  ({})",
            p.name, p.version, plan.version.typed, p.path
        );
    }
}

/// A journal that reached `done` or `aborted` but was not archived yet (the
/// runner died between the two writes): archive it now. Returns it otherwise.
fn finish_archive(journal: Journal) -> Result<Option<Journal>> {
    if !matches!(journal.state.phase, Phase::Done | Phase::Aborted) {
        return Ok(Some(journal));
    }
    let (version, phase) = (
        journal.state.release.version.clone(),
        journal.state.phase.as_str(),
    );
    let archived = journal.archive()?;
    println!(
        "the release of {version} was already {phase}; journal archived to {}",
        archived.display()
    );
    Ok(None)
}

pub fn resume(global: &Global, announced: &[String], announce_again: &[String]) -> Result<()> {
    let o = open(global)?;
    let Some(mut journal) = finish_archive(load(&o)?)? else {
        return Ok(());
    };
    for c in announced {
        steps::announce::settle(&mut journal, c, true)?;
    }
    for c in announce_again {
        steps::announce::settle(&mut journal, c, false)?;
    }
    println!(
        "resuming the release of {} ({})",
        journal.state.release.version,
        journal.state.phase.as_str()
    );
    steps::run(ctx(o, journal))
}

fn oid(hex: &Option<String>, what: &str) -> Result<Option<Oid>> {
    hex.as_deref()
        .map(|h| {
            Oid::from_str(h)
                .with_context(|| format!("the journal's {what} `{h}` is not a commit id"))
        })
        .transpose()
}

pub fn recover(global: &Global, to: Option<&str>) -> Result<()> {
    let o = open(global)?;
    let mut journal = load(&o)?;
    match journal.state.phase {
        Phase::RemoteDrift => {
            if to.is_some() {
                bail!("--to is for a burned release; this one is waiting for recovery from remote drift");
            }
            recover_drift(&o, &mut journal)
        }
        Phase::Burned => roll_forward(&o, journal, to),
        Phase::InProgress => bail!(
            "nothing to recover: the release of {} is in progress; run `release resume` (or `release abort`)",
            journal.state.release.version
        ),
        Phase::Done | Phase::Aborted => bail!("nothing to recover: the release is finished"),
    }
}

/// The documented recovery from a rejected push: reset to the commit before the
/// bump, delete the release tag, fast-forward to the remote, start again.
/// Each action is idempotent, so a crash half-way is fixed by running it again.
fn recover_drift(o: &Opened, journal: &mut Journal) -> Result<()> {
    let r = journal.state.release.clone();
    let base = oid(&r.base_commit, "base commit")?.ok_or_else(|| {
        anyhow!("the journal has no base commit to reset to; run `release abort`")
    })?;
    let release_commit = oid(&r.release_commit, "release commit")?;
    let head = git::head_commit(&o.repo)?;
    // A recover interrupted after its fast-forward finds HEAD at the remote head.
    let already_forwarded = git::remote_tracking(&o.repo, &r.remote, &r.branch) == Some(head)
        && git::is_ancestor(&o.repo, base, head);
    if !already_forwarded {
        if head != base && Some(head) != release_commit {
            bail!(
                "HEAD is {head}, neither the base commit {base} nor the release commit; \
                 refusing to reset over commits release did not make. Move them away, then run `release recover`"
            );
        }
        println!("resetting {} to the base commit {base}", r.branch);
        git::reset_hard(&o.repo, base)?;
        failpoint::hit("recover.after_reset");
    }
    if let (Some(c), Some(rc)) = (git::tag_commit(&o.repo, &r.tag), release_commit) {
        if c == rc {
            println!("deleting the local tag {}", r.tag);
            git::delete_tag(&o.repo, &r.tag)?;
        }
    }
    failpoint::hit("recover.after_tag_delete");
    let upstream = git::fetch_branch(&o.repo, &r.remote, &r.branch)?
        .ok_or_else(|| anyhow!("the remote `{}` has no branch `{}`", r.remote, r.branch))?;
    if !git::is_ancestor(&o.repo, base, upstream) {
        bail!(
            "{}/{} at {upstream} does not contain the base commit {base}: the remote history was rewritten; \
             fix the branch by hand, then `release abort` and start again",
            r.remote,
            r.branch
        );
    }
    println!(
        "fast-forwarding {} to {}/{} at {upstream}",
        r.branch, r.remote, r.branch
    );
    git::reset_hard(&o.repo, upstream)?;
    journal.state.release.base_commit = None;
    journal.state.release.release_commit = None;
    journal.restart(format!("recovered from remote drift onto {upstream}"))?;
    println!(
        "recovered: {} is at {upstream}; run `release resume` to release {} again from preflight",
        r.branch, r.version
    );
    Ok(())
}

/// A burned version can never be completed: archive it and start the next one.
fn roll_forward(o: &Opened, journal: Journal, to: Option<&str>) -> Result<()> {
    let old = journal.state.release.clone();
    let burned = ReleaseVersion::parse(&old.version)?;
    let next = match to {
        Some(v) => ReleaseVersion::parse(v)?,
        None => burned.roll_forward()?,
    };
    if next.parsed <= burned.parsed {
        bail!("{next} is not greater than the burned version {burned}");
    }
    let archived = journal.archive_copy()?;
    let packages = journal.state.release.packages.clone();
    let release = Release {
        version: next.typed.clone(),
        normalized_version: next.normalized(),
        previous_version: Some(old.version.clone()),
        tag: o.config.tag_name(&next.typed),
        branch: old.branch.clone(),
        remote: old.remote.clone(),
        base_commit: None,
        release_commit: None,
        packages,
        skip_prerelease_check: old.skip_prerelease_check,
        rolled_forward_from: Some(old.version.clone()),
    };
    let mut state = State::new(release);
    state.publish.upload_url = journal.state.publish.upload_url.clone();
    state.publish.index_url = journal.state.publish.index_url.clone();
    let mut journal = journal;
    journal.state = state;
    journal.note(
        "release",
        None,
        "in_progress",
        Some(format!("rolled forward from burned {}", old.version)),
    )?;
    println!(
        "{} is burned (archived to {}); rolled forward to {}. Its commit and tag stay: they are pushed. Run `release resume` to release {}",
        old.version,
        archived.display(),
        next,
        next
    );
    Ok(())
}

pub fn status(global: &Global, json: bool) -> Result<()> {
    let o = open(global)?;
    let state = journal::read(&o.paths.state())?;
    let Some(s) = state else {
        if json {
            println!("null");
        } else {
            println!("no release in progress");
            let last = journal::history(&o.paths)
                .into_iter()
                .max_by_key(|s| s.updated_at);
            if let Some(last) = last {
                println!("the last one, from {}:", o.paths.history().display());
                print_state(&o, &last);
            }
        }
        return Ok(());
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    print_state(&o, &s);
    Ok(())
}

fn print_state(o: &Opened, s: &State) {
    let r = &s.release;
    println!(
        "release {} (files {}) from {}: {}",
        r.version,
        r.normalized_version,
        r.previous_version.as_deref().unwrap_or("?"),
        s.phase.as_str()
    );
    println!("  tag {} on {}, pushed to {}", r.tag, r.branch, r.remote);
    if let Some(b) = &r.base_commit {
        println!("  base commit    {b}");
    }
    if let Some(c) = &r.release_commit {
        println!("  release commit {c}");
    }
    let upload = ops::publish_target(&o.config)
        .map(|t| t.display_url())
        .unwrap_or_else(|e| format!("none ({e})"));
    println!("  upload URL in use: {upload}");
    println!("  {} package(s)", r.packages.len());
    for step in &s.steps {
        let mut line = format!("  {:10} {:8}", step.name.as_str(), step.state.as_str());
        if step.attempts > 1 {
            line.push_str(&format!(" ({} attempts)", step.attempts));
        }
        if step.name == StepName::Publish {
            if let Some(ledger) = &s.publish.ledger {
                let up = ledger
                    .iter()
                    .filter(|f| f.state == journal::FileState::Uploaded)
                    .count();
                line.push_str(&format!(" {up}/{} files uploaded", ledger.len()));
            }
        }
        if let Some(e) = &step.error {
            line.push_str(&format!(" error: {}", e.lines().next().unwrap_or("")));
        } else if let Some(n) = &step.note {
            line.push_str(&format!(" {n}"));
        }
        println!("{line}");
    }
    println!("next: {}", s.next_action());
}

pub fn audit(global: &Global, version: &str) -> Result<()> {
    let o = open(global)?;
    let v = ReleaseVersion::parse(version)?;
    let norm = v.normalized();
    let target = ops::publish_target(&o.config)?;
    let current = journal::read(&o.paths.state())?.filter(|s| s.release.normalized_version == norm);
    let recorded = current.or_else(|| {
        journal::history(&o.paths)
            .into_iter()
            .rev()
            .find(|s| s.release.normalized_version == norm && s.publish.ledger.is_some())
    });
    let (packages, ledger) = match &recorded {
        Some(s) => (
            s.release
                .packages
                .iter()
                .map(|p| p.normalized_name.clone())
                .collect::<Vec<_>>(),
            s.publish.ledger.clone(),
        ),
        None => (
            packages::discover(&o.root, &o.config)?
                .into_iter()
                .map(|p| p.normalized_name)
                .collect(),
            None,
        ),
    };
    println!(
        "auditing {version} ({norm}) on {} for {} package(s){}",
        target.display_url(),
        packages.len(),
        if ledger.is_some() {
            " against the recorded ledger"
        } else {
            " (no ledger: expecting an sdist and a wheel each)"
        }
    );
    let findings = steps::audit::audit(&target, &packages, &norm, ledger.as_deref())?;
    if findings.is_empty() {
        println!("audit passed: every package's files for {norm} are served");
        return Ok(());
    }
    for f in &findings {
        println!("  - {f}");
    }
    bail!("audit failed: {} finding(s) for {norm}", findings.len())
}

pub fn abort(global: &Global) -> Result<()> {
    let o = open(global)?;
    let mut journal = load(&o)?;
    let r = journal.state.release.clone();
    if matches!(journal.state.phase, Phase::Done | Phase::Aborted) {
        bail!("the release of {} is already finished", r.version);
    }
    let release_commit = oid(&r.release_commit, "release commit")?;
    let push = journal.state.step_state(StepName::Push);
    if push == StepState::Done {
        bail!(
            "{} was already pushed; it cannot be aborted. Run `release resume` to finish it",
            r.version
        );
    }
    if push != StepState::Pending {
        if let Some(rc) = release_commit {
            let refs = git::ls_remote(&o.repo, &r.remote)?;
            if refs.branch(&r.branch) == Some(rc) || refs.tag_commit(&r.tag) == Some(rc) {
                bail!(
                    "{} already reached `{}`; it cannot be aborted. Run `release resume` to finish it",
                    r.version,
                    r.remote
                );
            }
        }
    }
    if let Some(base) = oid(&r.base_commit, "base commit")? {
        let head = git::head_commit(&o.repo)?;
        if head != base && Some(head) != release_commit {
            bail!(
                "HEAD is {head}, neither the base commit {base} nor the release commit; \
                 refusing to reset over commits release did not make"
            );
        }
        git::reset_hard(&o.repo, base)?;
        println!("reset to the base commit {base}");
        failpoint::hit("abort.after_reset");
    }
    if let (Some(c), Some(rc)) = (git::tag_commit(&o.repo, &r.tag), release_commit) {
        if c == rc {
            git::delete_tag(&o.repo, &r.tag)?;
            println!("deleted the local tag {}", r.tag);
        }
    }
    journal.phase_to(Phase::Aborted, None)?;
    let archived = journal.archive()?;
    println!(
        "aborted the release of {}; journal archived to {}",
        r.version,
        archived.display()
    );
    Ok(())
}
