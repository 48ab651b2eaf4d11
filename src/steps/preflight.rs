//! Step 1, preflight: refuse unsafe releases before anything changes.
//!
//! Every check runs and every finding is reported, not only the first, so a
//! maintainer fixes them all in one go. The checks read the world only: the fetch
//! updates the remote-tracking branch and never creates local tags.

use std::path::Path;

use anyhow::Result;
use git2::Repository;

use super::{Ctx, Reconciled, Step};
use crate::config::Config;
use crate::journal::{self, Kind, Paths, Phase, Release, StepName};
use crate::ops::{self, git};
use crate::packages::{self, tracks, Package};
use crate::version::ReleaseVersion;

pub struct Preflight;

/// What preflight settled: every later step reads this instead of re-deriving it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub version: ReleaseVersion,
    pub previous_version: Option<String>,
    pub tag: String,
    pub packages: Vec<Package>,
    /// Each track's move (one entry without `[[track]]`).
    pub moves: Vec<tracks::Move>,
    pub upload_url: Option<String>,
    pub index_url: Option<String>,
}

#[derive(Debug, Default)]
pub struct Findings {
    pub items: Vec<String>,
}

impl Findings {
    pub fn add(&mut self, s: impl Into<String>) {
        self.items.push(s.into());
    }
}

pub struct Input<'a> {
    pub root: &'a Path,
    pub repo: &'a Repository,
    pub config: &'a Config,
    pub version: &'a str,
    pub skip_prerelease_check: bool,
    /// `--track NAME=VERSION`.
    pub overrides: &'a std::collections::BTreeMap<String, String>,
    /// `release start --sign`: the tag is signed whatever git's config says.
    pub sign: bool,
}

fn list(items: &[String]) -> String {
    crate::first_few(items, 8)
}

