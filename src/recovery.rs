//! The ways out of a release that cannot simply go on: recovery from remote
//! drift, roll-forward of a version that cannot be published, and abort.
//!
//! They live together because they share their guards: each acts only on the
//! release branch, only over commits release made, and never discards work
//! release did not make (edited, staged or untracked files are kept, and a
//! reset that would overwrite them is refused, naming them).

use anyhow::{anyhow, bail, Context, Result};
use git2::{Oid, Repository};

use crate::config::Config;
use crate::failpoint;
use crate::journal::{Journal, Kind, Phase, Release, State, StepName, StepState};
use crate::ops::forge::{self, PullState};
use crate::ops::git::{self, PushResult};
use crate::version::ReleaseVersion;

/// Where a release stopped, as far as the way on is concerned: the one table
/// behind every failure message and `release status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Another process holds the lock: a release is running right now.
    Running,
    /// Finished (released): nothing to do for this one.
    Finished,
    /// Given up before the push: nothing of it reached the remote.
    Aborted,
    /// Stopped before anything reached the remote.
    ResumeOrAbort,
    /// The build failed (before the tag): most often the source's fault.
    AbortOrResume,
    /// Stopped during the push: the remote may or may not have it.
    PushInterrupted,
    /// The push was refused as non-fast-forward.
    RecoverDrift,
    /// After the push, stopped for a cause outside the source.
    ResumeOrRollForward,
    /// After the push, the version cannot be completed (burned).
    RollForward,
    /// A run died mid-step (killed, a machine gone) before the push: no
    /// process holds it and nothing failed.
    InterruptedBeforePush,
    /// A run died mid-step after the push.
    InterruptedAfterPush,
    /// Published, then audit or announce stopped: only `resume` is left.
    ResumeAfterPublish,
    /// A release through a pull request waits for its merge.
    Waiting,
    /// Its pull request was merged; tagging the landed commit is next.
    Landed,
    /// A nightly stopped: run it again for the same date.
    NightlyResume,
    /// A nightly finished (published, or superseded by a later date).
    NightlyFinished,
    /// A nightly whose files the index holds with other bytes.
    NightlyBurned,
}

/// The way on from `state`; `running` says whether the lock is held by
/// another process right now.
pub fn next(state: &State, running: bool) -> Next {
    if running {
        return Next::Running;
    }
    if state.kind == Kind::Nightly {
        // Nothing of a nightly is in git: it is finished, or run again.
        return match state.phase {
            Phase::Done | Phase::Aborted => Next::NightlyFinished,
            Phase::Burned => Next::NightlyBurned,
            Phase::InProgress | Phase::RemoteDrift | Phase::Waiting => Next::NightlyResume,
        };
    }
    let interrupted = state.phase == Phase::InProgress
        && state.steps.iter().any(|s| s.state == StepState::Running);
    if let Some(pr) = &state.release.pull_request {
        // Before its tag, a release through a pull request has nothing on
        // the branch but what the merge put there.
        match state.phase {
            Phase::Waiting => return Next::Waiting,
            Phase::InProgress if !pushed(state) && pr.landed.is_some() => return Next::Landed,
            Phase::InProgress
                if !pushed(state) && state.step_state(StepName::Push) != StepState::Pending =>
            {
                return match interrupted {
                    true => Next::InterruptedBeforePush,
                    false => Next::ResumeOrAbort,
                };
            }
            _ => {}
        }
    }
    match state.phase {
        Phase::Waiting => Next::Waiting,
        Phase::Done => Next::Finished,
        Phase::Aborted => Next::Aborted,
        Phase::InProgress if interrupted && pushed(state) => Next::InterruptedAfterPush,
        Phase::InProgress
            if interrupted && state.step_state(StepName::Push) == StepState::Pending =>
        {
            Next::InterruptedBeforePush
        }
        Phase::InProgress
            if pushed(state) && state.step_state(StepName::Publish) == StepState::Done =>
        {
            Next::ResumeAfterPublish
        }
        Phase::RemoteDrift => Next::RecoverDrift,
        Phase::Burned => Next::RollForward,
        Phase::InProgress if pushed(state) => Next::ResumeOrRollForward,
        Phase::InProgress if state.step_state(StepName::Push) != StepState::Pending => {
            Next::PushInterrupted
        }
        Phase::InProgress if state.step_state(StepName::Build) == StepState::Failed => {
            Next::AbortOrResume
        }
        Phase::InProgress => Next::ResumeOrAbort,
    }
}

