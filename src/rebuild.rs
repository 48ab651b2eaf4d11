//! `release resume VERSION` in a clone without the journal: rebuild it from
//! the world.
//!
//! A CI runner can vanish mid-release and take `.release/` with it. What
//! lasts is the world: the tag on the remote names the release commit; the
//! index serves the files that were uploaded; Slack and GitHub hold what was
//! announced. The journal is rebuilt from those, so that the steps that follow
//! do only what is missing: the build step adopts every file the index
//! already serves (its bytes, downloaded and hashed) and builds only the
//! rest from the tagged commit; the push step checks the remote; each
//! announcement is looked up (GitHub by tag, Slack by its marker) before any
//! post. Before the push there is nothing in the world to finish from:
//! `release start` is the way on.

use anyhow::{bail, Context, Result};
use chrono::{TimeZone, Utc};
use git2::Repository;

use crate::config::Config;
use crate::journal::{
    Channel, ChannelState, Journal, Lock, Paths, Release, State, StepName, StepState, Transition,
};
use crate::ops::{self, git};
use crate::packages;
use crate::version::{self, ReleaseVersion};

/// The remote's tag for `version` and the commit it names: the tag the
/// template makes, else any tag whose version normalises the same.
fn remote_tag(
    repo: &Repository,
    config: &Config,
    v: &ReleaseVersion,
) -> Result<Option<(String, git2::Oid)>> {
    let refs = git::ls_remote(repo, &config.remote)?;
    let named = config.tag_name(&v.typed);
    if let Some(commit) = refs.tag_commit(&named) {
        return Ok(Some((named, commit)));
    }
    let norm = v.normalized();
    let found = refs
        .tags()
        .find(|t| {
            config
                .version_of_tag(t)
                .is_some_and(|tv| version::normalize(tv) == norm)
        })
        .and_then(|t| refs.tag_commit(t).map(|c| (t.to_string(), c)));
    Ok(found)
}

/// The remote's tag for `version` and its commit, if it has one.
pub fn remote_tag_of(
    repo: &Repository,
    config: &Config,
    version: &str,
) -> Result<Option<(String, git2::Oid)>> {
    remote_tag(repo, config, &ReleaseVersion::parse(version)?)
}

/// The remote's tag for `version` and its commit; an error naming `release
/// start` when there is none (the release never reached the remote).
pub fn pushed_tag(
    repo: &Repository,
    config: &Config,
    version: &str,
) -> Result<(String, git2::Oid)> {
    let v = ReleaseVersion::parse(version)?;
    match remote_tag(repo, config, &v)? {
        Some(found) => Ok(found),
        None => bail!(
            "`{}` has no tag for {version}: the release never reached the remote, so there is nothing to finish from here. \
             Run `release start {version}` (nothing of it left this machine or the one it ran on)",
            config.remote
        ),
    }
}

/// A tag on the remote that proved to be this release's: its commit
/// declares the version for every package and stands on the branch.
pub struct Tagged {
    pub tag: String,
    pub commit: git2::Oid,
    /// The version as the tag writes it.
    pub typed: String,
    /// The packages as the tagged commit declares them.
    pub packages: Vec<packages::Package>,
}