/// Run every check; `Ok(plan)` only when there is no finding.
pub fn check(input: &Input) -> std::result::Result<Plan, Findings> {
    let Input {
        root,
        repo,
        config,
        version,
        skip_prerelease_check,
        overrides,
        sign,
    } = *input;
    let mut f = Findings::default();
    let branch = &config.branch;
    let remote = &config.remote;

    match git::current_branch(repo) {
        Some(b) if &b == branch => {}
        Some(b) => f.add(format!(
            "on branch `{b}`, not the release branch `{branch}`: run `git switch {branch}`"
        )),
        None => f.add(format!(
            "HEAD is detached or unborn, not on the release branch `{branch}`: run `git switch {branch}`"
        )),
    }

    match git::status(repo) {
        Ok(mut st) => {
            // `.release/` is this tool's own folder and ignores itself; a
            // runner killed while creating it can leave its `.gitignore`
            // empty, which the next journal write repairs. Not the user's.
            st.untracked.retain(|p| !p.starts_with(".release/"));
            if !st.changed.is_empty() {
                f.add(format!(
                    "local changes in {}: commit or stash them",
                    list(&st.changed)
                ));
            }
            if !st.untracked.is_empty() {
                f.add(format!(
                    "untracked files {}: remove them or add them to .gitignore",
                    list(&st.untracked)
                ));
            }
        }
        Err(e) => f.add(e.to_string()),
    }

    let found = packages::discover(root, config);
    let pkgs = match &found {
        Ok(p) => p.clone(),
        Err(e) => {
            f.add(e.to_string());
            Vec::new()
        }
    };

    // Leftovers of a dev install (`*.egg-info`, `__pycache__`, `build/`) are
    // not refused: builds use a clean export of the release commit, and the
    // only advice that would clear them (`git clean -xdf`) deletes every
    // ignored file, `.env` and local venvs included.

    match git::fetch_branch(repo, remote, branch) {
        Err(e) => f.add(format!("cannot fetch from the remote: {e}")),
        Ok(None) => f.add(format!("the remote `{remote}` has no branch `{branch}`")),
        Ok(Some(upstream)) => match git::local_branch(repo, branch) {
            None => f.add(format!("there is no local branch `{branch}`")),
            Some(local) => match git::ahead_behind(repo, local, upstream) {
                Ok((0, 0)) => {}
                Ok((ahead, behind)) => {
                    if behind > 0 {
                        f.add(format!(
                            "`{branch}` is {behind} commit(s) behind `{remote}/{branch}`: run `git pull --ff-only`"
                        ));
                    }
                    if ahead > 0 {
                        f.add(format!(
                            "`{branch}` is {ahead} commit(s) ahead of `{remote}/{branch}`: push or drop them first"
                        ));
                    }
                }
                Err(e) => f.add(e.to_string()),
            },
        },
    }

    let parsed = match ReleaseVersion::parse_new(version) {
        Ok(v) => Some(v),
        Err(e) => {
            f.add(e.to_string());
            None
        }
    };
    let mut pkgs = pkgs;
    let mut moves = Vec::new();
    if let (Some(v), false) = (&parsed, pkgs.is_empty()) {
        match tracks::plan(&mut pkgs, config, v, overrides) {
            Ok(m) => moves = m,
            Err(findings) => findings.into_iter().for_each(|x| f.add(x)),
        }
    }
    let previous = moves.first().map(|m| m.from.clone());
    if !moves.is_empty() {
        check_prebuilt(root, config, &pkgs, version, &mut f);
        for found in packages::replace::findings(root, config, &pkgs, version) {
            f.add(found);
        }
    }

    let tag = config.tag_name(version);
    if git2::Reference::is_valid_name(&format!("refs/tags/{tag}")) {
        if git::tag_commit(repo, &tag).is_some()
            || repo.find_reference(&format!("refs/tags/{tag}")).is_ok()
        {
            f.add(format!(
                "tag `{tag}` already exists locally: delete it with `git tag -d {tag}` if it is stale"
            ));
        }
    } else {
        f.add(format!("`{tag}` is not a valid tag name"));
    }
    let remote_refs = git::ls_remote(repo, remote);
    match &remote_refs {
        Ok(refs) => {
            if refs.tag_commit(&tag).is_some() {
                f.add(format!(
                    "tag `{tag}` already exists on `{remote}`: this version was released already; pick a greater one"
                ));
            }
        }
        Err(e) => f.add(format!("cannot list the remote's tags: {e}")),
    }

    // One publish target for every check below that needs it.
    let target = check_target(config, &mut f);
    let upload_url = target.as_ref().map(|t| t.display_url());
    let index_url = target.as_ref().map(|t| t.index_display_url());

    if let Some(v) = &parsed {
        if v.is_final() && !skip_prerelease_check {
            let base = v.base_release();
            // A nightly (`0.6.5rc1.dev20240131`) is no pre-release of it.
            let is_pre_of_base = |s: &str| {
                ReleaseVersion::parse(s)
                    .map(|p| {
                        p.parsed.pre().is_some()
                            && p.parsed.dev().is_none()
                            && p.base_release() == base
                    })
                    .unwrap_or(false)
            };
            let in_history = journal::history(&Paths::new(root)).iter().any(|s| {
                s.kind == Kind::Release
                    && s.phase == Phase::Done
                    && is_pre_of_base(&s.release.version)
            });
            // A tag alone proves nothing (a stray tag, a release that never
            // published): the index serving the pre-release's files does.
            let on_index = !in_history
                && pkgs
                    .iter()
                    .find(|p| config.primary_track().is_none_or(|t| p.track == t))
                    .zip(target.as_ref())
                    .is_some_and(|(p, t)| {
                        t.open()
                            .and_then(|index| index.list(&p.normalized_name))
                            .map(|files| {
                                files.iter().any(|f| {
                                    crate::steps::publish::version_of_filename(&f.filename)
                                        .is_some_and(is_pre_of_base)
                                })
                            })
                            .unwrap_or(false)
                    });
            if !in_history && !on_index {
                f.add(format!(
                    "{v} is a final release but no pre-release of {base} was completed (none finished in .release/history/, none served by the index): release {base}.pre0 first, or pass --skip-prerelease-check"
                ));
            }
        }
    }

    match ops::build::check_frontend(config) {
        Err(e) => f.add(e.to_string()),
        Ok(()) => check_build_envs(config, root, &pkgs, &mut f),
    }

    check_announce(config, &mut f);
    check_notes(root, config, parsed.as_ref(), &pkgs, &mut f);
    check_signing(repo, sign, &mut f);
    // The next-dev commit is planned now too: one that cannot be made
    // would stop the bump after the journal was written.
    if let (Some(_), None, Some(_)) = (
        config.release.next_dev.0,
        &config.pull_request,
        parsed.as_ref().filter(|_| f.items.is_empty()),
    ) {
        if let Err(e) = super::bump::next_dev_packages(config, version, &pkgs, None) {
            f.add(format!(
                "{}; release another version, or turn `[release] next_dev` off in release.toml",
                format!("{e:#}").replace(
                    "; run `release abort`, fix release.toml or the versions, then start again",
                    ""
                )
            ));
        }
    }
    for found in super::pull_request::preflight(config, repo, version) {
        f.add(found);
    }

    if !f.items.is_empty() {
        return Err(f);
    }
    match parsed {
        Some(version) => Ok(Plan {
            version,
            previous_version: previous,
            tag,
            packages: pkgs,
            moves,
            upload_url,
            index_url,
        }),
        None => Err(f),
    }
}

