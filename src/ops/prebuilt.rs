//! Prebuilt wheels (`[package.NAME] prebuilt`): files a CI matrix built for
//! platforms this machine cannot build for, found in the working tree.
//!
//! A compiled package's wheels come from many machines (Linux for manylinux
//! and musllinux, macOS, Windows); the release runs on one. So the build step
//! collects those wheels instead of building them, and checks them as it
//! checks its own builds, with one check more: every platform the config
//! expects has its wheel, since a wheel missing from an upload is a release
//! that installs nowhere on that platform.

use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum PrebuiltError {
    #[error("bad prebuilt glob `{glob}`: {message}")]
    Glob { glob: String, message: String },
}

/// The files the glob (relative to `root`) matches, sorted; only regular
/// files inside `root` (a symlink leading elsewhere is not followed).
pub fn collect(root: &Path, glob: &str) -> Result<Vec<PathBuf>, PrebuiltError> {
    let pattern = root.join(glob);
    let paths = glob::glob(&pattern.to_string_lossy()).map_err(|e| PrebuiltError::Glob {
        glob: glob.to_string(),
        message: e.to_string(),
    })?;
    let mut files: Vec<PathBuf> = paths
        .flatten()
        .filter(|p| {
            std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_file())
                && p.starts_with(root)
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The literal folder a prebuilt glob starts with (`dist` for
/// `dist/*.whl`): where files are expected, not build leftovers.
pub fn folder(glob: &str) -> Option<&str> {
    let end = glob.find(['*', '?', '[']).unwrap_or(glob.len());
    let dir = glob[..end].rsplit_once('/').map(|(d, _)| d)?;
    (!dir.is_empty()).then_some(dir)
}

/// A platform tag in its PEP 600 form: the legacy manylinux aliases
/// (`manylinux2014_x86_64`) name the glibc they stand for.
pub fn canonical_platform(tag: &str) -> String {
    for (legacy, glibc) in [
        ("manylinux1_", "manylinux_2_5_"),
        ("manylinux2010_", "manylinux_2_12_"),
        ("manylinux2014_", "manylinux_2_17_"),
    ] {
        if let Some(arch) = tag.strip_prefix(legacy) {
            return format!("{glibc}{arch}");
        }
    }
    tag.to_string()
}

/// The platform tags a PEP 427 wheel name carries (its last part, split at
/// `.` for compressed tag sets), in PEP 600 form; empty for another name.
pub fn wheel_platforms(filename: &str) -> Vec<String> {
    let Some(stem) = filename.strip_suffix(".whl") else {
        return Vec::new();
    };
    let parts: Vec<&str> = stem.split('-').collect();
    if !(5..=6).contains(&parts.len()) {
        return Vec::new();
    }
    parts[parts.len() - 1]
        .split('.')
        .map(canonical_platform)
        .collect()
}

/// What is wrong with a set of prebuilt wheel names against the expected
/// platforms: a platform no wheel covers, a wheel for no expected platform.
/// With no expected platforms, nothing is checked here.
pub fn platform_findings(filenames: &[String], expected: &[String]) -> Vec<String> {
    if expected.is_empty() {
        return Vec::new();
    }
    let expected: Vec<String> = expected.iter().map(|e| canonical_platform(e)).collect();
    let mut findings = Vec::new();
    for e in &expected {
        if !filenames.iter().any(|f| wheel_platforms(f).contains(e)) {
            findings.push(format!("no prebuilt wheel for the platform {e}"));
        }
    }
    for f in filenames {
        let tags = wheel_platforms(f);
        if !tags.iter().any(|t| expected.contains(t)) {
            findings.push(format!(
                "{f} is for {}, which is not among the expected platforms ({})",
                tags.join("."),
                expected.join(", ")
            ));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_of_wheel_names() {
        assert_eq!(
            wheel_platforms(
                "release_runner-0.2.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
            ),
            vec!["manylinux_2_17_x86_64", "manylinux_2_17_x86_64"]
        );
        assert_eq!(
            wheel_platforms("x-1.0-py3-none-win_amd64.whl"),
            vec!["win_amd64"]
        );
        assert!(wheel_platforms("x-1.0.tar.gz").is_empty());
        assert_eq!(folder("dist/*.whl"), Some("dist"));
        assert_eq!(folder("target/wheels/*/x.whl"), Some("target/wheels"));
        assert_eq!(folder("*.whl"), None);
    }

    #[test]
    fn missing_and_stray_platforms() {
        let names = vec![
            "r-1.0-py3-none-manylinux2014_x86_64.whl".to_string(),
            "r-1.0-py3-none-linux_x86_64.whl".to_string(),
        ];
        let expected = vec!["manylinux_2_17_x86_64".to_string(), "win_amd64".to_string()];
        let f = platform_findings(&names, &expected);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0].contains("no prebuilt wheel for the platform win_amd64"));
        assert!(f[1].contains("linux_x86_64, which is not among"));
        assert!(platform_findings(&names, &[]).is_empty());
    }
}
