//! Step 3, build: every package's sdist and wheel, built from a clean export
//! of the release commit and checked as an index will check them, before
//! anything is tagged or pushed.
//!
//! The commonest failures (a package that does not build, metadata an index
//! would refuse) then cost a `release abort`, not a burned version. The files
//! are recorded in the ledger (name, size, sha256) with the step's `done`, in
//! one journal write; publish uploads exactly those bytes.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};

use super::publish::{carries_version, dist_path};
use super::{Ctx, Reconciled, Step};
use crate::failpoint;
use crate::journal::{FileState, Kind, LedgerFile, Paths, StepName};
use crate::ops::paths::{confined, confined_os};
use crate::ops::{self, build, git};
use crate::packages;
use crate::progress::Progress;

pub struct Build;

impl Step for Build {
    fn name(&self) -> StepName {
        StepName::Build
    }

    fn reconcile(&self, ctx: &mut Ctx) -> Result<Reconciled> {
        let norm = &ctx.journal.state().release.normalized_version;
        match &ctx.journal.state().publish.ledger {
            Some(l) if verify_dist(&ctx.journal.paths, norm, l).is_ok() => Ok(Reconciled::Done(
                format!("{} file(s) already built and recorded", l.len()),
            )),
            _ => Ok(Reconciled::Redo),
        }
    }

    fn run(&self, ctx: &mut Ctx) -> Result<String> {
        let norm = ctx.journal.state().release.normalized_version.clone();
        let mut ledger = build_all(ctx, &norm)?;
        let adopted = if ctx.journal.state().release.rebuilt_from.is_some() {
            adopt_served(ctx, &norm, &mut ledger)?
        } else {
            shrink_check(ctx, &norm, &ledger)?;
            0
        };
        failpoint::hit("build.after_build");
        let mut note = format!(
            "{} file(s) of {} package(s) built and checked",
            ledger.len(),
            ctx.journal.state().release.packages.len()
        );
        if adopted > 0 {
            note.push_str(&format!(
                "; {adopted} of them already served by the index, kept as served"
            ));
        }
        // Journaled with the step's `done`, in the same write.
        ctx.journal.set_ledger(ledger);
        Ok(note)
    }

    /// The export is not needed once the files are recorded.
    fn after_done(&self, ctx: &Ctx) -> Result<()> {
        Ok(crate::journal::tidy::drop_exports(&ctx.journal.paths)?)
    }
}

/// PEP 427/625 file-name form of a project name: normalised, `_` for `-`.
fn file_name_form(normalized_name: &str) -> String {
    normalized_name.replace('-', "_")
}

/// Check one built file as an index will: its name (PEP 625 sdist, PEP 427
/// wheel, with the normalised name and version) and its core metadata (parses,
/// names this package and version, every `Requires-Dist` a PEP 508 requirement).
pub fn check_file(path: &Path, filename: &str, normalized_name: &str, norm: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let stem_name = file_name_form(normalized_name);
    if let Some(stem) = filename.strip_suffix(".whl") {
        let parts: Vec<&str> = stem.split('-').collect();
        if !(5..=6).contains(&parts.len()) || parts[0] != stem_name {
            problems.push(format!(
                "{filename} is not a PEP 427 wheel name `{stem_name}-{norm}-<python>-<abi>-<platform>.whl`"
            ));
        }
    } else if filename != format!("{stem_name}-{norm}.tar.gz") {
        problems.push(format!(
            "{filename} is not a PEP 625 sdist name `{stem_name}-{norm}.tar.gz` (a newer setuptools writes it; PyPI refuses other names)"
        ));
    }
    match ops::metadata::read(path) {
        Err(e) => problems.push(format!("its metadata cannot be read: {e}")),
        Ok(m) => {
            match m.get("Name") {
                Some(n) if packages::normalize_name(n) == normalized_name => {}
                Some(n) => problems.push(format!(
                    "{filename}: its metadata names the project `{n}`, not `{normalized_name}`"
                )),
                None => problems.push(format!("{filename}: its metadata has no Name")),
            }
            match m.get("Version").map(pep440_rs::Version::from_str) {
                Some(Ok(v)) if v.to_string() == norm => {}
                Some(Ok(v)) => problems.push(format!(
                    "{filename}: its metadata says version {v}, not {norm}"
                )),
                Some(Err(e)) => problems.push(format!(
                    "{filename}: its metadata version is not PEP 440: {e}"
                )),
                None => problems.push(format!("{filename}: its metadata has no Version")),
            }
            for (k, v) in &m.fields {
                if k.eq_ignore_ascii_case("Requires-Dist") {
                    if let Err(e) = pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(v) {
                        problems.push(format!(
                            "{filename}: Requires-Dist `{v}` is not a valid PEP 508 requirement ({}); an index refuses it",
                            e.message
                        ));
                    }
                }
            }
        }
    }
    problems
}