/// Every package's prebuilt wheels, checked as the build will check them,
/// so that a wheel of another version or a missing platform is refused
/// before anything changes (and shown by `--dry-run`).
fn check_prebuilt(root: &Path, config: &Config, pkgs: &[Package], version: &str, f: &mut Findings) {
    for p in pkgs {
        let Some(conf) = config.package_config(&p.name, &p.normalized_name) else {
            continue;
        };
        let norm = crate::version::normalize(p.release_version(version));
        let (_, problems) = super::build::prebuilt_wheels(root, conf, &p.normalized_name, &norm);
        for problem in problems {
            f.add(format!("{}: {problem}", p.name));
        }
    }
}

/// With isolated builds, every distinct build environment the packages in
/// `dir` need is in the cache or can be made (the index answers, or the
/// tool's cache holds the requirements): else one finding, before the bump
/// (`ops::offline`). A nightly checks the packages of the export it builds.
pub fn check_build_envs(config: &Config, dir: &Path, pkgs: &[Package], f: &mut Findings) {
    if !config.build.isolation {
        return;
    }
    let dirs: Vec<std::path::PathBuf> = pkgs.iter().map(|p| dir.join(&p.path)).collect();
    let sets = ops::offline::requirement_sets(dirs.iter().map(|d| d.as_path()));
    if let Some(finding) = ops::offline::check(config, &sets) {
        f.add(finding);
    }
}

/// The publish target, checked (the URL accepts uploads and the
/// credentials, by a request that changes nothing); `None` when there is none.
pub fn check_target(config: &Config, f: &mut Findings) -> Option<ops::Target> {
    match ops::publish_target(config) {
        Ok(t) => {
            if let Err(e) = t.check() {
                f.add(e.to_string());
            }
            Some(t)
        }
        Err(e) => {
            f.add(e.to_string());
            None
        }
    }
}

/// When the tag or the commit is to be signed, a trial signature with each
/// key: a missing key, program or agent must stop the release here, not
/// after the bump.
pub fn check_signing(repo: &Repository, sign: bool, f: &mut Findings) {
    use crate::ops::sign;
    let signers = [
        ("the tag", sign::for_tags(repo, sign)),
        ("the release commit", sign::for_commits(repo)),
    ];
    let mut checked: Vec<sign::Signer> = Vec::new();
    for (what, signer) in signers {
        match signer {
            Ok(None) => {}
            Err(e) => f.add(format!("{what} is to be signed, but {e}")),
            Ok(Some(s)) if checked.contains(&s) => {}
            Ok(Some(s)) => {
                if let Err(e) = s.check() {
                    f.add(format!(
                        "{what} is to be signed, but a trial signature failed: {e}. \
                         Make the key available (import it, load it into the agent, fix `user.signingKey`), \
                         or turn signing off (`tag.gpgSign`, `commit.gpgSign`, no `--sign`)"
                    ));
                }
                checked.push(s);
            }
        }
    }
}

/// Tokens present and accepted for every configured announce channel: a
/// bad token must stop the release before anything changes, not after it
/// is published. (The notes are [`check_notes`]'.)
pub fn check_announce(config: &Config, f: &mut Findings) {
    use crate::ops::announce::{Github, Slack};
    if let Some(slack) = &config.announce.slack {
        match Slack::new(
            slack.api.as_deref(),
            &slack.channel,
            config.announce.retry(),
        )
        .and_then(|s| s.check())
        {
            Ok(()) => {}
            Err(e) => f.add(format!("Slack: {e}")),
        }
    }
    if let Some(gh) = &config.announce.github {
        match Github::new(gh.api.as_deref(), &gh.repo, config.announce.retry())
            .and_then(|g| g.check())
        {
            Ok(()) => {}
            Err(e) => f.add(format!("GitHub: {e}")),
        }
    }
}

/// The notes file: with `[notes] unreleased`, the `## Unreleased` heading
/// the bump makes the version's heading from; else, for a final release
/// that is announced, its section. When bump hooks run (they may write the
/// section, towncrier does), the bump checks it after them instead.
pub fn check_notes(
    root: &Path,
    config: &Config,
    version: Option<&ReleaseVersion>,
    pkgs: &[Package],
    f: &mut Findings,
) {
    let Some(v) = version else {
        return;
    };
    let announcing = config.announce.slack.is_some() || config.announce.github.is_some();
    let hooks = !config.hooks.bump.is_empty();
    let file = &config.notes.file;
    let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
    if config.notes.unreleased {
        match crate::notes::unreleased_section(&text) {
            None => f.add(format!(
                "[notes] unreleased is set, but {file} has no `## Unreleased` heading to make the heading of {v} from: add one above the latest release's"
            )),
            Some(body) if body.is_empty() && announcing && v.is_final() && !hooks => f.add(format!(
                "the `## Unreleased` section of {file} is empty: write the notes of {v} under it"
            )),
            Some(_) => {}
        }
        return;
    }
    if announcing && v.is_final() && !hooks {
        let style = crate::notes::Style::of(&config.notes, crate::notes::tracks_of(pkgs, &v.typed));
        if crate::notes::section(&text, v, &style).is_none() {
            f.add(format!(
                "{file} has no `{}` section to announce this final release with: add one",
                crate::notes::expected_heading(&v.typed, &style)
            ));
        }
    }
}

