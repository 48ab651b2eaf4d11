//! The journal document: what `.release/state.json` holds.
//!
//! These types are the contract between runs (and with `journal-schema/`): a
//! release interrupted by one version of `release` is resumed by reading this.
//! Unknown fields are refused so a hand-edited or foreign file is an error, not a
//! silently half-understood state.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::packages::Package;

/// 2: a `build` step between bump and tag (the ledger is made before the push).
/// 3: version tracks (each package's `track` and `next_version`), more
/// version sources, `track_overrides` and `allow_shrink`.
/// 4: `release.sign` (`release start --sign`) and `kind` (`release` or
/// `nightly`, whose journal is `.release/nightly.json`). Both are optional
/// with the meaning schema 3 had, so a schema-3 journal is read as a
/// release without `--sign` (see [`OLDEST_READABLE`]).
/// 5: `release.pull_request` (a release through a pull request) and the
/// `waiting` phase; both absent in a schema-4 journal, which reads as a
/// direct-push release.
/// 6: `release.next_dev_version`, `next_dev_commit`, `next_dev_edits`
/// (`[release] next_dev`) and `release.bump_hooks` (`[hooks] bump`); all
/// absent in a schema-5 journal, which reads as a release without either.
/// A runner of schema 5 refuses a schema-6 journal by its number, never by
/// a field it does not know.
pub const SCHEMA_VERSION: u32 = 6;

/// The oldest schema this runner reads (and upgrades on the next write).
pub const OLDEST_READABLE: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepName {
    Preflight,
    Bump,
    Build,
    Tag,
    Push,
    Publish,
    Audit,
    Announce,
}

impl StepName {
    pub const ALL: [StepName; 8] = [
        StepName::Preflight,
        StepName::Bump,
        StepName::Build,
        StepName::Tag,
        StepName::Push,
        StepName::Publish,
        StepName::Audit,
        StepName::Announce,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepName::Preflight => "preflight",
            StepName::Bump => "bump",
            StepName::Build => "build",
            StepName::Tag => "tag",
            StepName::Push => "push",
            StepName::Publish => "publish",
            StepName::Audit => "audit",
            StepName::Announce => "announce",
        }
    }
}

impl std::fmt::Display for StepName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a journal records: a release (`.release/state.json`), or a nightly
/// (`.release/nightly.json`: a dev release of the branch tip, with no
/// commit, tag or push, so it has no bump, tag or push step).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    #[default]
    Release,
    Nightly,
}

impl Kind {
    /// The steps of this kind of journal, in order.
    pub fn steps(self) -> &'static [StepName] {
        const NIGHTLY: [StepName; 5] = [
            StepName::Preflight,
            StepName::Build,
            StepName::Publish,
            StepName::Audit,
            StepName::Announce,
        ];
        match self {
            Kind::Release => &StepName::ALL,
            Kind::Nightly => &NIGHTLY,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Release => "release",
            Kind::Nightly => "nightly",
        }
    }
}

/// The steps of a release through a pull request, in order.
pub const THROUGH_PULL_REQUEST: [StepName; 8] = [
    StepName::Preflight,
    StepName::Bump,
    StepName::Build,
    StepName::Push,
    StepName::Tag,
    StepName::Publish,
    StepName::Audit,
    StepName::Announce,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Pending,
    Running,
    Done,
    Failed,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Done => "done",
            StepState::Failed => "failed",
        }
    }
}

