//! Step 8, announce: post the release notes to Slack and create the GitHub
//! release, each channel at most once.
//!
//! Each channel has its own journal entry, `posting` written before the post
//! and `done` (with the message `ts` or release id) after. Only a definite
//! refusal (Slack's `ok: false`, a GitHub 4xx) makes it `failed`: after a
//! timeout, a reset connection or a 2xx whose answer cannot be read it stays
//! `posting`, its outcome unknown, and is reconciled before anything is
//! posted again: GitHub by looking the release up by tag, Slack by looking
//! for the release marker in the channel's history since the first attempt
//! (by channel ID, resolved once from the configured `#name` and kept in the
//! journal), or, when Slack will not show that history, by asking the user
//! (`release resume --announced slack`) rather than risking a second post.
//! Failures never undo anything: the release is published; `resume` retries
//! only the channels not done.

use anyhow::{anyhow, bail, Result};

use super::{resume_command, Ctx, Reconciled, Step};
use crate::failpoint;
use crate::journal::{ChannelState, Kind, StepName};
use crate::notes;
use crate::ops::announce::{AnnounceError, Found, Github, Slack};
use crate::ops::git;
use crate::version::ReleaseVersion;

pub struct Announce;

pub const CHANNELS: [&str; 2] = ["slack", "github"];

/// The configured channels, by name.
pub fn configured(config: &crate::config::Config) -> Vec<&'static str> {
    CHANNELS
        .into_iter()
        .filter(|c| match *c {
            "slack" => config.announce.slack.is_some(),
            _ => config.announce.github.is_some(),
        })
        .collect()
}

/// The marker a Slack message carries, to be found again in the history:
/// the tag, or a nightly's version (it has no tag), and the commit.
fn marker(ctx: &Ctx) -> String {
    let r = &ctx.journal.state().release;
    let commit = r.release_commit.as_deref().unwrap_or("");
    let name = if is_nightly(ctx) { &r.version } else { &r.tag };
    format!("release-marker: {name}@{}", &commit[..commit.len().min(12)])
}

fn is_nightly(ctx: &Ctx) -> bool {
    ctx.journal.state().kind == Kind::Nightly
}

/// The notes: the section for the version, else a generated note (pre-releases).
fn release_notes(ctx: &Ctx) -> Result<String> {
    let r = &ctx.journal.state().release;
    if is_nightly(ctx) {
        return Ok(crate::notes::nightly(ctx.journal.state()));
    }
    let version = ReleaseVersion::parse(&r.version)?;
    let commit = ctx.release_commit()?;
    let file = &ctx.config.notes.file;
    let text = git::read_at(&ctx.repo, commit, file).unwrap_or_default();
    let tracks = notes::tracks_of(&r.packages, &r.version);
    // With tracks, the other tracks' versions are said under the notes.
    let tracks_line = if tracks.len() > 1 {
        let listed: Vec<String> = tracks.iter().map(|(t, v)| format!("{t} {v}")).collect();
        format!("\nReleased together: {}.\n", listed.join(", "))
    } else {
        String::new()
    };
    let style = notes::Style::of(&ctx.config.notes, tracks);
    if let Some(section) = notes::section(&text, &version, &style) {
        return Ok(format!("{section}{tracks_line}"));
    }
    if version.is_final() {
        bail!(
            "{file} has no `{}` section; add one, commit it, and release the next version",
            notes::expected_heading(&r.version, &style)
        );
    }
    let index = ctx
        .journal
        .state()
        .publish
        .index_url
        .clone()
        .unwrap_or_default();
    let mut note = format!(
        "Pre-release {} (files {}) of {} packages, tag {}.\n",
        r.version,
        r.normalized_version,
        r.packages.len(),
        r.tag
    );
    for p in &r.packages {
        note.push_str(&format!(
            "- {} {}: {index}{}/\n",
            p.name,
            crate::version::normalize(p.release_version(&r.version)),
            p.normalized_name
        ));
    }
    note.push_str(&tracks_line);
    Ok(note)
}

fn channel_record<'a>(ctx: &'a Ctx, name: &str) -> Option<&'a crate::journal::Channel> {
    ctx.journal
        .state()
        .announce
        .channels
        .iter()
        .find(|c| c.name == name)
}

fn channel_state(ctx: &Ctx, name: &str) -> ChannelState {
    channel_record(ctx, name)
        .map(|c| c.state)
        .unwrap_or(ChannelState::Pending)
}

/// How far before the first attempt the history is read: Slack's clock and
/// ours may disagree.
const CLOCK_MARGIN_SECS: i64 = 3600;