/// Did the release reach the remote, as far as the journal knows? (The push
/// step done, or begun: `abort` asks the remote itself before acting.)
pub fn pushed(state: &State) -> bool {
    // Through a pull request, the tag is what reaches the remote last.
    let last = match state.release.pull_request {
        Some(_) => StepName::Tag,
        None => StepName::Push,
    };
    state.step_state(last) == StepState::Done
}

impl Next {
    /// The command to run first, as a user would type it.
    pub fn command(self) -> Option<&'static str> {
        match self {
            Next::Running | Next::Finished | Next::Aborted => None,
            Next::ResumeOrAbort
            | Next::ResumeOrRollForward
            | Next::PushInterrupted
            | Next::InterruptedBeforePush
            | Next::InterruptedAfterPush
            | Next::ResumeAfterPublish
            | Next::Waiting
            | Next::Landed => Some("release resume"),
            Next::RecoverDrift | Next::RollForward => Some("release recover"),
            Next::AbortOrResume => Some("release abort"),
            Next::NightlyResume => Some("release nightly"),
            Next::NightlyBurned | Next::NightlyFinished => None,
        }
    }

    /// One sentence: what to do, and what to fix first.
    pub fn says(self) -> &'static str {
        match self {
            Next::Running => "a release is running right now (another process holds .release/lock); wait for it, then run `release status`",
            Next::Finished => "nothing to do: this release is finished; start the next one with `release start VERSION`",
            Next::Aborted => "nothing to do: this release was aborted before anything was pushed; start again with `release start VERSION`",
            Next::ResumeOrAbort => "fix the cause, then run `release resume`; or `release abort` to go back to the base commit (nothing was pushed)",
            Next::AbortOrResume => "nothing was tagged or pushed: run `release abort` to go back to the base commit, fix the source, push the fix and start again; if the cause is the build environment (a missing tool), fix it and run `release resume`",
            Next::PushInterrupted => "fix the cause, then run `release resume` (it asks the remote first); if the push did reach the remote, `release recover` rolls forward to the next version, and if it did not, `release abort` goes back to the base commit",
            Next::InterruptedBeforePush => "the run was interrupted (no process holds it, and no step failed): run `release resume`, which checks the repository first and goes on; or `release abort` to go back to the base commit (nothing was pushed)",
            Next::InterruptedAfterPush => "the run was interrupted (no process holds it, and no step failed): run `release resume`, which asks the remote and the index first, so nothing is sent twice",
            Next::ResumeAfterPublish => "every file is published; fix the cause (network, a token), then run `release resume` to finish the audit and the announcements",
            Next::RecoverDrift => "run `release recover` (reset, delete the local tag, fast-forward to the remote), then `release resume`",
            Next::ResumeOrRollForward => "fix the cause (network, credentials, an index limit), then run `release resume`; if only a source change fixes it, push the fix to the branch, then `release recover` to roll forward to the next version, then `release resume`",
            Next::RollForward => "push a fix to the branch if one is needed, then run `release recover` to roll forward to the next version, then `release resume`",
            Next::Waiting => "the release waits for its pull request (`release status` shows it): merge it, then run `release resume` to tag the commit it lands as and publish; or `release abort` to close it and delete the release branch",
            Next::Landed => "the pull request was merged: run `release resume` to tag the commit it landed as and publish (it cannot be aborted now)",
            Next::NightlyResume => "fix the cause, then run `release nightly` again with the same `--date` (it asks the index before uploading anything); nothing was committed, tagged or pushed",
            Next::NightlyFinished => "nothing to do: this nightly is finished; the next date's runs with `release nightly`",
            Next::NightlyBurned => "this date's nightly can never be completed (an index never replaces a file); nothing was committed, tagged or pushed, and the next date's nightly (`release nightly`) is not affected",
        }
    }
}

