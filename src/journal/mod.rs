//! The journal: `.release/state.json`, the only record of where a release stands.
//!
//! Every write of the journal goes through this module, so the guarantees live in
//! one place: a write is atomic (temp file, fsync, rename, fsync of the folder),
//! one runner at a time holds `.release/lock`, `.release/` ignores itself so the
//! tree stays clean, and a journal that cannot be read is reported and left alone.

pub mod state;
pub mod tidy;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::Utc;
use thiserror::Error;

use crate::failpoint;
pub use state::*;

pub const DIR: &str = ".release";
const STATE: &str = "state.json";
const NIGHTLY: &str = "nightly.json";

#[derive(Debug, Error)]
pub enum JournalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("another release is running in this repository (the lock {path} is held); wait for it to finish, or check `release status`")]
    Locked { path: PathBuf },
    #[error("the journal {path} cannot be read: {fault}. It was left untouched: fix it by hand, or move it away to forget that release")]
    Corrupt { path: PathBuf, fault: String },
    #[error("the journal {path} has schema_version {found}, this release runner reads {expected}; use the release version that wrote it, or move the file away")]
    WrongSchema {
        path: PathBuf,
        found: String,
        expected: u32,
    },
    #[error("the journal {path} has schema_version {found}: it was written by an older `release`, whose releases had no build step before the push, and it is not read as if it had one. Finish that release (`release resume`) or give it up (`release abort`) with the older release that started it; or move the file away")]
    OlderSchema { path: PathBuf, found: u64 },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Paths inside `.release/` of a repository. The journal is `state.json`
/// for releases, `nightly.json` for nightlies ([`Paths::nightly`]): a
/// nightly never stands in a release's way, nor the other way round. The
/// lock, the history and the build folders are shared.
#[derive(Debug, Clone)]
pub struct Paths {
    pub dir: PathBuf,
    journal: &'static str,
}

impl Paths {
    pub fn new(root: &Path) -> Self {
        Paths {
            dir: root.join(DIR),
            journal: STATE,
        }
    }
    /// The same folder, with the nightly journal as [`Paths::state`].
    pub fn nightly(root: &Path) -> Self {
        Paths {
            dir: root.join(DIR),
            journal: NIGHTLY,
        }
    }
    /// The journal: `state.json`, or `nightly.json` for [`Paths::nightly`].
    pub fn state(&self) -> PathBuf {
        self.dir.join(self.journal)
    }
    /// The repository's root, the folder holding `.release/`.
    pub fn root(&self) -> PathBuf {
        self.dir.parent().map(Path::to_path_buf).unwrap_or_default()
    }
    pub fn lock(&self) -> PathBuf {
        self.dir.join("lock")
    }
    pub fn history(&self) -> PathBuf {
        self.dir.join("history")
    }
    pub fn dist(&self, normalized_version: &str) -> PathBuf {
        self.dir.join("dist").join(normalized_version)
    }
    pub fn build(&self) -> PathBuf {
        self.dir.join("build")
    }

    /// This clone's identity (`.release/clone-id`, made once): with the
    /// inode of `.release/lock`, it tells the checkout a remote lock was
    /// taken in from a copy of it. Copied with `.release/`, it gives no
    /// right to a lock by itself.
    pub fn clone_id(&self) -> Result<String, JournalError> {
        let path = self.dir.join("clone-id");
        if let Ok(id) = std::fs::read_to_string(&path) {
            let id = id.trim();
            if !id.is_empty() {
                return Ok(id.to_string());
            }
        }
        self.ensure()?;
        let id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        write_atomic(&path, format!("{id}\n").as_bytes())?;
        Ok(id)
    }

    /// Create `.release/` with a `.gitignore` holding `*`, so nothing in it ever
    /// makes the working tree dirty.
    pub fn ensure(&self) -> Result<(), JournalError> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let ignore = self.dir.join(".gitignore");
        // Missing, or left empty by a runner killed while writing it.
        if std::fs::read(&ignore).map_or(true, |b| b.is_empty()) {
            std::fs::write(&ignore, "*\n").map_err(io(&ignore))?;
        }
        Ok(())
    }
}

