//! Building sdists and wheels with the real `python -m build`.
//!
//! Builds run in a clean export of the release commit, never in the working
//! tree: a build leaves `build/` and `*.egg-info` behind, which the next
//! release's preflight would rightly refuse.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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

fn run(mut cmd: Command, what: &str, package: &str) -> Result<(), BuildError> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| BuildError::Spawn {
            command: shown,
            source,
        })?;
    if out.status.success() {
        return Ok(());
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
    run(cmd, &format!("prebuild `{command}`"), package)
}

/// `python -m build --sdist --wheel --outdir OUT SRC`; returns the files made.
pub fn build(
    config: &Config,
    src: &Path,
    out: &Path,
    package: &str,
) -> Result<Vec<PathBuf>, BuildError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io { path, source }
    };
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(io(out))?;
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut cmd = Command::new(config.python());
    cmd.args(["-m", "build", "--sdist", "--wheel", "--outdir"])
        .arg(out)
        .current_dir(src);
    if !config.build.isolation {
        cmd.arg("--no-isolation");
    }
    cmd.arg(src);
    run(cmd, "python -m build", package)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(out)
        .map_err(io(out))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}
