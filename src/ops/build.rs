//! Building sdists and wheels: the real `python -m build`, or warm workers.
//!
//! Builds run in a clean export of the release commit, never in the working
//! tree: a build leaves `build/` and `*.egg-info` behind, which the next
//! release's preflight would rightly refuse.
//!
//! Without isolation, most of a small package's build time is interpreter
//! start-up and backend import, paid twice per package by `python -m build`.
//! [`Builder`] keeps one Python worker per build job alive instead
//! (`python/build_worker.py`) and calls the same PEP 517 hooks through it. With
//! isolation on, or when a worker declines or fails, a package is built by
//! `python -m build` as before.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use thiserror::Error;

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
}

fn tail(out: &std::process::Output) -> String {
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();
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
pub fn warnings(log: &str) -> Vec<String> {
    let mut out: Vec<String> = log
        .lines()
        .map(str::trim)
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            lower.starts_with("warning")
                || lower.contains("no files found matching")
                || lower.contains("no previously-included files")
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
    build_logged(config, src, out, package).map(|(files, _)| files)
}

/// As [`build`], with the build's output.
fn build_logged(
    config: &Config,
    src: &Path,
    out: &Path,
    package: &str,
) -> Result<(Vec<PathBuf>, String), BuildError> {
    fresh_dir(out)?;
    let mut cmd = Command::new(config.python());
    cmd.args(["-m", "build", "--sdist", "--wheel", "--outdir"])
        .arg(out)
        .current_dir(src);
    if !config.build.isolation {
        cmd.arg("--no-isolation");
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
}

impl Worker {
    fn spawn(python: &str) -> std::io::Result<Worker> {
        let mut child = Command::new(python)
            .args(["-u", "-c", WORKER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
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

    fn request(&mut self, src: &Path, out: &Path) -> Result<Reply, String> {
        let req = serde_json::json!({ "src": src, "outdir": out });
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

/// Builds packages, through warm workers where it can.
pub struct Builder<'a> {
    config: &'a Config,
    /// Idle workers; `None` when warm builds are off (isolation on, or
    /// `[build] warm = false`).
    idle: Option<Mutex<Vec<Worker>>>,
    warm_builds: AtomicUsize,
    cold_builds: AtomicUsize,
    /// (package, line) for every warning a build printed.
    warned: Mutex<Vec<(String, String)>>,
}

impl<'a> Builder<'a> {
    pub fn new(config: &'a Config) -> Self {
        let warm = !config.build.isolation && config.build.warm.unwrap_or(true);
        Builder {
            config,
            idle: warm.then(|| Mutex::new(Vec::new())),
            warm_builds: AtomicUsize::new(0),
            cold_builds: AtomicUsize::new(0),
            warned: Mutex::new(Vec::new()),
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

    fn keep_warnings(&self, package: &str, log: &str) {
        let found = warnings(log);
        if !found.is_empty() {
            let mut w = self.warned.lock().unwrap_or_else(|p| p.into_inner());
            w.extend(found.into_iter().map(|l| (package.to_string(), l)));
        }
    }

    /// Build `src` into `out` (emptied first); returns the files made.
    pub fn build(&self, src: &Path, out: &Path, package: &str) -> Result<Vec<PathBuf>, BuildError> {
        if let Some(idle) = &self.idle {
            fresh_dir(out)?;
            let worker = idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let worker = match worker {
                Some(w) => Some(w),
                None => Worker::spawn(&self.config.python()).ok(),
            };
            if let Some(mut worker) = worker {
                match worker.request(src, out) {
                    Ok(reply) => {
                        idle.lock().unwrap_or_else(|p| p.into_inner()).push(worker);
                        if reply.ok {
                            self.warm_builds.fetch_add(1, Ordering::SeqCst);
                            self.keep_warnings(package, &reply.log);
                            return files_in(out);
                        }
                        // Declined (in-tree backend) or failed in the worker:
                        // `python -m build` below gives the verdict, with the
                        // output users know. A failure here that the cold
                        // build does not repeat is worth a line.
                        if !reply.fallback {
                            let why = reply.error.as_deref().unwrap_or("").trim();
                            let last = why.lines().last().unwrap_or("no error text");
                            tell!(
                                "    {package}: the warm build worker failed ({last}); building with `python -m build`{}",
                                if reply.log.is_empty() { "" } else { " (worker output dropped)" }
                            );
                        }
                    }
                    Err(_) => drop(worker),
                }
            }
        }
        self.cold_builds.fetch_add(1, Ordering::SeqCst);
        let (files, log) = build_logged(self.config, src, out, package)?;
        self.keep_warnings(package, &log);
        Ok(files)
    }
}
