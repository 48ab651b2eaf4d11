//! HTTPS trusted as the Python tools trust it (issue 14): the index behind a
//! TLS proxy whose CA the test made is refused without that CA and reached
//! with it, named by `SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE` or `[publish]
//! ca_cert`; and git pushes over HTTPS (`git http-backend` behind the same
//! kind of proxy) with a credential helper or `GITHUB_TOKEN`.

mod common;

use common::githttp::GitHttp;
use common::tls::{Front, TestCa};
use common::{assert_no_secrets, Sample};

const GIT_TOKEN: &str = "ghs_test_server_token_never_print";

#[test]
fn index_behind_a_private_ca_is_refused_without_it_and_reached_with_it() {
    let ca = TestCa::new();
    let (s, front) = Sample::new().with_pypi_over_tls(&ca);
    let ca_file = ca.write(&s.base, "corporate-ca.pem");
    let before = s.snapshot();

    // Without the CA: refused in preflight, for good (not retried), saying
    // how to trust it; nothing changed, nothing reached the index.
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("preflight refused"), "{}", r.stderr);
    assert!(r.stderr.contains("UnknownIssuer"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("SSL_CERT_FILE, REQUESTS_CA_BUNDLE or [publish] ca_cert"),
        "{}",
        r.stderr
    );
    assert_eq!(s.snapshot(), before);
    assert!(s.pypi().log().requests().is_empty(), "the handshake failed");

    // A bundle that is no bundle is named, with where it was named.
    let junk = s.base.join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let mut cmd = s.cmd(&["start", "0.2.0.pre0", "--dry-run"]);
    cmd.env("REQUESTS_CA_BUNDLE", &junk);
    let r = s.run_cmd(cmd);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("junk.pem (from REQUESTS_CA_BUNDLE)"),
        "{}",
        r.stderr
    );

    // Each way of naming the CA gets through preflight's probe of the index.
    for var in ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"] {
        let mut cmd = s.cmd(&["start", "0.2.0.pre0", "--dry-run"]);
        cmd.env(var, &ca_file);
        let r = s.run_cmd(cmd);
        assert!(r.ok(), "{var}: {}", r.stderr);
    }
    let toml = s.repo.join("release.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        text.replace(
            "backoff_ms = 20\n",
            &format!("backoff_ms = 20\nca_cert = \"{}\"\n", ca_file.display()),
        ),
    )
    .unwrap();
    s.commit_and_push("trust the corporate CA");
    let r = s.ok(&["start", "0.2.0.pre0", "--dry-run"]);
    assert!(r.stdout.contains("nothing was changed"), "{}", r.stdout);

    // And a whole release over HTTPS: uploads, the audit's reads, downloads.
    s.ok(&["start", "0.2.0.pre0"]);
    s.pypi().assert_each_file_once("0.2.0rc0", "over TLS: ");
    assert!(front.log.requests().iter().any(|r| r.upload.is_some()));
    s.ok(&["audit", "0.2.0.pre0"]);
}

#[test]
fn git_pushes_over_https_through_a_private_ca_with_a_helper_or_github_token() {
    let ca = TestCa::new();
    let mut s = Sample::new();
    let server = GitHttp::start(&s.base, "x-access-token", GIT_TOKEN);
    let front = Front::start(server.port, &ca);
    let origin = format!("https://127.0.0.1:{}/origin.git", front.port);
    s.git(&["remote", "set-url", "origin", &origin]);
    let ca_file = ca.write(&s.base, "forge-ca.pem");
    let before = s.snapshot();

    // Without the CA: the fetch of preflight fails on the certificate.
    s.set_env("GITHUB_TOKEN", GIT_TOKEN);
    s.set_env(
        "GITHUB_SERVER_URL",
        &format!("https://127.0.0.1:{}", front.port),
    );
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("preflight refused"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("certificate is not trusted: if it uses a private CA, point SSL_CERT_FILE"),
        "{}",
        r.stderr
    );
    assert_eq!(s.snapshot(), before);
    assert_eq!(server.pushes(), 0);

    // GITHUB_TOKEN goes to GitHub only: without GITHUB_SERVER_URL naming
    // this host, it is not offered, and nothing else is at hand.
    s.set_env("SSL_CERT_FILE", ca_file.to_str().unwrap());
    let mut cmd = s.cmd(&["start", "0.2.0.pre0", "--dry-run"]);
    cmd.env_remove("GITHUB_SERVER_URL");
    let r = s.run_cmd(cmd);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(r.stderr.contains("GITHUB_SERVER_URL names"), "{}", r.stderr);
    assert!(
        !server.seen.lock().unwrap().iter().any(|(_, _, ok)| *ok),
        "no request was authorized"
    );

    // With the CA and a credential helper (no token): released and pushed.
    let mut cmd = s.cmd(&["start", "0.2.0.pre0"]);
    cmd.env_remove("GITHUB_TOKEN");
    let store = s.base.join("git-credentials");
    std::fs::write(
        &store,
        format!(
            "https://x-access-token:{GIT_TOKEN}@127.0.0.1:{}\n",
            front.port
        ),
    )
    .unwrap();
    s.git(&[
        "config",
        "credential.helper",
        &format!("store --file={}", store.display()),
    ]);
    let r = s.run_cmd(cmd);
    assert!(r.ok(), "{}", r.stderr);
    s.assert_pushed("0.2.0.pre0");
    let pushes = server.pushes();
    assert!(pushes >= 1, "pushed over HTTPS");
    assert_no_secrets(&s, &[GIT_TOKEN], &[&r]);

    // With GITHUB_TOKEN for the job's GitHub server, no helper.
    s.git(&["config", "--unset", "credential.helper"]);
    s.ok(&["start", "0.2.0.pre1"]);
    s.assert_pushed("0.2.0.pre1");
    assert!(server.pushes() > pushes);
}