/// A refusal that names the way on: what is refused, then what the table
/// says leads on from `next`, worded in one place.
pub fn refuse(what: impl std::fmt::Display, next: Next) -> anyhow::Error {
    anyhow!("{what}: {}", next.says())
}

fn oid(hex: &Option<String>, what: &str) -> Result<Option<Oid>> {
    hex.as_deref()
        .map(|h| {
            Oid::from_str(h)
                .with_context(|| format!("the journal's {what} `{h}` is not a commit id"))
        })
        .transpose()
}

/// HEAD, when it is the commit bump makes on `base` (its parent, with the
/// version as its message) though the journal has not recorded it yet.
pub fn unrecorded_release_commit(repo: &Repository, base: Oid, version: &str) -> Option<Oid> {
    let head = git::head_commit(repo).ok()?;
    (git::commit_parent(repo, head) == Some(base)
        && git::commit_message(repo, head).as_deref() == Some(version))
    .then_some(head)
}

/// How the next-dev commit's message starts (`[release] next_dev`).
pub const NEXT_DEV_MESSAGE: &str = "bump to the next dev version ";

/// HEAD, when it is the next-dev commit bump makes on `release_commit` (its
/// parent, its message naming the next dev version) though the journal has
/// not recorded it yet.
pub fn unrecorded_next_dev_commit(repo: &Repository, release_commit: Oid) -> Option<Oid> {
    let head = git::head_commit(repo).ok()?;
    unrecorded_next_dev_commit_at(repo, head, release_commit).then_some(head)
}

/// Is `commit` the next-dev commit bump makes on `release_commit` (its
/// parent, its message naming the next dev version)?
pub fn unrecorded_next_dev_commit_at(repo: &Repository, commit: Oid, release_commit: Oid) -> bool {
    git::commit_parent(repo, commit) == Some(release_commit)
        && git::commit_message(repo, commit).is_some_and(|m| m.starts_with(NEXT_DEV_MESSAGE))
}

/// The commits bump made on the base: the release commit and the next-dev
/// commit, recorded or (after a crash) recognised at HEAD.
pub fn made_by_bump(repo: &Repository, r: &Release) -> Result<Vec<Oid>> {
    let base = oid(&r.base_commit, "base commit")?;
    let release_commit = match oid(&r.release_commit, "release commit")? {
        Some(rc) => Some(rc),
        None => base.and_then(|b| unrecorded_release_commit(repo, b, &r.version)),
    };
    let next_dev = match oid(&r.next_dev_commit, "next-dev commit")? {
        Some(c) => Some(c),
        None => release_commit.and_then(|rc| unrecorded_next_dev_commit(repo, rc)),
    };
    Ok([release_commit, next_dev].into_iter().flatten().collect())
}

/// Bump's recorded edits, as [`git::reset_keep`] takes them: the files a
/// crashed bump may have left written, which are ours to undo (the release
/// commit's and the next-dev commit's).
pub fn ours(r: &Release) -> Vec<(String, String)> {
    r.bump_edits
        .iter()
        .chain(&r.next_dev_edits)
        .map(|e| (e.path.clone(), e.sha256.clone()))
        .collect()
}

/// Refuse unless HEAD is the base commit or a commit bump made (`made`:
/// the release commit, and the next-dev commit on it): anything else is a
/// commit release did not make, and resetting would drop it.
fn head_is_ours(repo: &Repository, base: Oid, made: &[Oid], then: &str) -> Result<Oid> {
    let head = git::head_commit(repo)?;
    if head != base && !made.contains(&head) {
        bail!(
            "HEAD is {head}, neither the base commit {base} nor a commit the release made; \
             refusing to reset over commits release did not make. Keep them on a branch \
             (`git branch my-work`), move the release branch back with `git reset --keep {}`, then run `{then}`",
            made.last().copied().unwrap_or(base)
        );
    }
    Ok(head)
}

