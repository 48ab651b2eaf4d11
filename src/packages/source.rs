//! Where a package declares its version, found where its build backend reads
//! it, and rewritten there in place.
//!
//! Build backends disagree on where a version lives: `[project] version`,
//! setuptools' `dynamic` version (`attr:` a module attribute, `file:` a text
//! file), hatch's and pdm's `version.path`, `setup.cfg [metadata] version`,
//! `[tool.poetry] version`, a literal in `setup.py`, or `__version__` in a
//! module named like the package. A bump that rewrote a declaration the
//! backend does not read would build the old version, so the search follows
//! the backend's own order, and a package whose version cannot be found is
//! named with every place looked at.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{leaves_by_name, plan_write, read, read_planned, real_path, rel, Edits, PackageError};

/// Where a package declares its version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionSource {
    /// `[project] version` in `pyproject.toml`.
    Pyproject,
    /// `[tool.poetry] version` in `pyproject.toml`.
    Poetry,
    /// `version = ...` in the `[metadata]` section of this `setup.cfg`.
    SetupCfg { file: String },
    /// `version="..."` passed to `setup()` in this `setup.py`.
    SetupPy { file: String },
    /// `__version__ = "..."` (or the attribute named) in this Python file
    /// (relative to the repository root).
    VersionPy {
        file: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attr: Option<String>,
    },
    /// A text file holding only the version (setuptools' `file:`).
    TextFile { file: String },
}

impl VersionSource {
    /// A short human description: `[project] version`, `dagster/version.py`.
    pub fn describe(&self, package_path: &str) -> String {
        match self {
            VersionSource::Pyproject => format!("{package_path}/pyproject.toml [project] version"),
            VersionSource::Poetry => format!("{package_path}/pyproject.toml [tool.poetry] version"),
            VersionSource::SetupCfg { file } => format!("{file} [metadata] version"),
            VersionSource::SetupPy { file } => format!("{file} setup(version=...)"),
            VersionSource::VersionPy { file, attr } => {
                format!("{file} {}", attr.as_deref().unwrap_or("__version__"))
            }
            VersionSource::TextFile { file } => file.clone(),
        }
    }
}

fn static_regex(pattern: &str) -> regex::Regex {
    // Only literal patterns reach here; compiling them cannot fail.
    regex::Regex::new(pattern).unwrap_or_else(|_| unreachable!("static regex"))
}

/// `NAME = "..."` at the top level of a module, with an optional annotation
/// (`__version__: str = "1.0"`). Without an attribute, hatch's default names:
/// `__version__` or `VERSION`.
fn assignment_regex(attr: Option<&str>) -> regex::Regex {
    let names = match attr {
        Some(a) => regex::escape(a),
        None => "__version__|VERSION".to_string(),
    };
    static_regex(&format!(
        r#"(?m)^((?:{names})[ \t]*(?::[ \t]*[A-Za-z_][\w.\[\]]*[ \t]*)?=[ \t]*)(['"])([^'"\n]*)(['"])"#
    ))
}

fn setup_py_version_regex() -> regex::Regex {
    static_regex(r#"\bversion\s*=\s*(['"])([0-9][^'"\n]*)(['"])"#)
}

/// The `[section]` a line of an INI file opens, if it opens one.
fn ini_section(line: &str) -> Option<&str> {
    let t = line.trim();
    t.strip_prefix('[')?.strip_suffix(']').map(str::trim)
}

/// The value of `key` in `[section]` of an INI text (setup.cfg), with its
/// byte range in the text, first line only.
pub(crate) fn ini_value(
    text: &str,
    section: &str,
    key: &str,
) -> Option<(String, std::ops::Range<usize>)> {
    let mut current = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        if let Some(s) = ini_section(line) {
            current = Some(s.to_string());
            continue;
        }
        if current.as_deref() != Some(section) || line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((k, v)) = line.split_once(['=', ':']) else {
            continue;
        };
        if k.trim().replace('-', "_") != key {
            continue;
        }
        let body = v.trim_end_matches(['\n', '\r']);
        let lead = body.len() - body.trim_start().len();
        let value = body.trim();
        let value_start = start + k.len() + 1 + lead;
        return Some((value.to_string(), value_start..value_start + value.len()));
    }
    None
}

