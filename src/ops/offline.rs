//! Can the isolated build environments be had? Asked before anything
//! changes, because a release that finds out at its build step has already
//! committed its bump, and each package's fallback to `python -m build`
//! then retries the index for minutes and fails with the same error.
//!
//! An environment can be had when it is ready in the cache (`buildenv.rs`),
//! when the index the tool would use answers (one request per index, for one
//! project page, with a short timeout), or, when the index does not, when
//! the tool installs the requirements from its own cache alone (uv's cache,
//! or a local find-links folder for pip): then the build makes it offline.
//! Nothing here makes an environment.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::buildenv::{self, Envs, Held, Requires, Tool, MAX_AGE};
use crate::config::Config;

/// The index tools use when none is set.
pub const PYPI: &str = "https://pypi.org/simple/";
/// A probe's whole time: an index that is up answers a project page well
/// within it; a dead proxy or a black-holed address costs no more.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// An index that does not answer, or a tool told not to ask one.
#[derive(Debug, Clone)]
pub struct Unreachable {
    /// The index, without credentials.
    pub index: String,
    pub why: String,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the package index {} does not answer ({})",
            self.index, self.why
        )
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn truthy(name: &str) -> bool {
    var(name).is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// The indexes `tool` would ask, from the environment it reads: for uv
/// `UV_DEFAULT_INDEX` (else `UV_INDEX_URL`), `UV_INDEX` and
/// `UV_EXTRA_INDEX_URL`; for pip `PIP_INDEX_URL` and `PIP_EXTRA_INDEX_URL`;
/// PyPI when none is set.
pub fn indexes(tool: &Tool) -> Vec<String> {
    let split = |name: &str| -> Vec<String> {
        var(name)
            .map(|v| v.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    };
    let (primary, extra) = match tool {
        Tool::Uv(_) => {
            let primary = var("UV_DEFAULT_INDEX").or_else(|| var("UV_INDEX_URL"));
            // `UV_INDEX` entries may be named: `name=https://...`.
            let named = split("UV_INDEX")
                .into_iter()
                .map(|e| match e.split_once('=') {
                    Some((name, url)) if !name.contains(':') && !name.contains('/') => url.into(),
                    _ => e,
                });
            let extra: Vec<String> = named.chain(split("UV_EXTRA_INDEX_URL")).collect();
            (primary, extra)
        }
        Tool::Pip => (var("PIP_INDEX_URL"), split("PIP_EXTRA_INDEX_URL")),
    };
    let mut all = vec![primary.map_or_else(|| PYPI.to_string(), |p| p.trim().to_string())];
    for e in extra {
        if !all.contains(&e) {
            all.push(e);
        }
    }
    all
}

/// The variable that points `tool` at another index.
fn index_var(tool: &Tool) -> &'static str {
    match tool {
        Tool::Uv(_) => "UV_INDEX_URL",
        Tool::Pip => "PIP_INDEX_URL",
    }
}

/// The first index `tool` would ask for `reqs` that does not answer (`None`:
/// every one does). Each index is asked once per process, whatever the
/// number of packages and environments. One that does not answer is
/// confirmed by the tool itself, which reads its own configuration
/// (`pip.conf`, `uv.toml`: an index this process does not see).
pub fn unreachable(tool: &Tool, python: &str, reqs: &[String]) -> Option<Unreachable> {
    let told = match tool {
        Tool::Uv(_) if truthy("UV_OFFLINE") => Some("UV_OFFLINE is set"),
        Tool::Pip if truthy("PIP_NO_INDEX") => Some("PIP_NO_INDEX is set"),
        _ => None,
    };
    if let Some(told) = told {
        return Some(Unreachable {
            index: indexes(tool).join(", "),
            why: told.into(),
        });
    }
    let project = reqs
        .iter()
        .find_map(|r| {
            pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(r.trim())
                .ok()
                .map(|p| p.name.to_string())
        })
        .unwrap_or_else(|| "pip".into());
    let down = indexes(tool).into_iter().find_map(|index| {
        let why = once(&index, || probe(&index, &project)).err()?;
        Some(Unreachable {
            index: super::http::redact(&index),
            why,
        })
    })?;
    let itself = format!("{} itself", tool.name());
    once(&itself, || tool_answers(tool, python, &project))
        .is_err()
        .then_some(down)
}

/// `ask()`, once per process for each `what`.
fn once(what: &str, ask: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    static ASKED: OnceLock<Mutex<HashMap<String, Result<(), String>>>> = OnceLock::new();
    let asked = ASKED.get_or_init(Default::default);
    let known = asked
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(what)
        .cloned();
    known.unwrap_or_else(|| {
        let answer = ask();
        asked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(what.to_string(), answer.clone());
        answer
    })
}

/// Does `tool`, as configured, reach an index serving `project`? Asked
/// with no retries and a short timeout, past any cached page.
fn tool_answers(tool: &Tool, python: &str, project: &str) -> Result<(), String> {
    let timeout = PROBE_TIMEOUT.as_secs().to_string();
    let mut cmd = match tool {
        Tool::Uv(uv) => {
            let mut cmd = Command::new(uv);
            cmd.args([
                "pip",
                "compile",
                "--quiet",
                "--no-header",
                "--refresh-package",
                project,
                "--python",
                python,
                "-",
            ])
            .env("UV_HTTP_RETRIES", "0")
            .env("UV_HTTP_TIMEOUT", &timeout)
            .env_remove("VIRTUAL_ENV")
            .stdin(Stdio::piped());
            cmd
        }
        Tool::Pip => {
            let mut cmd = Command::new(python);
            cmd.args([
                "-Im",
                "pip",
                "index",
                "versions",
                project,
                "--retries",
                "0",
                "--timeout",
                &timeout,
                "--disable-pip-version-check",
                "--no-input",
            ])
            .stdin(Stdio::null());
            cmd
        }
    };
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write as _;
        let _ = writeln!(stdin, "{project}");
    }
    match child.wait() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{} says {s}", tool.name())),
        Err(e) => Err(e.to_string()),
    }
}

