//! Publishing to a real index over HTTP (issue 5): a real pypiserver on
//! loopback, behind a recording proxy that can inject faults.

mod common;
mod pypi;

use std::path::PathBuf;
use std::process::Command;

use assert_cmd::prelude::*;
use common::git;
use pypi::{Fault, Proxy, PypiServer, PASSWORD, USER};

struct Fixture {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    repo: PathBuf,
    server: PypiServer,
    proxy: Proxy,
}

/// The sample monorepo, its release.toml aimed at pypiserver through the proxy.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().to_path_buf();
    let repo = release::demo::make_sample(&base).unwrap();
    let server = PypiServer::start(&base.join("server"));
    let proxy = Proxy::start(server.port);
    let toml = repo.join("release.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("upload_url") {
                format!(
                    "upload_url = \"{}\"\nattempts = 4\nbackoff_ms = 20",
                    proxy.url()
                )
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&toml, text + "\n").unwrap();
    git(&repo, &["commit", "-qam", "publish to the test index"]);
    git(&repo, &["push", "-q", "origin", "master"]);
    Fixture {
        _tmp: tmp,
        base,
        repo,
        server,
        proxy,
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Fixture {
    fn release(&self, args: &[&str], password: &str, failpoint: Option<&str>) -> Run {
        let mut cmd = Command::cargo_bin("release").unwrap();
        cmd.arg("--repo")
            .arg(&self.repo)
            .args(args)
            .env("PYTHON", pypi::python())
            .env("TWINE_USERNAME", USER)
            .env("TWINE_PASSWORD", password)
            .env("HOME", &self.base)
            .env_remove("TWINE_REPOSITORY_URL")
            .env_remove("RELEASE_FAILPOINT");
        if let Some(f) = failpoint {
            cmd.env("RELEASE_FAILPOINT", f);
        }
        let out = cmd.output().unwrap();
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        for text in [&run.stdout, &run.stderr] {
            assert!(
                !text.contains(PASSWORD),
                "the password was printed:\n{text}"
            );
        }
        run
    }

    fn ok(&self, args: &[&str]) -> Run {
        let r = self.release(args, PASSWORD, None);
        assert_eq!(
            r.code, 0,
            "release {args:?} failed:\n{}\n{}",
            r.stdout, r.stderr
        );
        r
    }

    /// No secret in the journal, the history or anything the proxy saw in clear
    /// besides the Authorization header it must carry.
    fn assert_no_secret_on_disk(&self) {
        let dir = self.repo.join(".release");
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "json") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    assert!(!text.contains(PASSWORD), "password in {}", p.display());
                }
            }
        }
    }

    fn files_on_server(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.server.packages)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

fn each_delivered_once(f: &Fixture) {
    let files = f.files_on_server();
    assert_eq!(files.len(), 6, "{files:?}");
    for name in &files {
        assert_eq!(
            f.proxy.log.delivered(name),
            1,
            "{name} reached the server {} times",
            f.proxy.log.delivered(name)
        );
    }
}

#[test]
fn full_release_over_http_then_audit_and_pip_download() {
    let f = fixture();
    let r = f.ok(&["start", "0.2.0.pre0"]);
    assert!(r.stdout.contains("audit done"), "{}", r.stdout);
    each_delivered_once(&f);
    // Audit reads the simple API through the proxy; the typed and the
    // normalised spellings are the same version.
    let a = f.ok(&["audit", "0.2.0.pre0"]);
    assert!(a.stdout.contains("0.2.0rc0"), "{}", a.stdout);
    f.ok(&["audit", "0.2.0rc0"]);
    // pip resolves the release, sibling pins included, from that server.
    let dl = f.base.join("dl");
    let out = Command::new(pypi::python())
        .args([
            "-m",
            "pip",
            "download",
            "--disable-pip-version-check",
            "--no-cache-dir",
            "--index-url",
        ])
        .arg(format!("{}simple/", f.server.url()))
        .args(["demo-aws==0.2.0rc0", "-d"])
        .arg(&dl)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pip download failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<String> = std::fs::read_dir(&dl)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for pkg in ["demo_aws", "demo_core", "demo_cli"] {
        assert!(
            got.iter()
                .any(|g| g.starts_with(pkg) && g.contains("0.2.0rc0")),
            "{pkg} not downloaded: {got:?}"
        );
    }
    f.assert_no_secret_on_disk();
}

#[test]
fn wrong_password_is_refused_in_preflight_with_nothing_changed() {
    let f = fixture();
    let head = git(&f.repo, &["rev-parse", "HEAD"]);
    let r = f.release(&["start", "0.2.0.pre0"], "not-the-password", None);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("refused the credentials"), "{}", r.stderr);
    assert!(!r.stderr.contains("not-the-password"));
    assert_eq!(git(&f.repo, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&f.repo, &["tag"]), "");
    assert!(!f.repo.join(".release/state.json").exists());
    assert!(f.files_on_server().is_empty());
}

#[test]
fn plain_http_to_a_remote_host_is_refused() {
    let f = fixture();
    let mut cmd = Command::cargo_bin("release").unwrap();
    let out = cmd
        .arg("--repo")
        .arg(&f.repo)
        .args(["start", "0.2.0.pre0", "--dry-run"])
        .env("PYTHON", pypi::python())
        .env("TWINE_REPOSITORY_URL", "http://index.example.com/legacy/")
        .env("TWINE_USERNAME", USER)
        .env("TWINE_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing plain http://"), "{err}");
    assert!(!err.contains(PASSWORD));
}