/// Refuse unless the release branch is checked out: a reset moves HEAD's branch.
fn on_release_branch(repo: &Repository, branch: &str, then: &str) -> Result<()> {
    match git::current_branch(repo) {
        Some(b) if b == branch => Ok(()),
        Some(b) => bail!(
            "on branch `{b}`, not the release branch `{branch}`; refusing to move `{b}`. \
             Run `git switch {branch}`, then `{then}`"
        ),
        None => bail!(
            "HEAD is detached, not on the release branch `{branch}`. Run `git switch {branch}`, then `{then}`"
        ),
    }
}

/// `release recover`: after drift, reset and fast-forward; after a burned
/// publish, roll forward.
pub fn recover(
    repo: &Repository,
    config: &Config,
    mut journal: Journal,
    to: Option<&str>,
) -> Result<()> {
    match journal.state().phase {
        Phase::RemoteDrift => {
            if to.is_some() {
                bail!("--to is for a burned release; this one is waiting for recovery from remote drift: run `release recover` without it");
            }
            recover_drift(repo, &mut journal)
        }
        Phase::Burned => roll_forward(repo, config, journal, to),
        // After the push the user may always choose to roll forward (a
        // refusal only a source change fixes, or simply a fix to ship).
        Phase::InProgress if pushed(journal.state()) => roll_forward(repo, config, journal, to),
        Phase::InProgress => {
            // The push step may have failed after the branch got there (a
            // tag refused): then the release is on the remote all the same.
            let r = &journal.state().release;
            let reached = match oid(&r.release_commit, "release commit")? {
                Some(rc) => git::reached_push_target(repo, &r.remote, &r.branch, Some(&r.tag), rc)?,
                None => false,
            };
            if reached {
                return roll_forward(repo, config, journal, to);
            }
            Err(refuse(
                format_args!(
                    "nothing to recover: the release of {} was not pushed",
                    journal.state().release.version
                ),
                Next::ResumeOrAbort,
            ))
        }
        Phase::Waiting => Err(refuse("nothing to recover", Next::Waiting)),
        Phase::Done => Err(refuse("nothing to recover", Next::Finished)),
        Phase::Aborted => Err(refuse("nothing to recover", Next::Aborted)),
    }
}

/// The documented recovery from a rejected push: reset to the commit before the
/// bump, delete the release tag, fast-forward to the remote, start again.
/// Each action is idempotent, so a crash half-way is fixed by running it again.
fn recover_drift(repo: &Repository, journal: &mut Journal) -> Result<()> {
    let r = journal.state().release.clone();
    let base = oid(&r.base_commit, "base commit")?.ok_or_else(|| {
        anyhow!("the journal has no base commit to reset to; run `release abort`")
    })?;
    let release_commit = oid(&r.release_commit, "release commit")?;
    on_release_branch(repo, &r.branch, "release recover")?;
    let head = git::head_commit(repo)?;
    // A recover interrupted after its fast-forward finds HEAD at the remote head.
    let already_forwarded = git::remote_tracking(repo, &r.remote, &r.branch) == Some(head)
        && git::is_ancestor(repo, base, head);
    if !already_forwarded {
        head_is_ours(repo, base, &made_by_bump(repo, &r)?, "release recover")?;
        say!("resetting {} to the base commit {base}", r.branch);
        git::reset_keep(repo, base, &ours(&r), "recover")?;
        failpoint::hit("recover.after_reset");
    }
    if let (Some(c), Some(rc)) = (git::tag_commit(repo, &r.tag), release_commit) {
        if c == rc {
            say!("deleting the local tag {}", r.tag);
            git::delete_tag(repo, &r.tag)?;
        }
    }
    failpoint::hit("recover.after_tag_delete");
    let upstream = git::fetch_branch(repo, &r.remote, &r.branch)?.ok_or_else(|| {
        anyhow!(
            "the remote `{}` has no branch `{}`; push it, then run `release recover`",
            r.remote,
            r.branch
        )
    })?;
    if !git::is_ancestor(repo, base, upstream) {
        bail!(
            "{}/{} at {upstream} does not contain the base commit {base}: the remote history was rewritten; \
             fix the branch by hand, then `release abort` and start again",
            r.remote,
            r.branch
        );
    }
    say!(
        "fast-forwarding {} to {}/{} at {upstream}",
        r.branch,
        r.remote,
        r.branch
    );
    git::reset_keep(repo, upstream, &[], "recover")?;
    journal.restart(format!("recovered from remote drift onto {upstream}"))?;
    say!(
        "recovered: {} is at {upstream}; run `release resume` to release {} again from preflight",
        r.branch,
        r.version
    );
    Ok(())
}