/// The exclusive runner lock, held until dropped (or the process dies: `flock`
/// is released by the kernel, so a killed runner never blocks the next one).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Take the lock if `.release/lock` exists (refusing if it is held);
    /// `None`, creating nothing, if it does not.
    pub fn acquire_existing(paths: &Paths) -> Result<Option<Lock>, JournalError> {
        if paths.lock().exists() {
            Self::acquire(paths).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Is the lock held by another process right now (a release running)?
    /// Creates nothing; a lock file nobody holds is not "held".
    pub fn held_elsewhere(paths: &Paths) -> bool {
        let Ok(file) = OpenOptions::new().write(true).open(paths.lock()) else {
            return false;
        };
        fs2::FileExt::try_lock_exclusive(&file).is_err()
    }

    pub fn acquire(paths: &Paths) -> Result<Lock, JournalError> {
        paths.ensure()?;
        let path = paths.lock();
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        fs2::FileExt::try_lock_exclusive(&file).map_err(|_| JournalError::Locked { path })?;
        Ok(Lock { _file: file })
    }
}

/// Read and check a journal file; `Ok(None)` if there is none.
pub fn read(path: &Path) -> Result<Option<State>, JournalError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    parse(path, &bytes).map(Some)
}

/// Parse journal bytes, checking the schema version before the shape.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<State, JournalError> {
    let corrupt = |fault: String| JournalError::Corrupt {
        path: path.to_path_buf(),
        fault,
    };
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| corrupt(format!("not valid JSON ({e})")))?;
    let found = value
        .get("schema_version")
        .ok_or_else(|| corrupt("no `schema_version` field".into()))?;
    if let Some(old) = found.as_u64().filter(|v| *v < u64::from(OLDEST_READABLE)) {
        return Err(JournalError::OlderSchema {
            path: path.to_path_buf(),
            found: old,
        });
    }
    let readable = u64::from(OLDEST_READABLE)..=u64::from(SCHEMA_VERSION);
    if !found.as_u64().is_some_and(|v| readable.contains(&v)) {
        return Err(JournalError::WrongSchema {
            path: path.to_path_buf(),
            found: found.to_string(),
            expected: SCHEMA_VERSION,
        });
    }
    let mut state: State = serde_json::from_value(value)
        .map_err(|e| corrupt(format!("does not match the schema ({e})")))?;
    // An older readable schema means the same in this one: written as
    // this one from now on.
    state.schema_version = SCHEMA_VERSION;
    let wanted = state.step_order();
    if state.steps.len() != wanted.len()
        || state.steps.iter().zip(wanted).any(|(s, n)| s.name != *n)
    {
        let names: Vec<&str> = wanted.iter().map(|n| n.as_str()).collect();
        return Err(corrupt(format!(
            "`steps` of this {} must list {} in that order",
            state.kind.as_str(),
            names.join(", ")
        )));
    }
    Ok(state)
}

/// Write `bytes` to `path` atomically: a reader sees the old file or the new
/// one, never half of either, even across a crash or power loss.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), JournalError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".state.")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    if let Some(e) = failpoint::io_error("journal.write") {
        return Err(io(path)(e));
    }
    tmp.write_all(bytes).map_err(io(path))?;
    tmp.as_file().sync_all().map_err(io(path))?;
    failpoint::hit("journal.before_rename");
    tmp.persist(path).map_err(|e| io(path)(e.error))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

/// Forget a step's times and outcome (attempts are kept: they are history).
fn clear(step: &mut StepRecord) {
    step.started_at = None;
    step.finished_at = None;
    step.error = None;
    step.note = None;
}

/// A loaded journal with the runner lock held: the only way to change state.json.
/// Its state is read through [`Journal::state`] and changed only through the
/// typed transitions below, each of which says whether it writes at once or
/// rides along with the step's next write.
#[derive(Debug)]
pub struct Journal {
    pub paths: Paths,
    state: State,
    _lock: Lock,
}