/// `oldest` for the history lookup: the first `posting` of `name`, less the
/// margin (0, all history, if the journal has none).
fn first_attempt(ctx: &Ctx, name: &str) -> String {
    let subject = format!("channel:{name}");
    ctx.journal
        .state()
        .transitions
        .iter()
        .find(|t| t.subject == subject && t.to == ChannelState::Posting.as_str())
        .map(|t| (t.at.timestamp() - CLOCK_MARGIN_SECS).max(0))
        .unwrap_or(0)
        .to_string()
}

/// The Slack channel's ID: from the journal, else resolved and kept there.
/// The inner error: Slack will not tell (a refusal such as `missing_scope`,
/// or no channel of that name).
fn slack_channel_id(ctx: &mut Ctx, client: &Slack) -> Result<Result<String, AnnounceError>> {
    if let Some(id) = channel_record(ctx, "slack").and_then(|c| c.channel_id.clone()) {
        return Ok(Ok(id));
    }
    match client.resolve() {
        Ok(id) => {
            ctx.journal.channel_resolved("slack", &id)?;
            Ok(Ok(id))
        }
        Err(e @ (AnnounceError::Slack(_) | AnnounceError::NoChannel(_))) => Ok(Err(e)),
        Err(e) => Err(e.into()),
    }
}

/// After an unknown outcome: the words that send the user to `resume`.
fn unknown_outcome(ctx: &Ctx) -> String {
    format!(
        "the outcome is unknown; `{}` looks for it before posting anything again",
        resume_command(ctx)
    )
}

fn slack(ctx: &mut Ctx, notes: &str) -> Result<String> {
    let Some(conf) = ctx.config.announce.slack.clone() else {
        return Ok("not configured".into());
    };
    let client = Slack::new(
        conf.api.as_deref(),
        &conf.channel,
        ctx.config.announce.retry(),
    )?;
    let marker = marker(ctx);
    let resume = resume_command(ctx);
    let ask_user = |why: String| {
        anyhow!(
            "an earlier post to Slack {0} was interrupted and {why}; look in {0}: \
             if the announcement is there run `{resume} --announced slack`, otherwise `{resume} --announce-again slack`",
            conf.channel,
        )
    };
    if channel_state(ctx, "slack") == ChannelState::Posting {
        let id = match slack_channel_id(ctx, &client)? {
            Ok(id) => id,
            Err(e) => return Err(ask_user(format!("its channel ID cannot be found ({e})"))),
        };
        match client.find(&id, &marker, &first_attempt(ctx, "slack"))? {
            Found::Yes(ts) => {
                ctx.journal.channel_to(
                    "slack",
                    ChannelState::Done,
                    Some(ts.clone()),
                    Some("found in the channel history".into()),
                )?;
                return Ok(format!("already posted (ts {ts})"));
            }
            Found::No => {}
            Found::Unknown(code) => {
                return Err(ask_user(format!("its history cannot be read ({code})")))
            }
        }
    }
    // Post to the ID, so that a later lookup reads the channel posted to.
    // When it cannot be found, Slack's answer to the post is the judge.
    let target = slack_channel_id(ctx, &client)?.unwrap_or_else(|_| conf.channel.clone());
    let r = &ctx.journal.state().release;
    let headline = if is_nightly(ctx) {
        format!("*Nightly {}* (from `{}`)", r.version, r.branch)
    } else {
        format!("*Released {}* (tag `{}`)", r.version, r.tag)
    };
    let text = format!("{headline}\n\n{notes}\n\n_{marker}_");
    let unknown = unknown_outcome(ctx);
    ctx.journal
        .channel_to("slack", ChannelState::Posting, None, None)?;
    match client.post(&target, &text) {
        Ok(ts) => {
            failpoint::hit("announce.after_post");
            ctx.journal
                .channel_to("slack", ChannelState::Done, Some(ts.clone()), None)?;
            Ok(format!("posted to {} (ts {ts})", conf.channel))
        }
        // Unknown outcome: stays `posting`, reconciled on resume.
        Err(e) if e.is_transient() => Err(anyhow!(e).context(unknown)),
        // Slack said no: nothing was posted; resume posts again.
        Err(e) => {
            ctx.journal
                .channel_to("slack", ChannelState::Failed, None, Some(e.to_string()))?;
            Err(e.into())
        }
    }
}