/// The remote's tag for `version`, checked before anything changes: a tag
/// anyone can push by hand, so it counts only when its commit (1) declares
/// `version` for every package of the primary track and one version per
/// other track, each past where the commit before it stood, and (2) is the
/// release commit on the branch: an ancestor of the remote branch, or the
/// one commit the push step would add on top of it (the branch tip with
/// exactly the bump's edits). Anything else is refused, naming what is
/// wrong; nothing is fetched into a local ref and nothing is pushed.
pub fn examine(repo: &Repository, config: &Config, paths: &Paths, version: &str) -> Result<Tagged> {
    let v = ReleaseVersion::parse(version)?;
    let remote = &config.remote;
    let (tag, commit) = pushed_tag(repo, config, version)?;
    if repo.find_commit(commit).is_err() {
        // Objects only: no local tag until the tag has proved itself.
        git::fetch_refspec(repo, remote, &format!("refs/tags/{tag}"))?;
    }
    let typed = config.version_of_tag(&tag).unwrap_or(&v.typed).to_string();
    let branch = &config.branch;
    let tip = git::fetch_branch(repo, remote, branch)?;
    let refuse = |why: String| -> anyhow::Error {
        anyhow::anyhow!(
            "tag {tag} on `{remote}` points at {commit}, which {why}. It is not a release commit that \
             `release start {typed}` made, so nothing was published, pushed or changed. If the tag was pushed by hand, \
             delete it (`git push {remote} :refs/tags/{tag}`) and run `release start {typed}`"
        )
    };
    let at = declared(repo, config, paths, commit, &format!("tag {tag}"))?;
    if let Err(why) = at.declares(config, &typed) {
        return Err(refuse(why));
    }
    let Declared {
        packages: pkgs,
        parent,
        before,
        ..
    } = at;
    let on_branch = tip.is_some_and(|t| git::is_ancestor(repo, commit, t));
    if !on_branch {
        let tip_text = tip.map_or("nothing".to_string(), |t| t.to_string());
        let (Some(tip), Some(parent), Some((dir, before))) = (tip, parent, before) else {
            return Err(refuse(format!(
                "is not on `{remote}/{branch}` (at {tip_text})"
            )));
        };
        if parent != tip {
            return Err(refuse(format!(
                "is neither on `{remote}/{branch}` (at {tip_text}) nor one commit on top of it; \
                 pushing it would move `{branch}` past commits nobody released"
            )));
        }
        if let Err(why) = is_bump_of(repo, config, &dir, &before, &pkgs, &typed, parent, commit) {
            if !config.hooks.bump.is_empty() {
                // What the hooks changed cannot be made again from here
                // (towncrier, a lock file): only the maintainer can tell.
                anyhow::bail!(
                    "tag {tag} on `{remote}` points at {commit}, one commit on top of `{remote}/{branch}`, which is not \
                     the bump `release` makes without its hooks: {why}. The changes of `[hooks] bump` cannot be made \
                     again here, so nothing was published, pushed or changed. If {commit} is the release commit of \
                     {typed}, move `{branch}` to it (`git push {remote} {commit}:refs/heads/{branch}`) and run \
                     `release resume {typed}` again; else delete the tag (`git push {remote} :refs/tags/{tag}`) and \
                     run `release start {typed}`"
                );
            }
            return Err(refuse(format!(
                "is one commit on top of `{remote}/{branch}` but not the bump `release` makes: {why}"
            )));
        }
    }
    Ok(Tagged {
        tag,
        commit,
        typed,
        packages: pkgs,
    })
}

/// What a commit declares (read from an export of it), with its first
/// parent's packages when they can be read: what [`Declared::declares`]
/// checks a tagged or landed commit against.
pub struct Declared {
    /// Holds the exports until this is dropped.
    _scratch: tempfile::TempDir,
    pub packages: Vec<packages::Package>,
    pub parent: Option<git2::Oid>,
    /// The parent's export and its packages.
    pub before: Option<(std::path::PathBuf, Vec<packages::Package>)>,
}

/// Export `commit` (and its first parent) under `.release/` and read the
/// packages each declares; `what` names the commit in errors.
pub fn declared(
    repo: &Repository,
    config: &Config,
    paths: &Paths,
    commit: git2::Oid,
    what: &str,
) -> Result<Declared> {
    paths.ensure()?;
    let scratch = tempfile::Builder::new()
        .prefix("world-")
        .tempdir_in(paths.dir.as_path())
        .context("cannot make a scratch folder under .release/")?;
    let at_commit = scratch.path().join("tagged");
    git::export_tree(repo, commit, &at_commit)?;
    let pkgs = packages::discover(&at_commit, config)
        .with_context(|| format!("reading the packages of {commit} ({what})"))?;
    let parent = git::commit_parent(repo, commit);
    let before = match parent {
        Some(p) => {
            let dir = scratch.path().join("parent");
            git::export_tree(repo, p, &dir)?;
            packages::discover(&dir, config)
                .ok()
                .map(|found| (dir, found))
        }
        None => None,
    };
    Ok(Declared {
        _scratch: scratch,
        packages: pkgs,
        parent,
        before,
    })
}