/// A package's prebuilt wheels (`[package.NAME] prebuilt`, found under the
/// repository `root`), each checked as a file built here is, and together
/// against the expected platforms. Returns the files and every problem.
pub fn prebuilt_wheels(
    root: &Path,
    conf: &crate::config::PackageConfig,
    normalized_name: &str,
    norm: &str,
) -> (Vec<PathBuf>, Vec<String>) {
    let Some(glob) = conf.prebuilt.as_deref() else {
        return (Vec::new(), Vec::new());
    };
    let files = match ops::prebuilt::collect(root, glob) {
        Ok(files) => files,
        Err(e) => return (Vec::new(), vec![e.to_string()]),
    };
    if files.is_empty() {
        return (
            files,
            vec![format!(
                "no prebuilt wheel matches `{glob}`: put the wheels built elsewhere (the CI wheel matrix) there"
            )],
        );
    }
    let mut problems = Vec::new();
    let mut names = Vec::new();
    for f in &files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.ends_with(".whl") {
            problems.push(format!(
                "{name} matches `{glob}` but is not a wheel; only wheels are prebuilt, the sdist is built here"
            ));
            continue;
        }
        if !carries_version(&name, norm) {
            problems.push(format!(
                "prebuilt {name} does not carry the version {norm}: build the wheels from the release's version"
            ));
        }
        problems.extend(check_file(f, &name, normalized_name, norm));
        names.push(name);
    }
    problems.extend(ops::prebuilt::platform_findings(&names, &conf.platforms));
    (files, problems)
}