pub fn findings_error(version: &str, f: &Findings) -> anyhow::Error {
    findings_error_for(&format!("the release of {version}"), f)
}

/// `what`: the release or nightly refused, e.g. `the nightly of 20240101`.
pub fn findings_error_for(what: &str, f: &Findings) -> anyhow::Error {
    let mut msg = format!(
        "preflight refused {what} ({} finding{}); nothing was changed:",
        f.items.len(),
        if f.items.len() == 1 { "" } else { "s" }
    );
    for item in &f.items {
        msg.push_str("\n  - ");
        msg.push_str(item);
    }
    anyhow::anyhow!(msg)
}

impl Step for Preflight {
    fn name(&self) -> StepName {
        StepName::Preflight
    }

    fn reconcile(&self, _ctx: &mut Ctx) -> Result<Reconciled> {
        // Preflight changes nothing, so there is nothing to find: always re-check.
        Ok(Reconciled::Redo)
    }

    fn run(&self, ctx: &mut Ctx) -> Result<String> {
        let release = &ctx.journal.state().release;
        let input = Input {
            root: &ctx.root,
            repo: &ctx.repo,
            config: &ctx.config,
            version: &release.version,
            skip_prerelease_check: release.skip_prerelease_check,
            overrides: &release.track_overrides,
            sign: release.sign,
        };
        let plan = check(&input).map_err(|f| findings_error(&release.version, &f))?;
        let note = plan_note(&plan);
        ctx.journal.set_plan(
            plan.previous_version,
            plan.packages,
            plan.tag,
            plan.upload_url,
            plan.index_url,
        );
        Ok(note)
    }
}

/// The plan's package lines (`--dry-run`): each package, from its version
/// to the one it is given (`release_version` unless planned otherwise).
pub fn print_moves(packages: &[Package], release_version: &str) {
    for p in packages {
        say!(
            "    {} {} -> {}  ({})",
            p.name,
            p.version,
            p.release_version(release_version),
            p.path
        );
    }
}

pub fn plan_note(plan: &Plan) -> String {
    let others: Vec<String> = plan
        .moves
        .iter()
        .skip(1)
        .map(|m| format!("{} {} -> {}", m.track, m.from, m.to))
        .collect();
    format!(
        "{} package(s) {} -> {} (files {}){}, tag {}",
        plan.packages.len(),
        plan.previous_version.as_deref().unwrap_or("?"),
        plan.version.typed,
        plan.version.normalized(),
        if others.is_empty() {
            String::new()
        } else {
            format!("; {}", others.join("; "))
        },
        plan.tag
    )
}

/// The checks a nightly shares with a release's preflight: the publish
/// target, the build frontend, and the announce tokens when it announces.
pub fn check_nightly_env(config: &Config, f: &mut Findings) -> Option<ops::Target> {
    let target = check_target(config, f);
    if let Err(e) = ops::build::check_frontend(config) {
        f.add(e.to_string());
    }
    if config.nightly.announce {
        check_announce(config, f);
    }
    target
}

/// Preflight as the first step of a resumed nightly: the environment checked
/// again, the journaled commit and versions kept (the branch may have moved
/// since; a resume finishes what was begun).
pub struct NightlyPreflight;

impl Step for NightlyPreflight {
    fn name(&self) -> StepName {
        StepName::Preflight
    }

    fn reconcile(&self, _ctx: &mut Ctx) -> Result<Reconciled> {
        Ok(Reconciled::Redo)
    }

    fn run(&self, ctx: &mut Ctx) -> Result<String> {
        let mut f = Findings::default();
        check_nightly_env(&ctx.config, &mut f);
        let r = &ctx.journal.state().release;
        if !f.items.is_empty() {
            return Err(findings_error_for(
                &format!("the nightly {}", r.version),
                &f,
            ));
        }
        Ok(nightly_plan_note(r))
    }
}

pub fn nightly_plan_note(r: &Release) -> String {
    let commit = r.release_commit.as_deref().unwrap_or("?");
    format!(
        "{} package(s) {} -> {} from {}/{} at {}, no commit, no tag",
        r.packages.len(),
        r.previous_version.as_deref().unwrap_or("?"),
        r.version,
        r.remote,
        r.branch,
        &commit[..commit.len().min(12)]
    )
}
