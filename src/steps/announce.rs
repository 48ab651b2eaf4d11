//! Step 7, announce: post the release notes, each channel at most once.

use anyhow::{bail, Result};

use super::{Ctx, Reconciled, Step};
use crate::journal::{Channel, ChannelState, StepName};

pub struct Announce;

impl Step for Announce {
    fn name(&self) -> StepName {
        StepName::Announce
    }

    fn reconcile(&self, _ctx: &mut Ctx) -> Result<Reconciled> {
        Ok(Reconciled::Redo)
    }

    fn run(&self, ctx: &mut Ctx) -> Result<String> {
        let a = &ctx.config.announce;
        let mut configured = Vec::new();
        if a.slack.is_some() {
            configured.push("slack");
        }
        if a.github.is_some() {
            configured.push("github");
        }
        if !configured.is_empty() {
            bail!(
                "announcing to {} is not supported by this build of release yet; remove [announce] from release.toml \
                 and announce by hand, then run `release resume`",
                configured.join(" and ")
            );
        }
        ctx.journal.state.announce.channels = ["slack", "github"]
            .iter()
            .map(|name| Channel {
                name: name.to_string(),
                state: ChannelState::Skipped,
                remote_id: None,
                note: Some("skipped: not configured".into()),
                at: None,
            })
            .collect();
        Ok(
            "skipped: not configured (no [announce.slack] or [announce.github] in release.toml)"
                .into(),
        )
    }
}
