//! An index over HTTP: the legacy upload API (what twine and `uv publish`
//! speak to PyPI, pypiserver, devpi, Artifactory...) and the simple API for
//! reading back (PEP 691 JSON, falling back to PEP 503 HTML).
//!
//! One client is reused for every request, so uploads share keep-alive
//! connections. Redirects are never followed.

use std::path::Path;
use std::time::Duration;

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use reqwest::blocking::multipart::{Form, Part};
use reqwest::StatusCode;
use serde::Deserialize;

use super::http::{self, describe, is_transient_status, SafeUrl};
use super::index::{parse_anchors, split_fragment, HttpTarget, Index, IndexError, Served};
use super::metadata;
use crate::journal::LedgerFile;
use crate::packages::normalize_name;

const SIMPLE_JSON: &str = "application/vnd.pypi.simple.v1+json";

/// Sends of one file with trusted publishing before a refused token is
/// taken as a refusal of the publisher, not an expiry.
const TOKEN_TRIES: usize = 4;

pub struct HttpIndex {
    target: HttpTarget,
    client: reqwest::blocking::Client,
}

#[derive(Deserialize)]
struct JsonPage {
    files: Vec<JsonFile>,
}

#[derive(Deserialize)]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
}

fn short(body: &str) -> String {
    let text = body.trim();
    let text: String = text.chars().take(300).collect();
    text.replace('\n', " ")
}

impl HttpIndex {
    pub fn new(target: HttpTarget) -> Result<Self, IndexError> {
        let client = http::client_trusting(target.timeout, target.ca_cert.as_deref())?;
        Ok(HttpIndex { target, client })
    }

    /// Every request goes through here, so credentials are attached by the
    /// one rule of [`HttpTarget::auth_for`] and only to their own origin.
    fn request(
        &self,
        method: reqwest::Method,
        url: &url::Url,
    ) -> reqwest::blocking::RequestBuilder {
        let req = self.client.request(method, url.clone());
        match self.target.auth_for(url) {
            Some(c) => req.basic_auth(&c.username, Some(c.password())),
            None => req,
        }
    }

    fn transient(what: String, e: &reqwest::Error) -> IndexError {
        if http::is_transient_error(e) {
            IndexError::Transient {
                what,
                message: describe(e),
            }
        } else {
            IndexError::Unreachable {
                what,
                message: describe(e),
            }
        }
    }

    fn auth_error(&self, status: StatusCode) -> IndexError {
        let source_name = match (&self.target.trusted, &self.target.credentials) {
            (Some(t), _) => t.source(),
            (None, Some(c)) => c.source.clone(),
            (None, None) => "nowhere (none given)".into(),
        };
        IndexError::Auth {
            url: self.target.upload_url.to_string(),
            source_name,
            status: status.as_u16(),
        }
    }

    /// A request to the upload URL with the upload credentials: with trusted
    /// publishing, the token minted last (or a new one), and its generation,
    /// which [`HttpIndex::upload_refused`] takes back.
    fn upload_request(&self) -> Result<(reqwest::blocking::RequestBuilder, u64), IndexError> {
        let url = self.target.upload_url.url();
        match &self.target.trusted {
            Some(t) => {
                let (c, generation) = t.credentials(&self.client)?;
                let req = self.client.post(url.clone());
                Ok((req.basic_auth(&c.username, Some(c.password())), generation))
            }
            None => Ok((self.request(reqwest::Method::POST, url), 0)),
        }
    }

    /// The index refused the upload credentials: a minted token is then
    /// forgotten (it most likely expired), so the next attempt mints anew.
    fn upload_refused(&self, generation: u64) {
        if let Some(t) = &self.target.trusted {
            t.refused(generation);
        }
    }

    /// Preflight: credentials present and accepted. The probe is an upload
    /// request with no file in it: it changes nothing, and an index answers
    /// 401/403 to bad credentials before it looks at the form.
    pub fn probe(&self) -> Result<(), IndexError> {
        if self.target.credentials.is_none() && self.target.trusted.is_none() {
            return Err(IndexError::NoCredentials(
                self.target.upload_url.to_string(),
            ));
        }
        let what = format!("cannot reach the index at {}", self.target.upload_url);
        // It changes nothing, so a dropped connection is simply asked again,
        // under the same policy as every other index request.
        let resp = super::http::with_retry(
            self.target.retry,
            IndexError::is_transient,
            || {
                let form = Form::new()
                    .text(":action", "file_upload")
                    .text("protocol_version", "1");
                let _waiting = self.waiting(self.target.upload_url.url(), "upload check");
                self.post(form, &what, None)
            },
            || None,
        )?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED {
            return Err(IndexError::NotUploadUrl {
                url: self.target.upload_url.to_string(),
                status: status.as_u16(),
            });
        }
        if status.is_server_error() {
            return Err(IndexError::Status {
                what,
                status: status.as_u16(),
                message: short(&resp.text().unwrap_or_default()),
            });
        }
        Ok(())
    }

