//! Trusted publishing (issue 14): GitHub Actions' OIDC token exchanged at the
//! index for a short-lived upload token, minted again when it expires during
//! the publish; against a loopback stand-in for the CI's token endpoint and
//! the index's OIDC endpoints in front of a real pypiserver.

mod common;

use common::oidc::{Oidc, AUDIENCE, REQUEST_TOKEN};
use common::{assert_no_secrets, Sample};

/// The sample publishing to pypiserver behind the OIDC stand-in, on a CI
/// runner that offers OIDC tokens, with no password anywhere.
fn on_ci() -> (Sample, Oidc) {
    let mut oidc = None;
    let mut s = Sample::new().with_pypi_behind(|pypi| {
        let o = Oidc::start(pypi.proxy.port);
        let url = o.upload_url();
        oidc = Some(o);
        url
    });
    let oidc = oidc.expect("the stand-in");
    s.set_env("ACTIONS_ID_TOKEN_REQUEST_URL", &oidc.request_url());
    s.set_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN);
    (s, oidc)
}

#[test]
fn release_with_trusted_publishing_and_a_token_that_expires_mid_publish() {
    let (s, oidc) = on_ci();
    // Each upload token carries two uploads, then the index calls it expired.
    oidc.with(|st| st.uploads_per_token = Some(2));
    let r = s.ok(&["start", "0.2.0.pre0", "--json"]);
    // Each file reached pypiserver once, though tokens expired on the way.
    s.pypi()
        .assert_each_file_once("0.2.0rc0", "trusted publishing: ");
    oidc.with(|st| {
        assert!(st.expired >= 1, "no token expired mid-publish");
        // The probe's token, then one per two uploads at least.
        assert!(st.minted.len() >= 4, "minted {:?}", st.minted.len());
        assert!(st.minted.iter().all(|(_, n)| *n <= 2));
        // The CI endpoint was asked with its bearer, for the index's audience.
        assert!(!st.ci_requests.is_empty());
        for (auth, audience) in &st.ci_requests {
            assert_eq!(auth, &format!("bearer {REQUEST_TOKEN}"));
            assert_eq!(audience, AUDIENCE);
        }
    });
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    common::assert_matches_schema("result.schema.json", &v);
    assert_eq!(v["released"], true);
    // No token of any kind in the output, the journal or the history.
    let secrets = oidc.secrets();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_secrets(&s, &secrets, &[&r]);
    s.ok(&["audit", "0.2.0.pre0"]);
    let status = s.ok(&["status"]);
    assert!(
        status
            .stdout
            .contains(&format!("{} (trusted publishing)", oidc.upload_url())),
        "{}",
        status.stdout
    );
}

/// The three packages upload in parallel and each token carries three
/// uploads: the uploads refused together when it expires are all served by
/// the one token minted next, and none is left refused after its retry.
#[test]
fn one_new_token_serves_every_parallel_upload_the_old_one_left_refused() {
    let (s, oidc) = on_ci();
    oidc.with(|st| st.uploads_per_token = Some(3));
    s.ok(&["start", "0.2.0.pre0"]);
    s.pypi()
        .assert_each_file_once("0.2.0rc0", "trusted publishing, parallel refusals: ");
    oidc.with(|st| {
        assert!(st.expired >= 1, "no token expired mid-publish");
        // Six uploads at three per token: the probe's token (it carries
        // no upload), one for the first three and one for the rest, which
        // a second mint per refused upload would exceed.
        let carried: Vec<usize> = st.minted.iter().map(|(_, n)| *n).collect();
        assert!(st.minted.len() <= 3, "minted {carried:?}");
        assert_eq!(carried.iter().sum::<usize>(), 6, "{carried:?}");
    });
    s.ok(&["audit", "0.2.0.pre0"]);
}

#[test]
fn a_mint_the_index_refuses_stops_preflight_and_trusted_is_a_setting() {
    let (s, oidc) = on_ci();
    let before = s.snapshot();
    oidc.with(|st| st.refuse_mint = Some("invalid-publisher"));
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1));
    let err = &r.stderr;
    assert!(err.contains("preflight refused"), "{err}");
    assert!(
        err.contains("refused to mint an upload token (HTTP 422)"),
        "{err}"
    );
    assert!(
        err.contains("invalid-publisher: valid token, but no corresponding publisher"),
        "{err}"
    );
    assert_eq!(s.snapshot(), before);
    assert!(
        s.pypi().log().requests().is_empty(),
        "nothing reached pypiserver"
    );

    // `trusted = true` off CI names what is missing and how to get it.
    oidc.with(|st| st.refuse_mint = None);
    let toml = s.repo.join("release.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        text.replace("backoff_ms = 20\n", "backoff_ms = 20\ntrusted = true\n"),
    )
    .unwrap();
    s.commit_and_push("always trusted publishing");
    let mut cmd = s.cmd(&["start", "0.2.0.pre0", "--dry-run"]);
    cmd.env_remove("ACTIONS_ID_TOKEN_REQUEST_URL");
    let r = s.run_cmd(cmd);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .contains("trusted publishing needs ACTIONS_ID_TOKEN_REQUEST_URL"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("`permissions: id-token: write`"),
        "{}",
        r.stderr
    );

    // `trusted = false` on CI: no exchange; without a password, none to use.
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, text.replace("trusted = true", "trusted = false")).unwrap();
    s.commit_and_push("never trusted publishing");
    let asked = oidc.with(|st| st.ci_requests.len());
    let r = s.run(&["start", "0.2.0.pre0", "--dry-run"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("no credentials for"), "{}", r.stderr);
    assert_eq!(oidc.with(|st| st.ci_requests.len()), asked);
}