/// The module a package's version lives in, found like setuptools finds
/// `attr: a.b.__version__`: `a/b.py` or `a/b/__init__.py`, at the package
/// root or under `src/`.
fn module_file(dir: &Path, dotted: &str) -> Option<PathBuf> {
    let parts: Vec<&str> = dotted.split('.').collect();
    if parts.iter().any(|p| p.is_empty() || *p == "..") {
        return None;
    }
    let base = parts.join("/");
    for root in [dir.to_path_buf(), dir.join("src")] {
        for candidate in [format!("{base}.py"), format!("{base}/__init__.py")] {
            let path = root.join(&candidate);
            if path.is_file() {
                return Some(path);
            }
        }
    }
    None
}

/// What the search found: the version, where it is, or where it looked.
pub struct Found {
    pub version: String,
    pub source: VersionSource,
}

struct Search<'a> {
    root: &'a Path,
    dir: &'a Path,
    /// How the package is named in errors.
    package: String,
    looked: Vec<String>,
}

impl Search<'_> {
    fn rel(&self, path: &Path) -> String {
        rel(self.root, path)
    }

    fn outside(&self, setting: &str, path: &str, why: String) -> PackageError {
        PackageError::OutsideRepo {
            package: self.package.clone(),
            setting: setting.to_string(),
            path: path.to_string(),
            why,
        }
    }

    /// The file a setting names (`raw`, relative to the package), refused
    /// when it leaves the repository by its name.
    fn named(&self, setting: &str, raw: &str) -> Result<PathBuf, PackageError> {
        match leaves_by_name(raw) {
            Some(why) => Err(self.outside(setting, raw, why.to_string())),
            None => Ok(self.dir.join(raw)),
        }
    }

    /// `path` with its symlinks followed: the file read and rewritten is
    /// the target (inside the repository, or an error), so a symlink stays
    /// a symlink in the release commit.
    fn real(&self, setting: &str, path: &Path) -> Result<PathBuf, PackageError> {
        real_path(self.root, path).map_err(|why| self.outside(setting, &self.rel(path), why))
    }

    /// `attr` (default `__version__`/`VERSION`) assigned in a Python file.
    fn python(
        &mut self,
        setting: &str,
        path: &Path,
        attr: Option<&str>,
    ) -> Result<Option<Found>, PackageError> {
        let path = &self.real(setting, path)?;
        let shown = self.rel(path);
        self.looked
            .push(format!("{shown} ({})", attr.unwrap_or("__version__")));
        if !path.is_file() {
            return Ok(None);
        }
        let text = read(path)?;
        Ok(assignment_regex(attr).captures(&text).map(|c| Found {
            version: c[3].to_string(),
            source: VersionSource::VersionPy {
                file: shown,
                attr: attr.map(str::to_string),
            },
        }))
    }

    fn text_file(&mut self, setting: &str, file: &str) -> Result<Option<Found>, PackageError> {
        let path = self.named(setting, file)?;
        let path = self.real(setting, &path)?;
        let shown = self.rel(&path);
        self.looked.push(shown.clone());
        if !path.is_file() {
            return Ok(None);
        }
        let text = read(&path)?;
        let v = text.trim();
        Ok((!v.is_empty() && !v.contains('\n')).then(|| Found {
            version: v.to_string(),
            source: VersionSource::TextFile { file: shown },
        }))
    }

    /// setuptools' `attr: pkg.mod.__version__`.
    fn attr(&mut self, setting: &str, spec: &str) -> Result<Option<Found>, PackageError> {
        let spec = spec.trim();
        let Some((module, attr)) = spec.rsplit_once('.') else {
            self.looked
                .push(format!("attr: {spec} (not module.attribute)"));
            return Ok(None);
        };
        match module_file(self.dir, module) {
            Some(path) => self.python(setting, &path, Some(attr)),
            None => {
                self.looked
                    .push(format!("attr: {spec} (module {module} not found)"));
                Ok(None)
            }
        }
    }

    /// `__version__` in a module named like the package: `version.py`,
    /// `_version.py`, `version/__init__.py`, then `__init__.py`.
    fn module_named(&mut self, name: &str) -> Result<Option<Found>, PackageError> {
        let module = super::normalize_name(name).replace('-', "_");
        for base in [self.dir.join(&module), self.dir.join("src").join(&module)] {
            if !base.is_dir() {
                continue;
            }
            for file in [
                "version.py",
                "_version.py",
                "version/__init__.py",
                "__init__.py",
            ] {
                let setting = "its version module";
                if let Some(found) = self.python(setting, &base.join(file), None)? {
                    return Ok(Some(found));
                }
            }
        }
        let single = self.dir.join(format!("{module}.py"));
        if single.is_file() {
            return self.python("its version module", &single, None);
        }
        Ok(None)
    }
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