fn github(ctx: &mut Ctx, notes: &str) -> Result<String> {
    let Some(conf) = ctx.config.announce.github.clone() else {
        return Ok("not configured".into());
    };
    let client = Github::new(conf.api.as_deref(), &conf.repo, ctx.config.announce.retry())?;
    let r = ctx.journal.state().release.clone();
    // Before creating, and on resume: a release for the tag counts as done.
    if let Some(id) = client.release_for(&r.tag)? {
        ctx.journal.channel_to(
            "github",
            ChannelState::Done,
            Some(id.clone()),
            Some("the release already exists".into()),
        )?;
        return Ok(format!("release {id} already exists"));
    }
    let prerelease = !ReleaseVersion::parse(&r.version)?.is_final();
    let unknown = unknown_outcome(ctx);
    ctx.journal
        .channel_to("github", ChannelState::Posting, None, None)?;
    let created = crate::ops::http::with_retry(
        client.retry,
        |e| matches!(e, AnnounceError::Transient { .. }),
        || client.create(&r.tag, &r.version, notes, prerelease),
        // A 5xx or a timeout: the last try may have landed, so ask before
        // creating again.
        || client.release_for(&r.tag).ok().flatten().map(Ok),
    );
    let id = match created {
        Ok(id) => id,
        // Unknown outcome (a 2xx unread, or out of tries): stays
        // `posting`, looked up by tag on resume.
        Err(e) if e.is_transient() => return Err(anyhow!(e).context(unknown)),
        Err(e) => {
            ctx.journal
                .channel_to("github", ChannelState::Failed, None, Some(e.to_string()))?;
            return Err(e.into());
        }
    };
    failpoint::hit("announce.after_post");
    ctx.journal
        .channel_to("github", ChannelState::Done, Some(id.clone()), None)?;
    Ok(format!(
        "GitHub release {id} for {} (prerelease: {prerelease})",
        r.tag
    ))
}

impl Step for Announce {
    fn name(&self) -> StepName {
        StepName::Announce
    }

    fn reconcile(&self, _ctx: &mut Ctx) -> Result<Reconciled> {
        // Run reconciles channel by channel (see the module doc).
        Ok(Reconciled::Redo)
    }

    fn run(&self, ctx: &mut Ctx) -> Result<String> {
        if is_nightly(ctx) && !ctx.config.nightly.announce {
            return Ok(
                "skipped: nightlies are not announced ([nightly] announce = true to announce them)"
                    .into(),
            );
        }
        let mut wanted = configured(&ctx.config);
        if is_nightly(ctx) && wanted.contains(&"github") {
            // A GitHub release is made for a tag; a nightly has none.
            wanted.retain(|c| *c != "github");
            if channel_state(ctx, "github") == ChannelState::Pending {
                ctx.journal.channel_to(
                    "github",
                    ChannelState::Skipped,
                    None,
                    Some("skipped: a nightly has no tag to make a GitHub release for".into()),
                )?;
            }
        }
        for name in CHANNELS {
            let known = ctx
                .journal
                .state()
                .announce
                .channels
                .iter()
                .any(|c| c.name == name);
            if !wanted.contains(&name) && !known {
                ctx.journal.channel_to(
                    name,
                    ChannelState::Skipped,
                    None,
                    Some("skipped: not configured".into()),
                )?;
            }
        }
        if wanted.is_empty() {
            return Ok("skipped: not configured (no [announce.slack] or [announce.github] in release.toml)".into());
        }
        let notes = release_notes(ctx)?;
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for name in wanted {
            if matches!(
                channel_state(ctx, name),
                ChannelState::Done | ChannelState::Skipped
            ) {
                done.push(format!("{name}: done before"));
                continue;
            }
            let r = if name == "slack" {
                slack(ctx, &notes)
            } else {
                github(ctx, &notes)
            };
            match r {
                Ok(note) => {
                    say!("    {name}: {note}");
                    done.push(format!("{name}: {note}"));
                }
                Err(e) => failed.push(format!("{name}: {e:#}")),
            }
        }
        if !failed.is_empty() {
            return Err(anyhow!(
                "announcing failed (the {} itself is published; `{}` retries only what is not done):\n  - {}",
                ctx.journal.state().kind.as_str(),
                resume_command(ctx),
                failed.join("\n  - ")
            ));
        }
        Ok(done.join("; "))
    }
}

/// `release resume --announced CHANNEL` / `--announce-again CHANNEL`: the
/// user settles an unknown outcome.
pub fn settle(journal: &mut crate::journal::Journal, channel: &str, posted: bool) -> Result<()> {
    if !CHANNELS.contains(&channel) {
        bail!("unknown channel `{channel}`; expected slack or github");
    }
    let (state, note) = if posted {
        (ChannelState::Done, "confirmed posted by the user")
    } else {
        (ChannelState::Failed, "confirmed not posted by the user")
    };
    journal.channel_to(channel, state, None, Some(note.into()))?;
    Ok(())
}
