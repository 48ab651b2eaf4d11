//! Publishing to a real index over HTTP (issue 5): a real pypiserver on
//! loopback, behind a recording proxy that can inject faults.

mod common;

use std::process::Command;

use common::pypi::{Fault, PASSWORD, USER};
use common::{assert_no_secrets, Sample};
use std::time::Duration;

/// The sample monorepo, its release.toml aimed at pypiserver through the proxy.
fn sample() -> Sample {
    Sample::new().with_pypi_config("attempts = 4")
}

/// No secret in the journal or the history.
fn assert_no_secret_on_disk(s: &Sample) {
    assert_no_secrets(s, &[PASSWORD], &[]);
}

fn each_delivered_once(s: &Sample) {
    let files = s.pypi().files_on_server();
    assert_eq!(files.len(), 6, "{files:?}");
    for name in &files {
        let delivered = s.pypi().log().delivered(name);
        assert_eq!(delivered, 1, "{name} reached the server {delivered} times");
    }
}

#[test]
fn full_release_over_http_then_audit_and_pip_download() {
    let s = sample();
    let r = s.ok(&["start", "0.2.0.pre0"]);
    assert!(r.stdout.contains("audit done"), "{}", r.stdout);
    each_delivered_once(&s);
    // Audit reads the simple API through the proxy; the typed and the
    // normalised spellings are the same version.
    let a = s.ok(&["audit", "0.2.0.pre0"]);
    assert!(a.stdout.contains("0.2.0rc0"), "{}", a.stdout);
    s.ok(&["audit", "0.2.0rc0"]);
    // pip resolves the release, sibling pins included, from that server.
    let dl = s.base.join("dl");
    let out = Command::new(common::python())
        .args([
            "-m",
            "pip",
            "download",
            "--disable-pip-version-check",
            "--no-cache-dir",
            "--index-url",
        ])
        .arg(format!("{}simple/", s.pypi().server.url()))
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
    assert_no_secret_on_disk(&s);
}

#[test]
fn wrong_password_is_refused_in_preflight_with_nothing_changed() {
    let s = sample();
    let head = s.git(&["rev-parse", "HEAD"]);
    let mut cmd = s.cmd(&["start", "0.2.0.pre0"]);
    cmd.env("TWINE_PASSWORD", "not-the-password");
    let r = s.run_cmd(cmd);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("refused the credentials"), "{}", r.stderr);
    assert!(!r.stderr.contains("not-the-password"));
    assert_eq!(s.git(&["rev-parse", "HEAD"]), head);
    assert_eq!(s.git(&["tag"]), "");
    assert!(!s.repo.join(".release/state.json").exists());
    assert!(s.pypi().files_on_server().is_empty());
}

#[test]
fn plain_http_to_a_remote_host_is_refused() {
    let s = sample();
    let mut cmd = s.cmd(&["start", "0.2.0.pre0", "--dry-run"]);
    cmd.env("TWINE_REPOSITORY_URL", "http://index.example.com/legacy/")
        .env("TWINE_USERNAME", USER)
        .env("TWINE_PASSWORD", PASSWORD);
    let r = s.run_cmd(cmd);
    assert_eq!(r.code, Some(1));
    let err = r.stderr;
    assert!(err.contains("refusing plain http://"), "{err}");
    assert!(!err.contains(PASSWORD));
}

#[test]
fn kill_after_uploads_then_resume_sends_nothing_twice() {
    let s = sample();
    let r = s.run_failing(&["start", "0.2.0.pre0"], "publish.after_upload@3");
    assert_ne!(r.code, Some(0), "the failpoint should have killed the run");
    // Uploads run in parallel: others may land before the abort takes effect.
    assert!(s.pypi().log().delivered_uploads().len() >= 3);
    // Die once more, after the next upload, then finish.
    let r = s.run_failing(&["resume"], "publish.after_upload@1");
    assert_ne!(r.code, Some(0));
    s.ok(&["resume"]);
    each_delivered_once(&s);
    s.ok(&["audit", "0.2.0.pre0"]);
    assert_no_secret_on_disk(&s);
}

#[test]
fn transient_failures_are_retried_and_unknown_outcomes_checked_first() {
    let s = sample();
    s.pypi().log().inject(&[
        Fault::Unavailable,
        Fault::DropBeforeForward,
        Fault::DropAfterForward,
        Fault::Unavailable,
    ]);
    let r = s.ok(&["start", "0.2.0.pre0"]);
    assert!(r.stdout.contains("publish done"), "{}", r.stdout);
    // The upload whose answer was lost reached the server once and was found
    // there, not sent again.
    each_delivered_once(&s);
    let attempts = s
        .pypi()
        .log()
        .requests()
        .iter()
        .filter(|r| r.upload.is_some())
        .count();
    assert_eq!(attempts, 6 + 3, "6 files, 3 of them retried once");
}

