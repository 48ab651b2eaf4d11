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

/// Rebuild the journal of `version` from the world and write it, holding
/// `lock` and the remote lock (taken by the caller). The steps up to the tag are done (the tag on the remote proves
/// them); build, push (checked against the remote), publish, audit and
/// announce are left to run, each reconciling with the world first.
pub fn from_world(
    repo: &Repository,
    config: &Config,
    paths: &Paths,
    lock: Lock,
    version: &str,
    remote_lock: Option<git2::Oid>,
) -> Result<Journal> {
    let v = ReleaseVersion::parse(version)?;
    let remote = &config.remote;
    say!("rebuilding the journal of {version} from `{remote}`, the index and the announcements");
    let (tag, commit) = pushed_tag(repo, config, version)?;
    if repo.find_commit(commit).is_err() || git::tag_commit(repo, &tag) != Some(commit) {
        git::fetch_refspec(repo, remote, &format!("+refs/tags/{tag}:refs/tags/{tag}"))?;
    }
    let typed = config.version_of_tag(&tag).unwrap_or(&v.typed).to_string();
    let typed_version = ReleaseVersion::parse(&typed)?;

    // The packages as the release commit declares them: their versions are
    // the released ones.
    paths.ensure()?;
    let export = paths
        .build()
        .join(format!("world-{}", typed_version.normalized()));
    if export.exists() {
        std::fs::remove_dir_all(&export)
            .with_context(|| format!("cannot clear {}", export.display()))?;
    }
    git::export_tree(repo, commit, &export)?;
    let found = packages::discover(&export, config);
    let _ = std::fs::remove_dir_all(&export);
    let mut pkgs = found.context("reading the packages of the tagged commit")?;
    for p in &mut pkgs {
        p.next_version = Some(p.version.clone());
    }
    let target = ops::publish_target(config)?;
    let tag_time = repo
        .find_commit(commit)
        .ok()
        .and_then(|c| Utc.timestamp_opt(c.time().seconds(), 0).single())
        .unwrap_or_else(Utc::now);
    let release = Release {
        version: typed.clone(),
        normalized_version: typed_version.normalized(),
        previous_version: None,
        tag: tag.clone(),
        branch: config.branch.clone(),
        remote: remote.clone(),
        base_commit: git::commit_parent(repo, commit).map(|c| c.to_string()),
        release_commit: Some(commit.to_string()),
        packages: pkgs,
        skip_prerelease_check: false,
        rolled_forward_from: None,
        bump_edits: Vec::new(),
        track_overrides: Default::default(),
        allow_shrink: Vec::new(),
        remote_lock: remote_lock.map(|l| l.to_string()),
        rebuilt_from: Some(format!("tag {tag} on `{remote}` at {commit}")),
        // The tag is on the remote already: nothing is left to sign.
        sign: false,
    };
    let mut state = State::new(release);
    state.publish.upload_url = Some(target.display_url());
    state.publish.index_url = Some(target.index_display_url());
    let proven = format!("tag {tag} is on `{remote}` at {commit}");
    for step in &mut state.steps {
        match step.name {
            StepName::Preflight | StepName::Bump | StepName::Tag => {
                step.state = StepState::Done;
                step.note = Some(proven.clone());
            }
            // Interrupted, as far as we know: checked against the remote first.
            StepName::Push => step.state = StepState::Running,
            _ => {}
        }
    }
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
    Ok(journal)
}