    /// POST a form to the upload URL, refusing redirects and bad
    /// credentials; `timeout` in place of the client's, if given.
    fn post(
        &self,
        form: Form,
        what: &str,
        timeout: Option<Duration>,
    ) -> Result<reqwest::blocking::Response, IndexError> {
        let url = self.target.upload_url.url().clone();
        let (req, generation) = self.upload_request()?;
        let mut req = req.multipart(form);
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let resp = req
            .send()
            .map_err(|e| Self::transient(what.to_string(), &e))?;
        if matches!(
            resp.status(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            self.upload_refused(generation);
        }
        self.refusal(&url, &resp)?;
        Ok(resp)
    }

    /// What every request answers the same way: a redirect is reported, never
    /// followed (it could carry credentials elsewhere), and 401/403 mean the
    /// credentials were refused.
    fn refusal(
        &self,
        url: &url::Url,
        resp: &reqwest::blocking::Response,
    ) -> Result<(), IndexError> {
        let status = resp.status();
        if status.is_redirection() {
            return Err(IndexError::Redirect {
                url: url.to_string(),
                location: location(resp),
            });
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(self.auth_error(status));
        }
        Ok(())
    }

    /// Registered as a wait while the guard lives (the progress line shows
    /// it once it is slow).
    fn waiting(&self, url: &url::Url, what: &str) -> super::waiting::Guard {
        super::waiting::track(format!("{} ({what})", super::waiting::host_of(url)))
    }

    fn project_url(&self, package: &str) -> Result<url::Url, IndexError> {
        let mut base = self.target.index_url.url().clone();
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        base.join(&format!("{}/", normalize_name(package)))
            .map_err(|e| IndexError::BadPage {
                url: base.to_string(),
                message: e.to_string(),
            })
    }
}

fn location(resp: &reqwest::blocking::Response) -> String {
    resp.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(http::redact)
        .unwrap_or_else(|| "(no Location)".into())
}

/// The files of a project page: PEP 691 JSON or PEP 503 HTML, links resolved
/// against the page URL. A link's userinfo is dropped: credentials are never
/// taken from a page, and a location may be printed.
pub fn parse_page(url: &url::Url, is_json: bool, body: &str) -> Result<Vec<Served>, IndexError> {
    let bad = |message: String| IndexError::BadPage {
        url: url.to_string(),
        message,
    };
    let resolve = |href: &str| {
        url.join(href)
            .map(|u| SafeUrl::split(u).0.to_string())
            .map_err(|e| bad(e.to_string()))
    };
    if is_json {
        let page: JsonPage = serde_json::from_str(body).map_err(|e| bad(e.to_string()))?;
        return page
            .files
            .into_iter()
            .map(|f| {
                Ok(Served {
                    filename: f.filename,
                    location: resolve(&f.url)?,
                    anchor_sha256: f.hashes.get("sha256").map(|h| h.to_ascii_lowercase()),
                })
            })
            .collect();
    }
    parse_anchors(body)
        .into_iter()
        .map(|(href, text)| {
            let (path, anchor_sha256) = split_fragment(&href);
            let loc = url::Url::parse(&resolve(path)?).map_err(|e| bad(e.to_string()))?;
            let filename = loc
                .path_segments()
                .and_then(|mut s| s.next_back().map(str::to_string))
                .filter(|s| !s.is_empty())
                .unwrap_or(text);
            Ok(Served {
                filename,
                location: loc.to_string(),
                anchor_sha256,
            })
        })
        .collect()
}

fn filetype_and_pyversion(filename: &str) -> (&'static str, String) {
    match filename.strip_suffix(".whl") {
        Some(stem) => (
            "bdist_wheel",
            stem.split('-').rev().nth(2).unwrap_or("py3").to_string(),
        ),
        None => ("sdist", "source".to_string()),
    }
}

/// sha256 and blake2b-256 of a file in one streaming pass.
fn digests(path: &Path) -> std::io::Result<(String, String)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut sha = sha2::Sha256::new();
    let mut blake = Blake2b::<U32>::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        Digest::update(&mut sha, &buf[..n]);
        Digest::update(&mut blake, &buf[..n]);
    }
    Ok((
        super::hex(&Digest::finalize(sha)),
        super::hex(&Digest::finalize(blake)),
    ))
}

