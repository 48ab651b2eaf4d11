//! Shared isolated build environments: one per distinct set of build
//! requirements and interpreter, made once and reused by every package and
//! every release that needs it.
//!
//! `python -m build` makes a fresh virtualenv per package and per
//! distribution and installs `build-system.requires` into each: for a
//! monorepo whose packages all ask for `setuptools>=61`, that is most of a
//! release. The packages of a monorepo nearly always ask for the same thing,
//! so an environment is keyed by a hash of the normalised requirements, the
//! interpreter and [`FORMAT`], kept under the user cache folder
//! (`$RELEASE_CACHE_DIR`, else `$XDG_CACHE_HOME/release`, else
//! `~/.cache/release`), and the warm PEP 517 workers run inside it. Its
//! contents are what `python -m build` installs: exactly the requirements,
//! no system site-packages, not the setuptools `venv` seeds before Python 3.12.
//! A backend that asks for more (`get_requires_for_build_*`) gets an
//! environment of its own, keyed by the extended set.
//!
//! Two releases may want the same environment at once: it is made under an
//! exclusive lock file beside it, in its own folder (console scripts name
//! their interpreter by absolute path, so it is never made elsewhere and
//! moved), with its marker written last. A folder without a valid marker is
//! never used, and is made again. Made with `uv` when it is found (on `PATH`, or next
//! to the interpreter, as in a venv that has it), else `venv` and `pip`.
//! When the index does not answer (`offline.rs`), it is made offline from
//! the tool's cache, and one past its age is used as it is rather than none.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use thiserror::Error;

/// Bumped when the layout or contents of an environment change, so older
/// environments are not reused.
pub const FORMAT: u32 = 2;
const MARKER: &str = "release-env.json";
const REQUIREMENTS: &str = "release-requirements.txt";
/// Past this age an environment is made again, so that unpinned requirements
/// (`setuptools>=61`) pick up new releases as `python -m build` would.
pub const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Environments nobody used for this long are removed when another is made.
const UNUSED_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// The requirements `python -m build` uses without a `[build-system]` table.
const DEFAULT_REQUIRES: &str = "setuptools >= 40.8.0";

#[derive(Debug, Error)]
pub enum EnvError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed (exit {code}); its output ends with:\n{tail}")]
    Failed {
        command: String,
        code: String,
        tail: String,
    },
    /// Made offline, from the tool's cache, because the index did not
    /// answer, and that failed: `python -m build` would need the index too.
    /// The whole message, the same for every package that needs it.
    #[error("{0}")]
    Offline(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EnvError + '_ {
    move |source| EnvError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The cache folder: `$RELEASE_CACHE_DIR`, else `$XDG_CACHE_HOME/release`,
/// else `~/.cache/release`; `None` without any of them.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("RELEASE_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("release")))
        .or_else(|| var("HOME").map(|h| h.join(".cache").join("release")))
        .filter(|p| p.is_absolute())
}

/// What a package's `pyproject.toml` asks of its build environment.
#[derive(Debug, PartialEq, Eq)]
pub enum Requires {
    /// `build-system.requires` (or `python -m build`'s default without a table).
    List(Vec<String>),
    /// An in-tree backend (`backend-path`): left to `python -m build`.
    InTree,
    /// Not something to share an environment for (unreadable, no `requires`
    /// in the table): `python -m build` gives the verdict, in its words.
    Unusable(String),
}

/// `build-system.requires` of the package in `src`, read as `python -m
/// build` reads it: no `pyproject.toml` or no `[build-system]` means
/// setuptools' legacy backend and `setuptools >= 40.8.0`.
pub fn build_requires(src: &Path) -> Requires {
    let path = src.join("pyproject.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => requires_in(Some(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => requires_in(None),
        Err(e) => Requires::Unusable(e.to_string()),
    }
}

