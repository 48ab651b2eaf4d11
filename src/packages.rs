//! Package discovery and version declarations.
//!
//! A monorepo declares each package's version in one of two places
//! (`[project] version` in `pyproject.toml`, or `__version__` in a `version.py`)
//! and pins siblings exactly (`dagster==0.6.4`). Bump has to rewrite all of them
//! without disturbing anything else in those files, so reading and writing both
//! live here, side by side.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::Config;

#[derive(Debug, Error)]
pub enum PackageError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid TOML: {message}")]
    Toml { path: PathBuf, message: String },
    #[error("package in {dir} declares no version: expected `[project] version` in pyproject.toml or `__version__ = \"...\"` in a version.py")]
    NoVersion { dir: PathBuf },
    #[error("package in {dir} has several version.py files ({found}); keep one")]
    AmbiguousVersion { dir: PathBuf, found: String },
    #[error("two packages are both named `{name}`: {first} and {second}")]
    DuplicateName {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("no package found under the globs {globs:?}: a package is a folder with a pyproject.toml or setup.py")]
    NoPackages { globs: Vec<String> },
    #[error("package in {dir} is named {name:?}, which is not a valid PEP 508 name (letters, digits, `.`, `_`, `-`, starting and ending with a letter or digit): fix its name")]
    InvalidName { dir: PathBuf, name: String },
    #[error("bad package glob `{glob}`: {message}")]
    Glob { glob: String, message: String },
}

/// Where a package declares its version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionSource {
    /// `[project] version` in `pyproject.toml`.
    Pyproject,
    /// `__version__ = "..."` in this file (relative to the repository root).
    VersionPy { file: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// The name as declared.
    pub name: String,
    /// PEP 503-normalised name (`dagster-aws`), used for comparisons and index URLs.
    pub normalized_name: String,
    /// Folder relative to the repository root, `/`-separated.
    pub path: String,
    pub version: String,
    pub version_source: VersionSource,
}

/// Is `name` a valid PEP 508 distribution name? Only such names become
/// folder names (`.release/dist/<version>/<name>/`) and index paths, so this
/// is also what keeps a name from reaching outside its folder.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge = |b: &u8| b.is_ascii_alphanumeric();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            edge(first)
                && edge(last)
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        }
        _ => false,
    }
}

/// PEP 503 normalisation: lowercase, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

