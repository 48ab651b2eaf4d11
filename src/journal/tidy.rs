//! Keeping `.release/` small: it holds the journals for good, and built files
//! only while they can still be wanted.
//!
//! A clean export of the release commit (`.release/build/`) is needed only
//! while the build runs: it goes as soon as the build is recorded. Built
//! files (`.release/dist/<version>/`) are what publish uploads and what a
//! maintainer may want to look at afterwards: those of the last N finished
//! releases are kept (`[build] keep_releases`, default 2), the rest go when a
//! release is archived. Only folders this tool made are removed: the export
//! folder, and `dist/<version>` folders named by archived journals.

use std::path::PathBuf;

use super::{history, read, Journal, JournalError, Kind, Paths, Phase};

/// Remove the clean exports: nothing reads them once a build is recorded
/// (a rebuild makes a new one).
pub fn drop_exports(paths: &Paths) -> Result<(), JournalError> {
    let build = paths.build();
    match std::fs::remove_dir_all(&build) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(JournalError::Io {
            path: build,
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Remove the built files of every archived run but the last `keep`
/// finished releases (and the last `keep` finished nightlies, counted apart:
/// nightlies never push a release's files out), and never those a live
/// journal names: the release in progress (`state.json`) and the nightly in
/// progress (`nightly.json`), whichever of them archives. Returns the
/// versions whose files were removed.
pub fn prune_dist(paths: &Paths, keep: usize) -> Result<Vec<String>, JournalError> {
    let mut archived = history(paths);
    archived.sort_by_key(|s| s.updated_at);
    let mut kept: Vec<String> = Vec::new();
    for kind in [Kind::Release, Kind::Nightly] {
        kept.extend(
            archived
                .iter()
                .filter(|s| s.phase == Phase::Done && s.kind == kind)
                .rev()
                .take(keep)
                .map(|s| s.release.normalized_version.clone()),
        );
    }
    // Every live journal, whichever kind archives now. One that cannot be
    // read protects nothing by its version; then its folder may still be
    // named by an archived journal, so nothing is removed at all.
    for live in [Paths::new(&paths.root()), Paths::nightly(&paths.root())] {
        match read(&live.state()) {
            Ok(Some(current)) => kept.push(current.release.normalized_version),
            Ok(None) => {}
            Err(_) => return Ok(Vec::new()),
        }
    }
    let dist = paths.dir.join("dist");
    let mut removed = Vec::new();
    for state in &archived {
        let version = &state.release.normalized_version;
        if kept.contains(version) || removed.contains(version) {
            continue;
        }
        // A journal is a file a user can edit: its version must stay one
        // folder name inside dist/.
        let Ok(dir) = crate::ops::paths::confined(&dist, version) else {
            continue;
        };
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => removed.push(version.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(JournalError::Io { path: dir, source }),
        }
    }
    Ok(removed)
}

/// Archive a finished (or aborted) journal, then tidy `.release/`: the
/// exports and the built files beyond the last `keep` finished releases go.
/// Says what was removed. Returns the archived journal's path.
pub fn archive(journal: Journal, keep: usize) -> Result<PathBuf, JournalError> {
    let paths = journal.paths.clone();
    let archived = journal.archive()?;
    drop_exports(&paths)?;
    let removed = prune_dist(&paths, keep)?;
    if !removed.is_empty() {
        say!(
            "removed the built files of {} from {} (the last {keep} finished release(s) keep theirs: [build] keep_releases)",
            removed.join(", "),
            paths.dir.join("dist").display()
        );
    }
    Ok(archived)
}