impl Index for HttpIndex {
    fn list(&self, package: &str) -> Result<Vec<Served>, IndexError> {
        let url = self.project_url(package)?;
        let _waiting = self.waiting(&url, &format!("the page of {package}"));
        let what = format!("cannot read {url}");
        let resp = self
            .request(reqwest::Method::GET, &url)
            .header(
                reqwest::header::ACCEPT,
                format!("{SIMPLE_JSON}, text/html;q=0.1"),
            )
            .send()
            .map_err(|e| Self::transient(what.clone(), &e))?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        self.refusal(&url, &resp)?;
        if !status.is_success() {
            let err = IndexError::Status {
                what: what.clone(),
                status: status.as_u16(),
                message: short(&resp.text().unwrap_or_default()),
            };
            return Err(if is_transient_status(status) {
                IndexError::Transient {
                    what,
                    message: err.to_string(),
                }
            } else {
                err
            });
        }
        let is_json = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"));
        let body = resp.text().map_err(|e| Self::transient(what.clone(), &e))?;
        parse_page(&url, is_json, &body)
    }

    fn copy_to(&self, served: &Served, out: &mut dyn std::io::Write) -> Result<(), IndexError> {
        let url = super::http::checked_url(&served.location)?;
        let what = format!("cannot download {}", served.filename);
        let _waiting = self.waiting(&url, &format!("download of {}", served.filename));
        let mut resp = self
            .request(reqwest::Method::GET, &url)
            .send()
            .map_err(|e| Self::transient(what.clone(), &e))?;
        let status = resp.status();
        self.refusal(&url, &resp)?;
        if !status.is_success() {
            let message = format!("HTTP {status}");
            return Err(if is_transient_status(status) {
                IndexError::Transient { what, message }
            } else {
                IndexError::Status {
                    what,
                    status: status.as_u16(),
                    message,
                }
            });
        }
        let mut buf = vec![0u8; 1 << 16];
        loop {
            use std::io::Read;
            let n = resp.read(&mut buf).map_err(|e| IndexError::Transient {
                what: what.clone(),
                message: e.to_string(),
            })?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])
                .map_err(|e| IndexError::Transient {
                    what: what.clone(),
                    message: e.to_string(),
                })?;
        }
        Ok(())
    }

    /// With trusted publishing, a refused token is minted again and the file
    /// sent once more: a token lives 15 minutes, a publish may take longer.
    /// Parallel uploads refused together share the one new token (minted
    /// under a lock); an upload whose retry raced a token that expired in
    /// turn tries the next one, a bounded number of times.
    fn upload(&self, package: &str, file: &Path, entry: &LedgerFile) -> Result<(), IndexError> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.upload_once(package, file, entry) {
                Err(IndexError::Auth { .. })
                    if self.target.trusted.is_some() && tries < TOKEN_TRIES => {}
                other => return other,
            }
        }
    }
}