fn read(path: &Path) -> Result<String, PackageError> {
    std::fs::read_to_string(path).map_err(|source| PackageError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_toml(path: &Path, text: &str) -> Result<toml_edit::DocumentMut, PackageError> {
    text.parse::<toml_edit::DocumentMut>()
        .map_err(|e| PackageError::Toml {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn version_py_regex() -> regex::Regex {
    // A literal pattern; compiling it cannot fail.
    regex::Regex::new(r#"(?m)^(__version__\s*=\s*)(['"])([^'"\n]*)(['"])"#)
        .unwrap_or_else(|_| unreachable!("static regex"))
}

fn setup_name_regex() -> regex::Regex {
    regex::Regex::new(r#"\bname\s*=\s*['"]([A-Za-z0-9][A-Za-z0-9._-]*)['"]"#)
        .unwrap_or_else(|_| unreachable!("static regex"))
}

/// A requirement string pinned exactly: name, optional extras, `==`, version.
fn pin_regex() -> regex::Regex {
    regex::Regex::new(
        r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<mid>\s*(?:\[[^\]]*\])?\s*==\s*)(?P<ver>[A-Za-z0-9._+!-]+)",
    )
    .unwrap_or_else(|_| unreachable!("static regex"))
}

const SKIP_DIRS: &[&str] = &[
    "build",
    "dist",
    "node_modules",
    "__pycache__",
    "tests",
    "test",
    ".git",
    ".tox",
    ".venv",
    "venv",
];

fn find_version_py(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            if depth > 0
                && !name.starts_with('.')
                && !name.ends_with(".egg-info")
                && !SKIP_DIRS.contains(&name.as_str())
            {
                find_version_py(&path, depth - 1, out);
            }
        } else if ft.is_file() && name == "version.py" {
            if let Ok(text) = std::fs::read_to_string(&path) {
                if version_py_regex().is_match(&text) {
                    out.push(path);
                }
            }
        }
    }
}

fn load_package(root: &Path, dir: &Path) -> Result<Package, PackageError> {
    let pyproject = dir.join("pyproject.toml");
    let mut name = None;
    let mut version = None;
    if pyproject.is_file() {
        let text = read(&pyproject)?;
        let doc = parse_toml(&pyproject, &text)?;
        if let Some(project) = doc.get("project").and_then(|p| p.as_table_like()) {
            name = project
                .get("name")
                .and_then(|n| n.as_str())
                .map(str::to_string);
            version = project
                .get("version")
                .and_then(|v| v.as_str())
                .map(|v| (v.to_string(), VersionSource::Pyproject));
        }
    }
    let setup = dir.join("setup.py");
    if name.is_none() && setup.is_file() {
        let text = read(&setup)?;
        name = setup_name_regex()
            .captures(&text)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_string());
    }
    if version.is_none() {
        let mut found = Vec::new();
        find_version_py(dir, 3, &mut found);
        let shallowest = found.iter().map(|p| p.components().count()).min();
        let found: Vec<_> = found
            .into_iter()
            .filter(|p| Some(p.components().count()) == shallowest)
            .collect();
        match found.as_slice() {
            [] => {}
            [file] => {
                let text = read(file)?;
                if let Some(c) = version_py_regex().captures(&text) {
                    version = Some((
                        c[3].to_string(),
                        VersionSource::VersionPy {
                            file: rel(root, file),
                        },
                    ));
                }
            }
            many => {
                return Err(PackageError::AmbiguousVersion {
                    dir: dir.to_path_buf(),
                    found: many
                        .iter()
                        .map(|p| rel(root, p))
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        }
    }
    let (version, version_source) = version.ok_or_else(|| PackageError::NoVersion {
        dir: dir.to_path_buf(),
    })?;
    let name = name.unwrap_or_else(|| {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    if !is_valid_name(&name) {
        return Err(PackageError::InvalidName {
            dir: dir.to_path_buf(),
            name,
        });
    }
    Ok(Package {
        normalized_name: normalize_name(&name),
        name,
        path: rel(root, dir),
        version,
        version_source,
    })
}

/// Every package under the config's globs, sorted by path.
pub fn discover(root: &Path, config: &Config) -> Result<Vec<Package>, PackageError> {
    let mut dirs = BTreeSet::new();
    for g in &config.packages {
        let pattern = root.join(g);
        let pattern = pattern.to_string_lossy();
        let paths = glob::glob(&pattern).map_err(|e| PackageError::Glob {
            glob: g.clone(),
            message: e.to_string(),
        })?;
        for p in paths.flatten() {
            if p.is_dir() && (p.join("pyproject.toml").is_file() || p.join("setup.py").is_file()) {
                dirs.insert(p);
            }
        }
    }
    if dirs.is_empty() {
        return Err(PackageError::NoPackages {
            globs: config.packages.clone(),
        });
    }
    let mut packages: Vec<Package> = Vec::new();
    for d in dirs {
        let p = load_package(root, &d)?;
        if let Some(other) = packages
            .iter()
            .find(|o| o.normalized_name == p.normalized_name)
        {
            return Err(PackageError::DuplicateName {
                name: p.name.clone(),
                first: PathBuf::from(&other.path),
                second: PathBuf::from(&p.path),
            });
        }
        packages.push(p);
    }
    Ok(packages)
}

/// Rewrite `name==X` pins to siblings inside one string; `None` if nothing changed.
fn rewrite_pin_text(text: &str, siblings: &BTreeSet<String>, version: &str) -> Option<String> {
    let re = pin_regex();
    let mut changed = false;
    let out = re.replace_all(text, |c: &regex::Captures| {
        if siblings.contains(&normalize_name(&c["name"])) && &c["ver"] != version {
            changed = true;
            format!("{}{}{}", &c["name"], &c["mid"], version)
        } else {
            c[0].to_string()
        }
    });
    changed.then(|| out.into_owned())
}

fn rewrite_array(array: &mut toml_edit::Array, siblings: &BTreeSet<String>, version: &str) -> bool {
    let mut changed = false;
    for item in array.iter_mut() {
        if let Some(s) = item.as_str() {
            if let Some(new) = rewrite_pin_text(s, siblings, version) {
                let decor = item.decor().clone();
                *item = toml_edit::Value::from(new);
                *item.decor_mut() = decor;
                changed = true;
            }
        }
    }
    changed
}

/// Edits a bump has planned but not written yet: file (relative to the root)
/// to its new text. Reads go through it, so two packages editing one file
/// compose instead of the second undoing the first.
pub type Edits = std::collections::BTreeMap<String, String>;

fn read_planned(root: &Path, edits: &Edits, rel_path: &str) -> Result<String, PackageError> {
    match edits.get(rel_path) {
        Some(text) => Ok(text.clone()),
        None => read(&root.join(rel_path)),
    }
}

/// Plan setting `version` everywhere `package` declares its own version and
/// pinning every sibling at `version`. Nothing is written: the caller journals
/// the plan first, then writes it (see `steps::bump`).
pub fn bump_package(
    root: &Path,
    package: &Package,
    siblings: &BTreeSet<String>,
    version: &str,
    edits: &mut Edits,
) -> Result<(), PackageError> {
    let dir = root.join(&package.path);

    let pyproject = dir.join("pyproject.toml");
    if pyproject.is_file() {
        let key = rel(root, &pyproject);
        let text = read_planned(root, edits, &key)?;
        let mut doc = parse_toml(&pyproject, &text)?;
        let mut touched = false;
        if let Some(project) = doc.get_mut("project").and_then(|p| p.as_table_like_mut()) {
            if package.version_source == VersionSource::Pyproject {
                if let Some(item) = project.get_mut("version") {
                    if let Some(v) = item.as_value_mut() {
                        if v.as_str() != Some(version) {
                            let decor = v.decor().clone();
                            *v = toml_edit::Value::from(version);
                            *v.decor_mut() = decor;
                            touched = true;
                        }
                    }
                }
            }
            if let Some(deps) = project
                .get_mut("dependencies")
                .and_then(|d| d.as_array_mut())
            {
                touched |= rewrite_array(deps, siblings, version);
            }
            if let Some(extras) = project
                .get_mut("optional-dependencies")
                .and_then(|d| d.as_table_like_mut())
            {
                for (_, item) in extras.iter_mut() {
                    if let Some(arr) = item.as_array_mut() {
                        touched |= rewrite_array(arr, siblings, version);
                    }
                }
            }
        }
        if touched {
            edits.insert(key, doc.to_string());
        }
    }

    if let VersionSource::VersionPy { file } = &package.version_source {
        let text = read_planned(root, edits, file)?;
        let new = version_py_regex().replace(&text, |c: &regex::Captures| {
            format!("{}{}{}{}", &c[1], &c[2], version, &c[4])
        });
        if new != text {
            edits.insert(file.clone(), new.into_owned());
        }
    }

    let setup = dir.join("setup.py");
    if setup.is_file() {
        let key = rel(root, &setup);
        let text = read_planned(root, edits, &key)?;
        if let Some(new) = rewrite_setup_pins(&text, siblings, version) {
            edits.insert(key, new);
        }
    }
    Ok(())
}

/// Write planned edits, each file atomically (a temporary file renamed over
/// it), so a crash leaves every file either as it was or as planned: never
/// half-written, which is what lets a resume tell our edits from the user's.
pub fn write_edits(root: &Path, edits: &Edits) -> Result<(), PackageError> {
    for (rel_path, text) in edits {
        let path = root.join(rel_path);
        let dir = path.parent().unwrap_or(root);
        let werr = |source| PackageError::Write {
            path: path.clone(),
            source,
        };
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(werr)?;
        std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(werr)?;
        if let Ok(meta) = std::fs::metadata(&path) {
            tmp.as_file()
                .set_permissions(meta.permissions())
                .map_err(werr)?;
        }
        tmp.persist(&path).map_err(|e| werr(e.error))?;
    }
    Ok(())
}

/// Pins in `setup.py` live inside string literals (`install_requires`,
/// `extras_require`); rewrite only inside quotes so code is never touched.
fn rewrite_setup_pins(text: &str, siblings: &BTreeSet<String>, version: &str) -> Option<String> {
    let literal = regex::Regex::new(r#""[^"\n]*"|'[^'\n]*'"#)
        .unwrap_or_else(|_| unreachable!("static regex"));
    let mut changed = false;
    let out = literal.replace_all(text, |c: &regex::Captures| {
        match rewrite_pin_text(&c[0], siblings, version) {
            Some(new) => {
                changed = true;
                new
            }
            None => c[0].to_string(),
        }
    });
    changed.then(|| out.into_owned())
}

/// The set of normalised sibling names.
pub fn sibling_names(packages: &[Package]) -> BTreeSet<String> {
    packages.iter().map(|p| p.normalized_name.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep508_names() {
        for ok in ["a", "dagster", "Dagster_AWS", "a.b-c_d", "x1"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "/some/dir",
            "..",
            ".",
            "a/b",
            "-a",
            "a-",
            "a\0b",
            "a b",
            "../x",
            "é",
        ] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn normalizes() {
        assert_eq!(normalize_name("Dagster_AWS"), "dagster-aws");
        assert_eq!(normalize_name("a.-_b"), "a-b");
    }

    #[test]
    fn rewrites_pins_only_for_siblings() {
        let sib: BTreeSet<String> = ["dagster".to_string(), "dagster-aws".to_string()].into();
        let s = r#"install_requires=["dagster==0.6.4", "Dagster_AWS[s3] == 0.6.4; python_version>'3'", "requests==2.0"]"#;
        let out = rewrite_setup_pins(s, &sib, "0.6.5.pre0").unwrap();
        assert!(out.contains("dagster==0.6.5.pre0"));
        assert!(out.contains("Dagster_AWS[s3] == 0.6.5.pre0; python_version>'3'"));
        assert!(out.contains("requests==2.0"));
        assert!(rewrite_setup_pins("x = 'requests==1'", &sib, "1").is_none());
    }
}