/// A version that cannot be completed after its push: archive it and start
/// the next one from the tip of the remote branch, so that a fix pushed there
/// since is part of the new release. The old commit and tag stay: they are pushed.
fn roll_forward(
    repo: &Repository,
    config: &Config,
    journal: Journal,
    to: Option<&str>,
) -> Result<()> {
    let old = journal.state().release.clone();
    let burned = ReleaseVersion::parse(&old.version)?;
    let next = match (to, old.next_dev_version.as_deref()) {
        (Some(v), _) => ReleaseVersion::parse_new(v)?,
        // The branch went on to the next dev version (`[release] next_dev`):
        // the release it is heading to, which sorts after the branch's.
        (None, Some(dev)) => crate::version::heading_to(&ReleaseVersion::parse(dev)?)?,
        (None, None) => burned.roll_forward()?,
    };
    if next.parsed <= burned.parsed {
        bail!("{next} is not greater than the burned version {burned}; pick a greater one with `release recover --to VERSION`");
    }
    on_release_branch(repo, &old.branch, "release recover")?;
    let upstream = git::fetch_branch(repo, &old.remote, &old.branch)?.ok_or_else(|| {
        anyhow!(
            "the remote `{}` has no branch `{}`; push it, then run `release recover`",
            old.remote,
            old.branch
        )
    })?;
    let head = git::head_commit(repo)?;
    if !git::is_ancestor(repo, head, upstream) {
        bail!(
            "`{}` has commits that are not on `{}/{}`: push them (a fix belongs on the branch), then run `release recover`",
            old.branch,
            old.remote,
            old.branch
        );
    }
    if head != upstream {
        say!(
            "fast-forwarding {} to {}/{} at {upstream}",
            old.branch,
            old.remote,
            old.branch
        );
        git::reset_keep(repo, upstream, &[], "recover")?;
    }
    let archived = journal.archive_copy()?;
    let packages = journal.state().release.packages.clone();
    let release = Release {
        version: next.typed.clone(),
        normalized_version: next.normalized(),
        previous_version: Some(old.version.clone()),
        tag: config.tag_name(&next.typed),
        branch: old.branch.clone(),
        remote: old.remote.clone(),
        base_commit: None,
        release_commit: None,
        next_dev_version: None,
        next_dev_commit: None,
        next_dev_edits: Vec::new(),
        packages,
        skip_prerelease_check: old.skip_prerelease_check,
        rolled_forward_from: Some(old.version.clone()),
        bump_edits: Vec::new(),
        bump_hooks: None,
        // The branch tip declares the versions just released: every track
        // moves from there by the primary's step.
        track_overrides: Default::default(),
        allow_shrink: old.allow_shrink.clone(),
        // The same release goes on: it keeps the remote lock.
        remote_lock: old.remote_lock.clone(),
        rebuilt_from: None,
        sign: old.sign,
        // Through a pull request again: a new branch and pull request.
        pull_request: old
            .pull_request
            .as_ref()
            .map(|p| crate::journal::PullRequest {
                branch: config.pull_request.as_ref().map_or_else(
                    || p.branch.replace(&old.version, &next.typed),
                    |c| c.branch_for(&next.typed),
                ),
                repo: p.repo.clone(),
                number: None,
                url: None,
                head: None,
                landed: None,
            }),
    };
    let mut state = State::new(release);
    state.publish.upload_url = journal.state().publish.upload_url.clone();
    state.publish.index_url = journal.state().publish.index_url.clone();
    let mut journal = journal;
    journal.roll_forward_to(state)?;
    say!(
        "{} cannot be completed (archived to {}); rolled forward to {}. Its commit and tag stay: they are pushed. Run `release resume` to release {} from preflight",
        old.version,
        archived.display(),
        next,
        next
    );
    Ok(())
}