/// Build every package from a clean export of the release commit, check each
/// file, and return the ledger (sorted). Nothing is journaled here.
pub fn build_all(ctx: &Ctx, norm: &str) -> Result<Vec<LedgerFile>> {
    let paths = &ctx.journal.paths;
    let commit = ctx.release_commit()?;
    let export = paths.build().join(norm);
    if export.exists() {
        std::fs::remove_dir_all(&export)
            .with_context(|| format!("cannot clear the old export {}", export.display()))?;
    }
    git::export_tree(&ctx.repo, commit, &export)?;
    let packages = ctx.journal.state().release.packages.clone();
    // The journal is a file a user can edit: a name becomes a folder below.
    if let Some(p) = packages
        .iter()
        .find(|p| !packages::is_valid_name(&p.normalized_name))
    {
        bail!(
            "the journal names a package {:?}, which is not a valid package name; run `release abort` and start again",
            p.normalized_name
        );
    }
    if ctx.journal.state().kind == Kind::Nightly {
        // A nightly's versions and pins exist only in its export.
        let state = ctx.journal.state();
        let date = state
            .nightly_date()
            .map(crate::packages::replace::iso_date)
            .unwrap_or_else(crate::packages::replace::today);
        crate::packages::rewrite_export(
            &export,
            &ctx.config,
            &packages,
            &state.release.version,
            &date,
        )?;
    }
    for p in &packages {
        let conf = ctx
            .config
            .package
            .get(&p.name)
            .or_else(|| ctx.config.package.get(&p.normalized_name));
        if let Some(cmd) = conf.and_then(|c| c.prebuild.as_deref()) {
            say!("    prebuild {}: {cmd}", p.name);
            build::prebuild(cmd, &export.join(&p.path), &p.name)?;
        }
    }
    let config = &ctx.config;
    let release_version = ctx.journal.state().release.version.clone();
    let mut errors = Vec::new();
    // Wheels built elsewhere: collected and checked now, copied in beside
    // the sdist built here, then checked again with every built file.
    let mut prebuilt = std::collections::BTreeMap::new();
    for p in &packages {
        if let Some(conf) = config.package_config(&p.name, &p.normalized_name) {
            if conf.prebuilt.is_some() {
                let norm = crate::version::normalize(p.release_version(&release_version));
                let (files, problems) = prebuilt_wheels(&ctx.root, conf, &p.normalized_name, &norm);
                errors.extend(problems.into_iter().map(|e| format!("{}: {e}", p.name)));
                prebuilt.insert(p.normalized_name.clone(), files);
            }
        }
    }
    build_failed(&errors, &[])?;
    let builder = build::Builder::new(config);
    let progress = Progress::new("build", packages.len() as u64, 0);
    let results = ops::parallel(&packages, ops::jobs(config.build.jobs), |p| {
        let src = export.join(&p.path);
        let r = confined(&paths.dist(norm), &p.normalized_name)
            .map_err(anyhow::Error::from)
            .and_then(|out| match prebuilt.get(&p.normalized_name) {
                None => Ok(builder.build(&src, &out, &p.name)?),
                Some(wheels) => {
                    let mut files = builder.build_sdist(&src, &out, &p.name)?;
                    files.extend(copy_into(wheels, &out)?);
                    Ok(files)
                }
            });
        if r.is_ok() {
            progress.done(&format!("built {}", p.name), 0);
        }
        (p.clone(), r)
    });
    progress.finish();
    // Ctrl-C during the build stops here: the files are not recorded.
    crate::interrupt::check()?;
    for line in builder.env_notes() {
        say!("    {line}");
    }
    for (package, line) in builder.warnings() {
        say!("    warning from the build of {package}: {line}");
    }
    let mut ledger = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    for (p, r) in results {
        // Each package carries its own track's version.
        let norm = &crate::version::normalize(p.release_version(&release_version));
        match r {
            Err(e) => {
                failed.push(p.name.clone());
                errors.push(format!("{e:#}"));
            }
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
                    let problems = check_file(&f, &filename, &p.normalized_name, norm);
                    if !problems.is_empty() {
                        errors.extend(problems.into_iter().map(|e| format!("{}: {e}", p.name)));
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
    build_failed(&errors, &failed)?;
    ledger.sort_by(|a, b| (&a.package, &a.filename).cmp(&(&b.package, &b.filename)));
    Ok(ledger)
}

/// Stop the build when anything failed: one line that stands alone (status
/// shows only the first), then each distinct error once.
fn build_failed(errors: &[String], failed: &[String]) -> Result<()> {
    if !errors.is_empty() {
        // One line that stands alone (status shows only the first), then
        // each distinct error once: 25 packages failing for one cause (an
        // unreachable index) say it once.
        let mut distinct: Vec<(String, String, usize)> = Vec::new();
        for e in errors {
            let cause = same_cause(e, failed);
            match distinct.iter_mut().find(|(c, _, _)| *c == cause) {
                Some((_, _, n)) => *n += 1,
                None => distinct.push((cause, e.clone(), 1)),
            }
        }
        let what = if failed.is_empty() {
            "the built files failed their checks".to_string()
        } else {
            format!(
                "the build of {} package(s) failed ({})",
                failed.len(),
                crate::first_few(failed, 5)
            )
        };
        bail!(
            "{what}; nothing was tagged or pushed:\n  - {}",
            distinct
                .iter()
                .map(|(_, e, n)| match n {
                    1 => e.clone(),
                    n => format!("{e}\n    (the same for {n} packages)"),
                })
                .collect::<Vec<_>>()
                .join("\n  - ")
        );
    }
    Ok(())
}

/// What an error says, as it would read for any package: its first line
/// and its last few lines that tell an error, with the failed packages'
/// names and the random names of `python -m build`'s temporary folders
/// (`/tmp/build-env-k2x9_q1a`) masked, and no whitespace (its output is
/// wrapped at the terminal's width). The rest of a tail is what differs
/// between two runs of one cause: pip's download order and progress lines,
/// where the last 30 lines begin. One cause failing every package is then
/// told once.
fn same_cause(error: &str, failed: &[String]) -> String {
    static TEMP: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let mut names: Vec<&String> = failed.iter().collect();
    // `demo-core` before `demo`: a name inside another is masked after it.
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let mut text = error.to_string();
    for name in names {
        text = text.replace(name.as_str(), "<package>");
    }
    if let Some(re) = TEMP.get_or_init(|| {
        regex::Regex::new(r"(build-env-|build-requirements-|build-via-sdist-|\btmp)[a-z0-9_]{8}")
            .ok()
    }) {
        text = re.replace_all(&text, "${1}<random>").into_owned();
    }
    let bare = |l: &str| l.split_whitespace().collect::<String>();
    let mut lines = text.lines();
    let first = lines.next().map(bare).unwrap_or_default();
    let errors: Vec<String> = lines
        .filter(|l| l.to_ascii_lowercase().contains("error"))
        .map(bare)
        .collect();
    let last = &errors[errors.len().saturating_sub(3)..];
    match last.is_empty() {
        true => bare(&text),
        false => format!("{first}\n{}", last.join("\n")),
    }
}

/// Copy `files` into the folder `out`; returns the copies.
fn copy_into(files: &[PathBuf], out: &Path) -> Result<Vec<PathBuf>> {
    let mut copies = Vec::new();
    for f in files {
        let name = f.file_name().unwrap_or_default();
        let dest = confined_os(out, name)?;
        std::fs::copy(f, &dest)
            .with_context(|| format!("cannot copy {} to {}", f.display(), dest.display()))?;
        copies.push(dest);
    }
    Ok(copies)
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
             from what is already on the index). Restore them, then run `release resume`:\n  - {}",
            bad.join("\n  - ")
        );
    }
    Ok(())
}