/// [`build_requires`] of a `pyproject.toml`'s text (`None`: there is none).
fn requires_in(pyproject: Option<&str>) -> Requires {
    let Some(text) = pyproject else {
        return Requires::List(vec![DEFAULT_REQUIRES.into()]);
    };
    let doc: toml::Table = match toml::from_str(text) {
        Ok(d) => d,
        Err(e) => return Requires::Unusable(e.to_string()),
    };
    let Some(system) = doc.get("build-system") else {
        return Requires::List(vec![DEFAULT_REQUIRES.into()]);
    };
    if system.get("backend-path").is_some() {
        return Requires::InTree;
    }
    match system.get("requires").and_then(|r| r.as_array()) {
        Some(list) => list
            .iter()
            .map(|r| r.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .map_or_else(
                || Requires::Unusable("`requires` is not a list of strings".into()),
                Requires::List,
            ),
        None => Requires::Unusable("[build-system] has no `requires` list".into()),
    }
}

/// Requirements in one spelling (PEP 508 normalised where they parse),
/// sorted, without repeats: the same set always has the same key.
pub fn normalize(reqs: &[String]) -> Vec<String> {
    let mut out: Vec<String> = reqs
        .iter()
        .map(|r| {
            pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(r.trim())
                .map(|p| p.to_string())
                .unwrap_or_else(|_| r.trim().to_string())
        })
        .filter(|r| !r.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// One ready environment.
#[derive(Debug)]
pub struct Env {
    pub dir: PathBuf,
    /// Its interpreter: what the warm workers run.
    pub python: PathBuf,
    /// The normalised requirements it was made for.
    pub requirements: Vec<String>,
    /// How this process got it, for the build step's report.
    pub how: String,
}

impl Env {
    /// `PATH` with the environment's scripts first, as `python -m build` runs
    /// a backend (a backend may run tools it installed).
    pub fn path_var(&self) -> std::ffi::OsString {
        let bin = self.dir.join("bin");
        let rest = std::env::var_os("PATH").unwrap_or_default();
        let mut all = vec![bin];
        all.extend(std::env::split_paths(&rest));
        std::env::join_paths(all).unwrap_or(rest)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Marker {
    format: u32,
    python: String,
    requirements: Vec<String>,
    /// Seconds since the epoch.
    created: u64,
    tool: String,
}

/// How environments are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tool {
    Uv(PathBuf),
    Pip,
}

impl Tool {
    /// As messages name it.
    pub fn name(&self) -> &'static str {
        match self {
            Tool::Uv(_) => "uv",
            Tool::Pip => "pip",
        }
    }
}

/// `uv` on `PATH`, else next to `python` (a venv that has it).
pub fn find_uv(python: &str) -> Option<PathBuf> {
    let is_exe = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join("uv"))
        .find(|p| is_exe(p));
    on_path.or_else(|| {
        let beside = Path::new(python).parent()?.join("uv");
        (python.contains('/') && is_exe(&beside)).then_some(beside)
    })
}

type Slot = Arc<OnceLock<Result<Arc<Env>, Arc<EnvError>>>>;

/// The environments of one process: each made (or found) once, whatever
/// the number of packages and threads asking.
pub struct Envs {
    root: PathBuf,
    python: String,
    tool: Tool,
    identity: OnceLock<Result<String, Arc<EnvError>>>,
    slots: Mutex<HashMap<String, Slot>>,
}

impl Envs {
    /// Environments under `cache/build-envs` for the interpreter `python`,
    /// made with uv if it is found.
    pub fn new(cache: &Path, python: &str) -> Envs {
        let tool = find_uv(python).map_or(Tool::Pip, Tool::Uv);
        Envs::with_tool(cache, python, tool)
    }

    pub fn with_tool(cache: &Path, python: &str, tool: Tool) -> Envs {
        Envs {
            root: cache.join("build-envs"),
            python: python.to_string(),
            tool,
            identity: OnceLock::new(),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// How this process makes environments.
    pub fn tool(&self) -> &Tool {
        &self.tool
    }

    /// The folder the environments are in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What the cache holds for `requires` (nothing is made or marked used).
    pub fn held(&self, requires: &[String]) -> Result<Held, Arc<EnvError>> {
        let reqs = normalize(requires);
        let dir = self.root.join(key(&self.identity()?, &reqs));
        Ok(match found(&dir, &reqs) {
            Some((_, true)) => Held::Ready,
            Some((_, false)) => Held::Stale,
            None => Held::Missing,
        })
    }

    /// The interpreter as the key sees it: implementation, full version, and
    /// the installation it belongs to (two venvs of one Python share).
    fn identity(&self) -> Result<String, Arc<EnvError>> {
        self.identity
            .get_or_init(|| {
                let mut cmd = Command::new(&self.python);
                cmd.args([
                    "-c",
                    "import platform, sys; print(platform.python_implementation(), platform.python_version(), sys.base_prefix)",
                ]);
                run(cmd)
                    .map(|out| out.trim().to_string())
                    .map_err(Arc::new)
            })
            .clone()
    }

    /// The environment for `requires`, made if there is none yet.
    pub fn get(&self, requires: &[String]) -> Result<Arc<Env>, Arc<EnvError>> {
        let reqs = normalize(requires);
        let identity = self.identity()?;
        let key = key(&identity, &reqs);
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.entry(key.clone()).or_default().clone()
        };
        slot.get_or_init(|| {
            self.find_or_make(&key, &identity, &reqs)
                .map(Arc::new)
                .map_err(Arc::new)
        })
        .clone()
    }

    fn find_or_make(&self, key: &str, identity: &str, reqs: &[String]) -> Result<Env, EnvError> {
        let dir = self.root.join(key);
        let started = Instant::now();
        if let Some(env) = ready(&dir, reqs) {
            return Ok(env);
        }
        std::fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let lock_path = self.root.join(format!("{key}.lock"));
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        let shown = reqs.join(", ");
        // Another release may be making it: wait for it, then use its work.
        let waiting = super::waiting::track(format!("the build environment for {shown}"));
        fs2::FileExt::lock_exclusive(&lock).map_err(io(&lock_path))?;
        if let Some(mut env) = ready(&dir, reqs) {
            env.how = format!("made by another release meanwhile, {}", dir.display());
            return Ok(env);
        }
        // Made from the index when it answers; when it does not, from the
        // tool's cache (an air-gapped runner, a proxy that is down), and an
        // environment past its age is better than none.
        let down = super::offline::unreachable(&self.tool, &self.python, reqs);
        if let Some(down) = &down {
            if let Some((mut env, _)) = found(&dir, reqs) {
                mark_used(&dir);
                env.how = format!(
                    "reused from {} past its {} days ({down})",
                    dir.display(),
                    MAX_AGE.as_secs() / 86400
                );
                return Ok(env);
            }
        }
        if dir.exists() {
            // Too old, broken, or left half-made by a killed run: out of the
            // way first, then gone.
            let old = self
                .root
                .join(format!(".old-{key}-{:08x}", fastrand::u32(..)));
            std::fs::rename(&dir, &old).map_err(io(&dir))?;
            let _ = std::fs::remove_dir_all(&old);
        }
        // Made where it stays, under the lock: a venv's console scripts name
        // their interpreter by absolute path in their shebang, so one made
        // elsewhere and renamed would point at a folder that is gone (a
        // backend running `cmake` or `ninja` from its requirements would
        // fail). The marker, written last, is what makes it usable.
        let tool = match self.make(&dir, reqs, down.is_some()) {
            Ok(tool) => tool,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                // The tool's own words, not its command line.
                let said = match &e {
                    EnvError::Failed { tail, .. } => tail
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .collect::<Vec<_>>()
                        .join(" "),
                    other => other.to_string(),
                };
                return Err(match down {
                    Some(down) => EnvError::Offline(format!(
                        "cannot make the build environment for {}: {down}, and {} cannot install them from its cache ({said}). {}",
                        reqs.join(", "),
                        self.tool.name(),
                        super::offline::ways_on(&self.tool, Some(&self.root)),
                    )),
                    None => e,
                });
            }
        };
        drop(waiting);
        let marker = Marker {
            format: FORMAT,
            python: identity.to_string(),
            requirements: reqs.to_vec(),
            created: now_secs(),
            tool: tool.clone(),
        };
        let marker_path = dir.join(MARKER);
        let bytes = serde_json::to_vec_pretty(&marker)
            .map_err(|e| io(&marker_path)(std::io::Error::other(e)))?;
        std::fs::write(&marker_path, bytes).map_err(io(&marker_path))?;
        drop(lock);
        self.prune(key);
        Ok(Env {
            python: dir.join("bin").join("python"),
            requirements: reqs.to_vec(),
            how: format!(
                "made with {tool}{} in {:.1} s, cached in {}",
                match &down {
                    Some(down) => format!(" offline from its cache ({down})"),
                    None => String::new(),
                },
                started.elapsed().as_secs_f64(),
                dir.display()
            ),
            dir,
        })
    }

    /// Make a venv in the empty folder `dir` holding exactly `reqs`; the
    /// tool used. `offline`: from the tool's cache (and any local
    /// find-links), never the index.
    fn make(&self, dir: &Path, reqs: &[String], offline: bool) -> Result<String, EnvError> {
        let python = dir.join("bin").join("python");
        // A file, not arguments: pip honours markers only in a file. Written
        // once the venv is made (uv wants an empty folder).
        let req_file = dir.join(REQUIREMENTS);
        let write_reqs =
            || std::fs::write(&req_file, reqs.join("\n") + "\n").map_err(io(&req_file));
        match &self.tool {
            Tool::Uv(uv) => {
                let mut venv = Command::new(uv);
                venv.args(["venv", "--quiet", "--python", &self.python])
                    .arg(dir)
                    .env_remove("VIRTUAL_ENV");
                run(venv)?;
                write_reqs()?;
                let mut install = Command::new(uv);
                install
                    .args(["pip", "install", "--quiet", "--python"])
                    .arg(&python)
                    .arg("-r")
                    .arg(&req_file)
                    .env_remove("VIRTUAL_ENV");
                if offline {
                    install.arg("--offline");
                }
                run(install)?;
                Ok("uv".into())
            }
            Tool::Pip => {
                let mut venv = Command::new(&self.python);
                venv.args(["-m", "venv"]).arg(dir);
                run(venv)?;
                write_reqs()?;
                let pip = |command: &str| {
                    let mut cmd = Command::new(&python);
                    cmd.args(["-Im", "pip", command]).args([
                        "--quiet",
                        "--disable-pip-version-check",
                        "--no-input",
                    ]);
                    cmd
                };
                // Before Python 3.12 venv seeds setuptools: not asked for, so
                // not there (as `python -m build` does).
                let mut uninstall = pip("uninstall");
                uninstall.args(["-y", "setuptools"]);
                run(uninstall)?;
                let mut install = pip("install");
                install
                    .args(["--no-warn-script-location", "-r"])
                    .arg(&req_file);
                if offline {
                    install.arg("--no-index");
                }
                run(install)?;
                Ok("venv and pip".into())
            }
        }
    }

    /// Remove what this tool left here and nobody needs: environments unused
    /// for [`UNUSED_FOR`] (skipping any being made), and the temporary
    /// folders of a run that was killed. Only names this module makes.
    fn prune(&self, keep: &str) {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        let age = |p: &Path| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .unwrap_or_default()
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".new-") || name.starts_with(".old-") {
                if age(&path) > Duration::from_secs(24 * 3600) {
                    let _ = std::fs::remove_dir_all(&path);
                }
                continue;
            }
            let marker = path.join(MARKER);
            if name == keep || !marker.is_file() || age(&marker) < UNUSED_FOR {
                continue;
            }
            let lock_path = self.root.join(format!("{name}.lock"));
            let Ok(lock) = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
            else {
                continue;
            };
            if fs2::FileExt::try_lock_exclusive(&lock).is_ok() {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }
}

/// The cache key: a hash of the format, the interpreter and the requirements.
fn key(identity: &str, reqs: &[String]) -> String {
    let text = format!(
        "release build env {FORMAT}\n{identity}\n{}",
        reqs.join("\n")
    );
    crate::ops::sha256_bytes(text.as_bytes())[..24].to_string()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What the cache holds for one set of requirements.
#[derive(Debug)]
pub enum Held {
    /// Complete and young enough: used as it is.
    Ready,
    /// Complete, but past [`MAX_AGE`]: made again when the index answers,
    /// used as it is when it does not.
    Stale,
    /// Nothing usable: it must be made.
    Missing,
}

/// The environment in `dir` if it is complete, of this format, made for
/// `reqs` and has its interpreter; with whether it is young enough.
fn found(dir: &Path, reqs: &[String]) -> Option<(Env, bool)> {
    let marker_path = dir.join(MARKER);
    let marker: Marker = serde_json::from_slice(&std::fs::read(&marker_path).ok()?).ok()?;
    let python = dir.join("bin").join("python");
    let young = now_secs().saturating_sub(marker.created) < MAX_AGE.as_secs();
    if marker.format != FORMAT || marker.requirements != reqs || !python.exists() {
        return None;
    }
    let env = Env {
        dir: dir.to_path_buf(),
        python,
        requirements: marker.requirements,
        how: format!("reused from {}", dir.display()),
    };
    Some((env, young))
}

/// Its marker's modification time says when it was last used (for pruning).
fn mark_used(dir: &Path) {
    if let Ok(f) = std::fs::File::options().write(true).open(dir.join(MARKER)) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// The environment in `dir` if it is complete and young enough; marked as used.
fn ready(dir: &Path, reqs: &[String]) -> Option<Env> {
    let (env, young) = found(dir, reqs)?;
    young.then(|| {
        mark_used(dir);
        env
    })
}

/// Run `cmd` to its end, its stdout on success.
fn run(mut cmd: Command) -> Result<String, EnvError> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| EnvError::Spawn {
            command: shown.clone(),
            source,
        })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..]
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    Err(EnvError::Failed {
        command: shown,
        code: out
            .status
            .code()
            .map_or_else(|| "by signal".into(), |c| c.to_string()),
        tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_are_read_as_build_reads_them() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        assert_eq!(
            build_requires(d),
            Requires::List(vec![DEFAULT_REQUIRES.into()])
        );
        std::fs::write(d.join("pyproject.toml"), "[project]\nname = \"x\"\n").unwrap();
        assert_eq!(
            build_requires(d),
            Requires::List(vec![DEFAULT_REQUIRES.into()])
        );
        std::fs::write(
            d.join("pyproject.toml"),
            "[build-system]\nrequires = [\"setuptools>=61\", \"wheel\"]\n",
        )
        .unwrap();
        assert_eq!(
            build_requires(d),
            Requires::List(vec!["setuptools>=61".into(), "wheel".into()])
        );
        std::fs::write(
            d.join("pyproject.toml"),
            "[build-system]\nrequires = []\nbackend-path = [\".\"]\n",
        )
        .unwrap();
        assert_eq!(build_requires(d), Requires::InTree);
        std::fs::write(d.join("pyproject.toml"), "[build-system]\n").unwrap();
        assert!(matches!(build_requires(d), Requires::Unusable(_)));
        std::fs::write(d.join("pyproject.toml"), "[[[").unwrap();
        assert!(matches!(build_requires(d), Requires::Unusable(_)));
    }

    #[test]
    fn one_set_one_spelling_one_key() {
        let a = normalize(&[
            "wheel".into(),
            "setuptools >= 61".into(),
            "Setuptools>=61".into(),
        ]);
        assert_eq!(a, vec!["setuptools>=61".to_string(), "wheel".to_string()]);
        let b = normalize(&["wheel ".into(), "setuptools>=61".into()]);
        assert_eq!(
            key("CPython 3.11.7 /usr", &a),
            key("CPython 3.11.7 /usr", &b)
        );
        assert_ne!(
            key("CPython 3.12.1 /usr", &a),
            key("CPython 3.11.7 /usr", &a)
        );
        assert_ne!(
            key("CPython 3.11.7 /usr", &a),
            key("CPython 3.11.7 /usr", &a[..1])
        );
    }
}
