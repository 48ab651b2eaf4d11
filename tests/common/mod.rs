//! The one test context every integration test runs in: `Sample`, the demo's
//! sample monorepo with a bare origin and a file:// index, to which a test
//! adds the real parts it needs (`with_pypi`, `announce_to`), and which runs
//! the real binary with the same environment and the same secret scan for
//! every test, custom runners (a kill after a delay, a SIGINT) included.
//! Also git and journal checks.

#![allow(dead_code)]

pub mod apis;
pub mod gitdaemon;
pub mod githttp;
pub mod oidc;
pub mod pypi;
pub mod tls;
pub mod wheel;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use assert_cmd::prelude::*;

/// The venv python with build, setuptools, wheel (made by scripts/pyenv.sh).
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("RELEASE_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin/python");
    assert!(
        p.exists(),
        "no test Python: run ./scripts/test.sh (it creates target/pyenv with build and pypiserver)"
    );
    p
}

/// The binary given `args`, with no repository of its own: the test
/// Python, and none of the credentials, tokens, failpoints or cache folders
/// of the environment the tests run in (the build environments' cache is
/// then under `HOME`, which `Sample::cmd` sets to the sample's folder).
/// `Sample::cmd` adds the sample's.
pub fn release_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("release").unwrap();
    cmd.args(args)
        .env("PYTHON", python())
        .env_remove("RELEASE_CACHE_DIR")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("TWINE_REPOSITORY_URL")
        .env_remove("TWINE_USERNAME")
        .env_remove("TWINE_PASSWORD")
        .env_remove("RELEASE_FAILPOINT")
        .env_remove("RELEASE_FAILPOINT_IOERR")
        .env_remove("SLACK_RELEASE_BOT_TOKEN")
        .env_remove("GITHUB_TOKEN");
    // Nor the CI's: a test run on GitHub Actions must not write its outputs,
    // ask its OIDC endpoint, or trust its CA settings.
    for var in [
        "GITHUB_OUTPUT",
        "GITHUB_STEP_SUMMARY",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "GIT_SSL_CAINFO",
        "GITHUB_SERVER_URL",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

pub fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `git` on a bare repository; `None` when the command fails (e.g. no such ref).
pub fn git_bare(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("git runs");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[derive(Debug)]
pub struct Run {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Run `cmd` to its end: the plain runner of `Sample::run_cmd`.
    pub fn output(mut cmd: Command) -> Run {
        Run::from(cmd.output().unwrap())
    }

    /// Wait for a spawned child (its output piped) to end.
    pub fn output_of(child: Child) -> Run {
        Run::from(child.wait_with_output().unwrap())
    }
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// A runner for `Sample::run_with`: run to the end, or SIGKILL after
/// `kill_after` (then no code and no output).
pub fn run_or_kill(kill_after: Option<std::time::Duration>) -> impl FnOnce(Command) -> Run {
    move |mut cmd| {
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        loop {
            if child.try_wait().unwrap().is_some() {
                return Run::output_of(child);
            }
            if kill_after.is_some_and(|d| started.elapsed() >= d) {
                child.kill().unwrap(); // SIGKILL
                let _ = child.wait();
                return Run {
                    code: None,
                    stdout: String::new(),
                    stderr: String::new(),
                };
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

/// The demo's sample: `base/monorepo`, `base/origin.git`, `base/index`, and
/// whatever real parts a test added to it.
pub struct Sample {
    pub tmp: tempfile::TempDir,
    pub base: PathBuf,
    pub repo: PathBuf,
    pub origin: PathBuf,
    pub index: PathBuf,
    /// Environment every run gets (e.g. the announce tokens, the upload
    /// credentials).
    pub env: Vec<(String, String)>,
    /// The announce stand-in, whose requests every run scans for secrets.
    pub apis: Option<apis::Apis>,
    /// The pypiserver and proxy `[publish]` points at, if any.
    pypi: Option<pypi::Pypi>,
}

/// What a built file's METADATA says: `Requires-Dist` with spaces and
/// poetry's parentheses taken out (`acme-core (==2.3.1)` -> `acme-core==2.3.1`).
pub struct Built {
    pub version: String,
    pub requires: Vec<String>,
    pub body: String,
}

impl Sample {
    pub fn new() -> Sample {
        Sample::made_of(release::demo::SAMPLE)
    }

    /// A sample of `files` (see `release::demo::make_repo`).
    pub fn made_of(files: &[(&str, &str)]) -> Sample {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().to_path_buf();
        let repo = release::demo::make_repo(&base, files).unwrap();
        Sample {
            origin: base.join("origin.git"),
            index: base.join("index"),
            tmp,
            base,
            repo,
            env: Vec::new(),
            apis: None,
            pypi: None,
        }
    }

    /// A sample made of the files under `tests/fixtures/<name>/` instead
    /// of the demo's (its `release.toml` uploads to `file:///tmp/release-demo-index`,
    /// which becomes the sample's own index).
    pub fn fixture(name: &str) -> Sample {
        Sample::fixture_with(name, |_, text| text)
    }

    /// [`Sample::fixture`], each file's text passed through `edit` (its
    /// path relative to the fixture, its text) first.
    pub fn fixture_with(name: &str, edit: impl Fn(&str, String) -> String) -> Sample {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        let mut files = Vec::new();
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
                    let text = edit(&rel, std::fs::read_to_string(&p).unwrap());
                    files.push((rel, text));
                }
            }
        }
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        Sample::made_of(&files)
    }

    /// As `before` ([`Sample::snapshot`]) says, but for `.release/`
    /// (ignored by git, made by a refused command to hold its local lock).
    pub fn assert_unchanged_but_the_local_lock(&self, before: &str) {
        assert_eq!(
            self.snapshot().replace("!! .release/", ""),
            before.replace("!! .release/", ""),
            "refused, nothing changed"
        );
    }

    /// A file of the work tree.
    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.repo.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The files of `project` at `version` on the sample's file:// index
    /// (`project/file name`).
    pub fn files_of(&self, project: &str, version: &str) -> Vec<String> {
        let stem = format!("{}-{version}", project.replace('-', "_"));
        index_files(&self.index)
            .into_iter()
            .filter(|f| {
                f.strip_prefix(&format!("{project}/{stem}"))
                    .is_some_and(|rest| rest.starts_with(['-', '.']))
            })
            .collect()
    }

    /// The metadata of `project`'s file at `version` ending in `suffix`
    /// (`.whl`, `.tar.gz`) on the sample's file:// index.
    pub fn built(&self, project: &str, version: &str, suffix: &str) -> Built {
        let file = self
            .files_of(project, version)
            .into_iter()
            .find(|f| f.ends_with(suffix))
            .unwrap_or_else(|| {
                panic!(
                    "no {suffix} of {project} {version}: {:?}",
                    index_files(&self.index)
                )
            });
        let m = release::ops::metadata::read(&self.index.join("simple").join(&file)).unwrap();
        Built {
            version: m.get("Version").unwrap_or_default().to_string(),
            requires: m
                .fields
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("Requires-Dist"))
                .map(|(_, v)| v.replace([' ', '(', ')'], ""))
                .collect(),
            body: m.body.clone().unwrap_or_default(),
        }
    }

    /// Version and `Requires-Dist` of [`Sample::built`].
    pub fn requires(&self, project: &str, version: &str, suffix: &str) -> (String, Vec<String>) {
        let b = self.built(project, version, suffix);
        (b.version, b.requires)
    }

    /// The finished journal of `version` in the history, checked against
    /// the schema.
    pub fn finished(&self, version: &str) -> serde_json::Value {
        let path = self
            .history()
            .into_iter()
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{version}-done-"))
            })
            .unwrap_or_else(|| panic!("no finished release of {version}"));
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_valid(&j);
        j
    }

    /// Publish to a pypiserver of its own (in `base/server`) through the
    /// fault proxy, with the upload credentials in every run.
    pub fn with_pypi(self) -> Sample {
        self.with_pypi_config("")
    }

    /// `with_pypi`, with `extra` lines in `[publish]` (e.g. `attempts = 3`).
    pub fn with_pypi_config(self, extra: &str) -> Sample {
        let pypi = pypi::Pypi::start(&self.base.join("server"));
        self.publishing_to(&pypi, extra)
    }

    /// Publish to `pypi`, shared with other samples (each must release its
    /// own version: file names are unique on an index).
    pub fn on_pypi(self, pypi: &pypi::Pypi) -> Sample {
        self.publishing_to(pypi, "")
    }

    /// `with_pypi` over HTTPS: the upload URL is a TLS front (whose
    /// certificate `ca` signed) before the fault proxy. Returns the front.
    pub fn with_pypi_over_tls(self, ca: &tls::TestCa) -> (Sample, tls::Front) {
        let mut front = None;
        let s = self.with_pypi_behind(|pypi| {
            let f = tls::Front::start(pypi.proxy.port, ca);
            let url = f.url();
            front = Some(f);
            url
        });
        let s = s.with_credentials(pypi::USER, pypi::PASSWORD);
        (s, front.expect("a TLS front"))
    }

    /// A pypiserver and fault proxy of its own with something in front
    /// (`front` starts it and returns the upload URL), and no credentials.
    pub fn with_pypi_behind(mut self, front: impl FnOnce(&pypi::Pypi) -> String) -> Sample {
        let pypi = pypi::Pypi::start(&self.base.join("server"));
        self.publish_to(&front(&pypi), "");
        self.pypi = Some(pypi);
        self
    }

    fn publishing_to(mut self, pypi: &pypi::Pypi, extra: &str) -> Sample {
        self.publish_to(&pypi.proxy.url(), extra);
        self.pypi = Some(pypi.clone());
        self.with_credentials(pypi::USER, pypi::PASSWORD)
    }

    /// The pypiserver and proxy of `with_pypi` or `on_pypi`.
    pub fn pypi(&self) -> &pypi::Pypi {
        self.pypi
            .as_ref()
            .expect("a sample made with_pypi or on_pypi")
    }

    /// Point `[publish]` at `upload_url` with a short backoff, `extra` lines
    /// (e.g. `index_url = ...`) after it; committed and pushed.
    pub fn publish_to(&self, upload_url: &str, extra: &str) {
        let toml = self.repo.join("release.toml");
        let text = std::fs::read_to_string(&toml).unwrap();
        let text: Vec<String> = text
            .lines()
            .map(|l| match l.starts_with("upload_url") {
                true => format!("upload_url = \"{upload_url}\"\nbackoff_ms = 20\n{extra}"),
                false => l.to_string(),
            })
            .collect();
        std::fs::write(&toml, text.join("\n") + "\n").unwrap();
        self.commit_and_push("publish to the stand-in index");
    }

    /// Upload credentials (TWINE_USERNAME, TWINE_PASSWORD) in every run.
    pub fn with_credentials(mut self, user: &str, password: &str) -> Sample {
        self.set_env("TWINE_USERNAME", user);
        self.set_env("TWINE_PASSWORD", password);
        self
    }

    /// Announce to `apis` (config committed and pushed, tokens in every run).
    pub fn announce_to(mut self, apis: &apis::Apis) -> Sample {
        let toml = self.repo.join("release.toml");
        let mut text = std::fs::read_to_string(&toml).unwrap();
        text.push_str(&apis.config());
        std::fs::write(&toml, text).unwrap();
        self.commit_and_push("announce to the test APIs");
        self.apis = Some(apis.clone());
        self.set_env("SLACK_RELEASE_BOT_TOKEN", apis::SLACK_TOKEN);
        self.set_env("GITHUB_TOKEN", apis::GITHUB_TOKEN);
        self
    }

    /// Set `key` for every run, in place of any value it had.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// The binary on this sample (`release_cmd` with `--repo`, `HOME` in the
    /// sample and `env`). Run it with `run_cmd`, or with `run_with` for a
    /// runner of its own, so that it is scanned for secrets.
    pub fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_in(&self.repo, args)
    }

    /// `cmd` on another clone of the sample (`clone_at`).
    pub fn cmd_in(&self, repo: &Path, args: &[&str]) -> Command {
        let mut cmd = release_cmd(&[]);
        cmd.arg("--repo")
            .arg(repo)
            .args(args)
            .env("HOME", &self.base);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Run to the end, then check that no secret given to it (any token or
    /// password in its environment) is in its output, the journal or the
    /// history.
    pub fn run_cmd(&self, cmd: Command) -> Run {
        self.run_with(cmd, Run::output)
    }

    /// Run with `runner` (which may kill it: a `Run` with no code and what
    /// output it got), then the secret scan of `run_cmd`; the announce
    /// stand-in, if any, must have had no password and each token only in
    /// its own service's Authorization header.
    pub fn run_with(&self, cmd: Command, runner: impl FnOnce(Command) -> Run) -> Run {
        let secrets: Vec<String> = cmd
            .get_envs()
            .filter(|(k, _)| {
                let k = k.to_string_lossy();
                k.ends_with("TOKEN") || k.ends_with("PASSWORD")
            })
            .filter_map(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
            .filter(|v| v.len() >= 6)
            .collect();
        // The password of any URL given in the environment or the config.
        let config = std::fs::read_to_string(self.repo.join("release.toml")).unwrap_or_default();
        let in_urls: Vec<String> = cmd
            .get_envs()
            .filter_map(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
            .chain([config])
            .flat_map(|text| url_passwords(&text))
            .collect();
        // Passwords (not tokens) must reach no announce stand-in at all.
        let passwords: Vec<String> = cmd
            .get_envs()
            .filter(|(k, _)| k.to_string_lossy().ends_with("PASSWORD"))
            .filter_map(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
            .filter(|v| v.len() >= 6)
            .chain(in_urls.iter().cloned())
            .collect();
        let env = |name: &str| {
            cmd.get_envs()
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| v)
                .map(|v| v.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let tokens = (env("SLACK_RELEASE_BOT_TOKEN"), env("GITHUB_TOKEN"));
        let mut secrets = secrets;
        secrets.extend(in_urls);
        let run = runner(cmd);
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        assert_no_secrets(self, &secrets, &[&run]);
        if let Some(apis) = &self.apis {
            let passwords: Vec<&str> = passwords.iter().map(String::as_str).collect();
            apis.assert_no_leaks(&passwords, &tokens.0, &tokens.1);
        }
        run
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_cmd(self.cmd(args))
    }

    /// Run with `RELEASE_FAILPOINT` set.
    pub fn run_failing(&self, args: &[&str], failpoint: &str) -> Run {
        let mut cmd = self.cmd(args);
        cmd.env("RELEASE_FAILPOINT", failpoint);
        self.run_cmd(cmd)
    }

    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert!(
            r.ok(),
            "release {args:?} failed ({:?}):\n{}\n{}",
            r.code,
            r.stdout,
            r.stderr
        );
        r
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(&self.repo, args)
    }

    /// A colleague pushes a commit to origin first (adding `file` with
    /// `text` if given), from a clone of their own; returns their commit.
    pub fn colleague_pushes(&self, file: Option<(&str, &str)>) -> String {
        let other = tempfile::Builder::new()
            .prefix("colleague-")
            .tempdir_in(&self.base)
            .unwrap()
            .keep();
        let (origin, dir) = (self.origin.to_str().unwrap(), other.to_str().unwrap());
        git(&self.base, &["clone", "-q", origin, dir]);
        let mut commit = vec![
            "-c",
            "user.name=O",
            "-c",
            "user.email=o@x",
            "commit",
            "-q",
            "-m",
            "theirs",
        ];
        match file {
            Some((name, text)) => {
                std::fs::write(other.join(name), text).unwrap();
                git(&other, &["add", name]);
            }
            None => commit.push("--allow-empty"),
        }
        git(&other, &commit);
        git(&other, &["push", "-q", "origin", "master"]);
        git(&other, &["rev-parse", "HEAD"])
    }

    /// `start 0.2.0.pre0` killed right after the tag, before the push.
    pub fn killed_after_tag(&self) {
        let r = self.run_failing(&["start", "0.2.0.pre0"], "tag.after_create");
        assert_ne!(r.code, Some(0));
    }

    /// Remote drift: killed after the tag, a colleague pushes `NEWS.txt`,
    /// and `resume` refuses, naming the drift and `release recover`.
    /// Returns their commit.
    pub fn drifted(&self) -> String {
        self.killed_after_tag();
        let theirs = self.colleague_pushes(Some(("NEWS.txt", "theirs\n")));
        let r = self.run(&["resume"]);
        assert_eq!(r.code, Some(1));
        assert!(r.stderr.contains("remote drift"), "{}", r.stderr);
        assert!(r.stderr.contains("release recover"), "{}", r.stderr);
        theirs
    }

    /// Fetches come from a mirror that is never updated; pushes go to
    /// origin. Returns the mirror.
    pub fn lagging_fetch_url(&self) -> PathBuf {
        let mirror = self.base.join("mirror.git");
        let (origin, to) = (self.origin.to_str().unwrap(), mirror.to_str().unwrap());
        git(&self.base, &["clone", "-q", "--bare", origin, to]);
        self.git(&["remote", "set-url", "origin", to]);
        self.git(&["remote", "set-url", "--push", "origin", origin]);
        mirror
    }

    /// Origin's branch and the tag `version` are both at HEAD; returns HEAD.
    pub fn assert_pushed(&self, version: &str) -> String {
        let head = self.git(&["rev-parse", "HEAD"]);
        let on_origin = git_bare(
            &self.origin,
            &["rev-parse", "master", &format!("{version}^{{commit}}")],
        );
        assert_eq!(on_origin.unwrap_or_default(), format!("{head}\n{head}"));
        head
    }

    /// A new clone of the origin at `dir` (another machine, a new CI runner).
    pub fn clone_at(&self, dir: &Path) {
        let out = Command::new("git")
            .args(["clone", "-q"])
            .arg(&self.origin)
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        git(dir, &["config", "user.name", "Runner"]);
        git(dir, &["config", "user.email", "runner@example.invalid"]);
    }

    /// The runner vanished with its clone: the sample's repository is
    /// replaced by a fresh clone of the origin.
    pub fn fresh_clone(&self) {
        // Moved aside, not deleted: a process the killed runner started
        // may still be finishing a write there for a moment.
        for _ in 0..50 {
            if self.repo.exists() {
                let dead = self.base.join(format!("dead-{}", fastrand::u64(..)));
                std::fs::rename(&self.repo, dead).unwrap();
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            if !self.repo.exists() {
                break;
            }
        }
        self.clone_at(&self.repo);
    }

    /// An ssh key pair made in the sample's folder, and the allowed-signers
    /// file `git tag -v` reads for it.
    pub fn ssh_key(&self) -> (PathBuf, PathBuf) {
        let key = self.base.join("signing_key");
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "release-test", "-f"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        let allowed = self.base.join("allowed_signers");
        std::fs::write(&allowed, format!("demo@example.invalid {public}")).unwrap();
        (key, allowed)
    }

    /// Commit everything and push it, as a maintainer would before releasing.
    pub fn commit_and_push(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-qm", message]);
        self.git(&["push", "-q", "origin", "master"]);
    }

    pub fn state_path(&self) -> PathBuf {
        self.repo.join(".release/state.json")
    }

    pub fn journal(&self) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.state_path()).ok()?;
        Some(serde_json::from_str(&text).unwrap())
    }

    pub fn history(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.repo.join(".release/history"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        v.sort();
        v
    }

    /// What a refused command must leave alone: HEAD, every local ref (the
    /// preflight fetch may move remote-tracking ones), the tree (ignored files
    /// included), the remote, the index and the journal.
    pub fn snapshot(&self) -> String {
        let journal = std::fs::read(self.state_path()).unwrap_or_default();
        format!(
            "{}\n{}\n{}\n{}\n{}\n{:?}",
            self.git(&["rev-parse", "HEAD"]),
            self.git(&["for-each-ref", "refs/heads", "refs/tags"]),
            self.git(&["status", "--porcelain", "--ignored"]),
            git_bare(&self.origin, &["for-each-ref"]).unwrap_or_default(),
            index_listing(&self.index).join(","),
            journal
        )
    }
}

/// The password of every `scheme://user:password@host` in `text`, as written
/// and percent-decoded (either form leaking is a leak).
pub fn url_passwords(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, _) in text.match_indices("://") {
        let rest = &text[i + 3..];
        let end = rest
            .find(|c: char| c == '/' || c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(rest.len());
        let Some((userinfo, _)) = rest[..end].rsplit_once('@') else {
            continue;
        };
        let Some((_, password)) = userinfo.split_once(':') else {
            continue;
        };
        if password.len() >= 4 {
            found.push(password.to_string());
            let mut decoded = Vec::new();
            let mut bytes = password.bytes();
            while let Some(b) = bytes.next() {
                let hex: String = match b {
                    b'%' => bytes.by_ref().take(2).map(char::from).collect(),
                    _ => String::new(),
                };
                match u8::from_str_radix(&hex, 16) {
                    Ok(v) if hex.len() == 2 => decoded.push(v),
                    _ if b == b'%' => decoded.extend(format!("%{hex}").bytes()),
                    _ => decoded.push(b),
                }
            }
            let decoded = String::from_utf8_lossy(&decoded).into_owned();
            if decoded != password {
                found.push(decoded);
            }
        }
    }
    found
}

/// No secret in the journal, the history, any JSON file under `.release`
/// (built files included), or any output given.
pub fn assert_no_secrets(s: &Sample, secrets: &[&str], outputs: &[&Run]) {
    // (folder, whether every file in it is read or only JSON)
    let mut stack = vec![(s.repo.join(".release"), true)];
    while let Some((dir, all)) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                let built = p.ends_with("dist") || p.ends_with("build");
                stack.push((p, all && !built));
            } else if !all && p.extension().is_none_or(|x| x != "json") {
                continue;
            } else if let Ok(text) = std::fs::read_to_string(&p) {
                for secret in secrets {
                    assert!(!text.contains(secret), "a secret is in {}", p.display());
                }
            }
        }
    }
    for r in outputs {
        for secret in secrets {
            assert!(
                !r.stdout.contains(secret) && !r.stderr.contains(secret),
                "a secret was printed"
            );
        }
    }
}

/// Every file in a file:// index, as `project/file`.
pub fn index_listing(index: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for p in std::fs::read_dir(index.join("simple"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if p.path().is_dir() {
            for f in std::fs::read_dir(p.path()).into_iter().flatten().flatten() {
                out.push(format!(
                    "{}/{}",
                    p.file_name().to_string_lossy(),
                    f.file_name().to_string_lossy()
                ));
            }
        }
    }
    out.sort();
    out
}

/// The released files in a file:// index (its listing without the pages).
pub fn index_files(index: &Path) -> Vec<String> {
    index_listing(index)
        .into_iter()
        .filter(|l| !l.ends_with("index.html"))
        .collect()
}

/// Does the project page of a file:// index list `file` (`project/name`, as
/// [`index_files`] gives it)? A file can be in the folder before its page
/// is rewritten.
pub fn is_listed(index: &Path, file: &str) -> bool {
    let (project, name) = file.split_once('/').unwrap_or((file, ""));
    std::fs::read_to_string(index.join("simple").join(project).join("index.html"))
        .unwrap_or_default()
        .contains(name)
}

/// The journal schema, compiled.
pub fn schema() -> jsonschema::Validator {
    schema_named("state.schema.json")
}

/// A schema of `journal-schema/`, compiled.
pub fn schema_named(file: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("journal-schema")
        .join(file);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

pub fn assert_valid(journal: &serde_json::Value) {
    assert_matches_schema("state.schema.json", journal);
}

/// `doc` is valid by `journal-schema/<file>`.
pub fn assert_matches_schema(file: &str, doc: &serde_json::Value) {
    let v = schema_named(file);
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{doc:#} does not match {file}: {errors:#?}"
    );
}

/// The git side and the journal of an uninterrupted release: one commit on
/// the base, one annotated tag on it, both on origin, a clean tree, the
/// journal archived, valid, every step done and every ledger file uploaded.
/// Returns that journal.
pub fn assert_released_git(s: &Sample, version: &str, base_commit: &str) -> serde_json::Value {
    let head = s.git(&["rev-parse", "HEAD"]);
    assert_eq!(
        s.git(&["rev-parse", "HEAD~1"]),
        base_commit,
        "exactly one release commit"
    );
    assert_eq!(s.git(&["log", "-1", "--format=%s"]), version);
    assert_eq!(
        s.git(&["cat-file", "-t", version]),
        "tag",
        "an annotated tag"
    );
    assert_eq!(
        s.git(&["rev-parse", &format!("{version}^{{commit}}")]),
        head
    );
    s.assert_pushed(version);
    assert_eq!(s.git(&["status", "--porcelain"]), "", "the tree is clean");
    assert!(s.journal().is_none(), "the journal is archived");
    let done = s
        .history()
        .into_iter()
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with(&format!("{version}-done-"))
        })
        .expect("a finished journal in history");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(done).unwrap()).unwrap();
    assert_valid(&j);
    for step in j["steps"].as_array().unwrap() {
        assert_eq!(step["state"], "done", "{step}");
    }
    let ledger = j["publish"]["ledger"].as_array().unwrap();
    assert_eq!(ledger.len(), 6);
    assert!(
        ledger.iter().all(|f| f["state"] == "uploaded"),
        "{ledger:?}"
    );
    j
}

/// An uninterrupted release on the sample's file:// index: the git side, and
/// every ledger file in the index once, with its sha256, listed once.
pub fn assert_released(s: &Sample, version: &str, base_commit: &str) {
    let j = assert_released_git(s, version, base_commit);
    let listing = index_listing(&s.index);
    for f in j["publish"]["ledger"].as_array().unwrap() {
        let (pkg, name) = (
            f["package"].as_str().unwrap(),
            f["filename"].as_str().unwrap(),
        );
        let bytes = std::fs::read(s.index.join("simple").join(pkg).join(name)).unwrap();
        assert_eq!(
            release::ops::sha256_bytes(&bytes),
            f["sha256"].as_str().unwrap()
        );
        let page =
            std::fs::read_to_string(s.index.join("simple").join(pkg).join("index.html")).unwrap();
        assert_eq!(
            page.matches(&format!(">{name}<")).count(),
            1,
            "{name} listed once"
        );
        assert!(listing.contains(&format!("{pkg}/{name}")));
    }
    assert_eq!(index_files(&s.index).len(), 6);
}