impl HttpIndex {
    /// The file is read twice and never held: once for its digests (which
    /// the form carries before the file), then streamed into the request
    /// body. Memory per upload is a few buffers, whatever the file's size.
    fn upload_once(
        &self,
        _package: &str,
        file: &Path,
        entry: &LedgerFile,
    ) -> Result<(), IndexError> {
        let ioerr = |source| IndexError::Io {
            path: file.to_path_buf(),
            source,
        };
        let (sha256, blake2_256) = digests(file).map_err(ioerr)?;
        let content = std::fs::File::open(file).map_err(ioerr)?;
        let size = content.metadata().map_err(ioerr)?.len();
        // What is sent must be what the ledger recorded (and what the
        // digests describe): a file changed under us is not sent.
        if sha256 != entry.sha256 || size != entry.size {
            return Err(IndexError::Altered {
                path: file.to_path_buf(),
                detail: format!(
                    "sha256 {sha256} and {size} bytes now, the ledger recorded {} and {} bytes",
                    entry.sha256, entry.size
                ),
            });
        }
        let meta = metadata::read(file)?;
        let (filetype, pyversion) = filetype_and_pyversion(&entry.filename);
        let mut form = Form::new()
            .text(":action", "file_upload")
            .text("protocol_version", "1")
            .text("filetype", filetype)
            .text("pyversion", pyversion)
            // No md5_digest: MD5 fails under FIPS, and twine 6.2 dropped it.
            .text("sha256_digest", sha256)
            .text("blake2_256_digest", blake2_256);
        for (k, v) in meta.form_fields() {
            form = form.text(k, v);
        }
        // A known length: the body is sent with Content-Length (indexes
        // refuse chunked uploads), read from disk 8 KiB at a time.
        let part = Part::reader_with_length(content, size)
            .file_name(entry.filename.clone())
            .mime_str("application/octet-stream")
            .map_err(|e| IndexError::Status {
                what: "cannot build the upload form".into(),
                status: 0,
                message: describe(&e),
            })?;
        form = form.part("content", part);
        let what = format!("upload of {} to {}", entry.filename, self.target.upload_url);
        let _waiting = self.waiting(
            self.target.upload_url.url(),
            &format!("upload of {}", entry.filename),
        );
        let timeout = http::upload_timeout(self.target.timeout, size);
        let resp = self.post(form, &what, Some(timeout))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let reason = status.canonical_reason().unwrap_or("").to_string();
        let body = short(&resp.text().unwrap_or_default());
        if is_transient_status(status) {
            return Err(IndexError::Transient {
                what,
                message: format!("HTTP {status} {body}"),
            });
        }
        // 409 (pypiserver) or 400 "File already exists" (PyPI, warehouse).
        let exists = status == StatusCode::CONFLICT
            || format!("{reason} {body}")
                .to_ascii_lowercase()
                .contains("already exist");
        if exists {
            return Err(IndexError::Exists(entry.filename.clone()));
        }
        Err(IndexError::Rejected {
            filename: entry.filename.clone(),
            status: status.as_u16(),
            message: if body.is_empty() { reason } else { body },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_changed_since_the_ledger_is_not_sent() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("demo-1.0.tar.gz");
        std::fs::write(&file, b"not what was built").unwrap();
        let config = crate::config::Config::parse(
            "[publish]\nupload_url = \"http://127.0.0.1:1/\"\n",
            Path::new("release.toml"),
        )
        .unwrap();
        let Ok(super::super::Target::Http(target)) = super::super::publish_target(&config) else {
            panic!("an HTTP target")
        };
        let index = HttpIndex::new(*target).unwrap();
        let (sha256, blake2) = digests(&file).unwrap();
        assert_eq!(sha256, super::super::sha256_bytes(b"not what was built"));
        assert_eq!(
            blake2,
            super::super::hex(&Blake2b::<U32>::digest(b"not what was built"))
        );
        let entry = LedgerFile {
            package: "demo".into(),
            filename: "demo-1.0.tar.gz".into(),
            size: 18,
            sha256: "0".repeat(64),
            state: crate::journal::FileState::Pending,
            uploaded_at: None,
            note: None,
        };
        // Refused before any connection (port 1 would fail otherwise).
        let err = index.upload("demo", &file, &entry).unwrap_err();
        assert!(matches!(err, IndexError::Altered { .. }), "{err}");
        assert!(err.to_string().contains("release resume"), "{err}");
    }

    #[test]
    fn parses_json_and_html_pages() {
        let url = url::Url::parse("https://i.example/simple/demo/").unwrap();
        let json = r#"{"meta":{"api-version":"1.0"},"name":"demo","files":[{"filename":"demo-1.0.tar.gz","url":"../../files/demo-1.0.tar.gz","hashes":{"sha256":"AB"}}]}"#;
        let files = parse_page(&url, true, json).unwrap();
        assert_eq!(files[0].filename, "demo-1.0.tar.gz");
        assert_eq!(files[0].location, "https://i.example/files/demo-1.0.tar.gz");
        assert_eq!(files[0].anchor_sha256.as_deref(), Some("ab"));
        let html = r#"<a href="/packages/demo-1.0-py3-none-any.whl#sha256=cd">demo-1.0-py3-none-any.whl</a>"#;
        let files = parse_page(&url, false, html).unwrap();
        assert_eq!(
            files[0].location,
            "https://i.example/packages/demo-1.0-py3-none-any.whl"
        );
        // Credentials are never taken from a page, nor shown from one.
        let html = r#"<a href="https://u:pw@files.example/demo-1.0.tar.gz">x</a>"#;
        let files = parse_page(&url, false, html).unwrap();
        assert_eq!(files[0].location, "https://files.example/demo-1.0.tar.gz");
        assert_eq!(files[0].filename, "demo-1.0.tar.gz");
        assert!(parse_page(&url, true, "{not json").is_err());
        assert!(parse_page(&url, false, "<a href=").unwrap().is_empty());
        assert_eq!(
            filetype_and_pyversion("a-1.0-py3-none-any.whl"),
            ("bdist_wheel", "py3".to_string())
        );
        assert_eq!(filetype_and_pyversion("a-1.0.tar.gz").0, "sdist");
    }
}
