//! Package discovery, tracks, and the edits a bump makes.
//!
//! A package is a folder under the config's globs with a `pyproject.toml`,
//! `setup.py` or `setup.cfg`. Its version is declared where its build backend
//! reads it ([`source`]), and it pins its siblings exactly ([`pins`]). Bump has
//! to rewrite all of them without disturbing anything else in those files, so
//! reading and planning the writes live here side by side. Packages belong to
//! tracks (`[[track]]`), each moving in lockstep.

pub mod cargo;
pub mod pins;
pub mod replace;
pub mod source;
pub mod tracks;

pub use pins::Pins;
pub use source::VersionSource;

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
    #[error("package in {dir} declares no version that release can find; looked at: {looked}. Declare it in one of those places (see the README, \"Package layout\")")]
    NoVersion { dir: PathBuf, looked: String },
    #[error("package in {dir} has several version files ({found}); name the one its build reads with `[tool.setuptools.dynamic] version = {{attr = ...}}`, or keep one")]
    AmbiguousVersion { dir: PathBuf, found: String },
    #[error("two packages are both named `{name}`: {first} and {second}")]
    DuplicateName {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("no package found under the globs {globs:?}: a package is a folder with a pyproject.toml, setup.py or setup.cfg")]
    NoPackages { globs: Vec<String> },
    #[error("package in {dir} is named {name:?}, which is not a valid PEP 508 name (letters, digits, `.`, `_`, `-`, starting and ending with a letter or digit): fix its name")]
    InvalidName { dir: PathBuf, name: String },
    #[error("bad package glob `{glob}`: {message}")]
    Glob { glob: String, message: String },
    #[error("package {name} ({path}) is in no `[[track]]`: add a glob matching it to one")]
    NoTrack { name: String, path: String },
    #[error("package {package}: {setting} names `{path}`, {why}; release reads and rewrites version files only inside the repository: name a file inside it")]
    OutsideRepo {
        package: String,
        setting: String,
        path: String,
        why: String,
    },
    #[error("refusing to rewrite `{path}`: {why}; release writes only files inside the repository. Run `release abort`, fix the package's version source, then start again")]
    Unsafe { path: String, why: String },
}

/// Why a path a package names (a setting's value) leaves the repository
/// before any symlink is followed: absolute, or through `..`.
pub(crate) fn leaves_by_name(path: &str) -> Option<&'static str> {
    let bytes = path.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if Path::new(path).is_absolute() || path.starts_with(['/', '\\']) || drive {
        Some("an absolute path")
    } else if path.split(['/', '\\']).any(|c| c == "..") {
        Some("a path through `..`")
    } else {
        None
    }
}

/// `path` (under `root`) with every symlink followed, expressed under
/// `root`; an error saying where it leads when that is outside the root.
/// A path that does not exist (yet) is returned as it is.
pub(crate) fn real_path(root: &Path, path: &Path) -> Result<PathBuf, String> {
    let real = match path.canonicalize() {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(path.to_path_buf()),
        Err(e) => return Err(format!("which cannot be resolved ({e})")),
    };
    let root_real = root
        .canonicalize()
        .map_err(|e| format!("and the repository root cannot be resolved ({e})"))?;
    match real.strip_prefix(&root_real) {
        Ok(inside) => Ok(root.join(inside)),
        Err(_) => Err(format!(
            "which is a symlink to {}, outside the repository",
            real.display()
        )),
    }
}

/// The file a bump rewrites for `rel_path` (from the root): the target of a
/// symlink, so the symlink stays one in the release commit. Refused when it
/// is, or leads, outside the root.
fn real_key(root: &Path, rel_path: &str) -> Result<String, PackageError> {
    let unsafe_path = |why: String| PackageError::Unsafe {
        path: rel_path.to_string(),
        why,
    };
    if let Some(why) = leaves_by_name(rel_path) {
        return Err(unsafe_path(format!("it is {why}")));
    }
    let real = real_path(root, &root.join(rel_path))
        .map_err(|w| unsafe_path(format!("it is a path {w}")))?;
    Ok(rel(root, &real))
}

/// How a text file is written, kept through a rewrite: a UTF-8 BOM, and
/// CRLF line endings (when every line ends so; a file of mixed endings is
/// left as it is). Rewriters see LF text without a BOM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TextStyle {
    bom: bool,
    crlf: bool,
}

const BOM: char = '\u{feff}';