impl Journal {
    /// Load the journal under `lock`; `Ok(None)` if there is no release in progress.
    pub fn load(paths: &Paths, lock: Lock) -> Result<Option<Journal>, JournalError> {
        Ok(read(&paths.state())?.map(|state| Journal {
            paths: paths.clone(),
            state,
            _lock: lock,
        }))
    }

    /// [`Journal::load`], giving the lock back when there is no journal, so a
    /// caller that goes on to make one holds the lock throughout.
    pub fn load_or_lock(paths: &Paths, lock: Lock) -> Result<Result<Journal, Lock>, JournalError> {
        Ok(match read(&paths.state())? {
            Some(state) => Ok(Journal {
                paths: paths.clone(),
                state,
                _lock: lock,
            }),
            None => Err(lock),
        })
    }

    /// Start a journal for a new release and write it.
    pub fn create(paths: &Paths, lock: Lock, state: State) -> Result<Journal, JournalError> {
        let mut j = Journal {
            paths: paths.clone(),
            state,
            _lock: lock,
        };
        j.record("release", None, Phase::InProgress.as_str(), None);
        j.save()?;
        Ok(j)
    }

    /// Where the release stands, as last changed (written or staged).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Preflight's plan (previous version, packages, tag, publish URLs without
    /// credentials); staged, written with the step's `done`.
    pub fn set_plan(
        &mut self,
        previous_version: Option<String>,
        packages: Vec<crate::packages::Package>,
        tag: String,
        upload_url: Option<String>,
        index_url: Option<String>,
    ) {
        let r = &mut self.state.release;
        r.previous_version = previous_version;
        r.packages = packages;
        r.tag = tag;
        self.state.publish.upload_url = upload_url;
        self.state.publish.index_url = index_url;
    }

    /// Bump is about to edit files: the commit it starts from and what it will
    /// write, written now, before the first edit.
    pub fn bump_planned(&mut self, base: String, edits: Vec<BumpEdit>) -> Result<(), JournalError> {
        let r = &mut self.state.release;
        r.base_commit = Some(base);
        r.release_commit = None;
        r.bump_edits = edits;
        r.next_dev_version = None;
        r.next_dev_commit = None;
        r.next_dev_edits.clear();
        r.bump_hooks = None;
        self.save()
    }

    /// The bump's hooks are about to run, with these files untracked
    /// before them; written now.
    pub fn bump_hooks_starting(
        &mut self,
        untracked_before: Vec<String>,
    ) -> Result<(), JournalError> {
        self.state.release.bump_hooks = Some(BumpHooks {
            untracked_before,
            ..BumpHooks::default()
        });
        self.save()
    }

    /// A bump hook finished: what the hooks have changed so far; written now.
    pub fn bump_hook_finished(&mut self, changed: Vec<HookChange>) -> Result<(), JournalError> {
        self.state
            .release
            .bump_hooks
            .get_or_insert_with(BumpHooks::default)
            .changed = changed;
        self.save()
    }

    /// A bump hook is about to run (its command as run); written now.
    pub fn bump_hook_started(&mut self, command: String) -> Result<(), JournalError> {
        self.state
            .release
            .bump_hooks
            .get_or_insert_with(BumpHooks::default)
            .started
            .push(command);
        self.save()
    }

    /// The release commit is made and bump is about to write the next-dev
    /// commit's edits (`[release] next_dev`): the release commit, the next
    /// dev version and what will be written, written now, before the first
    /// edit.
    pub fn next_dev_planned(
        &mut self,
        release_commit: String,
        version: String,
        edits: Vec<BumpEdit>,
    ) -> Result<(), JournalError> {
        let r = &mut self.state.release;
        r.release_commit = Some(release_commit);
        r.next_dev_version = Some(version);
        r.next_dev_commit = None;
        r.next_dev_edits = edits;
        self.save()
    }

