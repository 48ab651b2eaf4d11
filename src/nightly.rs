//! `release nightly`: every package published at the next version's dev
//! release (`0.6.5` → `0.6.6.devYYYYMMDD`, `0.6.5.pre1` →
//! `0.6.5rc2.devYYYYMMDD`), built from the tip of the release branch with no
//! release commit, no tag and no push.
//!
//! What differs from a release, and why:
//! - Versions and sibling pins are rewritten only inside the clean export the
//!   build step makes ([`packages::rewrite_export`]), so git never sees a nightly.
//! - Its journal is `.release/nightly.json` (`kind: nightly`; steps
//!   preflight, build, publish, audit, announce): a nightly never stands in a
//!   release's way, nor the other way round. They share `.release/lock`, so
//!   one runs at a time, and `.release/history/`.
//! - Once per date: a second run for a date finds it done (a finished nightly
//!   of that date in the history, or the index serving every package's files
//!   of its version) and exits 0. The same date with a nightly unfinished
//!   resumes it; a new date supersedes an unfinished older one (archived as
//!   aborted: nothing of it is in git, and the newer nightly sorts after it).
//!
//! The version rule is one pure function, [`packages::tracks::nightly_versions`], over each
//! package's own current version, so tracks (packages at different
//! versions) move the same way.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Result};
use git2::{Oid, Repository};
use thiserror::Error;

use crate::config::Config;
use crate::journal::{
    self, Journal, Kind, Lock, Paths, Phase, Release, State, StepName, StepState,
};
use crate::ops::{self, git};
use crate::packages::{self, Package};
use crate::steps::preflight::{self, Findings};
use crate::steps::{self, Ctx};

#[derive(Debug, Error)]
pub enum NightlyError {
    #[error("`{0}` is not a date written YYYYMMDD (e.g. 20240131)")]
    BadDate(String),
    #[error("--date {date} is outside 19700101..={latest} (today in UTC, or tomorrow): a nightly's date is forever on the index; pass a real date, or leave --date out for today")]
    DateOutOfRange { date: String, latest: String },
}

/// A `--date`: eight digits naming a real day; the number a dev release carries.
pub fn parse_date(text: &str) -> Result<u64, NightlyError> {
    let bad = || NightlyError::BadDate(text.to_string());
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = text.parse().map_err(|_| bad())?;
    let (y, m, d) = (
        (n / 10_000) as i32,
        (n / 100 % 100) as u32,
        (n % 100) as u32,
    );
    let day = chrono::NaiveDate::from_ymd_opt(y, m, d).ok_or_else(bad)?;
    // A dev number is forever on the index: a typo (`00240101`, `20420101`)
    // would sort before or after every real nightly. Tomorrow is allowed for
    // a runner ahead of UTC.
    let latest = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    if day < EARLIEST || day > latest {
        return Err(NightlyError::DateOutOfRange {
            date: text.to_string(),
            latest: latest.format("%Y%m%d").to_string(),
        });
    }
    Ok(n)
}

/// No nightly is older than this (the Unix epoch; PEP 440 dev numbers in use
/// are all later).
const EARLIEST: chrono::NaiveDate = match chrono::NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => chrono::NaiveDate::MIN,
};

/// Today (UTC) as a nightly's date.
pub fn today() -> u64 {
    let s = chrono::Utc::now().format("%Y%m%d").to_string();
    s.parse().unwrap_or(0)
}

/// What a nightly's preflight settled.
pub struct Plan {
    pub date: u64,
    /// The tip of the remote release branch, which is what gets built.
    pub commit: Oid,
    /// The primary track's version before, and its nightly version.
    pub previous: String,
    pub version: String,
    /// Each with its nightly version as `next_version` (tracks move alike).
    pub packages: Vec<Package>,
    pub target: Option<ops::Target>,
}

/// The packages as the commit has them (from a scratch export: the working
/// tree may be on another branch, or behind).
/// The export is kept for the checks that read other files of the commit
/// (`[[replace]]`).
fn packages_at(
    repo: &Repository,
    config: &Config,
    commit: Oid,
) -> Result<(tempfile::TempDir, Vec<Package>)> {
    let scratch = tempfile::Builder::new()
        .prefix("release-nightly")
        .tempdir()?;
    git::export_tree(repo, commit, scratch.path())?;
    let pkgs = packages::discover(scratch.path(), config)?;
    Ok((scratch, pkgs))
}

