//! Step 5, publish: build every package once, record every file, upload each.
//!
//! The ledger (name, size, sha256 of every file) is journaled before the first
//! upload and the files are never rebuilt after that: a rebuild can differ by a
//! timestamp, and an index never lets a file be replaced. On resume the files on
//! disk are re-hashed against the ledger, and each file is looked up on the index
//! before it is sent, so nothing is uploaded twice.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context, Result};

use super::{Ctx, Reconciled, Step};
use crate::failpoint;
use crate::journal::{FileState, LedgerFile, Paths, Phase, StepName};
use crate::ops::{self, build, git, index, Target};
use crate::packages::Package;

pub struct Publish;

/// Where a ledger file lives on disk.
pub fn dist_path(paths: &Paths, normalized_version: &str, f: &LedgerFile) -> PathBuf {
    paths.dist(normalized_version).join(&f.package).join(&f.filename)
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
    let jobs = ops::jobs(ctx.config.build.jobs).min(packages.len().max(1));
    let config = &ctx.config;
    let queue = Mutex::new(packages.iter());
    let results: Mutex<Vec<(Package, Result<Vec<PathBuf>, build::BuildError>)>> =
        Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let next = match queue.lock() {
                    Ok(mut q) => q.next().cloned(),
                    Err(_) => None,
                };
                let Some(p) = next else { break };
                let out = paths.dist(norm).join(&p.normalized_name);
                let r = build::build(config, &export.join(&p.path), &out, &p.name);
                if r.is_ok() {
                    println!("    built {}", p.name);
                }
                if let Ok(mut all) = results.lock() {
                    all.push((p, r));
                }
            });
        }
    });
    let results = results
        .into_inner()
        .map_err(|_| anyhow!("a build worker panicked"))?;
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
                    let filename = f
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
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
        bail!("building failed; nothing was uploaded:\n  - {}", errors.join("\n  - "));
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
        let p = dist_path(paths, norm, f);
        match ops::sha256_file(&p) {
            Ok(h) if h == f.sha256 => {}
            Ok(h) => bad.push(format!("{} has sha256 {h}, the ledger recorded {}", p.display(), f.sha256)),
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
        let ledger = match ctx.journal.state.publish.ledger.clone() {
            Some(l) => {
                verify_dist(&ctx.journal.paths, &norm, &l)?;
                l
            }
            None => {
                let l = build_all(ctx, &norm)?;
                failpoint::hit("publish.after_build");
                ctx.journal.state.publish.ledger = Some(l.clone());
                ctx.journal
                    .note("publish", None, "ledger", Some(format!("{} files recorded", l.len())))?;
                l
            }
        };
        let Target::File { root } = &target else {
            bail!(index::IndexError::HttpUnsupported(target.display_url()));
        };
        let idx = index::FileIndex { root: root.clone() };
        let mut sent = 0usize;
        let mut found = 0usize;
        for f in ledger.iter().filter(|f| f.state != FileState::Uploaded) {
            let path = dist_path(&ctx.journal.paths, &norm, f);
            match idx.lookup(&f.package, &f.filename)? {
                Some(h) if h == f.sha256 => {
                    ctx.journal.file_to(
                        &f.filename,
                        FileState::Uploaded,
                        Some("already on the index with the same sha256".into()),
                    )?;
                    found += 1;
                    continue;
                }
                Some(h) => return burn(ctx, f, &h),
                None => {}
            }
            ctx.journal.file_to(&f.filename, FileState::Uploading, None)?;
            match idx.upload(&f.package, &path, &f.sha256) {
                Ok(()) => {}
                Err(index::IndexError::Conflict { served, .. }) => return burn(ctx, f, &served),
                Err(e) => return Err(e.into()),
            }
            failpoint::hit("publish.after_upload");
            ctx.journal.file_to(&f.filename, FileState::Uploaded, None)?;
            println!("    uploaded {} ({} bytes)", f.filename, f.size);
            sent += 1;
        }
        Ok(format!(
            "{} file(s) on {}: {sent} uploaded now, {found} found already there",
            ledger.len(),
            target.display_url()
        ))
    }
}

fn burn(ctx: &mut Ctx, f: &LedgerFile, served: &str) -> Result<String> {
    let note = format!(
        "the index holds {} with sha256 {served}, ours is {}",
        f.filename, f.sha256
    );
    ctx.journal
        .file_to(&f.filename, FileState::Burned, Some(note.clone()))?;
    ctx.journal.phase_to(Phase::Burned, Some(note.clone()))?;
    bail!(
        "version {} is burned: {note}. An index never replaces a file, so this version can never be completed; \
         run `release recover` to roll forward to the next version",
        ctx.journal.state.release.version
    )
}
