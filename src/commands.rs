//! What each command does, in terms of the journal, the steps and the ops.
//!
//! Kept apart from `cli.rs` so that parsing stays thin and the demo can call
//! the same functions a user's command line does.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use git2::Repository;

use crate::config::Config;
use crate::journal::{
    self, Journal, Kind, Lock, Paths, Phase, Release, State, StepName, StepState,
};
use crate::nightly;
use crate::ops::{self, git};
use crate::packages;
use crate::recovery;
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

/// The journal's paths and the config, for what reads a command's outcome
/// afterwards (`report`).
pub fn locate(global: &Global) -> Result<(Paths, Config)> {
    let o = open(global)?;
    Ok((o.paths, o.config))
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
    let mut odd = packages::tracks::empty_tracks(&pkgs, &o.config);
    for track in packages::tracks::group(&pkgs, &o.config) {
        if !track.name.is_empty() {
            say!(
                "track {} ({}):",
                track.name,
                track.common_version().unwrap_or("?")
            );
        }
        let indent = if track.name.is_empty() { "" } else { "  " };
        for p in &track.packages {
            say!("{indent}{:width$}  {}  ({})", p.name, p.version, p.path);
        }
        let out = track.out_of_step();
        if !out.is_empty() {
            odd.push(format!(
                "{}: most packages are at {}, but not {}",
                track.label(),
                track.common_version().unwrap_or("?"),
                out.iter()
                    .map(|p| format!("{} ({})", p.name, p.version))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    if !odd.is_empty() {
        bail!(
            "versions are out of step, or a track has no package: {}. Set them equal within each track, or fix the track's globs (commit), then run `release version` again",
            odd.join("; ")
        );
    }
    Ok(())
}

/// What `release start` was asked for besides the version.
#[derive(Debug, Default)]
pub struct StartOptions {
    pub dry_run: bool,
    pub skip_prerelease_check: bool,
    /// `--track NAME=VERSION`, as given.
    pub tracks: Vec<String>,
    pub allow_shrink: Vec<String>,
    /// `--sign`: sign the tag whatever git's config says.
    pub sign: bool,
}

pub fn start(global: &Global, version: &str, options: &StartOptions) -> Result<()> {
    let StartOptions {
        dry_run,
        skip_prerelease_check,
        sign,
        ..
    } = *options;
    let overrides = packages::tracks::parse_overrides(&options.tracks)?;
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
            Some(j) if matches!(j.state().phase, Phase::Done | Phase::Aborted) => {
                finish_archive(&o.repo, j, o.config.build.keep_releases())?;
                Lock::acquire_existing(&o.paths)?
            }
            Some(j) => Some(j.into_lock()),
            None => Lock::acquire_existing(&o.paths)?,
        },
        None => None,
    };
    if let Some(existing) = journal::read(&o.paths.state())? {
        bail!(
            "a release of {} is already in the journal ({}): {}",
            existing.release.version,
            existing.phase.as_str(),
            recovery::next(&existing, false).says()
        );
    }
    let input = preflight::Input {
        root: &o.root,
        repo: &o.repo,
        config: &o.config,
        version,
        skip_prerelease_check,
        sign,
        overrides: &overrides,
    };
    say!("==> preflight");
    let plan = preflight::check(&input).map_err(|f| preflight::findings_error(version, &f))?;
    let note = preflight::plan_note(&plan);
    if dry_run {
        print_plan(&o, &plan, sign);
        say!("dry run: preflight found nothing to refuse; nothing was changed");
        return Ok(());
    }
    let lock = match held {
        Some(l) => l,
        None => Lock::acquire(&o.paths)?,
    };
    if journal::read(&o.paths.state())?.is_some() {
        bail!("another release was started meanwhile; see `release status`");
    }
    // One release at a time across machines, before anything changes.
    // Through a pull request, the open pull request is that lock (preflight
    // refused another): no lock is held across a review.
    let pull_request = match &o.config.pull_request {
        Some(pr) => Some(journal::PullRequest {
            branch: pr.branch_for(&plan.version.typed),
            repo: ops::forge::repo_name(&o.config, &o.repo)?,
            number: None,
            url: None,
            head: None,
            landed: None,
        }),
        None => None,
    };
    let remote_lock = match pull_request {
        Some(_) => None,
        None => take_remote_lock(&o, version)
            .map_err(|e| anyhow!("{e}").context("nothing was changed"))?,
    };
    let release = Release {
        version: plan.version.typed.clone(),
        normalized_version: plan.version.normalized(),
        previous_version: plan.previous_version.clone(),
        tag: plan.tag.clone(),
        branch: o.config.branch.clone(),
        remote: o.config.remote.clone(),
        base_commit: None,
        release_commit: None,
        next_dev_version: None,
        next_dev_commit: None,
        next_dev_edits: Vec::new(),
        packages: plan.packages.clone(),
        skip_prerelease_check,
        rolled_forward_from: None,
        bump_edits: Vec::new(),
        bump_hooks: None,
        track_overrides: overrides,
        allow_shrink: options.allow_shrink.clone(),
        remote_lock: remote_lock.map(|l| l.to_string()),
        rebuilt_from: None,
        sign,
        pull_request,
    };
    let mut state = State::new(release);
    state.publish.upload_url = plan.upload_url.clone();
    state.publish.index_url = plan.index_url.clone();
    let mut journal = match Journal::create(&o.paths, lock, state) {
        Ok(j) => j,
        Err(e) => {
            if let Some(l) = remote_lock {
                let _ = ops::remote_lock::release(&o.repo, &o.config.remote, &l.to_string());
            }
            return Err(e.into());
        }
    };
    journal.step_to(StepName::Preflight, StepState::Running, None)?;
    journal.step_to(StepName::Preflight, StepState::Done, Some(note.clone()))?;
    say!("    preflight done: {note}");
    steps::run(ctx(o, journal))
}

/// The bump's edits besides the versions: the notes heading made from
/// `## Unreleased`, and the hooks as they will run.
fn print_notes_and_hooks(o: &Opened, plan: &preflight::Plan) {
    let version = &plan.version.typed;
    let tracks = crate::notes::tracks_of(&plan.packages, version);
    let notes = &o.config.notes;
    if notes.unreleased && plan.version.is_final() {
        let text = std::fs::read_to_string(o.root.join(&notes.file)).unwrap_or_default();
        let style = crate::notes::Style::of(notes, tracks.clone());
        let date = chrono::Utc::now().format("%Y-%m-%d").to_string();
        say!(
            "  notes     {}: `## Unreleased` becomes `{}`",
            notes.file,
            crate::notes::new_heading(&text, version, &style, &date, 2)
        );
    }
    let vars = ops::hooks::Vars {
        version: version.clone(),
        prev_version: plan.previous_version.clone().unwrap_or_default(),
        tracks,
    };
    for h in &o.config.hooks.bump {
        say!(
            "  hook      {} (its changes join the release commit)",
            vars.fill(h)
        );
    }
}

/// `[release] next_dev`: the second commit and each track's next dev
/// version, or why there is none.
fn print_next_dev(o: &Opened, plan: &preflight::Plan) {
    if o.config.release.next_dev.0.is_none() || o.config.pull_request.is_some() {
        return;
    }
    let v = &plan.version.typed;
    match crate::steps::bump::next_dev_packages(&o.config, v, &plan.packages, None) {
        Ok(Some((next, pkgs))) => {
            let mut tracks: Vec<String> = Vec::new();
            for p in &pkgs {
                let line = format!("{} {}", p.track, p.release_version(&next.typed));
                if !p.track.is_empty() && !tracks.contains(&line) {
                    tracks.push(line);
                }
            }
            let tracks = match tracks.is_empty() {
                true => String::new(),
                false => format!(" ({})", tracks.join(", ")),
            };
            say!(
                "  next dev  {next}{tracks}: a second commit after the tagged release commit, pushed with it"
            );
        }
        Ok(None) => say!("  next dev  none: {v} is a dev release, so main is at one"),
        Err(e) => say!("  next dev  {e:#}"),
    }
}

fn print_plan(o: &Opened, plan: &preflight::Plan, sign: bool) {
    say!("plan:");
    say!(
        "  version   {} -> {} (files carry {})",
        plan.previous_version.as_deref().unwrap_or("?"),
        plan.version.typed,
        plan.version.normalized()
    );
    let how = match ops::sign::for_tags(&o.repo, sign) {
        Ok(Some(s)) => format!("annotated, signed with {}", s.describe()),
        _ => "annotated".into(),
    };
    say!("  tag       {} ({how})", plan.tag);
    if let Ok(Some(s)) = ops::sign::for_commits(&o.repo) {
        say!("  commit    signed with {}", s.describe());
    }
    print_notes_and_hooks(o, plan);
    print_next_dev(o, plan);
    say!("  push      {} to {}", o.config.branch, o.config.remote);
    say!(
        "  publish   {}",
        plan.upload_url.as_deref().unwrap_or("(no target)")
    );
    say!("  packages  {}", plan.packages.len());
    for m in plan.moves.iter().skip(1) {
        say!("  track     {} {} -> {}", m.track, m.from, m.to);
    }
    preflight::print_moves(&plan.packages, &plan.version.typed);
    for p in &plan.packages {
        let Some(conf) = o.config.package_config(&p.name, &p.normalized_name) else {
            continue;
        };
        let Some(glob) = conf.prebuilt.as_deref() else {
            continue;
        };
        let norm = crate::version::normalize(p.release_version(&plan.version.typed));
        let (wheels, _) =
            crate::steps::build::prebuilt_wheels(&o.root, conf, &p.normalized_name, &norm);
        say!(
            "  prebuilt  {}: {} wheel(s) from {glob}, checked; the sdist is built here",
            p.name,
            wheels.len()
        );
        for w in &wheels {
            say!(
                "    {}",
                w.file_name().unwrap_or_default().to_string_lossy()
            );
        }
    }
}

/// A journal that reached `done` or `aborted` but was not archived yet (the
/// runner died between the two writes): archive it now. Returns it otherwise.
fn finish_archive(repo: &Repository, journal: Journal, keep: usize) -> Result<Option<Journal>> {
    if !matches!(journal.state().phase, Phase::Done | Phase::Aborted) {
        return Ok(Some(journal));
    }
    let release = journal.state().release.clone();
    let phase = journal.state().phase.as_str();
    let archived = journal::tidy::archive(journal, keep)?;
    say!(
        "the release of {} was already {phase}; journal archived to {}",
        release.version,
        archived.display()
    );
    recovery::let_go_of_remote_lock(repo, &release);
    Ok(None)
}

pub fn resume(
    global: &Global,
    version: Option<&str>,
    announced: &[String],
    announce_again: &[String],
    allow_shrink: &[String],
) -> Result<()> {
    let o = open(global)?;
    let lock = Lock::acquire(&o.paths)?;
    let journal = match (Journal::load_or_lock(&o.paths, lock)?, version) {
        (Ok(j), Some(v)) => {
            let wanted = crate::version::normalize(v);
            if j.state().release.normalized_version != wanted {
                bail!(
                    "the journal is for {}, not {v}: finish it first (`release resume`), or `release abort` it",
                    j.state().release.version
                );
            }
            j
        }
        (Ok(j), None) => j,
        (Err(lock), Some(v)) => {
            crate::failpoint::hit("resume.without_journal");
            let norm = crate::version::normalize(v);
            if journal::history(&o.paths)
                .iter()
                .any(|s| s.phase == Phase::Done && s.release.normalized_version == norm)
            {
                say!(
                    "{v} was released already (its journal is in .release/history/); nothing to do"
                );
                return Ok(());
            }
            // Something to finish (a tag; through a pull request with no
            // tag yet, where it landed), then the remote lock: refused,
            // nothing is written.
            let untagged = crate::rebuild::remote_tag_of(&o.repo, &o.config, v)?.is_none();
            let found = if untagged && o.config.pull_request.is_some() {
                match crate::rebuild::pull_request_landing(&o.repo, &o.config, &o.paths, v)? {
                    Some(landing) => crate::rebuild::Found::Landed(Box::new(landing)),
                    None => return Ok(()),
                }
            } else if let Some(on_branch) = untagged
                .then(|| crate::rebuild::untagged_on_branch(&o.repo, &o.config, &o.paths, v))
                .transpose()?
                .flatten()
            {
                // Lost between the branch's push and the tag's: the
                // release commit is on the branch.
                crate::rebuild::Found::OnBranch(on_branch)
            } else {
                // Tagged, or nothing to finish: `examine` says which.
                crate::rebuild::Found::Tagged(crate::rebuild::examine(
                    &o.repo, &o.config, &o.paths, v,
                )?)
            };
            let remote_lock = take_remote_lock(&o, v)?;
            let rebuilt =
                crate::rebuild::from_found(&o.repo, &o.config, &o.paths, lock, found, remote_lock);
            match rebuilt {
                Ok(j) => j,
                Err(e) => {
                    if let Some(l) = remote_lock {
                        let _ =
                            ops::remote_lock::release(&o.repo, &o.config.remote, &l.to_string());
                    }
                    return Err(e);
                }
            }
        }
        (Err(_), None) => bail!(
            "no release in progress (no {}); start one with `release start VERSION`, \
             or in a clone without the journal of a pushed release, `release resume VERSION`",
            o.paths.state().display()
        ),
    };
    let Some(mut journal) = finish_archive(&o.repo, journal, o.config.build.keep_releases())?
    else {
        return Ok(());
    };
    journal.allow_shrink(allow_shrink)?;
    // A release waiting for its pull request holds no remote lock (the open
    // pull request is the lock): it is taken once the merge is seen.
    if journal.state().phase != Phase::Waiting {
        steps::hold_remote_lock(&o.repo, &o.config, &mut journal)?;
    }
    for c in announced {
        steps::announce::settle(&mut journal, c, true)?;
    }
    for c in announce_again {
        steps::announce::settle(&mut journal, c, false)?;
    }
    say!(
        "resuming the release of {} ({})",
        journal.state().release.version,
        journal.state().phase.as_str()
    );
    let ctx = ctx(o, journal);
    steps::push::notice_moved_branch(&ctx);
    steps::run(ctx)
}

/// Take the remote lock for `version` on the configured lease, unless
/// `[git] remote_lock = false` (then `None`, said once).
fn take_remote_lock(o: &Opened, version: &str) -> Result<Option<git2::Oid>> {
    if !o.config.git.remote_lock {
        say!(
            "note: `[git] remote_lock = false`: no lock on `{}` keeps another machine from releasing at the same time",
            o.config.remote
        );
        return Ok(None);
    }
    let lease = o.config.git.lock_lease();
    Ok(Some(ops::remote_lock::acquire(
        &o.repo,
        &o.config.remote,
        version,
        None,
        lease,
    )?))
}

/// `release unlock`: remove the remote lock whoever holds it, saying whose
/// it was. Refused while a release holding it runs in this clone.
pub fn unlock(global: &Global) -> Result<()> {
    let o = open(global)?;
    let remote = &o.config.remote;
    let Some(holder) = ops::remote_lock::holder(&o.repo, remote)? else {
        say!(
            "no release lock on `{remote}` ({}); nothing to remove",
            ops::remote_lock::LOCK_REF
        );
        return Ok(());
    };
    let ours = journal::read(&o.paths.state())?
        .and_then(|s| s.release.remote_lock)
        .is_some_and(|l| l == holder.lock_id.to_string());
    if ours && Lock::held_elsewhere(&o.paths) {
        bail!(
            "the lock is held by the release running in this clone right now ({}); wait for it to finish",
            holder.summary
        );
    }
    if !ops::remote_lock::remove(&o.repo, remote, Some(holder.oid))? {
        bail!(
            "the release lock on `{remote}` changed while it was being removed (its holder renewed it, or another runner took it); run `release unlock` again to see who holds it now"
        );
    }
    say!(
        "removed the release lock on `{remote}` ({}), held by {}",
        ops::remote_lock::LOCK_REF,
        holder.summary
    );
    Ok(())
}

/// `release status [--nightly] [--json]`: the release's journal, or the
/// nightly's; when there is none, the last one of that kind from the history.
pub fn status(global: &Global, json: bool, nightly: bool) -> Result<()> {
    let o = open(global)?;
    let (paths, kind) = if nightly {
        (Paths::nightly(&o.root), Kind::Nightly)
    } else {
        (o.paths.clone(), Kind::Release)
    };
    let state = journal::read(&paths.state())?;
    let Some(s) = state else {
        if json {
            say!("null");
        } else {
            say!("no {} in progress", kind.as_str());
            let last = journal::history(&paths)
                .into_iter()
                .filter(|s| s.kind == kind)
                .max_by_key(|s| s.updated_at);
            if let Some(last) = last {
                say!("the last one, from {}:", paths.history().display());
                print_state(&o, &last, false);
            }
            if !nightly {
                mention_nightly(&o)?;
            }
        }
        return Ok(());
    };
    if json {
        say!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    let running = Lock::held_elsewhere(&paths);
    print_state(&o, &s, running);
    if !nightly {
        mention_nightly(&o)?;
    }
    Ok(())
}

/// A nightly in progress, in one line under a release's status.
fn mention_nightly(o: &Opened) -> Result<()> {
    if let Some(n) = journal::read(&Paths::nightly(&o.root).state())? {
        say!(
            "nightly {} in its journal ({}): see `release status --nightly`",
            n.release.version,
            n.phase.as_str()
        );
    }
    Ok(())
}

fn print_state(o: &Opened, s: &State, running: bool) {
    let r = &s.release;
    say!(
        "{} {} (files {}) from {}: {}",
        s.kind.as_str(),
        r.version,
        r.normalized_version,
        r.previous_version.as_deref().unwrap_or("?"),
        s.phase.as_str()
    );
    match s.kind {
        Kind::Release => {
            // Only what happened: an aborted build never tagged or pushed.
            let tagged = match s.step_state(StepName::Tag) {
                StepState::Done => "tagged",
                StepState::Pending => "not tagged",
                _ => "being tagged",
            };
            let pushed = match s.step_state(StepName::Push) {
                // Through a pull request, the push is of the release branch.
                StepState::Done if r.pull_request.is_some() => {
                    format!("release branch pushed to {}", r.remote)
                }
                StepState::Done => format!("pushed to {}", r.remote),
                StepState::Pending => format!("not pushed to {}", r.remote),
                _ => format!("push to {} not confirmed", r.remote),
            };
            say!("  tag {} on {}: {tagged}, {pushed}", r.tag, r.branch);
            if let Some(pr) = &r.pull_request {
                let url = pr.url.as_deref().unwrap_or("not opened yet");
                say!("  pull request {url} ({} into {})", pr.branch, r.branch);
                match (&pr.landed, s.phase) {
                    (Some(landed), _) => say!("  landed as     {landed}"),
                    (None, Phase::Waiting) => say!(
                        "  merge {url}, then run `release resume` (or `release resume {}` in a fresh clone)",
                        r.version
                    ),
                    _ => {}
                }
            }
        }
        Kind::Nightly => say!(
            "  built from {}/{}; no commit, no tag{}",
            r.remote,
            r.branch,
            s.nightly_date()
                .map(|d| format!(" (the nightly of {d})"))
                .unwrap_or_default()
        ),
    }
    if let Some(b) = &r.base_commit {
        say!("  base commit    {b}");
    }
    if let Some(c) = &r.release_commit {
        let what = match s.kind {
            Kind::Release => "release commit",
            Kind::Nightly => "built commit  ",
        };
        say!("  {what} {c}");
    }
    if let Some(c) = &r.next_dev_commit {
        say!(
            "  next-dev commit {c} ({})",
            r.next_dev_version.as_deref().unwrap_or("?")
        );
    }
    let upload = ops::publish_target(&o.config)
        .map(|t| match t.trusted_publishing() {
            true => format!("{} (trusted publishing)", t.display_url()),
            false => t.display_url(),
        })
        .unwrap_or_else(|e| format!("none ({e})"));
    say!("  upload URL in use: {upload}");
    say!("  {} package(s)", r.packages.len());
    let mut tracks: Vec<(&str, &str, usize)> = Vec::new();
    for p in r.packages.iter().filter(|p| !p.track.is_empty()) {
        match tracks.iter_mut().find(|(t, _, _)| *t == p.track) {
            Some((_, _, n)) => *n += 1,
            None => tracks.push((&p.track, p.release_version(&r.version), 1)),
        }
    }
    for (track, version, n) in tracks {
        say!("    track {track}: {n} package(s) at {version}");
    }
    for step in &s.steps {
        // A step left `running` that no process holds was interrupted.
        let shown = match step.state {
            StepState::Running if !running && s.phase == Phase::InProgress => "interrupted",
            other => other.as_str(),
        };
        let mut line = format!("  {:10} {:11}", step.name.as_str(), shown);
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
                let unsure = ledger
                    .iter()
                    .filter(|f| f.state == journal::FileState::Uploading)
                    .count();
                if unsure > 0 {
                    line.push_str(&format!(
                        ", {unsure} sent or being sent (resume asks the index about each)"
                    ));
                }
            }
        }
        if let Some(e) = &step.error {
            line.push_str(&format!(" error: {}", e.lines().next().unwrap_or("")));
        } else if let Some(n) = &step.note {
            line.push_str(&format!(" {n}"));
        }
        say!("{line}");
    }
    say!("next: {}", recovery::next(s, running).says());
}

pub fn audit(global: &Global, version: &str) -> Result<()> {
    let o = open(global)?;
    let v = ReleaseVersion::parse(version)?;
    let norm = v.normalized();
    let target = ops::publish_target(&o.config)?;
    // The release or nightly in progress, else the last finished one.
    let current = [o.paths.clone(), Paths::nightly(&o.root)]
        .iter()
        .map(|p| journal::read(&p.state()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .find(|s| s.release.normalized_version == norm);
    let recorded = current.or_else(|| {
        journal::history(&o.paths)
            .into_iter()
            .rev()
            .find(|s| s.release.normalized_version == norm && s.publish.ledger.is_some())
    });
    let (packages, ledger) = match &recorded {
        Some(s) => (s.release.package_versions(), s.publish.ledger.clone()),
        None => (audit_versions(&o, &v)?, None),
    };
    say!(
        "auditing {version} ({norm}) on {} for {} package(s){}",
        target.display_url(),
        packages.len(),
        if ledger.is_some() {
            " against the recorded ledger"
        } else {
            " (no ledger: expecting an sdist and a wheel each)"
        }
    );
    let findings = steps::audit::audit(&target, &packages, ledger.as_deref())?;
    if findings.is_empty() {
        say!("audit passed: every package's files for {norm} are served");
        return Ok(());
    }
    for f in &findings {
        say!("  - {f}");
    }
    bail!("audit failed: {} finding(s) for {norm}", findings.len())
}

/// Without a recorded release: each package's version for `version`. When
/// its tag is here and its commit declares `version` for the primary track,
/// every package's version as that commit declares it (the branch may have
/// moved on since, e.g. to the next dev version). Else read from the working
/// tree: when the primary track declares `version`, every package's declared
/// version; else each track moved by the primary's step.
fn audit_versions(o: &Opened, version: &ReleaseVersion) -> Result<Vec<(String, String)>> {
    let tag = o.config.tag_name(&version.typed);
    if let Some(commit) = git::tag_commit(&o.repo, &tag) {
        let at = crate::rebuild::declared(&o.repo, &o.config, &o.paths, commit, &tag)?;
        let primary = o.config.track.first().map_or("", |t| t.name.as_str());
        let declares = at
            .packages
            .iter()
            .filter(|p| p.track == primary)
            .all(|p| crate::version::normalize(&p.version) == version.normalized());
        if declares && !at.packages.is_empty() {
            return Ok(at
                .packages
                .iter()
                .map(|p| {
                    (
                        p.normalized_name.clone(),
                        crate::version::normalize(&p.version),
                    )
                })
                .collect());
        }
    }
    let mut pkgs = packages::discover(&o.root, &o.config)?;
    let primary_declared = packages::tracks::group(&pkgs, &o.config)
        .first()
        .and_then(|t| t.common_version())
        .map(crate::version::normalize);
    let at_version = primary_declared.as_deref() == Some(version.normalized().as_str());
    if o.config.track.len() > 1 && at_version {
        for p in &mut pkgs {
            p.next_version = Some(p.version.clone());
        }
    } else if o.config.track.len() > 1 {
        packages::tracks::plan(&mut pkgs, &o.config, version, &Default::default()).map_err(
            |f| anyhow::anyhow!("cannot tell each track's version for {version}: {}; run `release audit` from a checkout of its tag", f.join("; ")),
        )?;
    } else {
        for p in &mut pkgs {
            p.next_version = Some(version.typed.clone());
        }
    }
    Ok(pkgs
        .iter()
        .map(|p| {
            (
                p.normalized_name.clone(),
                crate::version::normalize(p.release_version(&version.typed)),
            )
        })
        .collect())
}

/// `release nightly`: see [`nightly`].
pub fn nightly(global: &Global, args: &nightly::Args) -> Result<()> {
    let o = open(global)?;
    nightly::run(o.root, o.repo, o.config, args)
}

pub fn recover(global: &Global, to: Option<&str>) -> Result<()> {
    let o = open(global)?;
    let journal = load(&o)?;
    recovery::recover(&o.repo, &o.config, journal, to)
}

pub fn abort(global: &Global, version: Option<&str>) -> Result<()> {
    let o = open(global)?;
    let lock = Lock::acquire(&o.paths)?;
    match (Journal::load_or_lock(&o.paths, lock)?, version) {
        (Ok(journal), v) => {
            let r = &journal.state().release;
            if let Some(v) = v.filter(|v| crate::version::normalize(v) != r.normalized_version) {
                bail!(
                    "the journal is for {}, not {v}: `release abort` without a version gives that one up",
                    r.version
                );
            }
            recovery::abort(&o.repo, &o.config, journal, o.config.build.keep_releases())
        }
        (Err(_), Some(v)) if o.config.pull_request.is_some() => {
            recovery::abort_pull_request_of(&o.repo, &o.config, v)
        }
        (Err(_), _) => bail!(
            "no release in progress (no {}); start one with `release start VERSION`{}",
            o.paths.state().display(),
            match o.config.pull_request {
                Some(_) => ", or close the release pull request of a clone without it with `release abort VERSION`",
                None => "",
            }
        ),
    }
}