/// `release abort`: give up a release that did not reach the remote.
pub fn abort(
    repo: &Repository,
    config: &Config,
    journal: Journal,
    keep_releases: usize,
) -> Result<()> {
    let r = journal.state().release.clone();
    if matches!(journal.state().phase, Phase::Done | Phase::Aborted) {
        return Err(refuse(
            format_args!("the release of {} cannot be aborted", r.version),
            Next::Finished,
        ));
    }
    if r.pull_request.is_some() {
        return abort_pull_request(repo, config, journal, keep_releases);
    }
    let base = oid(&r.base_commit, "base commit")?;
    // A runner killed between the bump's commit and its journal record left
    // a release commit the journal does not name yet: recognised as bump's
    // reconcile does (on the base, with the version as its message).
    let release_commit = match oid(&r.release_commit, "release commit")? {
        Some(rc) => Some(rc),
        None => base.and_then(|b| unrecorded_release_commit(repo, b, &r.version)),
    };
    let push = journal.state().step_state(StepName::Push);
    if push == StepState::Done {
        return Err(refuse(
            format_args!("{} was already pushed; it cannot be aborted", r.version),
            Next::ResumeOrRollForward,
        ));
    }
    if push != StepState::Pending {
        if let Some(rc) = release_commit {
            let reached = git::reached_push_target(repo, &r.remote, &r.branch, Some(&r.tag), rc)
                .with_context(|| {
                    format!(
                        "cannot tell whether {} reached `{}`, so it is not aborted; run `release abort` again once the remote can be reached",
                        r.version, r.remote
                    )
                })?;
            if reached {
                return Err(refuse(
                    format_args!(
                        "{} already reached `{}` (the release commit is on `{}` there, or its tag is); it cannot be aborted",
                        r.version, r.remote, r.branch
                    ),
                    Next::ResumeOrRollForward,
                ));
            }
        }
    }
    if let Some(base) = base {
        let head = head_is_ours(repo, base, &made_by_bump(repo, &r)?, "release abort")?;
        if head != base {
            on_release_branch(repo, &r.branch, "release abort")?;
        }
        if let (true, Some(ran)) = (head == base, &r.bump_hooks) {
            // Killed during a bump hook: what it changed goes too.
            let root = git::workdir(repo)?;
            let aside =
                crate::ops::hooks::undone_dir(&crate::journal::Paths::new(&root).dir, &r.version);
            let copied = crate::ops::hooks::undo_interrupted(
                repo,
                &root,
                base,
                &ran.untracked_before,
                &r.hooks_known(),
                &aside,
            )?;
            if !copied.is_empty() {
                say!(
                    "put back {} file(s) changed or made after the last bump hook finished ({}), each copied first to {}: a change of yours among them is there",
                    copied.len(),
                    crate::first_few(&copied, 8),
                    aside.display()
                );
            }
        }
        git::reset_keep(repo, base, &ours(&r), "abort")?;
        if head != base {
            say!("reset {} to the base commit {base}", r.branch);
        }
        failpoint::hit("abort.after_reset");
    }
    if let (Some(c), Some(rc)) = (git::tag_commit(repo, &r.tag), release_commit) {
        if c == rc {
            git::delete_tag(repo, &r.tag)?;
            say!("deleted the local tag {}", r.tag);
        }
    }
    archive_aborted(repo, journal, keep_releases)
}

