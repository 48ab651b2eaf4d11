//! Building sdists and wheels: the real `python -m build`, or warm workers.
//!
//! Builds run in a clean export of the release commit, never in the working
//! tree: a build leaves `build/` and `*.egg-info` behind, which the next
//! release's preflight would rightly refuse.
//!
//! Most of a small package's build time is interpreter start-up and backend
//! import, paid twice per package by `python -m build`, plus, with isolation,
//! a fresh virtualenv per distribution with the build requirements installed
//! into it. [`Builder`] keeps one Python worker per build job and interpreter
//! alive instead (`python/build_worker.py`) and calls the same PEP 517 hooks
//! through it: without isolation in the configured interpreter, with
//! isolation in a shared environment made once per set of build requirements
//! (`buildenv.rs`). An in-tree backend, an environment that cannot be made,
//! or a worker that declines or fails leaves the package to `python -m build`;
//! but not an environment that cannot be made because the index does not
//! answer: `python -m build` would need it too (`offline.rs`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use thiserror::Error;

use super::buildenv::{self, Env, Envs, Requires};
use crate::config::Config;

#[derive(Debug, Error)]
pub enum BuildError {
    #[error("the build frontend does not run: `{python} -m build` failed ({detail}); install it with `{python} -m pip install build`, or set [build] python / $PYTHON")]
    Frontend { python: String, detail: String },
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("{what} failed for {package} (exit {code}); its output ends with:\n{tail}")]
    Failed {
        what: String,
        package: String,
        code: String,
        tail: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The shared environment cannot be made and the index does not answer:
    /// no package that needs it is handed to `python -m build`, which would
    /// retry the index for each and fail alike. The same text for each.
    #[error("{0}")]
    Environment(String),
}

fn tail(out: &std::process::Output) -> String {
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return "    (it printed nothing)".into();
    }
    let start = lines.len().saturating_sub(30);
    lines[start..]
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Check the interpreter runs and has the `build` frontend.
pub fn check_frontend(config: &Config) -> Result<(), BuildError> {
    let python = config.python();
    let out = Command::new(&python)
        .args(["-c", "import build"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BuildError::Frontend {
            python: python.clone(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(BuildError::Frontend {
            python,
            detail: String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("no output")
                .to_string(),
        });
    }
    Ok(())
}

/// Run `cmd`; on success, its output (stdout then stderr) for the warnings.
fn run(mut cmd: Command, what: &str, package: &str) -> Result<String, BuildError> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| BuildError::Spawn {
            command: shown,
            source,
        })?;
    if out.status.success() {
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        return Ok(text);
    }
    Err(BuildError::Failed {
        what: what.to_string(),
        package: package.to_string(),
        code: out
            .status
            .code()
            .map(|c| c.to_string())
            .unwrap_or_else(|| "by signal".into()),
        tail: tail(&out),
    })
}

/// Run a package's pre-build command (`[package.<name>] prebuild`) in its folder.
pub fn prebuild(command: &str, dir: &Path, package: &str) -> Result<(), BuildError> {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", command]).current_dir(dir);
    run(cmd, &format!("prebuild `{command}`"), package).map(drop)
}

/// The lines of a build's output that warn of something a maintainer should
/// see (a `MANIFEST.in` pattern matching nothing: a generated web UI missing
/// from the export), without the noise of a normal build.
///
/// Not a package's fault, so not shown: setuptools' "byte-compiling is
/// disabled, skipping" (two per package). `PYTHONDONTWRITEBYTECODE`, which
/// CI images and sandboxes set and the builds inherit, keeps `__pycache__`
/// out of the export, so no `.pyc` can reach an sdist; setuptools then says
/// it skips a byte-compilation that a wheel build never does anyway.
pub fn warnings(log: &str) -> Vec<String> {
    let mut out: Vec<String> = log
        .lines()
        .map(str::trim)
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            (lower.starts_with("warning")
                || lower.contains("no files found matching")
                || lower.contains("no previously-included files"))
                && !lower.contains("byte-compiling is disabled")
        })
        .map(str::to_string)
        .collect();
    out.dedup();
    out
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError {
    let path = path.to_path_buf();
    move |source| BuildError::Io { path, source }
}