    /// The release commit, found at HEAD after a crash, with the next-dev
    /// commit still to make; written now.
    pub fn release_commit_found(&mut self, commit: String) -> Result<(), JournalError> {
        self.state.release.release_commit = Some(commit);
        self.save()
    }

    /// The next-dev commit bump made (or found after a crash); staged,
    /// written with the step's `done`.
    pub fn set_next_dev_commit(&mut self, commit: String) {
        self.state.release.next_dev_commit = Some(commit);
    }

    /// The release commit bump made (or found after a crash); staged, written
    /// with the step's `done`.
    pub fn set_release_commit(&mut self, commit: String) {
        self.state.release.release_commit = Some(commit);
    }

    /// The pull request that carries the release, opened (or found again
    /// by its marker); written now.
    pub fn pull_request_opened(&mut self, number: u64, url: String) -> Result<(), JournalError> {
        if let Some(pr) = self.state.release.pull_request.as_mut() {
            pr.number = Some(number);
            pr.url = Some(url.clone());
        }
        self.record(
            "release",
            None,
            "pull_request",
            Some(format!("#{number} {url}")),
        );
        self.save()
    }

    /// The pull request was merged and landed as `landed`: that commit is
    /// the release commit from now on (the one built and pushed is kept as
    /// the pull request's `head`). Written now.
    pub fn pull_request_landed(&mut self, landed: String) -> Result<(), JournalError> {
        let r = &mut self.state.release;
        let Some(pr) = r.pull_request.as_mut() else {
            return Ok(());
        };
        if pr.head.is_none() {
            pr.head = r.release_commit.clone();
        }
        pr.landed = Some(landed.clone());
        r.release_commit = Some(landed.clone());
        self.record(
            "release",
            None,
            "landed",
            Some(format!("merged as {landed}")),
        );
        self.save()
    }

    /// The ledger the build step made; staged, written with the step's `done`.
    pub fn set_ledger(&mut self, ledger: Vec<LedgerFile>) {
        self.state.publish.ledger = Some(ledger);
    }

    /// The ledger built again (its files lost while none was on the index);
    /// written now, with a transition.
    pub fn ledger_rebuilt(&mut self, ledger: Vec<LedgerFile>) -> Result<(), JournalError> {
        let n = ledger.len();
        self.state.publish.ledger = Some(ledger);
        self.record(
            "publish",
            None,
            "ledger",
            Some(format!("{n} files built again before any upload")),
        );
        self.save()
    }

    /// `--allow-shrink` given to `resume`: these packages' files may shrink
    /// against the previous release. Written now, with a transition.
    pub fn allow_shrink(&mut self, packages: &[String]) -> Result<(), JournalError> {
        let mut added = Vec::new();
        for p in packages {
            if !self.state.release.allow_shrink.contains(p) {
                self.state.release.allow_shrink.push(p.clone());
                added.push(p.as_str());
            }
        }
        if added.is_empty() {
            return Ok(());
        }
        let note = format!("allowed to shrink: {}", added.join(", "));
        self.record("release", None, "allow_shrink", Some(note));
        self.save()
    }

    /// The remote lock this release holds (taken again after it vanished,
    /// or over after its lease ran out): written now, with a transition.
    pub fn lock_taken(&mut self, oid: String) -> Result<(), JournalError> {
        let note = format!("holds the remote lock {oid}");
        self.state.release.remote_lock = Some(oid);
        self.record("release", None, "remote_lock", Some(note));
        self.save()
    }

    /// A release that cannot be completed moves on to `next` (the caller has
    /// archived a copy of the old one): written now.
    pub fn roll_forward_to(&mut self, next: State) -> Result<(), JournalError> {
        let from = self.state.release.version.clone();
        self.state = next;
        self.record(
            "release",
            None,
            Phase::InProgress.as_str(),
            Some(format!("rolled forward from {from}")),
        );
        self.save()
    }

