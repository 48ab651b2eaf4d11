//! Step 5, publish: build every package once, record every file, upload each.
//!
//! The ledger (name, size, sha256 of every file) is journaled before the first
//! upload and the files are never rebuilt after that: a rebuild can differ by a
//! timestamp, and an index never lets a file be replaced. On resume the files on
//! disk are re-hashed against the ledger, and each file is looked up on the index
//! before it is sent, so nothing is uploaded twice.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};

use super::{Ctx, Reconciled, Step};
use crate::failpoint;
use crate::journal::{FileState, LedgerFile, Paths, Phase, StepName};
use crate::ops::index::{self, Uploaded};
use crate::ops::paths::{confined, confined_os, UnsafeName};
use crate::ops::{self, build, git};
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

/// Does `filename` carry exactly `version` (normalised)?
pub fn carries_version(filename: &str, version: &str) -> bool {
    if let Some(stem) = filename.strip_suffix(".whl") {
        return stem.split('-').nth(1) == Some(version);
    }
    [".tar.gz", ".zip"].iter().any(|ext| {
        filename
            .strip_suffix(ext)
            .and_then(|stem| stem.rsplit_once('-'))
            .is_some_and(|(_, v)| v == version)
    })
}

fn build_all(ctx: &Ctx, norm: &str) -> Result<Vec<LedgerFile>> {
    let paths = &ctx.journal.paths;
    let commit = ctx.release_commit()?;
    let export = paths.build().join(norm);
    if export.exists() {
        std::fs::remove_dir_all(&export)
            .with_context(|| format!("cannot clear the old export {}", export.display()))?;
    }
    git::export_tree(&ctx.repo, commit, &export)?;
    let packages = ctx.journal.state.release.packages.clone();
    for p in &packages {
        let conf = ctx
            .config
            .package
            .get(&p.name)
            .or_else(|| ctx.config.package.get(&p.normalized_name));
        if let Some(cmd) = conf.and_then(|c| c.prebuild.as_deref()) {
            println!("    prebuild {}: {cmd}", p.name);
            build::prebuild(cmd, &export.join(&p.path), &p.name)?;
        }
    }
    let config = &ctx.config;
    let builder = build::Builder::new(config);
    let progress = Progress::new("build", packages.len() as u64, 0);
    let results = ops::parallel(&packages, ops::jobs(config.build.jobs), |p| {
        let r = confined(&paths.dist(norm), &p.normalized_name)
            .map_err(anyhow::Error::from)
            .and_then(|out| Ok(builder.build(&export.join(&p.path), &out, &p.name)?));
        if r.is_ok() {
            progress.done(&format!("built {}", p.name), 0);
        }
        (p.clone(), r)
    });
    progress.finish();
    let mut ledger = Vec::new();
    let mut errors = Vec::new();
    for (p, r) in results {
        match r {
            Err(e) => errors.push(e.to_string()),
            Ok(files) => {
                let sdists = files.iter().filter(|f| !is_wheel(f)).count();
                let wheels = files.iter().filter(|f| is_wheel(f)).count();
                if sdists == 0 || wheels == 0 {
                    errors.push(format!(
                        "{}: the build made {sdists} sdist(s) and {wheels} wheel(s); expected at least one of each",
                        p.name
                    ));
                }
                for f in files {
                    let dir = f.parent().unwrap_or(Path::new(""));
                    let named = f.file_name().unwrap_or_default();
                    let filename = match confined_os(dir, named) {
                        Ok(_) => named.to_string_lossy().into_owned(),
                        Err(e) => {
                            errors.push(format!("{}: {e}", p.name));
                            continue;
                        }
                    };
                    if !carries_version(&filename, norm) {
                        errors.push(format!(
                            "{}: built file {filename} does not carry the version {norm}; is the version declared somewhere release does not bump?",
                            p.name
                        ));
                        continue;
                    }
                    let size = std::fs::metadata(&f)
                        .with_context(|| format!("cannot read {}", f.display()))?
                        .len();
                    let sha256 = ops::sha256_file(&f)
                        .with_context(|| format!("cannot hash {}", f.display()))?;
                    ledger.push(LedgerFile {
                        package: p.normalized_name.clone(),
                        filename,
                        size,
                        sha256,
                        state: FileState::Pending,
                        uploaded_at: None,
                        note: None,
                    });
                }
            }
        }
    }
    if !errors.is_empty() {
        bail!(
            "building failed; nothing was uploaded:\n  - {}",
            errors.join("\n  - ")
        );
    }
    ledger.sort_by(|a, b| (&a.package, &a.filename).cmp(&(&b.package, &b.filename)));
    Ok(ledger)
}

fn is_wheel(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "whl")
}

/// Re-hash every ledger file on disk: the ledger is the truth, never a rebuild.
pub fn verify_dist(paths: &Paths, norm: &str, ledger: &[LedgerFile]) -> Result<()> {
    let mut bad = Vec::new();
    for f in ledger {
        let p = match dist_path(paths, norm, f) {
            Ok(p) => p,
            Err(e) => {
                bad.push(e.to_string());
                continue;
            }
        };
        match ops::sha256_file(&p) {
            Ok(h) if h == f.sha256 => {}
            Ok(h) => bad.push(format!(
                "{} has sha256 {h}, the ledger recorded {}",
                p.display(),
                f.sha256
            )),
            Err(e) => bad.push(format!("{}: {e}", p.display())),
        }
    }
    if !bad.is_empty() {
        bail!(
            "built files no longer match the ledger; they are never rebuilt once recorded (a rebuild could differ \
             from what is already on the index). Restore them, or if this version cannot be completed run \
             `release recover --to NEXT_VERSION` after marking it burned:\n  - {}",
            bad.join("\n  - ")
        );
    }
    Ok(())
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
        let target = ops::publish_target(&ctx.config)?;
        ctx.journal.state.publish.upload_url = Some(target.display_url());
        let norm = ctx.journal.state.release.normalized_version.clone();
        // A ledger made in this very run means no earlier attempt of this
        // release can have sent anything: the listing before upload is only
        // needed when resuming. A foreign file under one of our names is
        // still caught, by the index's "already exists" answer.
        let resuming = ctx.journal.state.publish.ledger.is_some();
        let ledger = match ctx.journal.state.publish.ledger.clone() {
            Some(l) => {
                verify_dist(&ctx.journal.paths, &norm, &l)?;
                l
            }
            None => {
                let l = build_all(ctx, &norm)?;
                failpoint::hit("publish.after_build");
                ctx.journal.state.publish.ledger = Some(l.clone());
                ctx.journal.note(
                    "publish",
                    None,
                    "ledger",
                    Some(format!("{} files recorded", l.len())),
                )?;
                l
            }
        };
        let index = target.open()?;
        let policy = target.retry();
        let paths = ctx.journal.paths.clone();
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
        let jobs = ops::jobs(Some(ctx.config.publish.jobs.unwrap_or(4)));
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
                match index::upload_with_retry(index.as_ref(), policy, package, &path, f) {
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
        Ok(format!(
            "{} file(s) on {}: {sent} uploaded now, {found} found already there",
            ledger.len(),
            target.display_url()
        ))
    }
}

const ALREADY: &str = "already on the index with the same sha256";

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
        "version {} is burned: {note}. An index never replaces a file, so this version can never be completed; \
         run `release recover` to roll forward to the next version",
        ctx.journal.state.release.version
    )
}