impl Declared {
    /// Does the commit declare the release `version` (see [`declares`])?
    pub fn declares(&self, config: &Config, version: &str) -> std::result::Result<(), String> {
        declares(
            config,
            &self.packages,
            version,
            self.before.as_ref().map(|(_, b)| b.as_slice()),
        )
    }
}

/// Does the tagged commit declare the release? Every package of the primary
/// track at `version`; each other track at one version of its own, past the
/// version it had in the commit before (when that can be read).
fn declares(
    config: &Config,
    at_tag: &[packages::Package],
    version: &str,
    before: Option<&[packages::Package]>,
) -> std::result::Result<(), String> {
    let wanted = version::normalize(version);
    let primary = config.track.first().map_or("", |t| t.name.as_str());
    let mut wrong = Vec::new();
    let mut primaries = 0;
    for p in at_tag.iter().filter(|p| p.track == primary) {
        primaries += 1;
        if version::normalize(&p.version) != wanted {
            wrong.push(format!("{} at {}", p.name, p.version));
        }
    }
    if primaries == 0 {
        return Err(format!(
            "holds no package of the primary track to declare {version}"
        ));
    }
    if !wrong.is_empty() {
        return Err(format!(
            "does not declare {version} for {}",
            crate::first_few(&wrong, 5)
        ));
    }
    for track in packages::tracks::group(at_tag, config)
        .into_iter()
        .filter(|t| t.name != primary)
    {
        let out = track.out_of_step();
        if !out.is_empty() {
            let odd: Vec<String> = out
                .iter()
                .map(|p| format!("{} at {}", p.name, p.version))
                .collect();
            return Err(format!(
                "declares {} out of step with the rest of {}",
                crate::first_few(&odd, 5),
                track.label()
            ));
        }
        let now = track.common_version().unwrap_or_default();
        let was = before.and_then(|b| {
            b.iter()
                .find(|p| p.track == track.name)
                .map(|p| p.version.clone())
        });
        let moved = match (was.as_deref(), ReleaseVersion::parse(now)) {
            (Some(was), Ok(now_v)) => {
                ReleaseVersion::parse(was).map_or(true, |w| now_v.parsed > w.parsed)
            }
            (None, Ok(_)) => true,
            (_, Err(_)) => false,
        };
        if !moved {
            return Err(format!(
                "leaves {} at {now}, where the commit before it stood",
                track.label()
            ));
        }
    }
    Ok(())
}

/// Is `commit` exactly the bump of `parent` to the versions it declares: the
/// same edits `release start` would make (version declarations and sibling
/// pins, ranges as `[pins] ranges` says, `[[replace]]` entries, dated the
/// commit's day), and nothing else?
#[allow(clippy::too_many_arguments)]
fn is_bump_of(
    repo: &Repository,
    config: &Config,
    parent_dir: &std::path::Path,
    before: &[packages::Package],
    at_tag: &[packages::Package],
    version: &str,
    parent: git2::Oid,
    commit: git2::Oid,
) -> std::result::Result<(), String> {
    let mut planned: Vec<packages::Package> = before.to_vec();
    for p in &mut planned {
        let Some(now) = at_tag
            .iter()
            .find(|t| t.normalized_name == p.normalized_name)
        else {
            return Err(format!("{} is gone", p.name));
        };
        p.next_version = Some(now.version.clone());
    }
    if at_tag.len() != planned.len() {
        return Err("it adds packages".into());
    }
    let day = repo
        .find_commit(commit)
        .ok()
        .and_then(|c| Utc.timestamp_opt(c.time().seconds(), 0).single())
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(packages::replace::today);
    let versions = packages::replace::Versions::of(&planned, config, version, day);
    let mut edits = packages::Edits::new();
    packages::plan_bump(parent_dir, config, &planned, version, &versions, &mut edits)
        .map_err(|e| e.to_string())?;
    crate::steps::bump::unreleased_edit(
        parent_dir,
        config,
        version,
        &planned,
        &versions.date,
        &mut edits,
    )
    .map_err(|e| e.to_string())?;
    packages::write_edits(parent_dir, &edits).map_err(|e| e.to_string())?;
    let changed = git::changed_paths(repo, parent, commit).map_err(|e| e.to_string())?;
    let mut extra = Vec::new();
    for path in &changed {
        let ours = std::fs::read(parent_dir.join(path)).ok();
        let theirs = git::read_bytes_at(repo, commit, path);
        if !edits.contains_key(path) || ours != theirs {
            extra.push(path.clone());
        }
    }
    let missing: Vec<String> = edits
        .keys()
        .filter(|k| !changed.contains(k))
        .filter(|k| git::read_bytes_at(repo, parent, k) != std::fs::read(parent_dir.join(k)).ok())
        .cloned()
        .collect();
    if !extra.is_empty() {
        return Err(format!(
            "it changes {} beyond the version edits",
            crate::first_few(&extra, 5)
        ));
    }
    if !missing.is_empty() {
        return Err(format!(
            "it leaves {} without the version edits",
            crate::first_few(&missing, 5)
        ));
    }
    Ok(())
}