/// A package's files of the previous release, to compare new ones with:
/// the last finished release in `.release/history/` whose files are still on
/// disk, else what the index serves for the version the package declared
/// before the bump (downloaded into `scratch`). Empty when there is none.
fn previous_files(
    paths: &Paths,
    history: &[crate::journal::State],
    index: Result<&dyn ops::index::Index, &anyhow::Error>,
    package: &crate::packages::Package,
    scratch: &Path,
) -> Result<(String, Vec<std::path::PathBuf>)> {
    for s in history.iter().rev() {
        let Some(ledger) = &s.publish.ledger else {
            continue;
        };
        let files: Vec<std::path::PathBuf> = ledger
            .iter()
            .filter(|f| f.package == package.normalized_name)
            .filter_map(|f| dist_path(paths, &s.release.normalized_version, f).ok())
            .filter(|p| p.is_file())
            .collect();
        if !files.is_empty() {
            return Ok((s.release.version.clone(), files));
        }
    }
    let previous = crate::version::normalize(&package.version);
    let index = index.map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let served = index.list(&package.normalized_name)?;
    let mut files = Vec::new();
    for f in served
        .iter()
        .filter(|f| carries_version(&f.filename, &previous))
    {
        let dir = confined(scratch, &package.normalized_name)?;
        std::fs::create_dir_all(&dir)?;
        let dest = confined(&dir, &f.filename)?;
        let mut out = std::fs::File::create(&dest)
            .with_context(|| format!("cannot write {}", dest.display()))?;
        index.copy_to(f, &mut out)?;
        files.push(dest);
    }
    Ok((format!("{previous} on the index"), files))
}

