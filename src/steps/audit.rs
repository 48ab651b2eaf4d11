//! Step 7, audit: the index really serves every file, with the recorded bytes.
//!
//! Used by the step (against the publish ledger) and by `release audit VERSION`
//! (against the ledger of a finished release, or without one: at least one sdist
//! and one wheel per package). Files are read and hashed, never trusted from an
//! anchor's `#sha256=`.

use anyhow::{bail, Result};

use super::publish::carries_version;
use super::{Ctx, Reconciled, Step};
use crate::journal::{LedgerFile, StepName};
use crate::ops;
use crate::ops::index::{Index, Served, Target};

pub struct Audit;

/// Findings per package; empty means the index serves everything. Project
/// pages are read concurrently; every file is downloaded and hashed.
/// `packages` pairs each normalised name with the normalised version its
/// files carry (tracks give packages different versions).
pub fn audit(
    target: &Target,
    packages: &[(String, String)],
    ledger: Option<&[LedgerFile]>,
) -> Result<Vec<String>> {
    let index = target.open()?;
    // A bar on a terminal, and either way the slow requests shown.
    let progress = crate::progress::Progress::new("audit", packages.len() as u64, 0);
    let per_package = ops::parallel(packages, 8, |(package, version)| {
        let found = audit_package(index.as_ref(), package, version, ledger);
        progress.advance();
        found
    });
    progress.finish();
    Ok(per_package.into_iter().flatten().collect())
}

fn audit_package(
    index: &dyn Index,
    package: &str,
    normalized_version: &str,
    ledger: Option<&[LedgerFile]>,
) -> Vec<String> {
    let mut findings = Vec::new();
    let served = match index.list(package) {
        Ok(s) => s,
        Err(e) => return vec![format!("{package}: {e}")],
    };
    let hash = |s: &Served| index.hash(s).map_err(|e| e.to_string());
    match ledger {
        Some(ledger) => {
            for f in ledger.iter().filter(|f| f.package == package) {
                match served.iter().find(|s| s.filename == f.filename) {
                    None => findings.push(format!(
                        "{package}: {} is missing from the index",
                        f.filename
                    )),
                    Some(s) => match hash(s) {
                        Ok(h) if h == f.sha256 => {}
                        Ok(h) => findings.push(format!(
                            "{package}: {} is served with sha256 {h}, the ledger recorded {}",
                            f.filename, f.sha256
                        )),
                        Err(e) => findings.push(format!(
                            "{package}: {} is listed but cannot be read: {e}",
                            f.filename
                        )),
                    },
                }
            }
        }
        None => {
            let mine: Vec<_> = served
                .iter()
                .filter(|s| carries_version(&s.filename, normalized_version))
                .collect();
            let wheels = mine.iter().filter(|s| s.filename.ends_with(".whl")).count();
            if mine.len() == wheels {
                findings.push(format!("{package}: no sdist for {normalized_version}"));
            }
            if wheels == 0 {
                findings.push(format!("{package}: no wheel for {normalized_version}"));
            }
            for s in mine {
                match (hash(s), &s.anchor_sha256) {
                    (Err(e), _) => {
                        findings.push(format!("{package}: {} cannot be read: {e}", s.filename))
                    }
                    (Ok(h), Some(a)) if &h != a => findings.push(format!(
                        "{package}: {} hashes to {h} but its link says sha256={a}",
                        s.filename
                    )),
                    _ => {}
                }
            }
        }
    }
    findings
}

impl Step for Audit {
    fn name(&self) -> StepName {
        StepName::Audit
    }

    fn reconcile(&self, _ctx: &mut Ctx) -> Result<Reconciled> {
        // Audit only reads: running it again is the reconciliation.
        Ok(Reconciled::Redo)
    }

    fn run(&self, ctx: &mut Ctx) -> Result<String> {
        let target = super::pinned_target(ctx)?;
        let state = &ctx.journal.state();
        let ledger = state.publish.ledger.as_deref().unwrap_or(&[]);
        let packages = state.release.package_versions();
        let findings = audit(&target, &packages, Some(ledger))?;
        if !findings.is_empty() {
            bail!(
                "the index does not serve the release as recorded:\n  - {}",
                findings.join("\n  - ")
            );
        }
        Ok(format!(
            "{} file(s) of {} package(s) served with the recorded sha256",
            ledger.len(),
            packages.len()
        ))
    }
}