/// A rebuilt journal's steps: `done` proven by what was found (`proven`
/// says what), `running` (if any) interrupted as far as is known, so that it
/// reconciles with the world before anything is redone.
fn mark_steps(state: &mut State, done: &[StepName], running: Option<StepName>, proven: &str) {
    for step in &mut state.steps {
        if done.contains(&step.name) {
            step.state = StepState::Done;
            step.note = Some(proven.to_string());
        } else if Some(step.name) == running {
            step.state = StepState::Running;
        }
    }
}

/// Rebuild the journal of the release `tagged` names (checked by
/// [`examine`]) and write it, holding `lock` and the remote lock (taken by
/// the caller). The steps up to the tag are done (the tag on the remote proves
/// them); build, push (checked against the remote), publish, audit and
/// announce are left to run, each reconciling with the world first.
pub fn from_world(
    repo: &Repository,
    config: &Config,
    paths: &Paths,
    lock: Lock,
    tagged: Tagged,
    remote_lock: Option<git2::Oid>,
) -> Result<Journal> {
    let remote = &config.remote;
    let Tagged {
        tag,
        commit,
        typed,
        packages: pkgs,
    } = tagged;
    say!("rebuilding the journal of {typed} from `{remote}`, the index and the announcements");
    if git::tag_commit(repo, &tag) != Some(commit) {
        git::fetch_refspec(repo, remote, &format!("+refs/tags/{tag}:refs/tags/{tag}"))?;
    }
    let tag_time = repo
        .find_commit(commit)
        .ok()
        .and_then(|c| Utc.timestamp_opt(c.time().seconds(), 0).single())
        .unwrap_or_else(Utc::now);
    let mut state = rebuilt_state(
        repo,
        config,
        Rebuilt {
            typed: &typed,
            tag: tag.clone(),
            commit,
            packages: pkgs,
            remote_lock,
            from: format!("tag {tag} on `{remote}` at {commit}"),
            // Through a pull request: the merged one, so that its branch is
            // deleted at the end; the tag is behind it either way.
            pull_request: merged_pull_request(repo, config, &typed, commit),
        },
    )?;
    let proven = format!("tag {tag} is on `{remote}` at {commit}");
    // The push interrupted, as far as we know: checked against the remote first.
    mark_steps(
        &mut state,
        &[StepName::Preflight, StepName::Bump, StepName::Tag],
        Some(StepName::Push),
        &proven,
    );
    // Announcements made earlier have an unknown outcome: each is looked up
    // before anything is posted (Slack's history from the tag's time on).
    let channels = [
        ("slack", config.announce.slack.is_some()),
        ("github", config.announce.github.is_some()),
    ];
    for (name, configured) in channels {
        if !configured {
            continue;
        }
        state.announce.channels.push(Channel {
            name: name.to_string(),
            state: ChannelState::Posting,
            remote_id: None,
            note: Some("may have been posted before the journal was lost".into()),
            at: Some(tag_time),
            channel_id: None,
        });
        state.transitions.push(Transition {
            at: tag_time,
            subject: format!("channel:{name}"),
            from: None,
            to: ChannelState::Posting.as_str().to_string(),
            note: Some("rebuilt: looked up before any post".into()),
        });
    }
    let journal = Journal::create(paths, lock, state)?;
    say!(
        "    rebuilt: {proven}; {} package(s)",
        journal.state().release.packages.len()
    );
    // The next-dev commit is made only on the machine that made the release
    // commit: when it never reached the remote, say so rather than make one
    // on a tree this run did not bump.
    let branch = &config.branch;
    let next_dev_pushed = git::remote_tracking(repo, remote, branch)
        .is_some_and(|tip| crate::recovery::unrecorded_next_dev_commit_at(repo, tip, commit));
    if config.release.next_dev.0.is_some() && config.pull_request.is_none() && !next_dev_pushed {
        say!(
            "    note: `{remote}/{branch}` has no next-dev commit on {tag} (`[release] next_dev`); it stays at {typed} \
             after this release: commit the next dev versions by hand, or let the next `release start` move on from {typed}"
        );
    }
    Ok(journal)
}