#[test]
fn a_different_file_already_on_the_index_burns_the_version_then_roll_forward() {
    let s = sample();
    // Someone uploaded other bytes under one of our names.
    std::fs::write(
        s.pypi()
            .server
            .packages
            .join("demo_core-0.2.0rc0-py3-none-any.whl"),
        b"not our wheel",
    )
    .unwrap();
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("burned"), "{}", r.stderr);
    assert!(r.stderr.contains("release recover"), "{}", r.stderr);
    let status = s.ok(&["status"]);
    assert!(status.stdout.contains("burned"), "{}", status.stdout);
    // The foreign file was not replaced.
    let foreign = std::fs::read(
        s.pypi()
            .server
            .packages
            .join("demo_core-0.2.0rc0-py3-none-any.whl"),
    )
    .unwrap();
    assert_eq!(foreign, b"not our wheel");

    let r = s.ok(&["recover"]);
    assert!(r.stdout.contains("0.2.0.pre1"), "{}", r.stdout);
    s.ok(&["resume"]);
    s.ok(&["audit", "0.2.0.pre1"]);
    // The burned version's commit and tag stay; the new one sits on top.
    let tags = s.git(&["tag"]);
    assert!(
        tags.contains("0.2.0.pre0") && tags.contains("0.2.0.pre1"),
        "{tags}"
    );
    assert_eq!(s.git(&["log", "-1", "--format=%s"]), "0.2.0.pre1");
    let history: Vec<String> = std::fs::read_dir(s.repo.join(".release/history"))
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
    for name in s
        .pypi()
        .files_on_server()
        .iter()
        .filter(|n| n.contains("rc1"))
    {
        assert_eq!(s.pypi().log().delivered(name), 1);
    }
    assert_no_secret_on_disk(&s);
}

#[test]
fn credentials_from_pypirc_and_redirects_are_findings() {
    let mut s = sample();
    // No TWINE_* at all: the [publish] repository section of ~/.pypirc.
    std::fs::write(
        s.base.join(".pypirc"),
        format!(
            "[distutils]\nindex-servers = local\n\n[local]\nrepository = {}\nusername = {USER}\npassword = {PASSWORD}\n",
            s.pypi().proxy.url()
        ),
    )
    .unwrap();
    let toml = s.repo.join("release.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let text = text
        .lines()
        .filter(|l| !l.starts_with("upload_url"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("[publish]", "[publish]\nrepository = \"local\"");
    std::fs::write(&toml, text + "\n").unwrap();
    s.commit_and_push("credentials from .pypirc");
    s.env.retain(|(k, _)| !k.starts_with("TWINE_"));
    let r = s.run(&["start", "0.2.0.pre0"]);
    let (stdout, stderr) = (&r.stdout, &r.stderr);
    assert!(r.ok(), "{stdout}\n{stderr}");
    assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD));
    each_delivered_once(&s);
    assert_no_secret_on_disk(&s);

    // An index that redirects its project pages is reported, not followed.
    s.pypi().log().redirect_gets();
    let r = s.run(&["audit", "0.2.0.pre0"]);
    let stdout = r.stdout;
    assert_eq!(r.code, Some(1), "{stdout}");
    assert!(stdout.contains("redirect"), "{stdout}");
}

/// Uploads stream from disk (issue 15): a wheel far larger than any buffer
/// reaches the index byte for byte (audit downloads and hashes what the
/// index serves), sent with a Content-Length, as indexes require.
#[test]
fn a_file_larger_than_any_buffer_is_streamed_intact() {
    let s = sample();
    let pkg = s.repo.join("python_modules/demo-core");
    // 3 MiB that do not compress: the wheel stays about as large.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let data: Vec<u8> = (0..3 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(pkg.join("demo_core/blob.bin"), &data).unwrap();
    let toml = pkg.join("pyproject.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str("\n[tool.setuptools.package-data]\ndemo_core = [\"*.bin\"]\n");
    std::fs::write(&toml, text).unwrap();
    s.commit_and_push("a large data file");
    s.ok(&["start", "0.2.0.pre0"]);
    let wheel = s
        .pypi()
        .files_on_server()
        .into_iter()
        .find(|f| f.starts_with("demo_core") && f.ends_with(".whl"))
        .unwrap();
    let size = std::fs::metadata(s.pypi().server.packages.join(&wheel))
        .unwrap()
        .len();
    assert!(size > 3 << 20, "{wheel} has {size} bytes");
    s.ok(&["audit", "0.2.0.pre0"]);
    let upload = s
        .pypi()
        .log()
        .requests()
        .into_iter()
        .find(|r| r.upload.as_deref() == Some(wheel.as_str()))
        .unwrap();
    let head = upload.text.to_ascii_lowercase();
    assert!(
        head.contains("content-length:") && !head.contains("transfer-encoding"),
        "{}",
        upload.text.lines().take(12).collect::<Vec<_>>().join("\n")
    );
}

/// A request the index is slow to answer is shown while it is waited for
/// (issue 15): in a log, a line naming the host and the upload. The
/// threshold is lowered so that a 3 s stall is far past it.
#[test]
fn a_slow_index_is_named_while_it_is_waited_for() {
    let mut s = sample();
    s.set_env("RELEASE_SLOW_MS", "200");
    s.pypi()
        .log()
        .inject(&[Fault::Stall(Duration::from_secs(3))]);
    let r = s.ok(&["start", "0.2.0.pre0"]);
    let host = s.pypi().proxy.url();
    let host = host
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("waiting for"))
        .unwrap_or_else(|| panic!("no waiting line in:\n{}", r.stdout));
    assert!(
        line.contains(&format!("waiting for {host} (upload of ")) && line.contains(" s so far"),
        "{line}"
    );
}