/// Where the release as a whole stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Steps are being run, or a step failed and `resume` will retry it.
    InProgress,
    /// The push was rejected because the remote branch moved: `release recover`.
    RemoteDrift,
    /// The index refused a file for good: the version can never be completed.
    Burned,
    /// A release through a pull request waits for its merge: `resume` asks
    /// whether it was merged and where it landed.
    Waiting,
    Done,
    Aborted,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::InProgress => "in_progress",
            Phase::RemoteDrift => "remote_drift",
            Phase::Burned => "burned",
            Phase::Waiting => "waiting",
            Phase::Done => "done",
            Phase::Aborted => "aborted",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// As typed: used for the commit message, the tag and version declarations.
    pub version: String,
    /// PEP 440 normal form: what built files and the index carry.
    pub normalized_version: String,
    pub previous_version: Option<String>,
    pub tag: String,
    pub branch: String,
    pub remote: String,
    /// HEAD before the bump; what `recover` and `abort` reset to.
    pub base_commit: Option<String>,
    /// The commit the bump made; what the tag and the push point at.
    pub release_commit: Option<String>,
    /// `[release] next_dev`: the next dev version the bump's second commit
    /// moves the primary track to, planned (with the edits below) once the
    /// release commit is made and before the first edit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_dev_version: Option<String>,
    /// The second commit, on top of the release commit: what the branch is
    /// pushed at (the tag stays on the release commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_dev_commit: Option<String>,
    /// The files the next-dev commit writes, with the sha256 of what it
    /// writes: as `bump_edits`, for the second commit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_dev_edits: Vec<BumpEdit>,
    pub packages: Vec<Package>,
    #[serde(default)]
    pub skip_prerelease_check: bool,
    /// The burned version this release rolled forward from, if any.
    #[serde(default)]
    pub rolled_forward_from: Option<String>,
    /// The files bump is about to write, with the sha256 of what it writes:
    /// journaled before the first write, so that after a crash our half-done
    /// edits are told apart from the user's and only ours are undone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bump_edits: Vec<BumpEdit>,
    /// `[hooks] bump`, journaled before the first hook runs: what a hook
    /// changed cannot be known in advance, so after a crash during one
    /// this is what tells the bump's reconcile to undo every change since
    /// the base, sparing the files that were untracked before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bump_hooks: Option<BumpHooks>,
    /// `--track NAME=VERSION` as given, so a preflight run again on resume
    /// plans the same versions.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub track_overrides: std::collections::BTreeMap<String, String>,
    /// `--allow-shrink PACKAGE`: packages whose files may lose members or
    /// more than half their size against the previous release.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_shrink: Vec<String>,
    /// The lock this release holds on the remote: the first commit of
    /// `refs/release/lock` it pushed (its lease renewals name it as `lock:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_lock: Option<String>,
    /// Set when the journal was rebuilt from the world (`resume VERSION` in a
    /// clone without one): what it was rebuilt from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuilt_from: Option<String>,
    /// `release start --sign`: sign the tag even when git's config does not
    /// ask for it (`tag.gpgSign`). Kept so a resume signs it too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sign: bool,
    /// `[pull_request]`: the release commit goes to `branch` (as the
    /// release branch, `release/X`), a pull request carries it to the
    /// configured branch, and the tag waits for the commit it landed as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequest>,
}

/// The pull request of a release through one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullRequest {
    /// The release branch pushed (`release/1.2.0`).
    pub branch: String,
    /// The owner/name the pull request is opened in.
    pub repo: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The release commit as built and pushed on the release branch, kept
    /// once the landed commit takes its place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// The commit the merge made on the branch (merge, squash or rebase):
    /// what is tagged and published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landed: Option<String>,
}

impl Release {
    /// The files as release left them before a crash during the bump
    /// hooks: the bump's edits, and what the hooks had changed when the
    /// last one finished (path, sha256 or `None` for deleted).
    pub fn hooks_known(&self) -> Vec<(String, Option<String>)> {
        let mut known: Vec<(String, Option<String>)> = self
            .bump_edits
            .iter()
            .map(|e| (e.path.clone(), Some(e.sha256.clone())))
            .collect();
        if let Some(h) = &self.bump_hooks {
            known.extend(h.changed.iter().map(|c| (c.path.clone(), c.sha256.clone())));
        }
        known
    }