/// The merged release pull request of `typed` that landed as `landed`, when
/// the release goes through one; `None` (said) when it cannot be found.
fn merged_pull_request(
    repo: &Repository,
    config: &Config,
    typed: &str,
    landed: git2::Oid,
) -> Option<crate::journal::PullRequest> {
    use crate::ops::forge;
    let branch = config.pull_request.as_ref()?.branch_for(typed);
    let found = forge::repo_name(config, repo).and_then(|name| {
        let pull = forge::client(config, &name)?.release_pull(&branch, typed)?;
        Ok(pull.map(|p| (name, p)))
    });
    match found {
        Ok(Some((name, pull)))
            if pull.state == forge::PullState::Merged
                && pull.merge_commit.as_deref() == Some(landed.to_string().as_str()) =>
        {
            Some(crate::journal::PullRequest {
                branch,
                repo: name,
                number: Some(pull.number),
                url: Some(pull.url),
                head: pull.head_sha,
                landed: Some(landed.to_string()),
            })
        }
        Ok(_) => None,
        Err(e) => {
            tell!("note: the release pull request was not found ({e:#}); its branch `{branch}` is left for you to delete");
            None
        }
    }
}

/// What a rebuilt journal records of its release.
struct Rebuilt<'a> {
    typed: &'a str,
    tag: String,
    commit: git2::Oid,
    /// As the commit declares them.
    packages: Vec<packages::Package>,
    remote_lock: Option<git2::Oid>,
    /// What it was rebuilt from, in words.
    from: String,
    pull_request: Option<crate::journal::PullRequest>,
}

/// The state of a journal rebuilt from the world, every step pending: the
/// release of `r.commit` at the versions it declares, to the configured
/// publish target.
fn rebuilt_state(repo: &Repository, config: &Config, r: Rebuilt) -> Result<State> {
    let mut pkgs = r.packages;
    for p in &mut pkgs {
        p.next_version = Some(p.version.clone());
    }
    let v = ReleaseVersion::parse(r.typed)?;
    let target = ops::publish_target(config)?;
    let release = Release {
        version: r.typed.to_string(),
        normalized_version: v.normalized(),
        previous_version: None,
        tag: r.tag,
        branch: config.branch.clone(),
        remote: config.remote.clone(),
        base_commit: git::commit_parent(repo, r.commit).map(|c| c.to_string()),
        release_commit: Some(r.commit.to_string()),
        next_dev_version: None,
        next_dev_commit: None,
        next_dev_edits: Vec::new(),
        packages: pkgs,
        skip_prerelease_check: false,
        rolled_forward_from: None,
        bump_edits: Vec::new(),
        bump_hooks: None,
        track_overrides: Default::default(),
        allow_shrink: Vec::new(),
        remote_lock: r.remote_lock.map(|l| l.to_string()),
        rebuilt_from: Some(r.from),
        // `release start --sign` is not known here: git's config decides.
        sign: false,
        pull_request: r.pull_request,
    };
    let mut state = State::new(release);
    state.publish.upload_url = Some(target.display_url());
    state.publish.index_url = Some(target.index_display_url());
    Ok(state)
}

/// What a clone without the journal found to finish from.
pub enum Found {
    /// The release's tag on the remote ([`examine`]).
    Tagged(Tagged),
    /// Its merged pull request, not tagged yet ([`pull_request_landing`]).
    Landed(Box<Landing>),
    /// Its release commit on the branch, not tagged yet ([`untagged_on_branch`]).
    OnBranch(OnBranch),
}