    fn save(&mut self) -> Result<(), JournalError> {
        let started = std::time::Instant::now();
        let bytes = self.snapshot()?;
        write_atomic(&self.paths.state(), &bytes)?;
        stats::record(started.elapsed());
        failpoint::hit("journal.after_write");
        Ok(())
    }

    fn record(&mut self, subject: &str, from: Option<&str>, to: &str, note: Option<String>) {
        self.state.transitions.push(Transition {
            at: Utc::now(),
            subject: subject.to_string(),
            from: from.map(str::to_string),
            to: to.to_string(),
            note,
        });
    }

    /// Move a step to `to`, record the transition and write the journal.
    pub fn step_to(
        &mut self,
        name: StepName,
        to: StepState,
        note: Option<String>,
    ) -> Result<(), JournalError> {
        let now = Utc::now();
        let from = self.state.step_state(name);
        if let Some(step) = self.state.step_mut(name) {
            step.state = to;
            match to {
                StepState::Running => {
                    step.attempts += 1;
                    step.started_at = Some(now);
                    step.finished_at = None;
                    step.error = None;
                }
                StepState::Done => {
                    step.finished_at = Some(now);
                    step.error = None;
                    step.note = note.clone();
                }
                StepState::Failed => {
                    step.finished_at = Some(now);
                    step.error = note.clone();
                }
                StepState::Pending => clear(step),
            }
        }
        self.record(
            &format!("step:{name}"),
            Some(from.as_str()),
            to.as_str(),
            note,
        );
        self.save()
    }

    /// Start the release again from preflight (after drift recovery): the
    /// commits forgotten, every step back to pending, attempts kept, in one write.
    pub fn restart(&mut self, note: String) -> Result<(), JournalError> {
        let r = &mut self.state.release;
        r.base_commit = None;
        r.release_commit = None;
        r.bump_edits.clear();
        r.next_dev_version = None;
        r.next_dev_commit = None;
        r.next_dev_edits.clear();
        r.bump_hooks = None;
        for i in 0..self.state.steps.len() {
            let step = &mut self.state.steps[i];
            let (name, from) = (step.name, step.state);
            step.state = StepState::Pending;
            clear(step);
            self.record(
                &format!("step:{name}"),
                Some(from.as_str()),
                "pending",
                None,
            );
        }
        let from = self.state.phase;
        self.state.phase = Phase::InProgress;
        self.record("release", Some(from.as_str()), "in_progress", Some(note));
        self.save()
    }

    /// Move the release to `to` and write the journal.
    pub fn phase_to(&mut self, to: Phase, note: Option<String>) -> Result<(), JournalError> {
        let from = self.state.phase;
        self.state.phase = to;
        self.record("release", Some(from.as_str()), to.as_str(), note);
        self.save()
    }

    /// Move one ledger file to `to` and write the journal.
    pub fn file_to(
        &mut self,
        filename: &str,
        to: FileState,
        note: Option<String>,
    ) -> Result<(), JournalError> {
        self.apply_file(filename, to, note);
        self.save()
    }

    fn apply_file(&mut self, filename: &str, to: FileState, note: Option<String>) {
        let mut from = None;
        if let Some(ledger) = self.state.publish.ledger.as_mut() {
            if let Some(f) = ledger.iter_mut().find(|f| f.filename == filename) {
                from = Some(f.state.as_str());
                f.state = to;
                if to == FileState::Uploaded {
                    f.uploaded_at = Some(Utc::now());
                }
                f.note = note.clone();
            }
        }
        self.record(&format!("file:{filename}"), from, to.as_str(), note);
    }