fn fresh_dir(dir: &Path) -> Result<(), BuildError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::create_dir_all(dir).map_err(io(dir))
}

fn files_in(out: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(out)
        .map_err(io(out))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// `python -m build --sdist --wheel --outdir OUT SRC`; returns the files made.
pub fn build(
    config: &Config,
    src: &Path,
    out: &Path,
    package: &str,
) -> Result<Vec<PathBuf>, BuildError> {
    build_logged(config, src, out, package, BOTH).map(|(files, _)| files)
}

const BOTH: &[&str] = &["--sdist", "--wheel"];

/// As [`build`], for the distributions named (`--sdist`, `--wheel`), with
/// the build's output.
fn build_logged(
    config: &Config,
    src: &Path,
    out: &Path,
    package: &str,
    dists: &[&str],
) -> Result<(Vec<PathBuf>, String), BuildError> {
    fresh_dir(out)?;
    let mut cmd = Command::new(config.python());
    cmd.args(["-m", "build"])
        .args(dists)
        .arg("--outdir")
        .arg(out)
        .current_dir(src);
    if !config.build.isolation {
        cmd.arg("--no-isolation");
        // The interpreter's environment as if activated: a backend that runs
        // its own command (maturin runs `maturin`) finds it there, as it
        // does in the environment an isolated build makes.
        if let Some(bin) = Path::new(&config.python())
            .parent()
            .filter(|b| b.is_absolute())
        {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let dirs = std::iter::once(bin.to_path_buf()).chain(std::env::split_paths(&path));
            if let Ok(joined) = std::env::join_paths(dirs) {
                cmd.env("PATH", joined);
            }
        }
    }
    cmd.arg(src);
    let log = run(cmd, "python -m build", package)?;
    Ok((files_in(out)?, log))
}

const WORKER: &str = include_str!("python/build_worker.py");

/// One long-lived Python process answering build requests.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

#[derive(serde::Deserialize)]
struct Reply {
    ok: bool,
    #[serde(default)]
    fallback: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    log: String,
    /// What the backend asks for that this environment lacks.
    #[serde(default)]
    needs: Option<Vec<String>>,
}

impl Worker {
    /// A worker on `python`; inside `env` it runs as `python -m build` runs
    /// a backend there: the environment's scripts first on `PATH`, no
    /// `PYTHONPATH` from outside.
    fn spawn(python: &Path, env: Option<&Env>) -> std::io::Result<Worker> {
        let mut cmd = Command::new(python);
        cmd.args(["-u", "-c", WORKER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(env) = env {
            cmd.env("PATH", env.path_var()).env_remove("PYTHONPATH");
        }
        let mut child = cmd.spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("worker has no stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("worker has no stdout"))?;
        Ok(Worker {
            child,
            stdin,
            stdout: BufReader::new(stdout),
        })
    }

    fn request(&mut self, src: &Path, out: &Path, check: bool) -> Result<Reply, String> {
        let req = serde_json::json!({ "src": src, "outdir": out, "check": check });
        writeln!(self.stdin, "{req}")
            .and_then(|_| self.stdin.flush())
            .map_err(|e| format!("cannot talk to the build worker: {e}"))?;
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err("the build worker exited".into()),
            Ok(_) => serde_json::from_str(&line)
                .map_err(|e| format!("bad answer from the build worker: {e}")),
            Err(e) => Err(format!("cannot read the build worker: {e}")),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a warm worker made of a request.
enum Warm {
    Built(Vec<PathBuf>),
    /// The backend needs these too, and the environment lacks some.
    Needs(Vec<String>),
    /// Declined or failed: `python -m build` gives the verdict.
    No,
}

/// Builds packages, through warm workers where it can.
pub struct Builder<'a> {
    config: &'a Config,
    /// Warm workers on (`[build] warm`, default true).
    warm: bool,
    /// Idle workers, by the interpreter they run.
    idle: Mutex<HashMap<PathBuf, Vec<Worker>>>,
    /// Shared isolated environments, when isolation is on.
    envs: Option<Envs>,
    warm_builds: AtomicUsize,
    cold_builds: AtomicUsize,
    /// (package, line) for every warning a build printed.
    warned: Mutex<Vec<(String, String)>>,
    /// One line per build environment used, or that could not be made.
    env_notes: Mutex<Vec<String>>,
}

impl<'a> Builder<'a> {
    /// A builder whose isolated environments live in the user cache folder.
    pub fn new(config: &'a Config) -> Self {
        Self::with_cache(config, buildenv::cache_dir().as_deref())
    }

    /// A builder whose isolated environments live in `cache` (none: every
    /// isolated build is a `python -m build`).
    pub fn with_cache(config: &'a Config, cache: Option<&Path>) -> Self {
        let python = config.python();
        let envs = match config.build.isolation {
            true => cache.map(|c| Envs::new(c, &python)),
            false => None,
        };
        Self::with_envs(config, envs)
    }

    /// A builder with these environments (tests choose how they are made).
    pub fn with_envs(config: &'a Config, envs: Option<Envs>) -> Self {
        let warm = config.build.warm.unwrap_or(true) && (!config.build.isolation || envs.is_some());
        Builder {
            config,
            warm,
            idle: Mutex::new(HashMap::new()),
            envs,
            warm_builds: AtomicUsize::new(0),
            cold_builds: AtomicUsize::new(0),
            warned: Mutex::new(Vec::new()),
            env_notes: Mutex::new(Vec::new()),
        }
    }

    /// How many packages were built by warm workers and by `python -m build`.
    pub fn counts(&self) -> (usize, usize) {
        (
            self.warm_builds.load(Ordering::SeqCst),
            self.cold_builds.load(Ordering::SeqCst),
        )
    }

    /// Every warning the builds printed so far, as (package, line).
    pub fn warnings(&self) -> Vec<(String, String)> {
        self.warned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// One line per isolated build environment used (reused or made, and
    /// where), or that could not be made.
    pub fn env_notes(&self) -> Vec<String> {
        self.env_notes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn keep_warnings(&self, package: &str, log: &str) {
        let found = warnings(log);
        if !found.is_empty() {
            let mut w = self.warned.lock().unwrap_or_else(|p| p.into_inner());
            w.extend(found.into_iter().map(|l| (package.to_string(), l)));
        }
    }

    fn note(&self, line: String) {
        let mut notes = self.env_notes.lock().unwrap_or_else(|p| p.into_inner());
        if !notes.contains(&line) {
            notes.push(line);
        }
    }

    /// Build `src` into `out` (emptied first); returns the files made.
    pub fn build(&self, src: &Path, out: &Path, package: &str) -> Result<Vec<PathBuf>, BuildError> {
        if self.warm {
            fresh_dir(out)?;
            if let Some(files) = self.warm_build(src, out, package)? {
                return Ok(files);
            }
        }
        self.cold_builds.fetch_add(1, Ordering::SeqCst);
        let (files, log) = build_logged(self.config, src, out, package, BOTH)?;
        self.keep_warnings(package, &log);
        Ok(files)
    }

    /// Build only the sdist of `src` into `out` (emptied first), for a
    /// package whose wheels are prebuilt: building its wheel here would
    /// compile it once more for nothing.
    pub fn build_sdist(
        &self,
        src: &Path,
        out: &Path,
        package: &str,
    ) -> Result<Vec<PathBuf>, BuildError> {
        self.cold_builds.fetch_add(1, Ordering::SeqCst);
        let (files, log) = build_logged(self.config, src, out, package, &["--sdist"])?;
        self.keep_warnings(package, &log);
        Ok(files)
    }

    /// A warm build: in the interpreter itself without isolation, else in
    /// the shared environment for the package's build requirements (and, if
    /// its backend asks for more, in one for the extended set). `None` when
    /// it is left to `python -m build`.
    fn warm_build(
        &self,
        src: &Path,
        out: &Path,
        package: &str,
    ) -> Result<Option<Vec<PathBuf>>, BuildError> {
        let Some(envs) = &self.envs else {
            let python = PathBuf::from(self.config.python());
            return self
                .in_worker(&python, None, false, src, out, package)
                .map(Warm::files);
        };
        let mut requires = match buildenv::build_requires(src) {
            Requires::List(r) => r,
            Requires::InTree | Requires::Unusable(_) => return Ok(None),
        };
        let Some(env) = self.env(envs, &requires)? else {
            return Ok(None);
        };
        match self.in_worker(&env.python, Some(&env), true, src, out, package)? {
            Warm::Needs(extra) => {
                requires.extend(extra);
                let Some(wider) = self.env(envs, &requires)? else {
                    return Ok(None);
                };
                fresh_dir(out)?;
                // Made for the extended set: no second check, so a backend
                // that cannot tell what is installed cannot loop.
                self.in_worker(&wider.python, Some(&wider), false, src, out, package)
                    .map(Warm::files)
            }
            other => Ok(other.files()),
        }
    }

    /// The shared environment for `requires`, noted once; `None` (noted) if
    /// it cannot be made, an error if it cannot because the index does not
    /// answer (`python -m build` could not do better).
    fn env(&self, envs: &Envs, requires: &[String]) -> Result<Option<Arc<Env>>, BuildError> {
        let reqs = buildenv::normalize(requires).join(", ");
        match envs.get(requires) {
            Ok(env) => {
                self.note(format!("build environment for {reqs}: {}", env.how));
                Ok(Some(env))
            }
            Err(e) if matches!(*e, buildenv::EnvError::Offline(_)) => {
                Err(BuildError::Environment(e.to_string()))
            }
            Err(e) => {
                self.note(format!(
                    "cannot make the build environment for {reqs} ({e}); those packages are built with `python -m build`"
                ));
                Ok(None)
            }
        }
    }

    /// Ask a warm worker on `python` (in `env`, if any) to build; with
    /// `check`, the backend's extra requirements are checked first.
    fn in_worker(
        &self,
        python: &Path,
        env: Option<&Env>,
        check: bool,
        src: &Path,
        out: &Path,
        package: &str,
    ) -> Result<Warm, BuildError> {
        let idle_worker = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.get_mut(python).and_then(Vec::pop)
        };
        let worker = match idle_worker {
            Some(w) => Some(w),
            None => Worker::spawn(python, env).ok(),
        };
        let Some(mut worker) = worker else {
            return Ok(Warm::No);
        };
        let reply = match worker.request(src, out, check) {
            Ok(reply) => reply,
            Err(_) => return Ok(Warm::No),
        };
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(python.to_path_buf())
            .or_default()
            .push(worker);
        if reply.ok {
            self.warm_builds.fetch_add(1, Ordering::SeqCst);
            self.keep_warnings(package, &reply.log);
            return files_in(out).map(Warm::Built);
        }
        if let Some(needs) = reply.needs {
            return Ok(Warm::Needs(needs));
        }
        // Declined (in-tree backend) or failed in the worker: `python -m
        // build` gives the verdict, with the output users know. A failure
        // here that the cold build does not repeat is worth a line.
        if !reply.fallback {
            let why = reply.error.as_deref().unwrap_or("").trim();
            let last = why.lines().last().unwrap_or("no error text");
            tell!(
                "    {package}: the warm build worker failed ({last}); building with `python -m build`{}",
                if reply.log.is_empty() { "" } else { " (worker output dropped)" }
            );
        }
        Ok(Warm::No)
    }
}

impl Warm {
    fn files(self) -> Option<Vec<PathBuf>> {
        match self {
            Warm::Built(files) => Some(files),
            Warm::Needs(_) | Warm::No => None,
        }
    }
}

#[cfg(test)]
mod warning_tests {
    #[test]
    fn warnings_keep_the_package_s_and_drop_the_environment_s() {
        let log = "running sdist\n\
                   warning: no files found matching 'webui/*' under directory 'dagit'\n\
                   warning: build_py: byte-compiling is disabled, skipping.\n\
                   warning: install_lib: byte-compiling is disabled, skipping.\n";
        assert_eq!(
            super::warnings(log),
            ["warning: no files found matching 'webui/*' under directory 'dagit'"]
        );
    }
}