/// Does `index` answer a request for `project`'s page? Any HTTP answer
/// below 500 is one (a 404 for that project, a 401 for a mirror whose
/// credentials are not sent here): only a failed connection, a timeout or
/// a server error (a proxy with nothing behind it) is not. No credentials
/// are sent. A local index answers when its folder exists.
fn probe(index: &str, project: &str) -> Result<(), String> {
    let local = |path: PathBuf| match path.exists() {
        true => Ok(()),
        false => Err(format!("{} does not exist", path.display())),
    };
    let Ok(url) = url::Url::parse(index.trim()) else {
        return local(PathBuf::from(index.trim()));
    };
    match url.scheme() {
        "http" | "https" => {}
        "file" => return url.to_file_path().map_or(Ok(()), local),
        _ => return Ok(()),
    }
    let (safe, _) = super::http::SafeUrl::split(url);
    let mut base = safe.url().clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    let page = base
        .join(&format!("{project}/"))
        .map_err(|e| format!("cannot make a project page URL: {e}"))?;
    let client = super::http::client(PROBE_TIMEOUT).map_err(|e| e.to_string())?;
    match client
        .get(page)
        .header(
            "Accept",
            "application/vnd.pypi.simple.v1+json, text/html;q=0.1",
        )
        .send()
    {
        Ok(r) if r.status().as_u16() < 500 => Ok(()),
        Ok(r) => Err(format!("HTTP {}", r.status())),
        // The page's URL is the index's again: said once, in the finding.
        Err(e) => Err(super::http::describe(&e.without_url())),
    }
}