    /// Serialise the state for a write (compact: the journal is rewritten
    /// hundreds of times in a large publish, and `release status` is the
    /// human view).
    fn snapshot(&mut self) -> Result<Vec<u8>, JournalError> {
        self.state.updated_at = Utc::now();
        let mut bytes = serde_json::to_vec(&self.state)
            .map_err(|e| io(&self.paths.state())(std::io::Error::other(e.to_string())))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Move an announce channel to `to` (creating its entry) and write.
    pub fn channel_to(
        &mut self,
        name: &str,
        to: ChannelState,
        remote_id: Option<String>,
        note: Option<String>,
    ) -> Result<(), JournalError> {
        let c = self.channel_mut(name);
        let from = c.state;
        c.state = to;
        if remote_id.is_some() {
            c.remote_id = remote_id;
        }
        c.note = note.clone();
        c.at = Some(Utc::now());
        self.record(
            &format!("channel:{name}"),
            Some(from.as_str()),
            to.as_str(),
            note,
        );
        self.save()
    }

    /// Cache the ID a channel name resolved to (no state change) and write.
    pub fn channel_resolved(&mut self, name: &str, id: &str) -> Result<(), JournalError> {
        self.channel_mut(name).channel_id = Some(id.to_string());
        self.save()
    }

    /// The entry of an announce channel, created `pending` if missing.
    fn channel_mut(&mut self, name: &str) -> &mut Channel {
        let channels = &mut self.state.announce.channels;
        let i = match channels.iter().position(|c| c.name == name) {
            Some(i) => i,
            None => {
                channels.push(Channel {
                    name: name.to_string(),
                    state: ChannelState::Pending,
                    remote_id: None,
                    note: None,
                    at: None,
                    channel_id: None,
                });
                channels.len() - 1
            }
        };
        &mut channels[i]
    }

    /// Where this release goes in `.release/history/` (made if missing):
    /// `<version>-<phase>-<time>.json`.
    fn history_path(&self) -> Result<PathBuf, JournalError> {
        let history = self.paths.history();
        std::fs::create_dir_all(&history).map_err(io(&history))?;
        Ok(history.join(format!(
            "{}-{}-{}.json",
            self.state.release.version.replace(['/', '\\'], "_"),
            self.state.phase.as_str(),
            self.state.updated_at.format("%Y%m%dT%H%M%S%.3fZ")
        )))
    }

    /// Copy the journal as it is into `.release/history/` (a burned release,
    /// kept while the journal moves on to its roll-forward).
    pub fn archive_copy(&self) -> Result<PathBuf, JournalError> {
        let dest = self.history_path()?;
        let bytes = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| io(&dest)(std::io::Error::other(e.to_string())))?;
        write_atomic(&dest, &bytes)?;
        Ok(dest)
    }

    /// Give the lock back without the state (e.g. to start a new release).
    pub fn into_lock(self) -> Lock {
        self._lock
    }

    /// Move the finished (or aborted, or burned) journal to `.release/history/`,
    /// leaving no release in progress. Returns the archived path.
    pub fn archive(self) -> Result<PathBuf, JournalError> {
        let dest = self.history_path()?;
        let src = self.paths.state();
        std::fs::rename(&src, &dest).map_err(io(&src))?;
        File::open(&self.paths.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.paths.dir))?;
        Ok(dest)
    }
}

/// The journal shared by parallel upload workers.
///
/// A change that must be on disk before a side effect (`uploading`, written
/// for every file before the first is sent) is durable when
/// [`Shared::files_to`] returns, with group commit: workers arriving while a
/// write is under way share the next write. A change recorded after an effect
/// (`uploaded`) rides with the next write: at most [`FLUSH_EVERY`] later, at the
/// latest the final [`Shared::flush`]. If a crash loses it, the file is still
/// `uploading`, and resume asks the index before sending anything, so nothing
/// is sent twice. This keeps the journal from serialising the uploads.
pub struct Shared<'a> {
    /// The state and the sequence number of the last change applied to it.
    state: std::sync::Mutex<(&'a mut Journal, u64)>,
    /// The sequence number of the last change on disk, and when it was
    /// written; held while writing.
    written: std::sync::Mutex<(u64, std::time::Instant)>,
}

/// How long an after-effect record may wait for a write of its own.
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

impl<'a> Shared<'a> {
    pub fn new(journal: &'a mut Journal) -> Self {
        Shared {
            state: std::sync::Mutex::new((journal, 0)),
            written: std::sync::Mutex::new((0, std::time::Instant::now())),
        }
    }

