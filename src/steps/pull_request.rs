//! A release through a pull request (`[pull_request]`), for branches that
//! take no direct push: the push step sends the release commit to a release
//! branch and opens a pull request; the release then waits; the tag step
//! tags the commit the merge landed as.
//!
//! The same runner and steps as a direct release: `push` and `tag` call in
//! here when the journal names a pull request. Every effect is found again
//! before it is redone: the branch by its commit, the pull request by the
//! marker in its body, the tag on the remote by its commit.

use anyhow::{anyhow, bail, Result};
use git2::{Oid, Repository};

use super::{Ctx, Reconciled};
use crate::config::Config;
use crate::failpoint;
use crate::journal::{Phase, PullRequest, State};
use crate::ops::forge::{self, client, Pull, PullState};
use crate::ops::git::{self, PushResult};

/// The pull request of the journal's release; an error for a direct one.
fn of(state: &State) -> Result<PullRequest> {
    state
        .release
        .pull_request
        .clone()
        .ok_or_else(|| anyhow!("this release goes by direct push, not through a pull request"))
}

/// Preflight in pull-request mode: the API answers with this token, and no
/// release branch or open release pull request exists (the open pull
/// request is the lock while a release waits).
pub fn preflight(config: &Config, repo: &Repository, version: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Some(pr) = &config.pull_request else {
        return found;
    };
    // The next-dev commit would ride on the release branch, and a squash
    // merge would fold it into the one commit to be tagged: refused.
    if config.release.next_dev.0.is_some() {
        found.push(
            "`[release] next_dev` does not work with `[pull_request]` (a squash merge would fold the next-dev commit into the commit that is tagged): remove `next_dev` from release.toml and move the branch to the next dev version in a pull request of its own after the release".into(),
        );
    }
    let branch = pr.branch_for(version);
    if branch == config.branch || !branch.contains(version) {
        found.push(format!(
            "`[pull_request] branch` makes `{branch}`, which must name the version and differ from `{}`; the default is `release/{{version}}`",
            config.branch
        ));
    }
    if git::local_branch(repo, &branch).is_some() {
        found.push(format!(
            "a local branch `{branch}` exists already: delete it if it is stale (`git branch -D {branch}`)"
        ));
    }
    match git::ls_remote(repo, &config.remote) {
        Ok(refs) if refs.branch(&branch).is_some() => found.push(format!(
            "`{}` has a branch `{branch}` already: another release of {version} may be under way; see its pull request, or delete the branch if it is stale",
            config.remote
        )),
        Ok(_) => {}
        Err(e) => found.push(e.to_string()),
    }
    let gh = match forge::repo_name(config, repo).and_then(|name| client(config, &name)) {
        Ok(gh) => gh,
        Err(e) => {
            found.push(format!("pull requests: {e:#}"));
            return found;
        }
    };
    if let Err(e) = gh.check() {
        found.push(format!("GitHub (pull requests): {e}"));
        return found;
    }
    match gh.open_release_pulls() {
        Ok(open) => {
            for p in open {
                found.push(format!(
                    "the release pull request #{} ({}) for {} is open: merge it and run `release resume` (or `release resume {}` in a fresh clone), or close it with `release abort` (`release abort {}` in a clone without its journal), before another release starts",
                    p.number,
                    p.url,
                    forge::marked_version(&p.body).unwrap_or("?"),
                    forge::marked_version(&p.body).unwrap_or("VERSION"),
                    forge::marked_version(&p.body).unwrap_or("VERSION")
                ));
            }
        }
        Err(e) => found.push(format!("GitHub (pull requests): {e}")),
    }
    found
}

