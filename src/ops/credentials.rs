//! Where to upload and as whom, resolved the way Python users expect (twine's
//! rules): `TWINE_REPOSITORY_URL`, `TWINE_USERNAME`, `TWINE_PASSWORD` in the
//! environment win over `release.toml`, which wins over `~/.pypirc`.
//!
//! A password only ever lives in [`Credentials`], whose `Debug` is redacted, and
//! is handed to the HTTP client as basic auth: never journaled, printed, or put
//! into an error.

use std::path::PathBuf;

use thiserror::Error;

use crate::config::Config;

#[derive(Debug, Error)]
pub enum CredentialError {
    #[error("cannot read {path}: {message}")]
    Pypirc { path: PathBuf, message: String },
    #[error("no upload URL for repository `{0}`: add `repository = ...` to its section in ~/.pypirc, or set [publish] upload_url")]
    NoUrl(String),
}

#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    password: String,
    /// Where they came from, for messages ("TWINE_USERNAME/TWINE_PASSWORD", "~/.pypirc [pypi]").
    pub source: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("source", &self.source)
            .finish()
    }
}

impl Credentials {
    pub fn new(username: String, password: String, source: String) -> Self {
        Credentials {
            username,
            password,
            source,
        }
    }
    pub fn password(&self) -> &str {
        &self.password
    }
}

/// A `~/.pypirc` section.
#[derive(Debug, Default)]
struct Section {
    repository: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

fn pypirc_path(config: &Config) -> Option<PathBuf> {
    config
        .publish
        .pypirc
        .as_ref()
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pypirc")))
}

fn read_section(config: &Config, name: &str) -> Result<(Section, String), CredentialError> {
    let Some(path) = pypirc_path(config) else {
        return Ok((Section::default(), String::new()));
    };
    if !path.is_file() {
        return Ok((Section::default(), path.display().to_string()));
    }
    let ini = ini::Ini::load_from_file_noescape(&path).map_err(|e| CredentialError::Pypirc {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let section = ini.section(Some(name));
    let get = |k: &str| {
        section
            .and_then(|s| s.get(k))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    Ok((
        Section {
            repository: get("repository"),
            username: get("username"),
            password: get("password"),
        },
        path.display().to_string(),
    ))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The upload URL and the credentials for it. `Ok(None)` URL means nothing is
/// configured at all.
pub fn resolve(config: &Config) -> Result<(Option<String>, Option<Credentials>), CredentialError> {
    let repository = config.publish.repository.clone();
    let (section, pypirc) = match &repository {
        Some(name) => read_section(config, name)?,
        None => (Section::default(), String::new()),
    };
    let url = env("TWINE_REPOSITORY_URL")
        .or_else(|| config.publish.upload_url.clone())
        .or(section.repository.clone())
        .or_else(|| match repository.as_deref() {
            Some("pypi") => Some("https://upload.pypi.org/legacy/".into()),
            Some("testpypi") => Some("https://test.pypi.org/legacy/".into()),
            _ => None,
        });
    if url.is_none() {
        if let Some(name) = repository {
            return Err(CredentialError::NoUrl(name));
        }
    }
    let section_name = repository.unwrap_or_default();
    let username = env("TWINE_USERNAME")
        .map(|u| (u, "TWINE_USERNAME".to_string()))
        .or_else(|| {
            section
                .username
                .clone()
                .map(|u| (u, format!("{pypirc} [{section_name}]")))
        });
    let password = env("TWINE_PASSWORD")
        .map(|p| (p, "TWINE_PASSWORD".to_string()))
        .or_else(|| {
            section
                .password
                .clone()
                .map(|p| (p, format!("{pypirc} [{section_name}]")))
        });
    let creds = match (username, password) {
        (Some((u, us)), Some((p, ps))) => {
            let source = if us == ps { us } else { format!("{us} + {ps}") };
            Some(Credentials::new(u, p, source))
        }
        // An API token alone means the `__token__` user, as PyPI documents.
        (None, Some((p, ps))) if p.starts_with("pypi-") => {
            Some(Credentials::new("__token__".into(), p, ps))
        }
        _ => None,
    };
    Ok((url, creds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let c = Credentials::new("u".into(), "hunter2-secret".into(), "x".into());
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
