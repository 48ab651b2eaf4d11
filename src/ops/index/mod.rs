//! Package indexes: where publish puts files and where audit reads them.
//!
//! A small wing, each part importing only downwards:
//! - `api`: the [`Index`] trait publish and audit speak to, [`IndexError`],
//!   [`Served`] and [`Upload`] (a leaf: no backend, nothing above `ops`);
//! - `simple`: reading PEP 691/503 project pages and PEP 503 names;
//! - `file`: the static PEP 503 index in a folder (`file://`);
//! - `http`: the legacy upload API and the simple API over HTTP;
//! - here: the target a config names and its factory, and what every backend
//!   is driven by (retries, looking a file up, adopting a served file).
//!
//! An index never lets a file be replaced: a file already there with other
//! bytes is a conflict, never overwritten.

mod api;
mod file;
mod http;
pub mod simple;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use api::{Index, IndexError, Served, Upload};
pub use file::FileIndex;
pub use http::{HttpIndex, HttpTarget};
pub use simple::{normalize_name, parse_page};

use super::credentials::Credentials;
use super::http::{checked_url, RetryPolicy, SafeUrl};
use crate::config::Config;
use api::io;

/// Where files are published.
#[derive(Debug, Clone)]
pub enum Target {
    /// A static PEP 503 index in a local folder (the folder holding `simple/`).
    File { root: PathBuf },
    /// An index speaking the legacy upload API and the simple API.
    Http(Box<HttpTarget>),
}

/// A checked URL without userinfo, and the credentials its userinfo held.
fn split_url(raw: &str, source: &str) -> Result<(SafeUrl, Option<Credentials>), IndexError> {
    let (url, userinfo) = SafeUrl::split(checked_url(raw)?);
    let creds = userinfo.map(|(user, password)| Credentials::new(user, password, source.into()));
    Ok((url, creds))
}

/// Per request: a hung index costs at most `attempts` × this (plus, for an
/// upload, the body's time at the slowest rate allowed) and the backoffs.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// The upload target, the environment first (as twine does), then the config,
/// then `~/.pypirc`.
pub fn publish_target(config: &Config) -> Result<Target, IndexError> {
    let (url, credentials) = super::credentials::resolve(config)?;
    let url = url.ok_or(IndexError::NoTarget)?;
    let url = url.trim();
    if let Some(path) = url.strip_prefix("file://") {
        let path = PathBuf::from(path);
        if !path.is_absolute() {
            return Err(IndexError::BadUrl(
                super::http::redact(url),
                "a file:// URL needs an absolute path (file:///srv/index)".into(),
            ));
        }
        return Ok(Target::File { root: path });
    }
    // Credentials inside a URL are taken out of it, so the URL can be shown;
    // the environment and ~/.pypirc win over the upload URL's own.
    let (upload_url, in_url) = split_url(url, "the upload URL")?;
    let credentials = credentials.or(in_url);
    let trusted = super::trusted::wanted(&config.publish, credentials.is_some());
    let (index_url, index_credentials) = match &config.publish.index_url {
        Some(i) => split_url(i, "the index URL")?,
        None => (SafeUrl::split(derive_index_url(upload_url.url())).0, None),
    };
    let p = &config.publish;
    let retry = RetryPolicy {
        attempts: p.attempts.unwrap_or(5).max(1),
        base: Duration::from_millis(p.backoff_ms.unwrap_or(500)),
        max: Duration::from_secs(15),
    };
    let (credentials, trusted) = match trusted {
        true => (
            None,
            Some(std::sync::Arc::new(super::trusted::TrustedPublisher::new(
                &upload_url,
                retry,
            ))),
        ),
        false => (credentials, None),
    };
    Ok(Target::Http(Box::new(HttpTarget {
        upload_url,
        index_url,
        credentials,
        index_credentials,
        retry,
        timeout: Duration::from_secs(p.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS)),
        ca_cert: p.ca_cert.clone(),
        trusted,
    })))
}

/// The simple index that goes with an upload URL, for the servers we know:
/// PyPI and TestPyPI (`/legacy/` -> `/simple/` on the main host), and
/// pypiserver-style servers (upload at `/`, simple at `/simple/`).
pub fn derive_index_url(upload: &url::Url) -> url::Url {
    let mut u = upload.clone();
    match u.host_str() {
        Some("upload.pypi.org") => {
            let _ = u.set_host(Some("pypi.org"));
            u.set_path("/simple/");
        }
        Some("test.pypi.org") => u.set_path("/simple/"),
        _ => {
            let path = u.path().trim_end_matches('/');
            let base = path.strip_suffix("/legacy").unwrap_or(path);
            u.set_path(&format!("{base}/simple/"));
        }
    }
    u.set_query(None);
    u
}