    /// Move ledger files to `to`. With `durable`, returns once the change is
    /// on disk; otherwise it is written with the next write.
    pub fn files_to(
        &self,
        filenames: &[&str],
        to: FileState,
        note: Option<&str>,
        durable: bool,
    ) -> Result<(), JournalError> {
        let mine = {
            let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
            for f in filenames {
                g.0.apply_file(f, to, note.map(str::to_string));
            }
            g.1 += 1;
            g.1
        };
        if durable {
            return self.write_through(mine);
        }
        // Not needed on disk now; write if the last write is old, unless
        // another worker is writing already.
        let stale = self
            .written
            .try_lock()
            .map(|w| w.1.elapsed() >= FLUSH_EVERY)
            .unwrap_or(false);
        if stale {
            self.write_through(mine)?;
        }
        Ok(())
    }

    /// A file of a journal rebuilt from the world that the index turned out
    /// to hold already (listed late, or learnt of from its "already
    /// exists"): the ledger takes the served bytes' digest and size, and the
    /// file is uploaded. Durable when this returns.
    pub fn file_adopted(
        &self,
        filename: &str,
        sha256: &str,
        size: u64,
        note: &str,
    ) -> Result<(), JournalError> {
        let mine = {
            let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(f) =
                g.0.state
                    .publish
                    .ledger
                    .as_mut()
                    .and_then(|l| l.iter_mut().find(|f| f.filename == filename))
            {
                f.sha256 = sha256.to_string();
                f.size = size;
            }
            g.0.apply_file(filename, FileState::Uploaded, Some(note.to_string()));
            g.1 += 1;
            g.1
        };
        self.write_through(mine)
    }

    /// Write everything applied so far.
    pub fn flush(&self) -> Result<(), JournalError> {
        let applied = self.state.lock().unwrap_or_else(|p| p.into_inner()).1;
        self.write_through(applied)
    }

    fn write_through(&self, seq: u64) -> Result<(), JournalError> {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if written.0 >= seq {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let (bytes, applied, path) = {
            let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
            (g.0.snapshot()?, g.1, g.0.paths.state())
        };
        write_atomic(&path, &bytes)?;
        stats::record(started.elapsed());
        *written = (applied, std::time::Instant::now());
        failpoint::hit("journal.after_write");
        Ok(())
    }
}

/// How much time journal writes took in this process, for `RELEASE_TIMINGS`
/// and the benchmark (the journal's share of a publish).
pub mod stats {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    static WRITES: AtomicU64 = AtomicU64::new(0);
    static NANOS: AtomicU64 = AtomicU64::new(0);

    pub fn record(d: Duration) {
        WRITES.fetch_add(1, Ordering::Relaxed);
        NANOS.fetch_add(
            d.as_nanos().min(u128::from(u64::MAX)) as u64,
            Ordering::Relaxed,
        );
    }

    /// (writes, total time) so far.
    pub fn get() -> (u64, Duration) {
        (
            WRITES.load(Ordering::Relaxed),
            Duration::from_nanos(NANOS.load(Ordering::Relaxed)),
        )
    }
}

/// Every archived journal, in PEP 440 order of its version (`0.9.0` before
/// `0.10.0`, which file names sort the other way), ties oldest first; a
/// version that does not parse sorts first. For "the release before this
/// one", which is a matter of versions, not of names or dates.
pub fn history_by_version(paths: &Paths) -> Vec<State> {
    let mut states = history(paths);
    let key = |s: &State| {
        (
            s.release
                .normalized_version
                .parse::<pep440_rs::Version>()
                .ok(),
            s.updated_at,
        )
    };
    states.sort_by_cached_key(key);
    states
}

/// Every archived journal, oldest first; unreadable ones are skipped.
pub fn history(paths: &Paths) -> Vec<State> {
    let Ok(entries) = std::fs::read_dir(paths.history()) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|p| read(p).ok().flatten())
        .collect()
}