/// Rebuild the journal from what was found: [`from_world`] or [`from_landing`].
pub fn from_found(
    repo: &Repository,
    config: &Config,
    paths: &Paths,
    lock: Lock,
    found: Found,
    remote_lock: Option<git2::Oid>,
) -> Result<Journal> {
    match found {
        Found::Tagged(t) => from_world(repo, config, paths, lock, t, remote_lock),
        Found::Landed(l) => from_landing(repo, config, paths, lock, *l, remote_lock),
        Found::OnBranch(b) => from_branch(repo, config, paths, lock, b, remote_lock),
    }
}

/// A release commit on the remote branch with no tag: its runner was lost
/// between pushing the branch and pushing the tag (a next-dev commit may
/// stand on it).
pub struct OnBranch {
    /// The version as the commit's message writes it (the tag is made of it).
    pub typed: String,
    pub commit: git2::Oid,
    pub packages: Vec<packages::Package>,
}

/// How far back on the branch a lost release commit is looked for.
const ON_BRANCH_DEPTH: usize = 100;

/// Direct push, no tag on the remote: the release commit of `version` on
/// the remote branch, if the branch has one. It counts as a tag on the
/// branch would (see [`examine`]): a first-parent ancestor of the branch's
/// tip (reviewed history, where a protected branch lets nobody put one
/// by hand unseen) whose message is the version, as bump writes it, and
/// which declares the version for every package of the primary track, each
/// other track in step. The newest such commit; nothing is written.
pub fn untagged_on_branch(
    repo: &Repository,
    config: &Config,
    paths: &Paths,
    version: &str,
) -> Result<Option<OnBranch>> {
    let v = ReleaseVersion::parse(version)?;
    let norm = v.normalized();
    let Some(mut at) = git::fetch_branch(repo, &config.remote, &config.branch)? else {
        return Ok(None);
    };
    for _ in 0..ON_BRANCH_DEPTH {
        let message = git::commit_message(repo, at).unwrap_or_default();
        let said = message.trim();
        if !said.is_empty() && !said.contains('\n') && version::normalize(said) == norm {
            let found = declared(repo, config, paths, at, "the release commit")?;
            if let Err(why) = found.declares(config, said) {
                bail!(
                    "`{}` has no tag for {version}, and its commit {at} named {said} on `{}/{}` {why}: it is not a release commit \
                     that `release start {version}` made, so nothing was published, pushed or changed. Run `release start {version}` \
                     to release it from the branch as it is",
                    config.remote,
                    config.remote,
                    config.branch
                );
            }
            return Ok(Some(OnBranch {
                typed: said.to_string(),
                commit: at,
                packages: found.packages.clone(),
            }));
        }
        match git::commit_parent(repo, at) {
            Some(p) => at = p,
            None => break,
        }
    }
    Ok(None)
}

/// Rebuild the journal of a release whose commit is on the branch with no
/// tag ([`untagged_on_branch`]): preflight and bump are done (the branch
/// proves them); the tag is made on that commit and pushed, the build,
/// publish, audit and announce each reconcile with the world first.
pub fn from_branch(
    repo: &Repository,
    config: &Config,
    paths: &Paths,
    lock: Lock,
    found: OnBranch,
    remote_lock: Option<git2::Oid>,
) -> Result<Journal> {
    let OnBranch {
        typed,
        commit,
        packages: pkgs,
    } = found;
    let (remote, branch) = (&config.remote, &config.branch);
    let proven = format!("release commit {commit} is on `{remote}/{branch}` with no tag");
    say!("rebuilding the journal of {typed}: {proven}");
    let mut state = rebuilt_state(
        repo,
        config,
        Rebuilt {
            typed: &typed,
            tag: config.tag_name(&typed),
            commit,
            packages: pkgs,
            remote_lock,
            from: proven.clone(),
            pull_request: None,
        },
    )?;
    mark_steps(
        &mut state,
        &[StepName::Preflight, StepName::Bump],
        Some(StepName::Push),
        &proven,
    );
    let journal = Journal::create(paths, lock, state)?;
    say!(
        "    rebuilt: {} package(s); the tag is made on {commit} and pushed",
        journal.state().release.packages.len()
    );
    Ok(journal)
}