impl Target {
    /// The URL without credentials, fit for the journal and the screen.
    pub fn display_url(&self) -> String {
        match self {
            Target::File { root } => format!("file://{}", root.display()),
            Target::Http(h) => h.upload_url.to_string(),
        }
    }

    /// Are uploads authenticated by tokens minted through trusted publishing?
    pub fn trusted_publishing(&self) -> bool {
        matches!(self, Target::Http(h) if h.trusted.is_some())
    }

    /// The URL audit reads, without credentials.
    pub fn index_display_url(&self) -> String {
        match self {
            Target::File { root } => format!("file://{}/simple/", root.display()),
            Target::Http(h) => h.index_url.to_string(),
        }
    }

    /// The index behind this target.
    pub fn open(&self) -> Result<Box<dyn Index>, IndexError> {
        Ok(match self {
            Target::File { root } => Box::new(FileIndex::new(root.clone())),
            Target::Http(h) => Box::new(HttpIndex::new((**h).clone())?),
        })
    }

    pub fn retry(&self) -> RetryPolicy {
        match self {
            Target::File { .. } => RetryPolicy {
                attempts: 1,
                ..RetryPolicy::default()
            },
            Target::Http(h) => h.retry,
        }
    }

    /// Check, without changing anything, that publishing can work: the folder
    /// is writable, or the index accepts the credentials.
    pub fn check(&self) -> Result<(), IndexError> {
        match self {
            Target::File { root } => {
                let mut probe = root.as_path();
                while !probe.exists() {
                    probe = probe.parent().ok_or_else(|| {
                        IndexError::BadUrl(self.display_url(), "no existing parent folder".into())
                    })?;
                }
                let meta = std::fs::metadata(probe).map_err(io(probe))?;
                if !meta.is_dir() {
                    return Err(IndexError::BadUrl(
                        self.display_url(),
                        format!("{} is not a folder", probe.display()),
                    ));
                }
                if meta.permissions().readonly() {
                    return Err(IndexError::BadUrl(
                        self.display_url(),
                        format!("{} is read-only", probe.display()),
                    ));
                }
                Ok(())
            }
            Target::Http(h) => HttpIndex::new((**h).clone())?.probe(),
        }
    }
}

/// Download what the index serves for `served` into `dest` (a temp file
/// renamed over it): returns its size and sha256.
pub fn download(
    index: &dyn Index,
    served: &Served,
    dest: &Path,
) -> Result<(u64, String), IndexError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
    index.copy_to(served, tmp.as_file_mut())?;
    tmp.persist(dest).map_err(|e| io(dest)(e.error))?;
    let size = std::fs::metadata(dest).map_err(io(dest))?.len();
    let sha256 = super::sha256_file(dest).map_err(io(dest))?;
    Ok((size, sha256))
}

/// The file `filename` of `package` that the index holds, listed or not yet:
/// an upload it refused as existing may land on its page late (a CDN that
/// lags, a page not yet rewritten), so it is looked up until `wait` ends.
pub fn find_held(
    index: &dyn Index,
    package: &str,
    filename: &str,
    wait: Duration,
) -> Result<Option<Served>, IndexError> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        if let Some(found) = index.held(package, filename)? {
            return Ok(Some(found));
        }
        if std::time::Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// sha256 of `filename` as served, if the index has it.
pub fn lookup(
    index: &dyn Index,
    package: &str,
    filename: &str,
) -> Result<Option<String>, IndexError> {
    let listed = index.list(package)?;
    match listed.iter().find(|s| s.filename == filename) {
        Some(s) => index.hash(s).map(Some),
        None => Ok(None),
    }
}

/// How one file reached the index.
#[derive(Debug, PartialEq, Eq)]
pub enum Uploaded {
    Sent,
    /// The index already served it with the same sha256 (nothing sent twice).
    AlreadyThere,
}