/// The pull request's title and body: the notes, a table of packages and
/// versions, and the hidden marker naming the version.
fn describe(ctx: &Ctx) -> (String, String) {
    let r = &ctx.journal.state().release;
    let notes = ctx
        .release_commit()
        .ok()
        .and_then(|c| git::read_at(&ctx.repo, c, &ctx.config.notes.file))
        .and_then(|text| {
            let style = crate::notes::Style::of(
                &ctx.config.notes,
                crate::notes::tracks_of(&r.packages, &r.version),
            );
            crate::version::ReleaseVersion::parse(&r.version)
                .ok()
                .and_then(|v| crate::notes::section(&text, &v, &style))
        })
        .unwrap_or_else(|| {
            format!(
                "No `{}` section for {}.\n",
                ctx.config.notes.file, r.version
            )
        });
    let mut body = format!("{notes}\n\n| package | version |\n|---|---|\n");
    for p in &r.packages {
        body.push_str(&format!(
            "| {} | {} |\n",
            p.name,
            p.release_version(&r.version)
        ));
    }
    body.push_str(&format!(
        "\nMerge this pull request, then run `release resume` (or `release resume {}` in a fresh clone): it tags the commit it lands as and publishes.\n\n{}\n",
        r.version,
        forge::marker(&r.version)
    ));
    (format!("Release {}", r.version), body)
}

/// The words while a release waits for its merge.
pub fn waiting_words(state: &State) -> String {
    let pr = state.release.pull_request.as_ref();
    let url = pr
        .and_then(|p| p.url.as_deref())
        .unwrap_or("(not opened yet)");
    let branch = pr.map(|p| p.branch.as_str()).unwrap_or("?");
    format!(
        "waiting for the pull request {url} ({branch} into {}): merge it, then run `release resume` (or `release resume {}` in a fresh clone) to tag the commit it lands as and publish; `release abort` closes it",
        state.release.branch, state.release.version
    )
}

/// Push step, pull-request mode: the release branch, then the pull request
/// (found by its marker, else opened), journaled; the release then waits.
pub fn push(ctx: &mut Ctx) -> Result<String> {
    let r = ctx.journal.state().release.clone();
    let pr = of(ctx.journal.state())?;
    let commit = ctx.release_commit()?;
    // Never the protected branch: the release branch only.
    let spec = format!("{commit}:refs/heads/{}", pr.branch);
    match git::push(&ctx.repo, &r.remote, &spec)? {
        PushResult::Accepted => {}
        PushResult::NotFastForward(why) | PushResult::Rejected(why) => {
            let there = git::ls_remote(&ctx.repo, &r.remote)?.branch(&pr.branch);
            if there != Some(commit) {
                bail!(
                    "push of the release branch {} refused by `{}`: {why}. If `{}` holds another commit, it is not this release's: \
                     delete it there, then run `release resume`; or `release abort`",
                    pr.branch,
                    r.remote,
                    pr.branch
                );
            }
        }
    }
    failpoint::hit("pr.after_branch");
    let gh = client(&ctx.config, &pr.repo)?;
    let found = match pr.number {
        Some(n) => Some(gh.pull(n)?),
        // One closed unmerged is an earlier, aborted try: not this one's.
        None => gh
            .release_pull(&pr.branch, &r.version)?
            .filter(|p| p.state != PullState::Closed),
    };
    let pull = match found {
        Some(p) => p,
        None => {
            let (title, body) = describe(ctx);
            match gh.open_pull(&pr.branch, &r.branch, &title, &body) {
                Ok(p) => p,
                // The answer was lost: it may be open. Look before any second POST.
                Err(e) if e.is_transient() => gh
                    .release_pull(&pr.branch, &r.version)?
                    .ok_or_else(|| anyhow!("{e}; no pull request for {} was found from {}, run `release resume` to open it", r.version, pr.branch))?,
                Err(e) => return Err(anyhow!(e).context(format!(
                    "opening the pull request from {} into {}",
                    pr.branch, r.branch
                ))),
            }
        }
    };
    failpoint::hit("pr.after_open");
    ctx.journal
        .pull_request_opened(pull.number, pull.url.clone())?;
    ctx.journal.phase_to(
        Phase::Waiting,
        Some(format!("pull request #{}", pull.number)),
    )?;
    Ok(format!(
        "{} pushed to {} at {commit}; pull request #{} into {}: {}",
        pr.branch, r.remote, pull.number, r.branch, pull.url
    ))
}

/// Push step interrupted: done when the pull request is journaled (it was
/// opened on top of the pushed branch).
pub fn push_reconcile(ctx: &mut Ctx) -> Result<Reconciled> {
    let pr = of(ctx.journal.state())?;
    match (pr.number, pr.url) {
        (Some(n), Some(url)) => {
            if ctx.journal.state().phase == Phase::InProgress && pr.landed.is_none() {
                ctx.journal
                    .phase_to(Phase::Waiting, Some(format!("pull request #{n}")))?;
            }
            Ok(Reconciled::Done(format!(
                "pull request #{n} already open: {url}"
            )))
        }
        _ => Ok(Reconciled::Redo),
    }
}