/// Stop the build when a package's new file lost members its previous
/// release had, or more than half its size (a generated folder missing from
/// the clean export), unless the package may shrink (`--allow-shrink`).
fn shrink_check(ctx: &Ctx, norm: &str, ledger: &[LedgerFile]) -> Result<()> {
    let release = &ctx.journal.state().release;
    let allowed = |p: &crate::packages::Package| {
        release
            .allow_shrink
            .iter()
            .any(|a| packages::normalize_name(a) == p.normalized_name)
    };
    let scratch = tempfile::Builder::new()
        .prefix("previous-")
        .tempdir_in(ctx.journal.paths.build())
        .context("cannot make a scratch folder under .release/build")?;
    let paths = &ctx.journal.paths;
    // Finished releases of lower versions than this one, in version order
    // (the last is the previous release; a hotfix 0.9.1 made after 0.10.0
    // is measured against 0.9.0). Releases only: a nightly that shrank must
    // not become the measure.
    let this: Option<pep440_rs::Version> = norm.parse().ok();
    let history: Vec<crate::journal::State> = crate::journal::history_by_version(paths)
        .into_iter()
        .filter(|s| s.phase == crate::journal::Phase::Done && s.release.normalized_version != norm)
        .filter(|s| s.kind == Kind::Release)
        .filter(|s| {
            match (
                &this,
                s.release.normalized_version.parse::<pep440_rs::Version>(),
            ) {
                (Some(this), Ok(v)) => &v < this,
                _ => true,
            }
        })
        .collect();
    let index = super::pinned_target(ctx).and_then(|t| Ok(t.open()?));
    let index = index.as_ref().map(|i| i.as_ref());
    let checked = ops::parallel(&release.packages, 4, |p| {
        if allowed(p) {
            return Ok(None);
        }
        let (previous, old_files) = match previous_files(paths, &history, index, p, scratch.path())
        {
            Ok(found) => found,
            Err(e) => {
                say!(
                    "    warning: {} not compared with its previous release: {e:#}",
                    p.name
                );
                return Ok(None);
            }
        };
        let mut lost = Vec::new();
        for f in ledger.iter().filter(|f| f.package == p.normalized_name) {
            let kind = ops::artefacts::kind(&f.filename);
            let Some(old) = old_files.iter().find(|o| {
                o.file_name()
                    .is_some_and(|n| ops::artefacts::kind(&n.to_string_lossy()) == kind)
            }) else {
                continue;
            };
            let new = dist_path(paths, norm, f)?;
            // The new file was read by the checks already: an unreadable old
            // one (a foreign file on the index, say) is not compared.
            match ops::artefacts::compare(old, &new) {
                Ok(found) => lost.extend(found.into_iter().map(|l| format!("{}: {l}", f.filename))),
                Err(e) => say!(
                    "    warning: {} not compared with its previous release: {e}",
                    f.filename
                ),
            }
        }
        Ok::<_, anyhow::Error>((!lost.is_empty()).then(|| (p.name.clone(), previous, lost)))
    });
    let mut problems = Vec::new();
    for r in checked {
        if let Some((name, previous, lost)) = r? {
            problems.push(format!(
                "{name} (against {previous}):\n      {}",
                lost.join("\n      ")
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = problems
        .iter()
        .filter_map(|p| p.split_once(' ').map(|(n, _)| n))
        .collect();
    let resume = super::resume_command(ctx);
    bail!(
        "the new files lost what the previous release had; nothing was tagged or pushed:\n  - {}\n\
         A generated folder missing from the clean export? Generate it with a `prebuild` command \
         (`[package.{}] prebuild = \"...\"` in release.toml), then run `{resume}`. \
         If the loss is intended, run `{resume} --allow-shrink {}`.",
        problems.join("\n  - "),
        names.first().copied().unwrap_or("NAME"),
        names.join(" --allow-shrink ")
    )
}

/// A journal rebuilt from the world (`resume VERSION` in a fresh clone):
/// every file the index already serves for a package's version joins the
/// ledger as uploaded, with the served bytes, downloaded over the file just
/// built (an index never replaces a file, so those bytes are the release's).
/// Only the rest is left to upload. Returns how many were adopted.
fn adopt_served(ctx: &Ctx, norm: &str, ledger: &mut Vec<LedgerFile>) -> Result<usize> {
    let target = super::pinned_target(ctx)?;
    let index = target.open()?;
    let paths = &ctx.journal.paths;
    let mut adopted = 0;
    for (package, version) in ctx.journal.state().release.package_versions() {
        let served = index.list(&package)?;
        for s in served
            .iter()
            .filter(|s| carries_version(&s.filename, &version))
        {
            let dir = confined(&paths.dist(norm), &package)?;
            let dest = confined(&dir, &s.filename)?;
            let (size, sha256) = ops::index::download(index.as_ref(), s, &dest)?;
            ledger.retain(|f| !(f.package == package && f.filename == s.filename));
            ledger.push(LedgerFile {
                package: package.clone(),
                filename: s.filename.clone(),
                size,
                sha256,
                state: FileState::Uploaded,
                uploaded_at: None,
                note: Some("served by the index when the journal was rebuilt".into()),
            });
            adopted += 1;
        }
    }
    ledger.sort_by(|a, b| (&a.package, &a.filename).cmp(&(&b.package, &b.filename)));
    Ok(adopted)
}

#[cfg(test)]
mod same_cause_tests {
    use super::same_cause;

    #[test]
    fn one_cause_in_every_package_reads_the_same() {
        let failed = ["demo".to_string(), "demo-core".to_string()];
        let a = "python -m build failed for demo-core (exit 1); its output ends with:\n    < Collecting wheel\n    < ERROR: No matching distribution found for no-such-\n      backend\n    ERROR Command '['pip', '--python', '/tmp/build-env-k2x9_q1a/bin/python', '-r', '/tmp/build-requirements-ey0lx98_.txt']' returned 1";
        let b = "python -m build failed for demo (exit 1); its output ends with:\n    < Collecting wheel\n    < Collecting setuptools\n    <   Downloading setuptools.whl\n    < ERROR: No matching distribution found for no-such-\n      backend\n    ERROR Command '['pip', '--python', '/tmp/build-env-mrx77e_9/bin/python', '-r', '/tmp/build-requirements-a1b2c3d4.txt']' returned 1";
        assert_eq!(same_cause(a, &failed), same_cause(b, &failed));
        let c = "python -m build failed for demo (exit 1); its output ends with:\n    SyntaxError: invalid syntax\n    ERROR Backend subprocess exited";
        let d = "python -m build failed for demo (exit 1); its output ends with:\n    NameError: name 'x' is not defined\n    ERROR Backend subprocess exited";
        assert_ne!(same_cause(c, &failed), same_cause(d, &failed));
        assert_ne!(same_cause(a, &failed), same_cause(c, &failed));
    }
}