impl TextStyle {
    pub(crate) fn of(raw: &str) -> TextStyle {
        let body = raw.strip_prefix(BOM).unwrap_or(raw);
        let lf = body.matches('\n').count();
        TextStyle {
            bom: body.len() != raw.len(),
            crlf: lf > 0 && body.matches("\r\n").count() == lf,
        }
    }

    /// `raw` as rewriters see it.
    pub(crate) fn normalize(raw: &str) -> String {
        let style = TextStyle::of(raw);
        let body = raw.strip_prefix(BOM).unwrap_or(raw);
        if style.crlf {
            body.replace("\r\n", "\n")
        } else {
            body.to_string()
        }
    }

    /// Normalized `text` written in this style.
    pub(crate) fn apply(self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + text.len() / 16 + 3);
        if self.bom {
            out.push(BOM);
        }
        if self.crlf {
            out.push_str(&text.replace('\n', "\r\n"));
        } else {
            out.push_str(text);
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// The name as declared.
    pub name: String,
    /// PEP 503-normalised name (`dagster-aws`), used for comparisons and index URLs.
    pub normalized_name: String,
    /// Folder relative to the repository root, `/`-separated.
    pub path: String,
    /// The version declared now (before the release's bump).
    pub version: String,
    pub version_source: VersionSource,
    /// The `[[track]]` it belongs to; empty without tracks.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub track: String,
    /// The version this release gives it, as typed (preflight's plan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_version: Option<String>,
}

impl Package {
    /// The version this release gives the package: its planned one, else the
    /// release's own (a one-track release).
    pub fn release_version<'a>(&'a self, release_version: &'a str) -> &'a str {
        self.next_version.as_deref().unwrap_or(release_version)
    }
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
pub use crate::ops::index::normalize_name;

/// A text file as rewriters see it (see [`TextStyle`]).
fn read(path: &Path) -> Result<String, PackageError> {
    read_raw(path).map(|raw| TextStyle::normalize(&raw))
}

fn read_raw(path: &Path) -> Result<String, PackageError> {
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

fn setup_name_regex() -> regex::Regex {
    regex::Regex::new(r#"\bname\s*=\s*['"]([A-Za-z0-9][A-Za-z0-9._-]*)['"]"#)
        .unwrap_or_else(|_| unreachable!("static regex"))
}

/// The name a package declares: `[project] name`, `[tool.poetry] name`,
/// `setup.cfg [metadata] name`, then `setup(name="...")`.
fn declared_name(
    dir: &Path,
    pyproject: Option<&toml_edit::DocumentMut>,
) -> Result<Option<String>, PackageError> {
    if let Some(doc) = pyproject {
        let project = doc.get("project").and_then(|p| p.as_table_like());
        let poetry = doc
            .get("tool")
            .and_then(|t| t.as_table_like())
            .and_then(|t| t.get("poetry"))
            .and_then(|p| p.as_table_like());
        for table in [project, poetry].into_iter().flatten() {
            if let Some(n) = table.get("name").and_then(|n| n.as_str()) {
                return Ok(Some(n.to_string()));
            }
        }
    }
    let setup_cfg = dir.join("setup.cfg");
    if setup_cfg.is_file() {
        let text = read(&setup_cfg)?;
        if let Some((n, _)) = source::ini_value(&text, "metadata", "name") {
            if !n.is_empty() {
                return Ok(Some(n));
            }
        }
    }
    let setup = dir.join("setup.py");
    if setup.is_file() {
        let text = read(&setup)?;
        if let Some(m) = setup_name_regex().captures(&text).and_then(|c| c.get(1)) {
            return Ok(Some(m.as_str().to_string()));
        }
    }
    Ok(None)
}

fn is_package_dir(p: &Path) -> bool {
    p.is_dir()
        && ["pyproject.toml", "setup.py", "setup.cfg"]
            .iter()
            .any(|f| p.join(f).is_file())
}

fn load_package(root: &Path, dir: &Path) -> Result<Package, PackageError> {
    // The files a bump may rewrite besides the version source: a symlink
    // among them must stay inside the repository.
    for file in ["pyproject.toml", "setup.cfg", "setup.py"] {
        if let Err(why) = real_path(root, &dir.join(file)) {
            return Err(PackageError::OutsideRepo {
                package: rel(root, dir),
                setting: "its build file".into(),
                path: rel(root, &dir.join(file)),
                why,
            });
        }
    }
    let pyproject = dir.join("pyproject.toml");
    let doc = if pyproject.is_file() {
        let text = read(&pyproject)?;
        Some(parse_toml(&pyproject, &text)?)
    } else {
        None
    };
    let declared = declared_name(dir, doc.as_ref())?;
    let name = declared.clone().unwrap_or_else(|| {
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
    let found = source::find(root, dir, Some(&name), doc.as_ref())?;
    Ok(Package {
        normalized_name: normalize_name(&name),
        name,
        path: rel(root, dir),
        version: found.version,
        version_source: found.source,
        track: String::new(),
        next_version: None,
    })
}

/// Does `glob` (relative to the root) match the package folder `path`? `*`
/// stays within one folder, as when the globs found it.
pub(crate) fn glob_matches(glob: &str, path: &str) -> bool {
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    glob::Pattern::new(glob.trim_end_matches('/'))
        .map(|p| p.matches_with(path, options))
        .unwrap_or(false)
}

/// Every package under the config's globs, sorted by path, each in its track.
pub fn discover(root: &Path, config: &Config) -> Result<Vec<Package>, PackageError> {
    let globs = config.package_globs();
    let mut dirs = BTreeSet::new();
    for g in &globs {
        let pattern = root.join(g);
        let pattern = pattern.to_string_lossy();
        let paths = glob::glob(&pattern).map_err(|e| PackageError::Glob {
            glob: g.clone(),
            message: e.to_string(),
        })?;
        for p in paths.flatten() {
            if is_package_dir(&p) {
                dirs.insert(p);
            }
        }
    }
    if dirs.is_empty() {
        return Err(PackageError::NoPackages { globs });
    }
    let mut packages: Vec<Package> = Vec::new();
    for d in dirs {
        let mut p = load_package(root, &d)?;
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
        if !config.track.is_empty() {
            let track = config
                .track
                .iter()
                .find(|t| t.packages.iter().any(|g| glob_matches(g, &p.path)))
                .ok_or_else(|| PackageError::NoTrack {
                    name: p.name.clone(),
                    path: p.path.clone(),
                })?;
            p.track = track.name.clone();
        }
        packages.push(p);
    }
    Ok(packages)
}

/// Put `new` in a TOML string value, keeping its decoration (spaces,
/// comments) and its quotes: a literal `'...'` stays literal, and a basic
/// `"..."` stays basic (its inner quotes escaped, as in
/// `"x == 1 ; python_version >= \"3.9\""`).
pub(crate) fn set_toml_str(value: &mut toml_edit::Value, new: &str) {
    let repr = match value {
        toml_edit::Value::String(f) => f.display_repr().chars().next(),
        _ => None,
    };
    let kept = match repr {
        Some('\'') if !new.contains(['\'', '\n']) => Some(format!("'{new}'")),
        // A JSON string is a TOML basic string (same escapes).
        Some('"') => serde_json::to_string(new).ok(),
        _ => None,
    };
    let mut replaced = kept
        .and_then(|k| k.parse::<toml_edit::Value>().ok())
        .filter(|v| v.as_str() == Some(new))
        .unwrap_or_else(|| toml_edit::Value::from(new));
    *replaced.decor_mut() = value.decor().clone();
    *value = replaced;
}

/// Edits a bump has planned but not written yet: file (relative to the root,
/// a real file: never a symlink) to its new text, as it will be on disk
/// (its BOM and line endings kept). Reads go through it, so two packages
/// editing one file compose instead of the second undoing the first.
pub type Edits = std::collections::BTreeMap<String, String>;

/// The real file behind `rel_path` (see [`real_key`]) and its text as
/// planned so far, as rewriters see it.
fn read_planned(
    root: &Path,
    edits: &Edits,
    rel_path: &str,
) -> Result<(String, String), PackageError> {
    let key = real_key(root, rel_path)?;
    let text = match edits.get(&key) {
        Some(text) => TextStyle::normalize(text),
        None => read(&root.join(&key))?,
    };
    Ok((key, text))
}

/// Plan `text` (as rewriters see it) for the file `key`, in the style of
/// the file on disk.
fn plan_write(root: &Path, edits: &mut Edits, key: String, text: &str) {
    let style = read_raw(&root.join(&key))
        .map(|raw| TextStyle::of(&raw))
        .unwrap_or_default();
    edits.insert(key, style.apply(text));
}

/// What a bump left as written, for its output: sibling pins `setup.py`
/// computes in code, and sibling range pins (`[pins] ranges = "leave"`),
/// each as `file: requirement`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BumpNotes {
    pub computed: Vec<String>,
    pub ranges_left: Vec<String>,
}

impl BumpNotes {
    fn extend(&mut self, other: BumpNotes) {
        for (all, more) in [
            (&mut self.computed, other.computed),
            (&mut self.ranges_left, other.ranges_left),
        ] {
            for m in more {
                if !all.contains(&m) {
                    all.push(m);
                }
            }
        }
    }
}

/// Plan setting the package's own version declaration to its version in
/// `pins` and every pin to a sibling as `pins` says (exact pins, and ranges
/// when they move). Nothing is written: the caller journals the plan first,
/// then writes it (see `steps::bump`). Returns what stays as written.
pub fn bump_package(
    root: &Path,
    package: &Package,
    pins: &Pins,
    edits: &mut Edits,
) -> Result<BumpNotes, PackageError> {
    let mut notes = BumpNotes::default();
    let Some(version) = pins.get(&package.normalized_name) else {
        return Ok(notes);
    };
    source::plan_rewrite(root, &package.path, &package.version_source, version, edits)?;
    let dir = root.join(&package.path);
    let mut left = Vec::new();
    let mut name_left = |key: &str, left: &mut Vec<String>| {
        notes
            .ranges_left
            .extend(left.drain(..).map(|r| format!("{key}: {r}")));
    };

    let pyproject = dir.join("pyproject.toml");
    if pyproject.is_file() {
        let (key, text) = read_planned(root, edits, &rel(root, &pyproject))?;
        let mut doc = parse_toml(&pyproject, &text)?;
        if pins::rewrite_pyproject(&mut doc, pins, &mut left) {
            plan_write(root, edits, key.clone(), &doc.to_string());
        }
        name_left(&key, &mut left);
    }
    let setup_cfg = dir.join("setup.cfg");
    if setup_cfg.is_file() {
        let (key, text) = read_planned(root, edits, &rel(root, &setup_cfg))?;
        if let Some(new) = pins::rewrite_setup_cfg(&text, pins, &mut left) {
            plan_write(root, edits, key.clone(), &new);
        }
        name_left(&key, &mut left);
    }
    let setup = dir.join("setup.py");
    let mut computed = Vec::new();
    if setup.is_file() {
        let (key, text) = read_planned(root, edits, &rel(root, &setup))?;
        let (new, in_code) = pins::rewrite_setup_py(&text, pins, &mut left);
        if let Some(new) = new {
            plan_write(root, edits, key.clone(), &new);
        }
        name_left(&key, &mut left);
        computed.extend(in_code.into_iter().map(|c| format!("{key}: {c}")));
    }
    notes.computed = computed;
    Ok(notes)
}

/// Every edit a release's bump makes, planned over `edits`: each package's
/// version declaration and sibling pins (see [`bump_package`]), a maturin
/// package's crate, then the `[[replace]]` entries over the result (so a
/// file both touch composes). `versions` are each track's old and new
/// versions. Nothing is written.
pub fn plan_bump(
    root: &Path,
    config: &Config,
    packages: &[Package],
    release_version: &str,
    versions: &replace::Versions,
    edits: &mut Edits,
) -> Result<BumpNotes, replace::ReplaceError> {
    let pins = release_pins(packages, release_version).with_ranges(config.pins.ranges);
    let mut notes = BumpNotes::default();
    for p in packages {
        notes.extend(bump_package(root, p, &pins, edits)?);
        // A maturin package's crate carries the version too.
        if let Some(v) = pins.get(&p.normalized_name) {
            cargo::bump(root, p, v, edits)?;
        }
    }
    replace::apply(root, config, versions, edits)?;
    Ok(notes)
}

/// Write planned edits, each file atomically (a temporary file renamed over
/// it), so a crash leaves every file either as it was or as planned: never
/// half-written, which is what lets a resume tell our edits from the user's.
pub fn write_edits(root: &Path, edits: &Edits) -> Result<(), PackageError> {
    for (rel_path, text) in edits {
        // Planned keys are real files inside the root; checked again here,
        // the last step before a write, whatever planned them.
        if real_key(root, rel_path)? != *rel_path
            || std::fs::symlink_metadata(root.join(rel_path)).is_ok_and(|m| m.is_symlink())
        {
            return Err(PackageError::Unsafe {
                path: rel_path.clone(),
                why: "it is not a plain file of the repository".into(),
            });
        }
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

/// Each package's normalised name to the version this release gives it
/// (`release_version` for a package without a planned one), from the one
/// it declares now; ranges left as written (see [`Pins::with_ranges`]).
pub fn release_pins(packages: &[Package], release_version: &str) -> Pins {
    let mut pins = Pins::default();
    for p in packages {
        pins.insert(
            p.normalized_name.clone(),
            p.version.clone(),
            p.release_version(release_version).to_string(),
        );
    }
    pins
}

/// Give every package its nightly version (its `next_version`, else
/// `version`) in its version declaration and in every sibling pin (ranges
/// as `[pins] ranges` says), and apply the `[[replace]]` entries with the
/// nightly's versions and `date` (YYYY-MM-DD), in the export at `export`
/// (never the working tree); returns the number of files changed.
pub fn rewrite_export(
    export: &Path,
    config: &Config,
    pkgs: &[Package],
    version: &str,
    date: &str,
) -> Result<usize, replace::ReplaceError> {
    let pins = release_pins(pkgs, version).with_ranges(config.pins.ranges);
    let mut edits = Edits::new();
    for p in pkgs {
        bump_package(export, p, &pins, &mut edits)?;
    }
    let versions = replace::Versions::of(pkgs, config, version, date.to_string());
    replace::apply(export, config, &versions, &mut edits)?;
    write_edits(export, &edits)?;
    Ok(edits.len())
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
    fn text_style_round_trips() {
        for raw in [
            "a = 1\nb = 2\n",
            "a = 1\r\nb = 2\r\n",
            "\u{feff}a = 1\r\nb = 2",
            "\u{feff}x\n",
            "mixed\r\nlines\n",
            "",
        ] {
            let style = TextStyle::of(raw);
            let text = TextStyle::normalize(raw);
            assert!(!text.starts_with(BOM), "{raw:?}");
            assert_eq!(style.apply(&text), raw, "{raw:?}");
        }
        assert_eq!(TextStyle::normalize("\u{feff}a\r\nb\r\n"), "a\nb\n");
        // A mixed file is left as it is.
        assert_eq!(TextStyle::normalize("a\r\nb\n"), "a\r\nb\n");
    }

    #[test]
    fn paths_leaving_by_name() {
        for bad in [
            "/abs/VERSION",
            "\\share\\v",
            "C:\\v.py",
            "../v",
            "a/../../v",
            "a\\..\\v",
        ] {
            assert!(leaves_by_name(bad).is_some(), "{bad}");
        }
        for ok in ["VERSION", "src/pkg/_version.py", "..v", "a/..b/v"] {
            assert_eq!(leaves_by_name(ok), None, "{ok}");
        }
    }

    #[test]
    fn toml_strings_keep_their_quotes() {
        let doc: toml_edit::DocumentMut = "a = \"x ; v >= \\\"3\\\"\"  # c\nb = 'y'\n"
            .parse()
            .unwrap();
        let mut doc = doc;
        for (key, new) in [("a", "z ; v >= \"3.9\""), ("b", "w")] {
            let v = doc[key].as_value_mut().unwrap();
            set_toml_str(v, new);
        }
        assert_eq!(
            doc.to_string(),
            "a = \"z ; v >= \\\"3.9\\\"\"  # c\nb = 'w'\n"
        );
    }

    #[cfg(unix)]
    #[test]
    fn real_paths_follow_symlinks_and_stay_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo");
        std::fs::create_dir_all(root.join("shared")).unwrap();
        std::fs::write(root.join("shared/v.py"), "__version__ = '1'\n").unwrap();
        std::fs::write(tmp.path().join("out.py"), "").unwrap();
        std::os::unix::fs::symlink("shared/v.py", root.join("in.py")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("out.py"), root.join("out.py")).unwrap();
        assert_eq!(real_key(&root, "in.py").unwrap(), "shared/v.py");
        assert_eq!(real_key(&root, "missing.py").unwrap(), "missing.py");
        for bad in ["out.py", "/etc/passwd", "../out.py"] {
            assert!(real_key(&root, bad).is_err(), "{bad}");
        }
        let mut edits = Edits::new();
        edits.insert("out.py".into(), "x".into());
        assert!(write_edits(&root, &edits).is_err());
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("out.py")).unwrap(),
            ""
        );
    }

    #[test]
    fn normalizes() {
        assert_eq!(normalize_name("Dagster_AWS"), "dagster-aws");
        assert_eq!(normalize_name("a.-_b"), "a-b");
    }
}