/// What the wait for the merge found.
pub enum Gate {
    /// Merged, checked and journaled: go on to tag.
    Go,
    /// Still open: stop here, with exit 0.
    Wait,
}

/// The release waits: ask whether its pull request was merged and where it
/// landed. Open: wait. Closed unmerged: refuse, naming `release abort`.
/// Merged: check the landed commit is on the branch and declares the
/// version (else refuse, nothing changed), then journal it.
pub fn gate(ctx: &mut Ctx) -> Result<Gate> {
    let pr = of(ctx.journal.state())?;
    let number = pr.number.ok_or_else(|| {
        anyhow!(
            "the journal has no pull request number; run `release resume` to find it by its marker"
        )
    })?;
    let gh = client(&ctx.config, &pr.repo)?;
    let pull = gh.pull(number)?;
    match pull.state {
        PullState::Open => {
            say!("{}", waiting_words(ctx.journal.state()));
            Ok(Gate::Wait)
        }
        PullState::Closed => bail!("{}", closed_words(ctx.journal.state(), &pull)),
        PullState::Merged => {
            let landed = pull.landed()?;
            let r = ctx.journal.state().release.clone();
            check_landed(&ctx.repo, &ctx.config, &ctx.journal.paths, &r, landed)?;
            ctx.journal.pull_request_landed(landed.to_string())?;
            failpoint::hit("pr.after_landed");
            ctx.journal.phase_to(
                Phase::InProgress,
                Some(format!("pull request #{number} merged as {landed}")),
            )?;
            say!(
                "pull request #{number} was merged: it landed on {} as {landed}",
                r.branch
            );
            super::hold_remote_lock(&ctx.repo, &ctx.config, &mut ctx.journal)?;
            Ok(Gate::Go)
        }
    }
}

/// The words for a release pull request closed without merging.
pub fn closed_words(state: &State, pull: &Pull) -> String {
    format!(
        "the pull request #{} ({}) of {} was closed without merging: nothing was tagged or published. \
         Run `release abort` to delete the release branch and archive the journal (then start again), \
         or reopen the pull request, merge it, and run `release resume`",
        pull.number, pull.url, state.release.version
    )
}

/// The landed commit is on the remote branch and declares the release:
/// every package at the version this release gives it (each track at its
/// own), as a tagged commit must. Refused otherwise, nothing changed.
fn check_landed(
    repo: &Repository,
    config: &Config,
    paths: &crate::journal::Paths,
    r: &crate::journal::Release,
    landed: Oid,
) -> Result<()> {
    let tip = git::fetch_branch(repo, &r.remote, &r.branch)?;
    let refuse = |why: String| {
        anyhow!(
            "the pull request of {} landed as {landed}, which {why}; nothing was tagged or published. \
             Fix the branch (a release commit for {} on `{}`), then run `release resume`; or `release abort`",
            r.version,
            r.version,
            r.branch
        )
    };
    if !tip.is_some_and(|t| git::is_ancestor(repo, landed, t)) {
        return Err(refuse(format!("is not on `{}/{}`", r.remote, r.branch)));
    }
    let at = crate::rebuild::declared(repo, config, paths, landed, "the landed commit")?;
    at.declares(config, &r.version).map_err(refuse)?;
    let wrong: Vec<String> = r
        .packages
        .iter()
        .filter_map(|p| {
            let want = crate::version::normalize(p.release_version(&r.version));
            match at
                .packages
                .iter()
                .find(|l| l.normalized_name == p.normalized_name)
            {
                Some(l) if crate::version::normalize(&l.version) == want => None,
                Some(l) => Some(format!("{} at {} (not {want})", p.name, l.version)),
                None => Some(format!("{} missing", p.name)),
            }
        })
        .collect();
    if !wrong.is_empty() {
        return Err(refuse(format!("declares {}", crate::first_few(&wrong, 5))));
    }
    Ok(())
}

