//! Compiled packages built by maturin: a Rust crate's `Cargo.toml` carries
//! the version too.
//!
//! maturin names the wheel after `[project] version` of `pyproject.toml`,
//! which the bump rewrites like any package's; but the binary inside reports
//! its crate's version (`release --version` does). So for a package whose
//! build backend is maturin, the bump also moves `[package] version` of the
//! `Cargo.toml` beside it and that crate's entry in `Cargo.lock`, in Cargo's
//! SemVer form, so that the release commit declares one version everywhere.

use std::path::Path;
use std::str::FromStr;

use super::{parse_toml, plan_write, read_planned, set_toml_str, Edits, Package, PackageError};

/// Cargo's SemVer form of a PEP 440 version: `0.2.0rc1` is `0.2.0-rc.1`,
/// `1.0.0.dev3` is `1.0.0-dev.3`, `1.0.0.post1` is `1.0.0+post.1`. `None`
/// when SemVer cannot say it (an epoch, more than three release numbers).
pub fn semver(version: &str) -> Option<String> {
    let v = pep440_rs::Version::from_str(version).ok()?;
    let release = v.release();
    if v.epoch() != 0 || release.len() > 3 || !v.local().is_empty() {
        return None;
    }
    let num = |i: usize| release.get(i).copied().unwrap_or(0);
    let mut out = format!("{}.{}.{}", num(0), num(1), num(2));
    let mut pre = Vec::new();
    if let Some(p) = v.pre() {
        let kind = match p.kind {
            pep440_rs::PrereleaseKind::Alpha => "alpha",
            pep440_rs::PrereleaseKind::Beta => "beta",
            pep440_rs::PrereleaseKind::Rc => "rc",
        };
        pre.push(format!("{kind}.{}", p.number));
    }
    if let Some(dev) = v.dev() {
        pre.push(format!("dev.{dev}"));
    }
    if !pre.is_empty() {
        out.push('-');
        out.push_str(&pre.join("."));
    }
    if let Some(post) = v.post() {
        out.push_str(&format!("+post.{post}"));
    }
    Some(out)
}

/// Is the package in `dir` built by maturin?
fn built_by_maturin(root: &Path, package: &Package, edits: &Edits) -> Result<bool, PackageError> {
    let rel = join(&package.path, "pyproject.toml");
    if !root.join(&rel).is_file() {
        return Ok(false);
    }
    let (key, text) = read_planned(root, edits, &rel)?;
    let doc = parse_toml(&root.join(&key), &text)?;
    Ok(doc
        .get("build-system")
        .and_then(|b| b.get("build-backend"))
        .and_then(|b| b.as_str())
        .is_some_and(|b| b == "maturin"))
}

fn join(dir: &str, file: &str) -> String {
    match dir {
        "" | "." => file.to_string(),
        d => format!("{d}/{file}"),
    }
}

/// Plan moving the Cargo.toml (and Cargo.lock) of a maturin package to
/// `version`. Nothing for other packages, or a crate whose version is not a
/// plain string here (inherited from a workspace: its root is the user's).
pub fn bump(
    root: &Path,
    package: &Package,
    version: &str,
    edits: &mut Edits,
) -> Result<(), PackageError> {
    let manifest = join(&package.path, "Cargo.toml");
    if !root.join(&manifest).is_file() || !built_by_maturin(root, package, edits)? {
        return Ok(());
    }
    let Some(new) = semver(version) else {
        return Err(PackageError::NoVersion {
            dir: root.join(&package.path),
            looked: format!("{manifest}: {version} has no SemVer form for Cargo"),
        });
    };
    let (manifest, text) = read_planned(root, edits, &manifest)?;
    let mut doc = parse_toml(&root.join(&manifest), &text)?;
    let Some(crate_name) = doc
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_string)
    else {
        return Ok(());
    };
    match doc
        .get_mut("package")
        .and_then(|p| p.get_mut("version"))
        .and_then(|v| v.as_value_mut())
    {
        Some(value) if value.is_str() => set_toml_str(value, &new),
        _ => return Ok(()),
    }
    plan_write(root, edits, manifest, &doc.to_string());

    let lock = join(&package.path, "Cargo.lock");
    if !root.join(&lock).is_file() {
        return Ok(());
    }
    let (lock, text) = read_planned(root, edits, &lock)?;
    let mut doc = parse_toml(&root.join(&lock), &text)?;
    if let Some(entries) = doc
        .get_mut("package")
        .and_then(|p| p.as_array_of_tables_mut())
    {
        for entry in entries.iter_mut() {
            let ours = entry.get("name").and_then(|n| n.as_str()) == Some(crate_name.as_str())
                && entry.get("source").is_none();
            if let Some(value) = entry
                .get_mut("version")
                .and_then(|v| v.as_value_mut())
                .filter(|_| ours)
            {
                set_toml_str(value, &new);
            }
        }
    }
    plan_write(root, edits, lock, &doc.to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_forms() {
        for (pep440, cargo) in [
            ("1.2.3", "1.2.3"),
            ("0.2", "0.2.0"),
            ("0.6.5.pre0", "0.6.5-rc.0"),
            ("1.0.0b2", "1.0.0-beta.2"),
            ("1.0.0a1.dev3", "1.0.0-alpha.1.dev.3"),
            ("1.0.0.dev20240101", "1.0.0-dev.20240101"),
            ("1.0.0.post1", "1.0.0+post.1"),
        ] {
            assert_eq!(semver(pep440).as_deref(), Some(cargo), "{pep440}");
        }
        assert_eq!(semver("1!1.0"), None);
        assert_eq!(semver("1.2.3.4"), None);
    }

    #[test]
    fn moves_cargo_toml_and_lock_of_a_maturin_package_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("pyproject.toml"),
            "[build-system]\nbuild-backend = \"maturin\"\n[project]\nname = \"tool\"\nversion = \"0.1.0\"\n",
        )
        .unwrap();
        std::fs::write(
            root.join("Cargo.toml"),
            "[package]\nname = \"tool\"\nversion = \"0.1.0\"  # kept\n\n[dependencies]\nx = { version = \"0.1.0\" }\n",
        )
        .unwrap();
        std::fs::write(
            root.join("Cargo.lock"),
            "version = 4\n\n[[package]]\nname = \"tool\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"x\"\nversion = \"0.1.0\"\nsource = \"registry+https://example.invalid\"\n",
        )
        .unwrap();
        let package = Package {
            name: "tool".into(),
            normalized_name: "tool".into(),
            path: ".".into(),
            version: "0.1.0".into(),
            version_source: super::super::VersionSource::Pyproject,
            track: String::new(),
            next_version: None,
        };
        let mut edits = Edits::new();
        bump(root, &package, "0.2.0rc1", &mut edits).unwrap();
        assert_eq!(
            edits["Cargo.toml"],
            "[package]\nname = \"tool\"\nversion = \"0.2.0-rc.1\"  # kept\n\n[dependencies]\nx = { version = \"0.1.0\" }\n"
        );
        assert!(edits["Cargo.lock"].contains("name = \"tool\"\nversion = \"0.2.0-rc.1\""));
        assert!(edits["Cargo.lock"].contains("name = \"x\"\nversion = \"0.1.0\""));

        std::fs::write(
            root.join("pyproject.toml"),
            "[build-system]\nbuild-backend = \"setuptools.build_meta\"\n[project]\nname = \"tool\"\nversion = \"0.1.0\"\n",
        )
        .unwrap();
        let mut edits = Edits::new();
        bump(root, &package, "0.2.0rc1", &mut edits).unwrap();
        assert!(edits.is_empty(), "not built by maturin: {edits:?}");
    }
}
