//! Step 6, publish: upload each file of the ledger the build step recorded.
//!
//! The files are never rebuilt once any of them may be on the index: a rebuild
//! can differ by a timestamp, and an index never lets a file be replaced. On resume the files on
//! disk are re-hashed against the ledger, and each file is looked up on the index
//! before it is sent, so nothing is uploaded twice.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Result};

use super::{Ctx, Reconciled, Step};
use crate::failpoint;
use crate::journal::{FileState, LedgerFile, Paths, Phase, StepName};
use crate::ops;
use crate::ops::index::{self, Uploaded};
use crate::ops::paths::{confined, UnsafeName};
use crate::progress::Progress;

pub struct Publish;

/// Where a ledger file lives on disk. The names come from the journal, which
/// is outside input like any file: each must stay one plain name.
pub fn dist_path(
    paths: &Paths,
    normalized_version: &str,
    f: &LedgerFile,
) -> Result<PathBuf, UnsafeName> {
    let dir = confined(&paths.dist(normalized_version), &f.package)?;
    confined(&dir, &f.filename)
}

/// The version a distribution file name carries (`{name}-{version}-….whl`,
/// `{name}-{version}.tar.gz`), if it is one.
pub fn version_of_filename(filename: &str) -> Option<&str> {
    if let Some(stem) = filename.strip_suffix(".whl") {
        return stem.split('-').nth(1);
    }
    [".tar.gz", ".zip"].iter().find_map(|ext| {
        filename
            .strip_suffix(ext)
            .and_then(|stem| stem.rsplit_once('-'))
            .map(|(_, v)| v)
    })
}

/// Does `filename` carry exactly `version` (normalised)?
pub fn carries_version(filename: &str, version: &str) -> bool {
    version_of_filename(filename) == Some(version)
}

impl Step for Publish {
    fn name(&self) -> StepName {
        StepName::Publish
    }

    fn reconcile(&self, _ctx: &mut Ctx) -> Result<Reconciled> {
        // Run itself reconciles file by file against the index before any upload.
        Ok(Reconciled::Redo)
    }