/// Tag step, pull-request mode: build again from the landed commit when a
/// package folder differs from the built one (nothing was uploaded yet),
/// then tag the landed commit and push only the tag.
pub fn tag(ctx: &mut Ctx) -> Result<String> {
    let r = ctx.journal.state().release.clone();
    let pr = of(ctx.journal.state())?;
    let landed = ctx.release_commit()?;
    if pr.landed.as_deref() != Some(landed.to_string().as_str()) {
        bail!("the pull request has not landed yet; run `release resume` after its merge");
    }
    let mut notes = Vec::new();
    // A journal rebuilt from the merge was built from the landed commit.
    let built_from_head = r.rebuilt_from.is_none();
    let head = pr.head.as_deref().map(Oid::from_str).transpose()?;
    if let Some(head) = head.filter(|_| built_from_head) {
        let differ: Vec<String> = r
            .packages
            .iter()
            .filter(|p| {
                git::tree_at(&ctx.repo, head, &p.path) != git::tree_at(&ctx.repo, landed, &p.path)
            })
            .map(|p| p.name.clone())
            .collect();
        if !differ.is_empty() {
            say!(
                "    {} changed on `{}` since the build ({} into it before the merge): building again from {landed}",
                crate::first_few(&differ, 5),
                r.branch,
                "another pull request merged"
            );
            let ledger = super::build::build_all(ctx, &r.normalized_version)?;
            ctx.journal.ledger_rebuilt(ledger)?;
            crate::journal::tidy::drop_exports(&ctx.journal.paths)?;
            notes.push(format!("built again from {landed} ({})", differ.join(", ")));
        }
    }
    let refs = git::ls_remote(&ctx.repo, &r.remote)?;
    match refs.tag_commit(&r.tag) {
        Some(c) if c == landed => {
            notes.push(format!("tag {} already on `{}` at {landed}", r.tag, r.remote));
            return Ok(notes.join("; "));
        }
        Some(other) => bail!(
            "`{}` has a tag {} at {other}, not at the landed commit {landed}; if it is stale, delete it there, then run `release resume`",
            r.remote,
            r.tag
        ),
        None => {}
    }
    let signer = crate::ops::sign::for_tags(&ctx.repo, r.sign)?;
    match git::tag_commit(&ctx.repo, &r.tag) {
        Some(c) if c == landed => {
            if signer.is_some() && !git::is_signed_tag(&ctx.repo, &r.tag) {
                bail!(
                    "tag {} is on the landed commit {landed} but is not signed, and signing was asked for; \
                     delete it with `git tag -d {}`, then run `release resume` to make a signed one",
                    r.tag,
                    r.tag
                );
            }
        }
        Some(other) => bail!(
            "tag {} exists here but points at {other}, not the landed commit {landed}; delete it with `git tag -d {}` if it is stale, then run `release resume`",
            r.tag,
            r.tag
        ),
        None => {
            git::create_annotated_tag(&ctx.repo, &r.tag, landed, &r.version, signer.as_ref())?;
        }
    }
    let spec = format!("refs/tags/{0}:refs/tags/{0}", r.tag);
    match git::push(&ctx.repo, &r.remote, &spec)? {
        PushResult::Accepted => {}
        PushResult::NotFastForward(why) | PushResult::Rejected(why) => bail!(
            "push of tag {} refused by `{}`: {why}; fix the cause (a tag rule), then run `release resume`",
            r.tag,
            r.remote
        ),
    }
    failpoint::hit("pr.after_tag_push");
    let how = signer
        .map(|s| format!(", signed with {}", s.describe()))
        .unwrap_or_default();
    notes.push(format!(
        "tag {} on the landed commit {landed}{how}, pushed to {}",
        r.tag, r.remote
    ));
    Ok(notes.join("; "))
}

/// Tag step interrupted: done when the tag is on the remote at the landed commit.
pub fn tag_reconcile(ctx: &mut Ctx) -> Result<Reconciled> {
    let r = &ctx.journal.state().release;
    let landed = ctx.release_commit()?;
    if git::ls_remote(&ctx.repo, &r.remote)?.tag_commit(&r.tag) == Some(landed) {
        return Ok(Reconciled::Done(format!(
            "tag {} already on `{}` at the landed commit {landed}",
            r.tag, r.remote
        )));
    }
    Ok(Reconciled::Redo)
}
