//! Nothing leaked to an index (issue 12): credentials go only to the origin
//! they were given for, never to the host an index page links the files on;
//! credentials inside a URL are used (percent-decoded) but never journaled,
//! printed or announced; uploads carry sha256 and blake2_256, not md5.

mod common;

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use common::apis::Apis;
use common::pypi::{basic, Origin, Pypi, Standin, USER};
use common::{assert_no_secrets, Sample};

const UPLOADER: (&str, &str) = ("uploader", "Up-Secret-4711-never-print");

/// The sample publishing to a stand-in whose pages link the files on a
/// second origin, credentials in TWINE_USERNAME/TWINE_PASSWORD.
fn sample_on_standin() -> (Sample, Standin) {
    let s = Sample::new();
    let standin = Standin::start(UPLOADER, None);
    s.publish_to(
        &format!("http://127.0.0.1:{}/legacy/", standin.upload_port),
        "",
    );
    (s.with_credentials(UPLOADER.0, UPLOADER.1), standin)
}

#[test]
fn the_files_host_gets_no_credentials_from_resume_listing_or_audit() {
    let (s, standin) = sample_on_standin();
    let r = s.run_failing(&["start", "0.2.0.pre0"], "publish.after_upload@2");
    assert!(!r.ok(), "the failpoint should have killed the run");
    let before = standin.files().len();
    assert!(before >= 2, "{before} files uploaded before the kill");
    // The resume lists and hashes what is there before uploading the rest;
    // the audit step and `release audit` (PEP 691 JSON, then PEP 503 HTML)
    // download and hash every file.
    s.ok(&["resume"]);
    standin.html(true);
    s.ok(&["audit", "0.2.0.pre0"]);

    let files = standin.files();
    assert_eq!(files.len(), 6);
    let seen = standin.seen();
    for (_, name, _) in &files {
        let gets = seen
            .iter()
            .filter(|r| r.origin == Origin::Files && r.path == format!("/files/{name}"))
            .count();
        assert!(gets >= 2, "{name} fetched {gets} times");
    }
    let from_files_host = seen.iter().filter(|r| r.origin == Origin::Files).count();
    assert!(from_files_host >= 6 * 2 + before, "{from_files_host}");
    let leaked: Vec<_> = seen
        .iter()
        .filter(|r| r.origin == Origin::Files && r.authorization.is_some())
        .collect();
    assert!(
        leaked.is_empty(),
        "the files host got credentials: {leaked:#?}"
    );
    // The upload origin still got them on every upload.
    let posts: Vec<_> = seen.iter().filter(|r| r.method == "POST").collect();
    assert!(
        posts.len() > 6,
        "{} posts (a probe, then 6 uploads)",
        posts.len()
    );
    for p in posts {
        assert_eq!(p.origin, Origin::Upload);
        assert_eq!(
            p.authorization.as_deref(),
            Some(basic(UPLOADER.0, UPLOADER.1).as_str())
        );
    }
}

