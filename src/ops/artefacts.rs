//! What a built file contains, compared with the same package's file of the
//! previous release.
//!
//! A build can succeed and still be wrong: Dagster 0.6.4's dagit sdist was
//! 12.8 kB instead of 4 MB because its web UI, generated and git-ignored, was
//! not in the clean export. setuptools only printed a warning. Comparing each
//! new file with its predecessor (members that disappeared, more than half
//! the size lost) catches that class of mistake before anything is tagged.

use std::collections::BTreeSet;
use std::path::Path;

use thiserror::Error;

#[derive(Debug, Error)]
#[error("cannot list the members of {path}: {message}")]
pub struct ArchiveError {
    pub path: String,
    pub message: String,
}

/// The member paths of an sdist (`.tar.gz`) or wheel (`.whl`), made
/// comparable across versions: an sdist's top folder `name-version/` is
/// dropped, a wheel's `name-version.dist-info/` and `.data/` are renamed
/// `*.dist-info/` and `*.data/`. Folders are not listed, only files.
pub fn members(path: &Path) -> Result<BTreeSet<String>, ArchiveError> {
    let err = |message: String| ArchiveError {
        path: path.display().to_string(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = BTreeSet::new();
    if name.ends_with(".whl") {
        let mut zip = zip::ZipArchive::new(file).map_err(|e| err(e.to_string()))?;
        for i in 0..zip.len() {
            let entry = zip.by_index(i).map_err(|e| err(e.to_string()))?;
            if entry.is_dir() {
                continue;
            }
            let entry_name = entry.name().to_string();
            let (first, rest) = entry_name.split_once('/').unwrap_or((&entry_name, ""));
            let first = if first.ends_with(".dist-info") {
                "*.dist-info"
            } else if first.ends_with(".data") {
                "*.data"
            } else {
                first
            };
            out.insert(if rest.is_empty() {
                first.to_string()
            } else {
                format!("{first}/{rest}")
            });
        }
    } else {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        let entries = tar.entries().map_err(|e| err(e.to_string()))?;
        for entry in entries {
            let entry = entry.map_err(|e| err(e.to_string()))?;
            if entry.header().entry_type().is_dir() {
                continue;
            }
            let p = entry.path_bytes();
            let p = String::from_utf8_lossy(&p).into_owned();
            let rest = p.split_once('/').map_or("", |(_, r)| r);
            if !rest.is_empty() {
                out.insert(rest.to_string());
            }
        }
    }
    Ok(out)
}

/// Members of `old` missing from `new`, folded: a folder whose every old
/// member is gone is named once, as `folder/*` (with how many files).
pub fn missing(old: &BTreeSet<String>, new: &BTreeSet<String>) -> Vec<String> {
    let gone: BTreeSet<&String> = old.difference(new).collect();
    let mut shown: Vec<String> = Vec::new();
    let mut covered: BTreeSet<&String> = BTreeSet::new();
    for m in &gone {
        if covered.contains(m) {
            continue;
        }
        // The highest folder above `m` that lost all its members.
        let mut best: Option<&str> = None;
        let mut end = m.len();
        while let Some(i) = m[..end].rfind('/') {
            let dir = &m[..=i];
            let all_gone = old
                .range(dir.to_string()..)
                .take_while(|o| o.starts_with(dir))
                .all(|o| gone.contains(o));
            if !all_gone {
                break;
            }
            best = Some(dir);
            end = i;
        }
        match best {
            Some(dir) => {
                let under: Vec<&String> = gone
                    .iter()
                    .copied()
                    .filter(|o| o.starts_with(dir))
                    .collect();
                shown.push(format!("{dir}* ({} file(s))", under.len()));
                covered.extend(under);
            }
            None => {
                shown.push((*m).clone());
                covered.insert(m);
            }
        }
    }
    shown
}

/// Human size: `12.8 kB`, `4.0 MB`.
pub fn size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

/// What a new file lost against its predecessor; empty when nothing.
pub fn compare(old: &Path, new: &Path) -> Result<Vec<String>, ArchiveError> {
    let mut lost = Vec::new();
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let (old_len, new_len) = (len(old), len(new));
    if new_len.saturating_mul(2) < old_len {
        lost.push(format!(
            "lost more than half its size ({} before, {} now)",
            size(old_len),
            size(new_len)
        ));
    }
    let gone = missing(&members(old)?, &members(new)?);
    if !gone.is_empty() {
        lost.push(format!(
            "lost members the previous release had: {}",
            crate::first_few(&gone, 12)
        ));
    }
    Ok(lost)
}

/// The part of a file name after `name-version-` that tells files of one
/// release apart: `py3-none-any.whl`, `tar.gz`.
pub fn kind(filename: &str) -> String {
    if let Some(stem) = filename.strip_suffix(".whl") {
        let parts: Vec<&str> = stem.split('-').collect();
        if parts.len() >= 5 {
            return format!("{}.whl", parts[parts.len() - 3..].join("-"));
        }
        return "whl".to_string();
    }
    if filename.ends_with(".tar.gz") {
        return "tar.gz".to_string();
    }
    filename.rsplit('.').next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn folds_whole_folders() {
        let old = set(&[
            "PKG-INFO",
            "dagit/__init__.py",
            "dagit/webapp/build/index.html",
            "dagit/webapp/build/static/app.js",
            "dagit/webapp/build/static/app.css",
            "dagit/webapp/README",
            "setup.py",
        ]);
        let new = set(&[
            "PKG-INFO",
            "dagit/__init__.py",
            "dagit/webapp/README",
            "setup.py",
        ]);
        assert_eq!(
            missing(&old, &new),
            vec!["dagit/webapp/build/* (3 file(s))"]
        );
        let new2 = set(&["PKG-INFO", "setup.py", "dagit/webapp/README"]);
        let m = missing(&old, &new2);
        assert!(m.contains(&"dagit/__init__.py".to_string()), "{m:?}");
        assert!(
            m.contains(&"dagit/webapp/build/* (3 file(s))".to_string()),
            "{m:?}"
        );
        assert!(missing(&old, &old).is_empty());
    }

    #[test]
    fn kinds() {
        assert_eq!(kind("dagit-0.6.4-py3-none-any.whl"), "py3-none-any.whl");
        assert_eq!(kind("dagit-0.6.4.tar.gz"), "tar.gz");
    }
}