    /// Each package's normalised name with the normalised version this
    /// release gives it (what its files and the index carry).
    pub fn package_versions(&self) -> Vec<(String, String)> {
        self.packages
            .iter()
            .map(|p| {
                (
                    p.normalized_name.clone(),
                    crate::version::normalize(p.release_version(&self.version)),
                )
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BumpEdit {
    /// Relative to the repository root, `/`-separated.
    pub path: String,
    /// sha256 of the file's content as bump writes it.
    pub sha256: String,
}

/// The bump's hooks as run so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BumpHooks {
    /// Untracked files (relative, `/`-separated) before the first hook
    /// ran: never committed, moved or removed by the hooks' undo.
    #[serde(default)]
    pub untracked_before: Vec<String>,
    /// Each hook's command as run (placeholders filled in), journaled
    /// before it started.
    #[serde(default)]
    pub started: Vec<String>,
    /// What the hooks had changed when the last one finished: a file
    /// still so after a crash is the hooks', undone without a copy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<HookChange>,
}

/// A file as the bump hooks left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookChange {
    /// Relative to the repository root, `/`-separated.
    pub path: String,
    /// sha256 of its content; `None`: deleted.
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRecord {
    pub name: StepName,
    pub state: StepState,
    pub attempts: u32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    Pending,
    Uploading,
    Uploaded,
    Burned,
}

impl FileState {
    pub fn as_str(self) -> &'static str {
        match self {
            FileState::Pending => "pending",
            FileState::Uploading => "uploading",
            FileState::Uploaded => "uploaded",
            FileState::Burned => "burned",
        }
    }
}

/// One built file: recorded before the first upload, never rebuilt afterwards.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerFile {
    /// Normalised package name.
    pub package: String,
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub state: FileState,
    pub uploaded_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    /// Where files go, without credentials.
    #[serde(default, with = "crate::ops::http::redacted")]
    pub upload_url: Option<String>,
    /// Where audit reads, without credentials.
    #[serde(default, with = "crate::ops::http::redacted")]
    pub index_url: Option<String>,
    /// `None` until every file is built and hashed; then never rebuilt.
    pub ledger: Option<Vec<LedgerFile>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelState {
    Pending,
    /// Written before the post: found in this state, the outcome is unknown.
    Posting,
    Done,
    Skipped,
    /// The service refused: nothing was posted.
    Failed,
}

impl ChannelState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelState::Pending => "pending",
            ChannelState::Posting => "posting",
            ChannelState::Done => "done",
            ChannelState::Skipped => "skipped",
            ChannelState::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    pub name: String,
    pub state: ChannelState,
    pub remote_id: Option<String>,
    pub note: Option<String>,
    pub at: Option<DateTime<Utc>>,
    /// Slack: the configured channel's ID, resolved once, so a lookup on
    /// resume reads the right history without listing channels again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Announce {
    pub channels: Vec<Channel>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    pub at: DateTime<Utc>,
    /// `release`, `step:<name>`, `file:<filename>` or `channel:<name>`.
    pub subject: String,
    pub from: Option<String>,
    pub to: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub schema_version: u32,
    /// Absent in schema 2, which knew only releases.
    #[serde(default)]
    pub kind: Kind,
    pub phase: Phase,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub release: Release,
    pub steps: Vec<StepRecord>,
    pub publish: Publish,
    pub announce: Announce,
    pub transitions: Vec<Transition>,
}

impl State {
    /// A nightly's date: its version's dev number (`None` for a release).
    pub fn nightly_date(&self) -> Option<u64> {
        if self.kind != Kind::Nightly {
            return None;
        }
        crate::version::ReleaseVersion::parse(&self.release.normalized_version)
            .ok()?
            .parsed
            .dev()
    }

    pub fn new(release: Release) -> Self {
        Self::new_of(Kind::Release, release)
    }

    pub fn new_of(kind: Kind, release: Release) -> Self {
        let now = Utc::now();
        let order = match (kind, &release.pull_request) {
            (Kind::Release, Some(_)) => &THROUGH_PULL_REQUEST[..],
            _ => kind.steps(),
        };
        State {
            schema_version: SCHEMA_VERSION,
            kind,
            phase: Phase::InProgress,
            created_at: now,
            updated_at: now,
            release,
            steps: order
                .iter()
                .map(|&name| StepRecord {
                    name,
                    state: StepState::Pending,
                    attempts: 0,
                    started_at: None,
                    finished_at: None,
                    error: None,
                    note: None,
                })
                .collect(),
            publish: Publish::default(),
            announce: Announce::default(),
            transitions: Vec::new(),
        }
    }

    /// The steps this journal lists, in order: its kind's, with the push
    /// (which opens the pull request) before the tag (which waits for its
    /// merge) for a release through a pull request.
    pub fn step_order(&self) -> &'static [StepName] {
        match self.release.pull_request {
            Some(_) if self.kind == Kind::Release => &THROUGH_PULL_REQUEST,
            _ => self.kind.steps(),
        }
    }

    pub fn step(&self, name: StepName) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.name == name)
    }

    pub fn step_mut(&mut self, name: StepName) -> Option<&mut StepRecord> {
        self.steps.iter_mut().find(|s| s.name == name)
    }

    pub fn step_state(&self, name: StepName) -> StepState {
        self.step(name)
            .map(|s| s.state)
            .unwrap_or(StepState::Pending)
    }

    /// The first step that is not done.
    pub fn current_step(&self) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.state != StepState::Done)
    }
}