    fn run(&self, ctx: &mut Ctx) -> Result<String> {
        let target = super::pinned_target(ctx)?;
        let norm = ctx.journal.state().release.normalized_version.clone();
        let Some(mut ledger) = ctx.journal.state().publish.ledger.clone() else {
            bail!("the journal has no ledger: the build step did not record one; run `release resume` to build again");
        };
        // On the first attempt, with every file still pending, nothing can
        // have been sent: the listing before upload is only needed when
        // resuming. A foreign file under one of our names is still caught,
        // by the index's "already exists" answer.
        let attempts = ctx
            .journal
            .state()
            .step(StepName::Publish)
            .map_or(0, |s| s.attempts);
        let resuming = attempts > 1 || ledger.iter().any(|f| f.state != FileState::Pending);
        let index = target.open()?;
        if let Err(e) = super::build::verify_dist(&ctx.journal.paths, &norm, &ledger) {
            // Never rebuild once a file may be on the index (a rebuild differs
            // by timestamps, and an index never replaces a file); when it
            // holds none of ours, a rebuild from the release commit is safe.
            if any_served(index.as_ref(), &ledger)? {
                return Err(e.context(
                    "some of these files are on the index already, so they are not built again: \
                     restore them and run `release resume`, or run `release recover` to roll forward to the next version",
                ));
            }
            say!("    the built files are missing or altered and the index holds none of them: building again");
            ledger = super::build::build_all(ctx, &norm)?;
            ctx.journal.ledger_rebuilt(ledger.clone())?;
            crate::journal::tidy::drop_exports(&ctx.journal.paths)?;
        }
        let rebuilt = ctx.journal.state().release.rebuilt_from.is_some();
        let policy = target.retry();
        let paths = ctx.journal.paths.clone();
        let before = ledger
            .iter()
            .filter(|f| f.state == FileState::Uploaded)
            .count();
        let mut groups: Vec<(String, Vec<LedgerFile>)> = Vec::new();
        for f in ledger.iter().filter(|f| f.state != FileState::Uploaded) {
            match groups.iter_mut().find(|(p, _)| *p == f.package) {
                Some((_, files)) => files.push(f.clone()),
                None => groups.push((f.package.clone(), vec![f.clone()])),
            }
        }
        let total_bytes: u64 = groups.iter().flat_map(|(_, fs)| fs).map(|f| f.size).sum();
        let total_files: usize = groups.iter().map(|(_, fs)| fs.len()).sum();
        let progress = Progress::new("upload", total_files as u64, total_bytes);
        let stop = AtomicBool::new(false);
        let journal = crate::journal::Shared::new(&mut ctx.journal);
        // Before the first upload, every file still to send is `uploading`
        // (it may be on the index from here on) in one durable write.
        let names: Vec<&str> = groups
            .iter()
            .flat_map(|(_, fs)| fs)
            .filter(|f| f.state == FileState::Pending)
            .map(|f| f.filename.as_str())
            .collect();
        if !names.is_empty() {
            journal.files_to(&names, FileState::Uploading, None, true)?;
        }
        // One worker per package at a time: a package's files go in order and
        // its project page is never written by two workers at once.
        let jobs = ops::jobs(Some(ctx.config.publish.jobs.unwrap_or(DEFAULT_JOBS)));
        // A journal rebuilt from the world cannot know what its dead runner
        // sent: a file of this release the index already holds is that
        // runner's, adopted with its served bytes (a rebuilt sdist differs by
        // timestamps). Burned stays "bytes no runner of this release sent".
        let adopt = |f: &LedgerFile, served: &index::Served| -> Result<(), Failure> {
            let dest = dist_path(&paths, &norm, f)
                .map_err(|e| Failure::Index(index::IndexError::from(e)))?;
            let (size, sha256) =
                index::download(index.as_ref(), served, &dest).map_err(Failure::Index)?;
            journal
                .file_adopted(&f.filename, &sha256, size, ADOPTED)
                .map_err(Failure::Journal)?;
            progress.done(
                &format!("{} already on the index, kept as served", f.filename),
                f.size,
            );
            Ok(())
        };
        let outcomes = ops::parallel(&groups, jobs, |(package, files)| {
            let mut counts = (0usize, 0usize);
            if stop.load(Ordering::SeqCst) || crate::interrupt::requested() {
                return Ok(counts);
            }
            // Check before upload: what the index already serves is not sent.
            let listed = if resuming {
                index.list(package).map_err(Failure::Index)?
            } else {
                Vec::new()
            };
            let mut to_send = Vec::new();
            for f in files {
                match listed.iter().find(|s| s.filename == f.filename) {
                    None => to_send.push(f),
                    Some(s) => {
                        let served = index.hash(s).map_err(Failure::Index)?;
                        if served != f.sha256 {
                            if rebuilt {
                                adopt(f, s)?;
                                counts.1 += 1;
                                continue;
                            }
                            stop.store(true, Ordering::SeqCst);
                            return Err(Failure::Burn(Box::new(f.clone()), served));
                        }
                        journal
                            .files_to(&[&f.filename], FileState::Uploaded, Some(ALREADY), false)
                            .map_err(Failure::Journal)?;
                        progress.done(&format!("{} already on the index", f.filename), f.size);
                        counts.1 += 1;
                    }
                }
            }
            for f in to_send {
                if stop.load(Ordering::SeqCst) || crate::interrupt::requested() {
                    break;
                }
                let path = dist_path(&paths, &norm, f)
                    .map_err(|e| Failure::Index(index::IndexError::from(e)))?;
                let upload = index::Upload {
                    filename: &f.filename,
                    sha256: &f.sha256,
                    size: f.size,
                };
                match index::upload_with_retry(index.as_ref(), policy, package, &path, &upload) {
                    Ok(how) => {
                        failpoint::hit("publish.after_upload");
                        let (note, line) = match how {
                            Uploaded::Sent => {
                                (None, format!("uploaded {} ({} bytes)", f.filename, f.size))
                            }
                            Uploaded::AlreadyThere => (
                                Some(ALREADY),
                                format!("{} already on the index", f.filename),
                            ),
                        };
                        journal
                            .files_to(&[&f.filename], FileState::Uploaded, note, false)
                            .map_err(Failure::Journal)?;
                        progress.done(&line, f.size);
                        if how == Uploaded::Sent {
                            counts.0 += 1;
                        } else {
                            counts.1 += 1;
                        }
                    }
                    // Held already, listed late: looked up until it shows.
                    Err(e) if rebuilt && e.held_already() => {
                        let found =
                            index::find_held(index.as_ref(), package, &f.filename, LISTING_WAIT)
                                .map_err(Failure::Index)?;
                        let Some(served) = found else {
                            return Err(Failure::Index(e));
                        };
                        adopt(f, &served)?;
                        counts.1 += 1;
                    }
                    Err(e) if e.burns() => {
                        stop.store(true, Ordering::SeqCst);
                        let why = match e {
                            index::IndexError::Conflict { served, .. } => served,
                            other => other.to_string(),
                        };
                        return Err(Failure::Burn(Box::new(f.clone()), why));
                    }
                    Err(e) => return Err(Failure::Index(e)),
                }
            }
            Ok(counts)
        });
        journal.flush()?;
        progress.finish();
        let (mut sent, mut found) = (0, 0);
        let mut errors = Vec::new();
        let mut burned = None;
        for o in outcomes {
            match o {
                Ok((s, f)) => {
                    sent += s;
                    found += f;
                }
                Err(Failure::Burn(f, why)) => burned = burned.or(Some((f, why))),
                Err(Failure::Index(e)) => errors.push(e.to_string()),
                Err(Failure::Journal(e)) => errors.push(e.to_string()),
            }
        }
        if let Some((f, why)) = burned {
            return burn(ctx, &f, &why);
        }
        crate::interrupt::check()?;
        if !errors.is_empty() {
            bail!(
                "{} upload(s) failed; files already uploaded are recorded and will not be sent again:\n  - {}",
                errors.len(),
                errors.join("\n  - ")
            );
        }
        // Counted from the journal, apart from the workers' tallies.
        let recorded = ctx.journal.state().publish.ledger.as_ref().map_or(0, |l| {
            l.iter().filter(|f| f.state == FileState::Uploaded).count()
        });
        Ok(format!(
            "{recorded} of {} file(s) on {}: {sent} uploaded now, {found} found already there, {before} recorded as uploaded before",
            ledger.len(),
            target.display_url()
        ))
    }
}