#[test]
fn uploads_carry_sha256_and_blake2_but_no_md5() {
    let (s, standin) = sample_on_standin();
    s.ok(&["start", "0.2.0.pre0"]);
    let files = standin.files();
    assert_eq!(files.len(), 6);
    let uploads: Vec<_> = standin
        .seen()
        .into_iter()
        .filter(|r| r.method == "POST" && r.fields.iter().any(|(k, _)| k == "sha256_digest"))
        .collect();
    assert_eq!(uploads.len(), 6);
    for u in uploads {
        let field = |name: &str| {
            u.fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(field("md5_digest"), None, "{:?}", u.fields);
        let sha256 = field("sha256_digest").unwrap();
        let (_, name, bytes) = files
            .iter()
            .find(|(_, _, b)| release::ops::sha256_bytes(b) == sha256)
            .expect("sha256_digest is the sha256 of an uploaded file");
        assert_eq!(
            field("blake2_256_digest").as_deref(),
            Some(release::ops::hex(&Blake2b::<U32>::digest(bytes)).as_str()),
            "blake2_256_digest of {name}"
        );
    }
}

#[test]
fn userinfo_in_urls_is_used_but_never_journaled_printed_or_announced() {
    // A password with `@` and `:` must be percent-encoded in a URL, and sent
    // decoded.
    let uploader = ("uploader", "up@load:Pw-Secret-9");
    let reader = ("reader", "Read-Pass-5150");
    let standin = Standin::start(uploader, Some(reader));
    let apis = Apis::start();
    let s = Sample::new().announce_to(&apis);
    let upload_url = format!(
        "http://uploader:up%40load%3APw-Secret-9@127.0.0.1:{}/legacy/",
        standin.upload_port
    );
    let index_url = format!(
        "http://reader:Read-Pass-5150@127.0.0.1:{}/simple/",
        standin.index_port
    );
    s.publish_to(&upload_url, &format!("index_url = \"{index_url}\""));
    let secrets = [uploader.1, "up%40load%3APw-Secret-9", reader.1];

    // No `## 0.3.0` in CHANGES.md: the announcement is the generated note,
    // which names the index.
    let killed = s.run_failing(&["start", "0.3.0.pre0"], "publish.after_upload@1");
    assert!(!killed.ok());
    let status = s.ok(&["status", "--json"]);
    let journaled: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(
        journaled["publish"]["index_url"],
        format!("http://127.0.0.1:{}/simple/", standin.index_port)
    );
    assert_eq!(
        journaled["publish"]["upload_url"],
        format!("http://127.0.0.1:{}/legacy/", standin.upload_port)
    );
    let done = s.ok(&["resume"]);
    // A failure naming the URL names it without its password.
    let mut cmd = s.cmd(&["start", "0.4.0.pre0", "--dry-run"]);
    cmd.env(
        "TWINE_REPOSITORY_URL",
        "http://uploader:Env-Pass-6120@127.0.0.1:1/legacy/",
    );
    let failed = s.run_cmd(cmd);
    assert_eq!(failed.code, Some(1), "{}", failed.stdout);
    assert!(
        failed.stderr.contains("http://127.0.0.1:1/legacy/"),
        "{}",
        failed.stderr
    );
    assert!(!failed.stderr.contains("Env-Pass-6120"));
    assert_no_secrets(&s, &secrets, &[&killed, &status, &done, &failed]);

    // Announced with the index URL, without its password.
    let posted: Vec<String> = apis.with(|st| {
        st.messages
            .iter()
            .map(|(_, _, text)| text.clone())
            .chain(st.releases.iter().map(|r| r.3.clone()))
            .chain(st.requests.iter().map(|r| r.body.clone()))
            .collect()
    });
    let shown = format!("http://127.0.0.1:{}/simple/demo-core/", standin.index_port);
    assert!(posted.iter().any(|p| p.contains(&shown)), "{posted:#?}");
    for p in &posted {
        for secret in secrets {
            assert!(!p.contains(secret), "announced a password: {p}");
        }
    }

    // Each origin got its own credentials, decoded, and nothing else.
    let seen = standin.seen();
    let (up, read) = (basic(uploader.0, uploader.1), basic(reader.0, reader.1));
    let posts = seen.iter().filter(|r| r.method == "POST").count();
    assert!(posts > 6, "{posts} posts (a probe, then the uploads)");
    let index_reads = seen.iter().filter(|r| r.origin == Origin::Index).count();
    assert!(index_reads >= 3, "{index_reads} index reads");
    for r in &seen {
        let expected = match r.origin {
            Origin::Upload => Some(&up),
            Origin::Index => Some(&read),
            Origin::Files => None,
        };
        assert_eq!(r.authorization.as_ref(), expected, "{r:?}");
    }
    assert_eq!(standin.files().len(), 6);
}

#[test]
fn an_encoded_password_in_twine_repository_url_authenticates_on_pypiserver() {
    let mut s = Sample::new();
    let password = "p@ss:W0rd-pypi-secret";
    let pypi = Pypi::start_with(&s.base.join("server"), password);
    s.env.push((
        "TWINE_REPOSITORY_URL".into(),
        format!(
            "http://{USER}:p%40ss%3AW0rd-pypi-secret@127.0.0.1:{}/",
            pypi.proxy.port
        ),
    ));
    s.ok(&["start", "0.2.0.pre0"]);
    let on_server = std::fs::read_dir(&pypi.server.packages).unwrap().count();
    assert_eq!(on_server, 6);
    for request in pypi.log().requests() {
        assert!(!request.text.contains("p%40ss"), "{}", request.text);
    }
    assert_eq!(pypi.log().delivered_uploads().len(), 6);
}