/// `release abort VERSION` in a clone without the journal (a CI runner's):
/// close the release pull request of VERSION (found by its marker) if it is
/// open, and delete its branch on the remote while it holds the commit that
/// pull request carries. Refused once it was merged.
pub fn abort_pull_request_of(repo: &Repository, config: &Config, version: &str) -> Result<()> {
    let v = ReleaseVersion::parse(version)?;
    let Some(prc) = &config.pull_request else {
        bail!("no `[pull_request]` in release.toml, and no journal here: nothing to abort");
    };
    let branch = prc.branch_for(&v.typed);
    let gh = forge::client(config, &forge::repo_name(config, repo)?)?;
    let Some(pull) = gh.release_pull(&branch, &v.typed)? else {
        bail!(
            "no journal here and no release pull request of {version} from `{branch}`: nothing to abort"
        );
    };
    match pull.state {
        PullState::Merged => {
            return Err(refuse(
                format_args!(
                    "the pull request #{} ({}) of {version} was merged; run `release resume {version}` to finish it",
                    pull.number, pull.url
                ),
                Next::Landed,
            ))
        }
        PullState::Open => {
            gh.close_pull(pull.number)?;
            say!("closed the pull request #{} ({})", pull.number, pull.url);
        }
        PullState::Closed => {}
    }
    let carried = pull.head_sha.as_deref().and_then(|h| Oid::from_str(h).ok());
    match git::ls_remote(repo, &config.remote)?.branch(&branch) {
        Some(at) if Some(at) == carried => {
            match git::push_if(repo, &config.remote, &format!(":refs/heads/{branch}"), Some(at))? {
                PushResult::Accepted => {
                    say!("deleted the release branch {branch} on `{}`", config.remote)
                }
                PushResult::NotFastForward(why) | PushResult::Rejected(why) => bail!(
                    "`{}` kept the release branch {branch} ({why}); delete it there, then start again",
                    config.remote
                ),
            }
        }
        Some(at) => say!(
            "the branch {branch} on `{}` is at {at}, not the commit the pull request carried: left as it is",
            config.remote
        ),
        None => {}
    }
    say!("aborted the release of {version} (no journal here); start again with `release start VERSION`");
    Ok(())
}

/// The abort's last act: the journal marked aborted and archived, the
/// remote lock given back.
fn archive_aborted(repo: &Repository, mut journal: Journal, keep_releases: usize) -> Result<()> {
    let r = journal.state().release.clone();
    journal.phase_to(Phase::Aborted, None)?;
    let archived = crate::journal::tidy::archive(journal, keep_releases)?;
    say!(
        "aborted the release of {}; journal archived to {}",
        r.version,
        archived.display()
    );
    let_go_of_remote_lock(repo, &r);
    Ok(())
}

/// `release abort` of a release through a pull request that was not
/// merged: close the pull request if it is open, delete the release branch
/// there (only at this release's commit) and here (back on the configured
/// branch first, our half-done edits undone), archive the journal.
fn abort_pull_request(
    repo: &Repository,
    config: &Config,
    journal: Journal,
    keep_releases: usize,
) -> Result<()> {
    let state = journal.state().clone();
    let r = &state.release;
    let Some(pr) = &r.pull_request else {
        return Ok(());
    };
    if pr.landed.is_some() || pushed(&state) {
        return Err(refuse(
            format_args!("the pull request of {} was merged", r.version),
            Next::Landed,
        ));
    }
    if state.step_state(StepName::Push) != StepState::Pending {
        let gh = forge::client(config, &pr.repo)?;
        let pull = match pr.number {
            Some(n) => Some(gh.pull(n)?),
            // Opened but not journaled: found by its marker.
            None => gh.release_pull(&pr.branch, &r.version)?,
        };
        match pull {
            Some(p) if p.state == PullState::Merged => {
                return Err(refuse(
                    format_args!(
                        "the pull request #{} ({}) of {} was merged",
                        p.number, p.url, r.version
                    ),
                    Next::Landed,
                ))
            }
            Some(p) if p.state == PullState::Open => {
                gh.close_pull(p.number)?;
                say!("closed the pull request #{} ({})", p.number, p.url);
            }
            _ => {}
        }
    }
    if let Some(base) = oid(&r.base_commit, "base commit")? {
        if git::current_branch(repo).as_deref() == Some(pr.branch.as_str()) {
            head_is_ours(repo, base, &made_by_bump(repo, r)?, "release abort")?;
            git::reset_keep(repo, base, &ours(r), "abort")?;
        }
        failpoint::hit("abort.after_reset");
    }
    clean_up(repo, &state);
    archive_aborted(repo, journal, keep_releases)
}