#[test]
fn kill_after_uploads_then_resume_sends_nothing_twice() {
    let f = fixture();
    let r = f.release(
        &["start", "0.2.0.pre0"],
        PASSWORD,
        Some("publish.after_upload@3"),
    );
    assert_ne!(r.code, 0, "the failpoint should have killed the run");
    // Uploads run in parallel: others may land before the abort takes effect.
    assert!(f.proxy.log.delivered_uploads().len() >= 3);
    // Die once more, after the next upload, then finish.
    let r = f.release(&["resume"], PASSWORD, Some("publish.after_upload@1"));
    assert_ne!(r.code, 0);
    f.ok(&["resume"]);
    each_delivered_once(&f);
    f.ok(&["audit", "0.2.0.pre0"]);
    f.assert_no_secret_on_disk();
}

#[test]
fn transient_failures_are_retried_and_unknown_outcomes_checked_first() {
    let f = fixture();
    f.proxy.log.inject(&[
        Fault::Unavailable,
        Fault::DropBeforeForward,
        Fault::DropAfterForward,
        Fault::Unavailable,
    ]);
    let r = f.ok(&["start", "0.2.0.pre0"]);
    assert!(r.stdout.contains("publish done"), "{}", r.stdout);
    // The upload whose answer was lost reached the server once and was found
    // there, not sent again.
    each_delivered_once(&f);
    let attempts = f
        .proxy
        .log
        .requests()
        .iter()
        .filter(|r| r.upload.is_some())
        .count();
    assert_eq!(attempts, 6 + 3, "6 files, 3 of them retried once");
}

#[test]
fn a_different_file_already_on_the_index_burns_the_version_then_roll_forward() {
    let f = fixture();
    // Someone uploaded other bytes under one of our names.
    std::fs::write(
        f.server
            .packages
            .join("demo_core-0.2.0rc0-py3-none-any.whl"),
        b"not our wheel",
    )
    .unwrap();
    let r = f.release(&["start", "0.2.0.pre0"], PASSWORD, None);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("burned"), "{}", r.stderr);
    assert!(r.stderr.contains("release recover"), "{}", r.stderr);
    let status = f.ok(&["status"]);
    assert!(status.stdout.contains("burned"), "{}", status.stdout);
    // The foreign file was not replaced.
    let foreign = std::fs::read(
        f.server
            .packages
            .join("demo_core-0.2.0rc0-py3-none-any.whl"),
    )
    .unwrap();
    assert_eq!(foreign, b"not our wheel");

    let r = f.ok(&["recover"]);
    assert!(r.stdout.contains("0.2.0.pre1"), "{}", r.stdout);
    f.ok(&["resume"]);
    f.ok(&["audit", "0.2.0.pre1"]);
    // The burned version's commit and tag stay; the new one sits on top.
    let tags = git(&f.repo, &["tag"]);
    assert!(
        tags.contains("0.2.0.pre0") && tags.contains("0.2.0.pre1"),
        "{tags}"
    );
    assert_eq!(git(&f.repo, &["log", "-1", "--format=%s"]), "0.2.0.pre1");
    let history: Vec<String> = std::fs::read_dir(f.repo.join(".release/history"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        history
            .iter()
            .any(|h| h.contains("0.2.0.pre0") && h.contains("burned")),
        "{history:?}"
    );
    for name in f.files_on_server().iter().filter(|n| n.contains("rc1")) {
        assert_eq!(f.proxy.log.delivered(name), 1);
    }
    f.assert_no_secret_on_disk();
}

#[test]
fn credentials_from_pypirc_and_redirects_are_findings() {
    let f = fixture();
    // No TWINE_* at all: the [publish] repository section of ~/.pypirc.
    std::fs::write(
        f.base.join(".pypirc"),
        format!(
            "[distutils]\nindex-servers = local\n\n[local]\nrepository = {}\nusername = {USER}\npassword = {PASSWORD}\n",
            f.proxy.url()
        ),
    )
    .unwrap();
    let toml = f.repo.join("release.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let text = text
        .lines()
        .filter(|l| !l.starts_with("upload_url"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("[publish]", "[publish]\nrepository = \"local\"");
    std::fs::write(&toml, text + "\n").unwrap();
    git(&f.repo, &["commit", "-qam", "credentials from .pypirc"]);
    git(&f.repo, &["push", "-q", "origin", "master"]);
    let mut cmd = Command::cargo_bin("release").unwrap();
    let out = cmd
        .arg("--repo")
        .arg(&f.repo)
        .args(["start", "0.2.0.pre0"])
        .env("PYTHON", pypi::python())
        .env("HOME", &f.base)
        .env_remove("TWINE_USERNAME")
        .env_remove("TWINE_PASSWORD")
        .env_remove("TWINE_REPOSITORY_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD));
    each_delivered_once(&f);
    f.assert_no_secret_on_disk();

    // An index that redirects its project pages is reported, not followed.
    f.proxy.log.redirect_gets();
    let mut cmd = Command::cargo_bin("release").unwrap();
    let out = cmd
        .arg("--repo")
        .arg(&f.repo)
        .args(["audit", "0.2.0.pre0"])
        .env("HOME", &f.base)
        .env_remove("TWINE_REPOSITORY_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("redirect"), "{stdout}");
}