/// A release pull request that was merged, found from a clone without the
/// journal, its landed commit checked: what [`from_landing`] rebuilds.
pub struct Landing {
    pub typed: String,
    pub pull: crate::ops::forge::Pull,
    pub pull_request: crate::journal::PullRequest,
    pub landed: git2::Oid,
    pub packages: Vec<packages::Package>,
}

/// `resume VERSION` through a pull request, with no tag on the remote yet:
/// find the release's pull request by its marker. Open: say so (`None`,
/// exit 0). Closed unmerged: an error naming the way out. Merged: the
/// landed commit, checked to be on the branch and to declare the release;
/// nothing is written.
pub fn pull_request_landing(
    repo: &Repository,
    config: &Config,
    paths: &Paths,
    version: &str,
) -> Result<Option<Landing>> {
    use crate::ops::forge::{self, PullState};
    let v = ReleaseVersion::parse(version)?;
    let Some(prc) = &config.pull_request else {
        bail!("no `[pull_request]` in release.toml");
    };
    let branch = prc.branch_for(&v.typed);
    let name = forge::repo_name(config, repo)?;
    let gh = forge::client(config, &name)?;
    let Some(pull) = gh.release_pull(&branch, &v.typed)? else {
        bail!(
            "`{}` has no tag for {version} and {name} no pull request for it from `{branch}`: the release never reached the remote. \
             Run `release start {version}`",
            config.remote
        );
    };
    match pull.state {
        PullState::Open => {
            say!(
                "the pull request #{} ({}) of {version} is open: merge it, then run `release resume {version}` again",
                pull.number,
                pull.url
            );
            return Ok(None);
        }
        PullState::Closed => bail!(
            "the pull request #{} ({}) of {version} was closed without merging: nothing was tagged or published. \
             Run `release abort {version}` to delete its branch (or `release abort` in the clone that started it), then `release start {version}` again",
            pull.number,
            pull.url
        ),
        PullState::Merged => {}
    }
    let landed = pull.landed()?;
    let tip = git::fetch_branch(repo, &config.remote, &config.branch)?;
    let refuse = |why: String| {
        anyhow::anyhow!(
            "the pull request #{} of {version} landed as {landed}, which {why}; nothing was tagged or published",
            pull.number
        )
    };
    if !tip.is_some_and(|t| git::is_ancestor(repo, landed, t)) {
        return Err(refuse(format!(
            "is not on `{}/{}`",
            config.remote, config.branch
        )));
    }
    let at = declared(repo, config, paths, landed, "the landed commit")?;
    at.declares(config, &v.typed).map_err(refuse)?;
    let pull_request = crate::journal::PullRequest {
        branch,
        repo: name,
        number: Some(pull.number),
        url: Some(pull.url.clone()),
        // What the release branch holds (deleted at the end); the build
        // is from the landed commit.
        head: pull.head_sha.clone(),
        landed: Some(landed.to_string()),
    };
    Ok(Some(Landing {
        typed: v.typed.clone(),
        pull,
        pull_request,
        landed,
        packages: at.packages.clone(),
    }))
}

/// Rebuild the journal of a merged release pull request ([`pull_request_landing`])
/// and write it: preflight, bump and push done (the merge proves them);
/// build from the landed commit, tag, publish, audit and announce to run.
pub fn from_landing(
    repo: &Repository,
    config: &Config,
    paths: &Paths,
    lock: Lock,
    landing: Landing,
    remote_lock: Option<git2::Oid>,
) -> Result<Journal> {
    let Landing {
        typed,
        pull,
        pull_request,
        landed,
        packages: pkgs,
    } = landing;
    let proven = format!("pull request #{} merged as {landed}", pull.number);
    let mut state = rebuilt_state(
        repo,
        config,
        Rebuilt {
            typed: &typed,
            tag: config.tag_name(&typed),
            commit: landed,
            packages: pkgs,
            remote_lock,
            from: proven.clone(),
            pull_request: Some(pull_request),
        },
    )?;
    mark_steps(
        &mut state,
        &[StepName::Preflight, StepName::Bump, StepName::Push],
        None,
        &proven,
    );
    let journal = Journal::create(paths, lock, state)?;
    say!(
        "rebuilt the journal of {typed} from its {proven}; {} package(s)",
        journal.state().release.packages.len()
    );
    Ok(journal)
}