/// The release ended (done or aborted): give back the remote lock it holds.
/// A failure only warns, naming `release unlock`: the release itself is over.
pub fn let_go_of_remote_lock(repo: &Repository, r: &Release) {
    let Some(ours) = r.remote_lock.as_deref() else {
        return;
    };
    if let Err(e) = crate::ops::remote_lock::release(repo, &r.remote, ours) {
        tell!(
            "warning: the release lock on `{}` was not removed ({e}); run `release unlock` when no release is running",
            r.remote
        );
    }
}

/// After the release (or its abort): delete the release branch on the
/// remote if it still holds this release's commit, and the local one once
/// HEAD is back on the configured branch. What fails only warns: the
/// release itself is over.
pub fn clean_up(repo: &Repository, state: &State) {
    let Some(pr) = &state.release.pull_request else {
        return;
    };
    let r = &state.release;
    let ours: Vec<Oid> = [
        pr.head.as_deref(),
        r.release_commit.as_deref(),
        r.base_commit.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter_map(|h| Oid::from_str(h).ok())
    .collect();
    match git::ls_remote(repo, &r.remote).map(|refs| refs.branch(&pr.branch)) {
        Ok(Some(at)) if ours.contains(&at) => {
            match git::push_if(repo, &r.remote, &format!(":refs/heads/{}", pr.branch), Some(at)) {
                Ok(PushResult::Accepted) => say!("deleted the release branch {} on `{}`", pr.branch, r.remote),
                Ok(PushResult::NotFastForward(why) | PushResult::Rejected(why)) => tell!(
                    "warning: `{}` kept the release branch {} ({why}); delete it there when you like",
                    r.remote,
                    pr.branch
                ),
                Err(e) => tell!("warning: the release branch {} on `{}` was not deleted ({e})", pr.branch, r.remote),
            }
        }
        Ok(Some(at)) => tell!(
            "note: the release branch {} on `{}` is at {at}, a commit this release did not make: left as it is",
            pr.branch,
            r.remote
        ),
        Ok(None) => {}
        Err(e) => tell!("warning: could not look for the release branch on `{}` ({e})", r.remote),
    }
    if git::current_branch(repo).as_deref() == Some(pr.branch.as_str()) {
        match git::switch_to(repo, &r.branch) {
            Ok(()) => say!("switched back to `{}`", r.branch),
            Err(e) => {
                tell!(
                    "note: still on `{}` ({e}); the local branch is kept",
                    pr.branch
                );
                return;
            }
        }
    }
    let (local, merged) = (
        git::local_branch(repo, &r.branch),
        git::remote_tracking(repo, &r.remote, &r.branch),
    );
    if let (Some(local), Some(merged)) = (local, merged) {
        if local != merged && git::is_ancestor(repo, local, merged) {
            say!(
                "note: `{}` here is behind `{}/{}`, where the release landed: run `git pull` to bring it there",
                r.branch,
                r.remote,
                r.branch
            );
        }
    }
    match git::delete_branch_at(repo, &pr.branch, &ours) {
        Ok(true) => say!("deleted the local branch {}", pr.branch),
        Ok(false) => {}
        Err(e) => tell!(
            "warning: the local branch {} was not deleted ({e})",
            pr.branch
        ),
    }
}