/// Preflight for a nightly: nothing changes (the fetch updates the
/// remote-tracking branch only). Every finding is reported.
pub fn check(repo: &Repository, config: &Config, date: u64) -> std::result::Result<Plan, Findings> {
    let mut f = Findings::default();
    let (branch, remote) = (&config.branch, &config.remote);
    let tip = match git::fetch_branch(repo, remote, branch) {
        Err(e) => {
            f.add(format!("cannot fetch from the remote: {e}"));
            None
        }
        Ok(None) => {
            f.add(format!("the remote `{remote}` has no branch `{branch}`"));
            None
        }
        Ok(Some(tip)) => Some(tip),
    };
    let (export, mut pkgs) = match tip.map(|t| packages_at(repo, config, t)) {
        Some(Ok((export, p))) => (Some(export), p),
        Some(Err(e)) => {
            f.add(format!("{e:#}"));
            (None, Vec::new())
        }
        None => (None, Vec::new()),
    };
    // An empty primary would let the next track name the nightly.
    if !pkgs.is_empty() {
        packages::tracks::empty_tracks(&pkgs, config)
            .into_iter()
            .for_each(|x| f.add(x));
    }
    // Each track in lockstep, as a release wants it; each moves alike.
    for track in packages::tracks::group(&pkgs, config) {
        let odd = track.out_of_step();
        if !odd.is_empty() {
            let each: Vec<String> = odd
                .iter()
                .map(|p| format!("{} is {}", p.name, p.version))
                .collect();
            f.add(format!(
                "{} at `{remote}/{branch}` are not at one version (most are {}): {}; a nightly moves each track in lockstep: run `release version` to see them all",
                track.label(),
                track.common_version().unwrap_or("?"),
                each.join(", ")
            ));
        }
    }
    let current: BTreeMap<String, String> = pkgs
        .iter()
        .map(|p| (p.normalized_name.clone(), p.version.clone()))
        .collect();
    match packages::tracks::nightly_versions(&current, date) {
        Err(e) => f.add(e.to_string()),
        Ok(next) => {
            for p in &mut pkgs {
                p.next_version = next.get(&p.normalized_name).cloned();
            }
        }
    }
    // The primary track's first package: its versions name the nightly.
    let primary = packages::tracks::group(&pkgs, config)
        .first()
        .and_then(|t| t.packages.first())
        .and_then(|p| Some((p.version.clone(), p.next_version.clone()?)));
    // Every `[[replace]]` entry applies to the export the build will
    // rewrite, as a release's preflight checks its bump.
    if let (Some(export), Some((_, version))) = (&export, &primary) {
        for found in packages::replace::findings(export.path(), config, &pkgs, version) {
            f.add(found);
        }
    }
    // Isolated builds need their environments: settled before anything is
    // made, as a release's preflight does (an air-gapped runner, a dead proxy).
    if let (Some(export), false) = (&export, pkgs.is_empty()) {
        preflight::check_build_envs(config, export.path(), &pkgs, &mut f);
    }
    let target = preflight::check_nightly_env(config, &mut f);
    match (tip, primary, f.items.is_empty()) {
        (Some(commit), Some((previous, version)), true) => Ok(Plan {
            date,
            commit,
            previous,
            version,
            packages: pkgs,
            target,
        }),
        _ => Err(f),
    }
}

/// Does the index serve every package's files (an sdist and a wheel each)
/// of its nightly version? Then the nightly was published, by whatever run.
fn served(target: &ops::Target, pkgs: &[Package], version: &str) -> bool {
    let versions: Vec<(String, String)> = pkgs
        .iter()
        .map(|p| {
            let v = crate::version::normalize(p.release_version(version));
            (p.normalized_name.clone(), v)
        })
        .collect();
    matches!(steps::audit::audit(target, &versions, None), Ok(f) if f.is_empty())
}

/// What `release nightly` was asked.
pub struct Args<'a> {
    /// As [`parse_date`] makes it; today (UTC) when `None`.
    pub date: Option<u64>,
    pub dry_run: bool,
    pub announced: &'a [String],
    pub announce_again: &'a [String],
    /// `--allow-shrink PACKAGE`, as for a release.
    pub allow_shrink: &'a [String],
}