/// Every `version.py`/`_version.py` declaring `__version__` below `dir`.
fn find_version_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
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
                find_version_files(&path, depth - 1, out);
            }
        } else if ft.is_file() && (name == "version.py" || name == "_version.py") {
            if let Ok(text) = read(&path) {
                if assignment_regex(None).is_match(&text) {
                    out.push(path);
                }
            }
        }
    }
}

/// Find a package's version where its build backend reads it.
pub fn find(
    root: &Path,
    dir: &Path,
    name: Option<&str>,
    pyproject: Option<&toml_edit::DocumentMut>,
) -> Result<Found, PackageError> {
    let mut s = Search {
        root,
        dir,
        package: name.map_or_else(|| rel(root, dir), str::to_string),
        looked: Vec::new(),
    };
    let pyproject_rel = rel(root, &dir.join("pyproject.toml"));
    if let Some(doc) = pyproject {
        let project = doc.get("project").and_then(|p| p.as_table_like());
        if let Some(v) = project
            .and_then(|p| p.get("version"))
            .and_then(|v| v.as_str())
        {
            return Ok(Found {
                version: v.to_string(),
                source: VersionSource::Pyproject,
            });
        }
        s.looked.push(format!("{pyproject_rel} [project] version"));
        let tool = doc.get("tool").and_then(|t| t.as_table_like());
        let get = |path: &[&str]| -> Option<&toml_edit::Item> {
            let mut item = tool?.get(path[0])?;
            for k in &path[1..] {
                item = item.as_table_like()?.get(k)?;
            }
            Some(item)
        };
        // setuptools: `[tool.setuptools.dynamic] version = {attr = ...}` or `{file = ...}`.
        if let Some(dynamic) = get(&["setuptools", "dynamic", "version"]) {
            let table = dynamic.as_table_like();
            if let Some(attr) = table.and_then(|t| t.get("attr")).and_then(|a| a.as_str()) {
                if let Some(found) = s.attr("[tool.setuptools.dynamic] version attr", attr)? {
                    return Ok(found);
                }
            }
            if let Some(file) = table.and_then(|t| t.get("file")) {
                let first = file.as_str().or_else(|| {
                    file.as_array()
                        .and_then(|a| a.get(0))
                        .and_then(|v| v.as_str())
                });
                if let Some(file) = first {
                    let setting = "[tool.setuptools.dynamic] version file";
                    if let Some(found) = s.text_file(setting, file)? {
                        return Ok(found);
                    }
                }
            }
        }
        // hatch and pdm: a path to a file holding `__version__`.
        for (tool_name, path) in [
            ("hatch", get(&["hatch", "version", "path"])),
            ("pdm", get(&["pdm", "version", "path"])),
        ] {
            if let Some(path) = path.and_then(|p| p.as_str()) {
                let setting = format!("[tool.{tool_name}.version] path");
                let file = s.named(&setting, path)?;
                if let Some(found) = s.python(&setting, &file, None)? {
                    return Ok(found);
                }
            }
        }
        if let Some(v) = get(&["poetry", "version"]).and_then(|v| v.as_str()) {
            return Ok(Found {
                version: v.to_string(),
                source: VersionSource::Poetry,
            });
        }
        s.looked
            .push(format!("{pyproject_rel} [tool.poetry] version"));
    }
    let setup_cfg = dir.join("setup.cfg");
    if setup_cfg.is_file() {
        let text = read(&setup_cfg)?;
        let shown = rel(root, &setup_cfg);
        match ini_value(&text, "metadata", "version") {
            Some((v, _)) if v.starts_with("attr:") => {
                let setting = format!("{shown} [metadata] version = attr:");
                if let Some(found) = s.attr(&setting, &v["attr:".len()..])? {
                    return Ok(found);
                }
            }
            Some((v, _)) if v.starts_with("file:") => {
                let file = v["file:".len()..]
                    .split(',')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                let setting = format!("{shown} [metadata] version = file:");
                if let Some(found) = s.text_file(&setting, &file)? {
                    return Ok(found);
                }
            }
            Some((v, _)) if !v.is_empty() => {
                return Ok(Found {
                    version: v,
                    source: VersionSource::SetupCfg { file: shown },
                })
            }
            _ => s.looked.push(format!("{shown} [metadata] version")),
        }
    }
    let setup_py = dir.join("setup.py");
    if setup_py.is_file() {
        let text = read(&setup_py)?;
        let shown = rel(root, &setup_py);
        if let Some(c) = setup_py_version_regex().captures(&text) {
            return Ok(Found {
                version: c[2].to_string(),
                source: VersionSource::SetupPy { file: shown },
            });
        }
        s.looked.push(format!("{shown} setup(version=\"...\")"));
    }
    if let Some(name) = name {
        if let Some(found) = s.module_named(name)? {
            return Ok(found);
        }
    }
    // Last: a version.py anywhere in the package (`setup.py` reading it).
    let mut files = Vec::new();
    find_version_files(dir, 3, &mut files);
    let shallowest = files.iter().map(|p| p.components().count()).min();
    files.retain(|p| Some(p.components().count()) == shallowest);
    match files.as_slice() {
        [] => {
            s.looked
                .push(format!("{}/**/version.py, _version.py", rel(root, dir)));
            Err(PackageError::NoVersion {
                dir: dir.to_path_buf(),
                looked: s.looked.join("; "),
            })
        }
        [file] => s
            .python("its version.py", file, None)?
            .ok_or_else(|| PackageError::NoVersion {
                dir: dir.to_path_buf(),
                looked: s.looked.join("; "),
            }),
        many => Err(PackageError::AmbiguousVersion {
            dir: dir.to_path_buf(),
            found: many
                .iter()
                .map(|p| rel(root, p))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Plan rewriting the package's own version declaration to `version`,
/// keeping the file's formatting and quotes.
pub fn plan_rewrite(
    root: &Path,
    package_path: &str,
    source: &VersionSource,
    version: &str,
    edits: &mut Edits,
) -> Result<(), PackageError> {
    let set_toml = |edits: &mut Edits, table_path: &[&str]| -> Result<(), PackageError> {
        let (key, text) = read_planned(root, edits, &format!("{package_path}/pyproject.toml"))?;
        let mut doc = super::parse_toml(&root.join(&key), &text)?;
        let mut item: Option<&mut toml_edit::Item> = None;
        for (i, k) in table_path.iter().enumerate() {
            item = match (i, item) {
                (0, _) => doc.get_mut(k),
                (_, Some(parent)) => parent.as_table_like_mut().and_then(|t| t.get_mut(k)),
                (_, None) => None,
            };
        }
        if let Some(v) = item.and_then(|i| i.as_value_mut()) {
            if v.as_str() != Some(version) {
                super::set_toml_str(v, version);
                plan_write(root, edits, key, &doc.to_string());
            }
        }
        Ok(())
    };
    match source {
        VersionSource::Pyproject => set_toml(edits, &["project", "version"]),
        VersionSource::Poetry => set_toml(edits, &["tool", "poetry", "version"]),
        VersionSource::SetupCfg { file } => {
            let (key, text) = read_planned(root, edits, file)?;
            if let Some((old, range)) = ini_value(&text, "metadata", "version") {
                if old != version {
                    let mut new = text.clone();
                    new.replace_range(range, version);
                    plan_write(root, edits, key, &new);
                }
            }
            Ok(())
        }
        VersionSource::SetupPy { file } => {
            let (key, text) = read_planned(root, edits, file)?;
            let new = setup_py_version_regex().replace(&text, |c: &regex::Captures| {
                format!("version={}{version}{}", &c[1], &c[3])
            });
            if new != text {
                plan_write(root, edits, key, &new);
            }
            Ok(())
        }
        VersionSource::VersionPy { file, attr } => {
            let (key, text) = read_planned(root, edits, file)?;
            let new = assignment_regex(attr.as_deref()).replace(&text, |c: &regex::Captures| {
                format!("{}{}{version}{}", &c[1], &c[2], &c[4])
            });
            if new != text {
                plan_write(root, edits, key, &new);
            }
            Ok(())
        }
        VersionSource::TextFile { file } => {
            let (key, text) = read_planned(root, edits, file)?;
            let old = text.trim();
            if old != version {
                let new = text.replacen(old, version, 1);
                plan_write(root, edits, key, &new);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_setup_cfg_metadata() {
        let cfg =
            "[metadata]\nname = x\nversion = 1.2.3\n\n[options]\ninstall_requires =\n    y==1\n";
        let (v, r) = ini_value(cfg, "metadata", "version").unwrap();
        assert_eq!(v, "1.2.3");
        assert_eq!(&cfg[r], "1.2.3");
        assert!(ini_value(cfg, "options", "version").is_none());
        let cfg = "[metadata]\nversion: attr: x.__version__\n";
        assert_eq!(
            ini_value(cfg, "metadata", "version").unwrap().0,
            "attr: x.__version__"
        );
    }

    /// A package folder made of `files`; the version `find` reads there.
    fn found(files: &[(&str, &str)]) -> Result<(String, VersionSource), String> {
        let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
        let dir = tmp.path().join("pkg");
        for (path, text) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap_or(&dir)).map_err(|e| e.to_string())?;
            std::fs::write(&p, text).map_err(|e| e.to_string())?;
        }
        let doc = match std::fs::read_to_string(dir.join("pyproject.toml")) {
            Ok(t) => Some(
                t.parse::<toml_edit::DocumentMut>()
                    .map_err(|e| e.to_string())?,
            ),
            Err(_) => None,
        };
        find(tmp.path(), &dir, Some("my-pkg"), doc.as_ref())
            .map(|f| (f.version, f.source))
            .map_err(|e| e.to_string())
    }

    fn py(file: &str) -> VersionSource {
        VersionSource::VersionPy {
            file: format!("pkg/{file}"),
            attr: None,
        }
    }

    #[test]
    fn finds_versions_where_backends_read_them() {
        let dynamic = "[project]\nname = \"my-pkg\"\ndynamic = [\"version\"]\n";
        type Case<'a> = (Vec<(&'a str, String)>, &'a str, VersionSource);
        let cases: Vec<Case> = vec![
            (
                vec![("pyproject.toml", format!("{dynamic}[tool.setuptools.dynamic]\nversion = {{attr = \"my_pkg.about.VERSION_STR\"}}\n")),
                     ("src/my_pkg/about.py", "VERSION_STR = '1.1'\n__version__ = '9'\n".into())],
                "1.1",
                VersionSource::VersionPy { file: "pkg/src/my_pkg/about.py".into(), attr: Some("VERSION_STR".into()) },
            ),
            (
                vec![("pyproject.toml", format!("{dynamic}[tool.setuptools.dynamic]\nversion = {{file = [\"VERSION\"]}}\n")),
                     ("VERSION", "1.2\n".into())],
                "1.2",
                VersionSource::TextFile { file: "pkg/VERSION".into() },
            ),
            (
                vec![("pyproject.toml", format!("{dynamic}[tool.pdm.version]\nsource = \"file\"\npath = \"my_pkg/__about__.py\"\n")),
                     ("my_pkg/__about__.py", "__version__ = \"1.3\"\n".into())],
                "1.3",
                py("my_pkg/__about__.py"),
            ),
            (
                vec![("pyproject.toml", dynamic.into()), ("my_pkg/_version.py", "__version__ = '1.4'\n".into())],
                "1.4",
                py("my_pkg/_version.py"),
            ),
            (
                vec![("pyproject.toml", dynamic.into()), ("src/my_pkg/version/__init__.py", "__version__ = '1.5'\n".into())],
                "1.5",
                py("src/my_pkg/version/__init__.py"),
            ),
            (
                vec![("pyproject.toml", dynamic.into()), ("my_pkg/__init__.py", "\"\"\"Doc.\"\"\"\n__version__: str = '1.6'\n".into())],
                "1.6",
                py("my_pkg/__init__.py"),
            ),
            (
                vec![("setup.cfg", "[metadata]\nname = my-pkg\nversion = file: VERSION.txt\n".into()), ("VERSION.txt", "1.7".into())],
                "1.7",
                VersionSource::TextFile { file: "pkg/VERSION.txt".into() },
            ),
            (
                vec![("setup.cfg", "[metadata]\nversion = attr: my_pkg.__version__\n".into()), ("my_pkg/__init__.py", "__version__ = '1.8'\n".into())],
                "1.8",
                VersionSource::VersionPy { file: "pkg/my_pkg/__init__.py".into(), attr: Some("__version__".into()) },
            ),
            (
                vec![("setup.py", "setup(\n    name='my-pkg',\n    version='1.9',\n    python_version='3',\n)\n".into())],
                "1.9",
                VersionSource::SetupPy { file: "pkg/setup.py".into() },
            ),
        ];
        for (files, version, source) in cases {
            let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
            assert_eq!(
                found(&files),
                Ok((version.to_string(), source)),
                "{files:?}"
            );
        }
    }

    #[test]
    fn rewrites_each_source_in_place() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let files = [
            (
                "p/setup.cfg",
                "[metadata]\nname = p\nversion = 1.0 \n\n[options]\nversion = 5\n",
            ),
            ("p/setup.py", "setup(name='p', version=\"1.0\")\n"),
            ("p/VERSION", "1.0\n"),
            ("p/v.py", "VERSION = '1.0'  # kept\n"),
            (
                "p/pyproject.toml",
                "[tool.poetry]\nversion = '1.0' # kept\n",
            ),
        ];
        for (p, t) in files {
            std::fs::create_dir_all(root.join("p")).unwrap();
            std::fs::write(root.join(p), t).unwrap();
        }
        let mut edits = Edits::new();
        for source in [
            VersionSource::SetupCfg {
                file: "p/setup.cfg".into(),
            },
            VersionSource::SetupPy {
                file: "p/setup.py".into(),
            },
            VersionSource::TextFile {
                file: "p/VERSION".into(),
            },
            VersionSource::VersionPy {
                file: "p/v.py".into(),
                attr: None,
            },
            VersionSource::Poetry,
        ] {
            plan_rewrite(root, "p", &source, "2.0rc1", &mut edits).unwrap();
        }
        assert_eq!(
            edits["p/setup.cfg"],
            "[metadata]\nname = p\nversion = 2.0rc1 \n\n[options]\nversion = 5\n"
        );
        assert_eq!(edits["p/setup.py"], "setup(name='p', version=\"2.0rc1\")\n");
        assert_eq!(edits["p/VERSION"], "2.0rc1\n");
        assert_eq!(edits["p/v.py"], "VERSION = '2.0rc1'  # kept\n");
        assert_eq!(
            edits["p/pyproject.toml"],
            "[tool.poetry]\nversion = '2.0rc1' # kept\n"
        );
    }

    #[test]
    fn names_every_place_looked_at() {
        let err = found(&[("pyproject.toml", "[project]\nname = \"my-pkg\"\ndynamic = [\"version\"]\n[tool.hatch.version]\npath = \"src/x.py\"\n")])
            .unwrap_err();
        for place in [
            "[project] version",
            "pkg/src/x.py",
            "[tool.poetry] version",
            "version.py",
        ] {
            assert!(err.contains(place), "{place}: {err}");
        }
    }

    #[test]
    fn assignments() {
        let re = assignment_regex(None);
        for ok in [
            "__version__ = \"1.0\"",
            "__version__: str = '1.0'",
            "VERSION = \"1.0\"",
        ] {
            assert_eq!(&re.captures(ok).unwrap()[3], "1.0", "{ok}");
        }
        assert!(re.captures("    __version__ = '1'").is_none());
        let re = assignment_regex(Some("__v"));
        assert!(re.captures("__version__ = '1'").is_none());
        assert_eq!(&re.captures("__v = '2'").unwrap()[3], "2");
    }
}