/// Can `tool` install `reqs` for `python` with no index at all? uv installs
/// them from its cache into a throwaway folder (linked, not copied); pip
/// resolves them with `--no-index` from its configured find-links.
pub fn installable_offline(tool: &Tool, python: &str, reqs: &[String]) -> bool {
    let Ok(tmp) = tempfile::Builder::new()
        .prefix("release-offline-check")
        .tempdir()
    else {
        return false;
    };
    let req_file = tmp.path().join("requirements.txt");
    if std::fs::write(&req_file, reqs.join("\n") + "\n").is_err() {
        return false;
    }
    let mut cmd = match tool {
        Tool::Uv(uv) => {
            let mut cmd = Command::new(uv);
            cmd.args([
                "pip",
                "install",
                "--offline",
                "--quiet",
                "--link-mode",
                "symlink",
                "--python",
                python,
                "--target",
            ])
            .arg(tmp.path().join("target"))
            .arg("-r")
            .arg(&req_file)
            .env_remove("VIRTUAL_ENV");
            cmd
        }
        Tool::Pip => {
            let mut cmd = Command::new(python);
            cmd.args([
                "-Im",
                "pip",
                "install",
                "--dry-run",
                "--ignore-installed",
                "--no-index",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "-r",
            ])
            .arg(&req_file);
            cmd
        }
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The distinct `build-system.requires` sets of the packages in `dirs`,
/// normalised, in first-seen order. In-tree backends and unreadable tables
/// are left out: they are `python -m build`'s to judge.
pub fn requirement_sets<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> Vec<Vec<String>> {
    let mut sets: Vec<Vec<String>> = Vec::new();
    for dir in dirs {
        if let Requires::List(r) = buildenv::build_requires(dir) {
            let r = buildenv::normalize(&r);
            if !sets.contains(&r) {
                sets.push(r);
            }
        }
    }
    sets
}

/// The ways on when the environments cannot be had, for messages;
/// `envs_root`: where the shared environments are kept, if they are used.
pub fn ways_on(tool: &Tool, envs_root: Option<&Path>) -> String {
    let mut ways = vec![
        "build in the current environment with `[build] isolation = false` in release.toml \
         (the interpreter must then have the build backends installed)"
            .to_string(),
        format!("point `{}` at a reachable mirror", index_var(tool)),
    ];
    if let Some(root) = envs_root {
        ways.push(format!(
            "warm the cache where the index answers: a release or a nightly run there makes the \
             environments in {} (reused for {} days; `RELEASE_CACHE_DIR` chooses the folder){}",
            root.display(),
            MAX_AGE.as_secs() / 86400,
            match tool {
                Tool::Uv(_) => ", and any `uv pip install` of the requirements fills uv's cache, from which they are then made offline",
                Tool::Pip => "",
            }
        ));
    }
    if *tool == Tool::Pip {
        ways.push("put the requirements' wheels in a folder named by `PIP_FIND_LINKS`".into());
    }
    format!("Ways on: {}", ways.join("; or "))
}

/// Preflight's check (a release's and a nightly's): with isolated builds,
/// every set of build requirements in `sets` has its environment ready in
/// the cache or can make it. `None` when it can (or when there is nothing
/// to tell: no isolation, an interpreter that does not run, which the
/// frontend check reports); else the one finding, naming the index tried and
/// the ways on.
pub fn check(config: &Config, sets: &[Vec<String>]) -> Option<String> {
    if !config.build.isolation || sets.is_empty() {
        return None;
    }
    let python = config.python();
    // Warm builds use the shared environments; without them (`warm =
    // false`, no cache folder) every build is a `python -m build`, whose
    // pip makes an environment per package from the index.
    let cache = buildenv::cache_dir();
    let envs = match (config.build.warm.unwrap_or(true), &cache) {
        (true, Some(c)) => Some(Envs::new(c, &python)),
        _ => None,
    };
    let tool = envs.as_ref().map_or(Tool::Pip, |e| e.tool().clone());
    let mut missing: Vec<(&Vec<String>, bool)> = Vec::new();
    for set in sets {
        match envs.as_ref().map(|e| e.held(set)) {
            Some(Ok(Held::Ready)) => {}
            Some(Ok(Held::Stale)) => missing.push((set, true)),
            Some(Ok(Held::Missing)) | None => missing.push((set, false)),
            Some(Err(_)) => return None,
        }
    }
    let (first, _) = missing.first()?;
    let down = unreachable(&tool, &python, first)?;
    // The index does not answer: an old environment is used as it is, and
    // the rest must come from the tool's cache.
    let lacking: Vec<String> = missing
        .iter()
        .filter(|(set, stale)| !stale && !installable_offline(&tool, &python, set))
        .map(|(set, _)| format!("`{}`", set.join(", ")))
        .collect();
    if lacking.is_empty() {
        return None;
    }
    let root = envs.as_ref().map(|e| e.root());
    let held_where = match root {
        Some(root) => format!("not in the cache ({})", root.display()),
        None => {
            "needed by each `python -m build` (warm builds are off or there is no cache folder)"
                .to_string()
        }
    };
    let (they, them, envs_for) = match lacking.len() {
        1 => ("it", "it", "a build environment"),
        _ => ("they", "them", "build environments"),
    };
    let offline = match tool {
        Tool::Uv(_) => format!("uv's cache cannot install {them} offline"),
        Tool::Pip => format!("no local find-links (`PIP_FIND_LINKS`) provides {them}"),
    };
    Some(format!(
        "isolated builds need {envs_for} for {} {held_where}, and {they} cannot be made: {down}, and {offline}. {}",
        crate::first_few(&lacking, 4),
        ways_on(&tool, root)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_sets_are_the_distinct_normalised_lists() {
        let tmp = tempfile::tempdir().unwrap();
        let files = [
            (
                "pyproject.toml",
                "[build-system]\nrequires = [\"maturin>=1,<2\"]\n",
            ),
            (
                "a/pyproject.toml",
                "[build-system]\nrequires = [\"setuptools >= 61\", \"wheel\"]\n",
            ),
            (
                "b/pyproject.toml",
                "[build-system]\nrequires = [\"wheel\", \"setuptools>=61\"]\n",
            ),
            ("c/setup.py", "from setuptools import setup\nsetup()\n"),
            (
                "d/pyproject.toml",
                "[build-system]\nrequires = []\nbackend-path = [\".\"]\n",
            ),
        ];
        for (path, text) in files {
            let p = tmp.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let paths = [".", "a", "b", "c", "d"];
        let dirs: Vec<PathBuf> = paths.iter().map(|p| tmp.path().join(p)).collect();
        let at = requirement_sets(dirs.iter().map(|d| d.as_path()));
        assert_eq!(
            at,
            vec![
                vec!["maturin>=1,<2".to_string()],
                vec!["setuptools>=61".to_string(), "wheel".to_string()],
                vec!["setuptools>=40.8.0".to_string()],
            ]
        );
    }

    #[test]
    fn a_closed_port_does_not_answer_and_no_credentials_are_shown() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let index = format!("http://user:secret@127.0.0.1:{port}/simple");
        let why = probe(&index, "setuptools").unwrap_err();
        assert!(!why.contains("secret"), "{why}");
        assert!(probe("/nonexistent/folder/of/wheels", "x").is_err());
        let tmp = tempfile::tempdir().unwrap();
        assert!(probe(tmp.path().to_str().unwrap(), "x").is_ok());
    }
}