/// Upload one file under the retry policy. An outcome that is unknown (a
/// timeout, a dropped connection, a 5xx) is resolved by asking the index before
/// sending again; an index that says "exists" is resolved the same way.
pub fn upload_with_retry(
    index: &dyn Index,
    policy: RetryPolicy,
    package: &str,
    file: &Path,
    entry: &Upload<'_>,
) -> Result<Uploaded, IndexError> {
    let resolve = |served: Option<String>| -> Option<Result<Uploaded, IndexError>> {
        match served {
            Some(h) if h == entry.sha256 => Some(Ok(Uploaded::AlreadyThere)),
            Some(h) => Some(Err(IndexError::Conflict {
                filename: entry.filename.to_string(),
                served: h,
                ours: entry.sha256.to_string(),
            })),
            None => None,
        }
    };
    super::http::with_retry(
        policy,
        IndexError::is_transient,
        || match index.upload(package, file, entry) {
            Ok(()) => Ok(Uploaded::Sent),
            Err(IndexError::Exists(_)) => resolve(lookup(index, package, entry.filename)?)
                .unwrap_or_else(|| Err(IndexError::ExistsUnlisted(entry.filename.to_string()))),
            Err(e) => Err(e),
        },
        // The last try may have landed: ask before sending again.
        || {
            lookup(index, package, entry.filename)
                .ok()
                .and_then(&resolve)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::simple::{parse_anchors, split_fragment};
    use super::*;

    #[test]
    fn a_file_changed_since_the_ledger_is_not_sent() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("demo-1.0.tar.gz");
        std::fs::write(&file, b"not what was built").unwrap();
        let index = HttpIndex::new(target("http://127.0.0.1:1/", None)).unwrap();
        let zeros = "0".repeat(64);
        let entry = Upload {
            filename: "demo-1.0.tar.gz",
            size: 18,
            sha256: &zeros,
        };
        // Refused before any connection (port 1 would fail otherwise).
        let err = index.upload("demo", &file, &entry).unwrap_err();
        assert!(matches!(err, IndexError::Altered { .. }), "{err}");
        assert!(err.to_string().contains("release resume"), "{err}");
    }

    fn target(upload: &str, index: Option<&str>) -> HttpTarget {
        let config = Config::parse(
            &format!(
                "[publish]\nupload_url = \"{upload}\"\n{}",
                index
                    .map(|i| format!("index_url = \"{i}\"\n"))
                    .unwrap_or_default()
            ),
            Path::new("release.toml"),
        )
        .unwrap();
        match publish_target(&config).unwrap() {
            Target::Http(h) => *h,
            Target::File { .. } => unreachable!(),
        }
    }

    #[test]
    fn credentials_only_to_their_origin() {
        let who = |t: &HttpTarget, u: &str| {
            t.auth_for(&url::Url::parse(u).unwrap())
                .map(|c| format!("{}:{}", c.username, c.password()))
        };
        // PyPI: the files host gets nothing.
        let t = target("https://up:p%40ss@upload.example/legacy/", None);
        assert_eq!(
            who(&t, "https://upload.example/legacy/").as_deref(),
            Some("up:p@ss")
        );
        assert_eq!(
            who(&t, "https://upload.example/simple/x/").as_deref(),
            Some("up:p@ss")
        );
        assert_eq!(who(&t, "https://files.example/packages/x.whl"), None);
        assert_eq!(who(&t, "http://upload.example/legacy/"), None);
        assert_eq!(who(&t, "https://upload.example:8443/legacy/"), None);
        // An index on its own origin with its own reader.
        let t = target(
            "https://up:pw@upload.example/legacy/",
            Some("https://reader:r%3Ad@index.example/simple/"),
        );
        assert_eq!(t.index_url.to_string(), "https://index.example/simple/");
        assert_eq!(
            who(&t, "https://index.example/simple/x/").as_deref(),
            Some("reader:r:d")
        );
        assert_eq!(
            who(&t, "https://upload.example/legacy/").as_deref(),
            Some("up:pw")
        );
        assert_eq!(who(&t, "https://files.example/x.whl"), None);
        // Without userinfo in the index URL, the upload credentials stay home.
        let t = target(
            "https://up:pw@upload.example/legacy/",
            Some("https://index.example/simple/"),
        );
        assert_eq!(who(&t, "https://index.example/simple/x/"), None);
        // One origin: the reader for pages, the uploader for uploads.
        let t = target(
            "https://up:pw@one.example/legacy/",
            Some("https://reader:rd@one.example/simple/"),
        );
        assert_eq!(
            who(&t, "https://one.example/simple/x/").as_deref(),
            Some("reader:rd")
        );
        assert_eq!(
            who(&t, "https://one.example/legacy/").as_deref(),
            Some("up:pw")
        );
    }

    #[test]
    fn anchors_and_urls() {
        let html = r#"<a href="../../packages/a-1.0.tar.gz#sha256=ABC">a-1.0.tar.gz</a><A HREF='b.whl'>b</A>"#;
        let a = parse_anchors(html);
        assert_eq!(a.len(), 2);
        assert_eq!(split_fragment(&a[0].0).1.as_deref(), Some("abc"));
        let up = url::Url::parse("https://upload.pypi.org/legacy/").unwrap();
        assert_eq!(derive_index_url(&up).as_str(), "https://pypi.org/simple/");
        let local = url::Url::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(
            derive_index_url(&local).as_str(),
            "http://127.0.0.1:8080/simple/"
        );
    }
}
