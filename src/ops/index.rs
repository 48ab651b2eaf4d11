//! Package indexes: where publish puts files and where audit reads them.
//!
//! The embedded default is a static PEP 503 index in a folder (`file://`):
//! `simple/<normalised-name>/<file>` plus an `index.html` per project and one at
//! the root, each replaced atomically, so a plain file server can serve it while a
//! release writes to it. An index never lets a file be replaced: a file already
//! there with other bytes is a conflict, never overwritten.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use thiserror::Error;

use super::credentials::{CredentialError, Credentials};
use super::http::{checked_url, HttpError, RetryPolicy, SafeUrl};
use super::paths::{confined, UnsafeName};
use crate::config::Config;
use crate::journal::LedgerFile;
use crate::packages::normalize_name;
use sha2::Digest;

#[derive(Debug, Error)]
pub enum IndexError {
    #[error("no publish target: set [publish] upload_url in release.toml (file:///path/to/index or https://...), [publish] repository (a ~/.pypirc section), or TWINE_REPOSITORY_URL")]
    NoTarget,
    #[error("upload URL `{0}` is not usable: {1}")]
    BadUrl(String, String),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error(transparent)]
    Trusted(#[from] super::trusted::TrustedError),
    #[error("no credentials for {0}: set TWINE_USERNAME and TWINE_PASSWORD (an API token uses the user `__token__`), or username and password in the ~/.pypirc section named by [publish] repository")]
    NoCredentials(String),
    #[error("{url} refused the credentials from {source_name} (HTTP {status}); fix them, then run the command again")]
    Auth {
        url: String,
        source_name: String,
        status: u16,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the index already holds {filename} with other content (sha256 {served}, ours {ours}); an index never replaces a file")]
    Conflict {
        filename: String,
        served: String,
        ours: String,
    },
    #[error("the index says {0} already exists but does not list it; check the index, then run `release resume`")]
    ExistsUnlisted(String),
    #[error("the index answered that {0} already exists")]
    Exists(String),
    #[error("the index refused {filename}: HTTP {status}: {message}")]
    Rejected {
        filename: String,
        status: u16,
        message: String,
    },
    #[error("{url} answered HTTP {status} to an upload request: it is not an upload endpoint (PyPI's is https://upload.pypi.org/legacy/); fix [publish] upload_url or TWINE_REPOSITORY_URL")]
    NotUploadUrl { url: String, status: u16 },
    #[error("{url} answered with a redirect to {location}; redirects are not followed: point the URL at the final location")]
    Redirect { url: String, location: String },
    #[error("{what}: {message}")]
    Transient { what: String, message: String },
    /// A request that failed for good before any answer (an untrusted
    /// certificate, a malformed request).
    #[error("{what}: {message}")]
    Unreachable { what: String, message: String },
    #[error("{what}: HTTP {status}: {message}")]
    Status {
        what: String,
        status: u16,
        message: String,
    },
    #[error("{path} changed since the build recorded it ({detail}); it is not sent: restore it, then run `release resume`")]
    Altered { path: PathBuf, detail: String },
    #[error("{0}")]
    Metadata(#[from] super::metadata::MetadataError),
    #[error("cannot read the index page {url}: {message}")]
    BadPage { url: String, message: String },
    #[error(transparent)]
    UnsafeName(#[from] UnsafeName),
}

impl IndexError {
    /// Worth retrying: connection failures, timeouts, 5xx, 429.
    pub fn is_transient(&self) -> bool {
        matches!(self, IndexError::Transient { .. })
    }

    /// The index holds a file under this name already, with bytes other
    /// than ours or not yet listed.
    pub fn held_already(&self) -> bool {
        matches!(
            self,
            IndexError::Conflict { .. } | IndexError::ExistsUnlisted(_)
        )
    }

    /// Makes the version impossible to complete: only the index holding a
    /// file of ours with other bytes. Any other refusal (400, 403, 404, 413)
    /// fails the step with the index's reason and burns nothing.
    pub fn burns(&self) -> bool {
        matches!(self, IndexError::Conflict { .. })
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where files are published.
#[derive(Debug, Clone)]
pub enum Target {
    /// A static PEP 503 index in a local folder (the folder holding `simple/`).
    File { root: PathBuf },
    /// An index speaking the legacy upload API and the simple API.
    Http(Box<HttpTarget>),
}

#[derive(Debug, Clone)]
pub struct HttpTarget {
    pub upload_url: SafeUrl,
    pub index_url: SafeUrl,
    /// For the upload URL's origin (and the index's, when it is the same).
    pub credentials: Option<Credentials>,
    /// From the index URL's own userinfo, for the index URL's origin only.
    pub index_credentials: Option<Credentials>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    /// `[publish] ca_cert`: trusted besides the system's roots.
    pub ca_cert: Option<PathBuf>,
    /// Trusted publishing: the upload asks it for a minted token on every
    /// attempt (then `credentials` is `None`). Shared by the target's clones.
    pub trusted: Option<std::sync::Arc<super::trusted::TrustedPublisher>>,
}

impl HttpTarget {
    /// The one rule for attaching credentials to a request: only to the
    /// origin (scheme, host, port) they were given for. Upload credentials go
    /// to the upload URL's origin, the index URL's userinfo to the index URL's
    /// origin; a file an index page links on another host (PyPI serves files
    /// from files.pythonhosted.org) gets none. Redirects are never followed
    /// (see `http::client`), so nothing is re-sent elsewhere either.
    pub fn auth_for(&self, url: &url::Url) -> Option<&Credentials> {
        let upload = self.upload_url.same_origin(url);
        let index = self.index_url.same_origin(url);
        // One origin for both: the index URL's own userinfo is for its pages.
        let under_index = index && url.path().starts_with(self.index_url.url().path());
        let (first, second) = match under_index {
            true => (&self.index_credentials, &self.credentials),
            false => (&self.credentials, &self.index_credentials),
        };
        match (upload, index) {
            (true, true) => first.as_ref().or(second.as_ref()),
            (true, false) => self.credentials.as_ref(),
            (false, true) => self.index_credentials.as_ref(),
            (false, false) => None,
        }
    }
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
            Target::Http(h) => Box::new(super::pypi::HttpIndex::new((**h).clone())?),
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
            Target::Http(h) => super::pypi::HttpIndex::new((**h).clone())?.probe(),
        }
    }
}

/// What publish and audit need from an index.
pub trait Index: Sync {
    /// The files the index lists for `package`.
    fn list(&self, package: &str) -> Result<Vec<Served>, IndexError>;
    /// sha256 of the bytes the index serves for a listed file.
    fn hash(&self, served: &Served) -> Result<String, IndexError> {
        let mut hasher = sha2::Sha256::new();
        self.copy_to(served, &mut hasher)?;
        Ok(super::hex(&sha2::Digest::finalize(hasher)))
    }
    /// Stream the bytes the index serves for a listed file into `out`.
    fn copy_to(&self, served: &Served, out: &mut dyn std::io::Write) -> Result<(), IndexError>;
    /// The file `filename` of `package` if the index holds it, even before
    /// its page lists it (where the index can tell).
    fn held(&self, package: &str, filename: &str) -> Result<Option<Served>, IndexError> {
        Ok(self
            .list(package)?
            .into_iter()
            .find(|s| s.filename == filename))
    }
    /// Send one file. `Err(Exists)` if the index says it has it already.
    fn upload(&self, package: &str, file: &Path, entry: &LedgerFile) -> Result<(), IndexError>;
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
    entry: &LedgerFile,
) -> Result<Uploaded, IndexError> {
    let resolve = |served: Option<String>| -> Option<Result<Uploaded, IndexError>> {
        match served {
            Some(h) if h == entry.sha256 => Some(Ok(Uploaded::AlreadyThere)),
            Some(h) => Some(Err(IndexError::Conflict {
                filename: entry.filename.clone(),
                served: h,
                ours: entry.sha256.clone(),
            })),
            None => None,
        }
    };
    super::http::with_retry(
        policy,
        IndexError::is_transient,
        || match index.upload(package, file, entry) {
            Ok(()) => Ok(Uploaded::Sent),
            Err(IndexError::Exists(_)) => resolve(lookup(index, package, &entry.filename)?)
                .unwrap_or_else(|| Err(IndexError::ExistsUnlisted(entry.filename.clone()))),
            Err(e) => Err(e),
        },
        // The last try may have landed: ask before sending again.
        || {
            lookup(index, package, &entry.filename)
                .ok()
                .and_then(&resolve)
        },
    )
}

/// A file an index serves for a project.
#[derive(Debug, Clone)]
pub struct Served {
    pub filename: String,
    /// Where the bytes are: an absolute URL, or a path for a folder index.
    pub location: String,
    /// The `#sha256=` of the link, if any (may be stale: audit hashes the bytes).
    pub anchor_sha256: Option<String>,
}

/// Anchors of a PEP 503 page: (href, text).
pub fn parse_anchors(html: &str) -> Vec<(String, String)> {
    let re = regex::Regex::new(r#"(?is)<a\s[^>]*?href\s*=\s*["']([^"']*)["'][^>]*>(.*?)</a>"#)
        .unwrap_or_else(|_| unreachable!("static regex"));
    re.captures_iter(html)
        .map(|c| (html_unescape(&c[1]), html_unescape(c[2].trim())))
        .collect()
}

fn html_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The `#sha256=` fragment of an href, and the href without its fragment.
pub fn split_fragment(href: &str) -> (&str, Option<String>) {
    match href.split_once('#') {
        Some((path, frag)) => (
            path,
            frag.strip_prefix("sha256=").map(|h| h.to_ascii_lowercase()),
        ),
        None => (href, None),
    }
}

/// A static PEP 503 index in a folder.
pub struct FileIndex {
    pub root: PathBuf,
    /// Serialises page regeneration between upload workers of this process.
    pages: Mutex<()>,
}

impl FileIndex {
    pub fn new(root: PathBuf) -> Self {
        FileIndex {
            root,
            pages: Mutex::new(()),
        }
    }

    fn simple(&self) -> PathBuf {
        self.root.join("simple")
    }

    fn staging(&self) -> PathBuf {
        self.root.join(".staging")
    }

    fn project_dir(&self, package: &str) -> Result<PathBuf, IndexError> {
        Ok(confined(&self.simple(), &normalize_name(package))?)
    }

    fn files_of(&self, package: &str) -> Result<Vec<String>, IndexError> {
        let dir = self.project_dir(package)?;
        let mut names: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "index.html" && !n.starts_with('.'))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(&dir)(e)),
        };
        names.sort();
        Ok(names)
    }

    fn write_project_page(&self, package: &str) -> Result<(), IndexError> {
        let dir = self.project_dir(package)?;
        let name = normalize_name(package);
        let mut html = format!(
            "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.0\">\n    <title>Links for {0}</title>\n  </head>\n  <body>\n    <h1>Links for {0}</h1>\n",
            html_escape(&name)
        );
        for f in self.files_of(package)? {
            let path = confined(&dir, &f)?;
            let sha = super::sha256_file(&path).map_err(io(&path))?;
            html.push_str(&format!(
                "    <a href=\"{0}#sha256={1}\">{0}</a><br/>\n",
                html_escape(&f),
                sha
            ));
        }
        html.push_str("  </body>\n</html>\n");
        replace_file(&self.staging(), &dir.join("index.html"), html.as_bytes())
    }

    fn write_root_page(&self) -> Result<(), IndexError> {
        let simple = self.simple();
        let mut projects: Vec<String> = std::fs::read_dir(&simple)
            .map_err(io(&simple))?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        projects.sort();
        let mut html = String::from(
            "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.0\">\n    <title>Simple index</title>\n  </head>\n  <body>\n",
        );
        for p in projects {
            html.push_str(&format!(
                "    <a href=\"{0}/\">{0}</a><br/>\n",
                html_escape(&p)
            ));
        }
        html.push_str("  </body>\n</html>\n");
        replace_file(&self.staging(), &simple.join("index.html"), html.as_bytes())
    }
}

impl Index for FileIndex {
    /// The project page's links (what a pip pointed at this folder would see).
    fn list(&self, package: &str) -> Result<Vec<Served>, IndexError> {
        let project = normalize_name(package);
        let dir = self.project_dir(package)?;
        let page = dir.join("index.html");
        let html = match std::fs::read_to_string(&page) {
            Ok(h) => h,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&page)(e)),
        };
        Ok(parse_anchors(&html)
            .into_iter()
            .map(|(href, _)| {
                let (path, anchor_sha256) = split_fragment(&href);
                Served {
                    filename: path.rsplit('/').next().unwrap_or(path).to_string(),
                    // Relative to `simple/`; `hash` confines both parts.
                    location: format!("{project}/{path}"),
                    anchor_sha256,
                }
            })
            .collect())
    }

    /// A file copied into the project's folder is held before the page
    /// that lists it is rewritten (a runner killed in between).
    fn held(&self, package: &str, filename: &str) -> Result<Option<Served>, IndexError> {
        let dir = self.project_dir(package)?;
        let path = confined(&dir, filename)?;
        if !path.is_file() {
            return Ok(None);
        }
        Ok(Some(Served {
            filename: filename.to_string(),
            location: format!("{}/{filename}", normalize_name(package)),
            anchor_sha256: None,
        }))
    }

    /// Only a file in the project's own folder: a link to `../other/x` or
    /// `/etc/x` is a finding, never read.
    fn copy_to(&self, served: &Served, out: &mut dyn std::io::Write) -> Result<(), IndexError> {
        let (project, file) = served
            .location
            .split_once('/')
            .unwrap_or((served.location.as_str(), ""));
        let path = confined(&self.simple(), project).and_then(|dir| confined(&dir, file))?;
        let mut f = std::fs::File::open(&path).map_err(io(&path))?;
        std::io::copy(&mut f, out).map_err(io(&path))?;
        Ok(())
    }

    /// Put `file` into the index (atomically, never over another file) and
    /// regenerate the pages. A file already there with other bytes is a conflict.
    fn upload(&self, package: &str, file: &Path, entry: &LedgerFile) -> Result<(), IndexError> {
        let dir = self.project_dir(package)?;
        let dest = confined(&dir, &entry.filename)?;
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let conflict = |served: String| IndexError::Conflict {
            filename: entry.filename.clone(),
            served,
            ours: entry.sha256.clone(),
        };
        let held = match super::sha256_file(&dest) {
            Ok(h) if h == entry.sha256 => Ok(()),
            Ok(h) => Err(conflict(h)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Streamed: memory stays a buffer, whatever the file's size.
                let mut src = std::fs::File::open(file).map_err(io(file))?;
                let tmp = write_temp(&self.staging(), &mut src)?;
                match tmp.persist_noclobber(&dest) {
                    Ok(_) => Ok(()),
                    Err(e) => match super::sha256_file(&dest) {
                        Ok(h) if h == entry.sha256 => Ok(()),
                        Ok(h) => Err(conflict(h)),
                        Err(_) => return Err(io(&dest)(e.error)),
                    },
                }
            }
            Err(e) => return Err(io(&dest)(e)),
        };
        // Landed, not yet listed: a runner killed here leaves a file pip
        // cannot see but the index holds.
        crate::failpoint::hit("index.before_listing");
        // The pages list what the folder holds, a conflicting file too: one
        // that landed before its runner died is listed now, whoever adopts it.
        let _pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        self.write_project_page(package)?;
        self.write_root_page()?;
        held
    }
}

/// A temp file in `dir` (the index's staging folder, on the same file system
/// as `simple/` so a rename publishes it, but outside what is served: a write
/// cut short leaves nothing in a project folder).
fn write_temp(
    dir: &Path,
    content: &mut impl std::io::Read,
) -> Result<tempfile::NamedTempFile, IndexError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".upload.")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    std::io::copy(content, &mut tmp).map_err(io(dir))?;
    tmp.as_file().sync_all().map_err(io(dir))?;
    Ok(tmp)
}

fn replace_file(staging: &Path, path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    let tmp = write_temp(staging, &mut &bytes[..])?;
    tmp.persist(path).map_err(|e| io(path)(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