/// Does the index serve any file of the ledger (whatever its bytes)?
fn any_served(index: &dyn index::Index, ledger: &[LedgerFile]) -> Result<bool> {
    let mut packages: Vec<&str> = ledger.iter().map(|f| f.package.as_str()).collect();
    packages.dedup();
    for p in packages {
        let listed = index.list(p)?;
        if ledger
            .iter()
            .any(|f| f.package == p && listed.iter().any(|s| s.filename == f.filename))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

const ALREADY: &str = "already on the index with the same sha256";
const ADOPTED: &str =
    "held by the index already (uploaded before the journal was rebuilt): kept as served";

/// How long a file the index says it holds may take to be found (a page
/// that lags behind the upload, as a CDN's does).
const LISTING_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Parallel uploads by default. Each costs the index's round trip (50 ms and
/// more across the Internet, far more than sending a small file), and a
/// package's own files go one after another (a new project is created by its
/// first upload), so it takes many packages in flight to hide the latency:
/// 80 packages with 16 workers are 5 rounds of 2 round trips.
const DEFAULT_JOBS: usize = 16;

enum Failure {
    Burn(Box<LedgerFile>, String),
    Index(index::IndexError),
    Journal(crate::journal::JournalError),
}

/// `why` is the sha256 the index serves instead of ours, or the refusal.
fn burn(ctx: &mut Ctx, f: &LedgerFile, why: &str) -> Result<String> {
    let note = if why.len() == 64 && why.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!(
            "the index holds {} with sha256 {why}, ours is {}",
            f.filename, f.sha256
        )
    } else {
        format!("the index refused {} for good: {why}", f.filename)
    };
    ctx.journal
        .file_to(&f.filename, FileState::Burned, Some(note.clone()))?;
    ctx.journal.phase_to(Phase::Burned, Some(note.clone()))?;
    bail!(
        "version {} is burned: {note}. An index never replaces a file, so this version can never be completed; {}",
        ctx.journal.state().release.version,
        crate::recovery::next(ctx.journal.state(), false).says()
    )
}
