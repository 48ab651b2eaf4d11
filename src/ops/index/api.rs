//! What every index backend shares: the [`Index`] trait publish and audit
//! speak to, its errors, and the file it serves. A leaf of the index wing:
//! it imports no backend and nothing above `ops`.

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::super::credentials::CredentialError;
use super::super::http::HttpError;
use super::super::paths::UnsafeName;

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
    Trusted(#[from] super::super::trusted::TrustedError),
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
    Metadata(#[from] super::super::metadata::MetadataError),
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

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One file to send: what the index must hold under its name.
#[derive(Debug, Clone, Copy)]
pub struct Upload<'a> {
    pub filename: &'a str,
    pub sha256: &'a str,
    pub size: u64,
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

/// What publish and audit need from an index.
pub trait Index: Sync {
    /// The files the index lists for `package`.
    fn list(&self, package: &str) -> Result<Vec<Served>, IndexError>;
    /// sha256 of the bytes the index serves for a listed file.
    fn hash(&self, served: &Served) -> Result<String, IndexError> {
        let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
        self.copy_to(served, &mut hasher)?;
        Ok(super::super::hex(&sha2::Digest::finalize(hasher)))
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
    fn upload(&self, package: &str, file: &Path, entry: &Upload<'_>) -> Result<(), IndexError>;
}