/// `release nightly`: finish, resume or supersede a nightly in the journal,
/// then (unless that date is done) check, and run the steps.
pub fn run(root: PathBuf, repo: Repository, config: Config, args: &Args) -> Result<()> {
    let date = args.date.unwrap_or_else(today);
    let paths = Paths::nightly(&root);
    if !args.dry_run {
        // Nothing is created before preflight passes: the lock only if it exists.
        if let Some(lock) = Lock::acquire_existing(&paths)? {
            if let Some(journal) = Journal::load(&paths, lock)? {
                match settle(journal, date)? {
                    Settled::Resume(mut journal) => {
                        for c in args.announced {
                            steps::announce::settle(&mut journal, c, true)?;
                        }
                        for c in args.announce_again {
                            steps::announce::settle(&mut journal, c, false)?;
                        }
                        journal.allow_shrink(args.allow_shrink)?;
                        let ctx = Ctx {
                            root,
                            repo,
                            config,
                            journal: *journal,
                        };
                        return steps::run(ctx);
                    }
                    Settled::Done => return Ok(()),
                    Settled::Gone => {}
                }
            }
        }
    }
    if !args.announced.is_empty() || !args.announce_again.is_empty() {
        bail!("--announced and --announce-again settle an interrupted announcement of a nightly in progress, and there is none for {date}");
    }
    let history = journal::history(&paths);
    let done = history
        .iter()
        .rev()
        .find(|s| s.phase == Phase::Done && s.nightly_date() == Some(date));
    if let Some(done) = done {
        say!(
            "the nightly of {date} was published already ({}, from {}); nothing to do",
            done.release.version,
            done.release.release_commit.as_deref().unwrap_or("?")
        );
        return Ok(());
    }
    say!("==> preflight");
    let plan = check(&repo, &config, date)
        .map_err(|f| preflight::findings_error_for(&format!("the nightly of {date}"), &f))?;
    if let Some(t) = plan.target.as_ref() {
        if served(t, &plan.packages, &plan.version) {
            say!(
                "the index already serves every package's files of {} (the nightly of {date}); nothing to do",
                plan.version
            );
            return Ok(());
        }
    }
    if args.dry_run {
        print_plan(&config, &plan);
        say!("dry run: preflight found nothing to refuse; nothing was changed");
        return Ok(());
    }
    let lock = Lock::acquire(&paths)?;
    if journal::read(&paths.state())?.is_some() {
        bail!("another nightly was started meanwhile; see `release status --nightly`");
    }
    let release = Release {
        version: plan.version.clone(),
        normalized_version: plan.version.clone(),
        previous_version: Some(plan.previous.clone()),
        tag: String::new(),
        branch: config.branch.clone(),
        remote: config.remote.clone(),
        base_commit: None,
        release_commit: Some(plan.commit.to_string()),
        next_dev_version: None,
        next_dev_commit: None,
        next_dev_edits: Vec::new(),
        packages: plan.packages.clone(),
        skip_prerelease_check: false,
        rolled_forward_from: None,
        bump_edits: Vec::new(),
        bump_hooks: None,
        track_overrides: Default::default(),
        allow_shrink: args.allow_shrink.to_vec(),
        // Nothing is pushed, so no release lock is taken on the remote.
        remote_lock: None,
        rebuilt_from: None,
        sign: false,
        pull_request: None,
    };
    let note = preflight::nightly_plan_note(&release);
    let mut state = State::new_of(Kind::Nightly, release);
    state.publish.upload_url = plan.target.as_ref().map(|t| t.display_url());
    state.publish.index_url = plan.target.as_ref().map(|t| t.index_display_url());
    let mut journal = Journal::create(&paths, lock, state)?;
    journal.step_to(StepName::Preflight, StepState::Running, None)?;
    journal.step_to(StepName::Preflight, StepState::Done, Some(note.clone()))?;
    say!("    preflight done: {note}");
    steps::run(Ctx {
        root,
        repo,
        config,
        journal,
    })
}

enum Settled {
    /// The nightly of this date, unfinished: go on with it.
    Resume(Box<Journal>),
    /// The nightly of this date was finished: nothing to do.
    Done,
    /// No nightly in the journal any more: start one.
    Gone,
}

/// A nightly in the journal when `release nightly` for `date` starts.
fn settle(mut journal: Journal, date: u64) -> Result<Settled> {
    let state = journal.state();
    let (version, phase, theirs) = (
        state.release.version.clone(),
        state.phase,
        state.nightly_date(),
    );
    let finished = matches!(phase, Phase::Done | Phase::Aborted);
    if theirs == Some(date) && !finished {
        say!("resuming the nightly {version} ({})", phase.as_str());
        return Ok(Settled::Resume(Box::new(journal)));
    }
    // Only a newer date supersedes: an older one would throw away the later
    // nightly's progress for files that sort before it.
    if let Some(later) = theirs.filter(|t| !finished && *t > date) {
        bail!(
            "the unfinished nightly {version} is of {later}, later than {date}: an earlier date does not supersede it. \
             Finish it with `release nightly --date {later}`, or run a later date"
        );
    }
    if !finished {
        journal.phase_to(
            Phase::Aborted,
            Some(format!("superseded by the nightly of {date}")),
        )?;
    }
    let archived = journal.archive()?;
    if finished {
        // The run ended between its last two writes: archived now.
        say!(
            "the nightly {version} was already {}; journal archived to {}",
            phase.as_str(),
            archived.display()
        );
    } else {
        say!(
            "the unfinished nightly {version} is superseded by the nightly of {date}; its journal is archived to {}",
            archived.display()
        );
    }
    if phase == Phase::Done && theirs == Some(date) {
        say!("the nightly of {date} was published already; nothing to do");
        return Ok(Settled::Done);
    }
    Ok(Settled::Gone)
}

fn print_plan(config: &Config, plan: &Plan) {
    say!("plan:");
    say!(
        "  nightly   {} -> {} (no commit, no tag)",
        plan.previous,
        plan.version
    );
    say!(
        "  from      {}/{} at {}",
        config.remote,
        config.branch,
        plan.commit
    );
    say!(
        "  publish   {}",
        plan.target
            .as_ref()
            .map(|t| t.display_url())
            .unwrap_or_else(|| "(no target)".into())
    );
    say!("  packages  {}", plan.packages.len());
    preflight::print_moves(&plan.packages, &plan.version);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_real_days() {
        assert_eq!(parse_date("20240229").unwrap(), 20240229);
        for bad in [
            "20230229",
            "2024131",
            "2024-01-31",
            "20241301",
            "abcdefgh",
            "",
            "+2024013",
            "00000101",
            "99991231",
            "19691231",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }
}
