//! HTTPS trusted as the Python tools trust it (issue 14): the index behind a
//! TLS proxy whose CA the test made is refused without that CA and reached
//! with it, named by `SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE` or `[publish]
//! ca_cert`.

mod common;

use common::tls::TestCa;
use common::Sample;

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
