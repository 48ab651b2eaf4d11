//! Package indexes: where publish puts files and where audit reads them.
//!
//! The embedded default is a static PEP 503 index in a folder (`file://`):
//! `simple/<normalised-name>/<file>` plus an `index.html` per project and one at
//! the root, each replaced atomically, so a plain file server can serve it while a
//! release writes to it. An index never lets a file be replaced: a file already
//! there with other bytes is a conflict, never overwritten.

use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::config::Config;
use crate::packages::normalize_name;

#[derive(Debug, Error)]
pub enum IndexError {
    #[error("no publish target: set [publish] upload_url in release.toml (file:///path/to/index or https://...) or TWINE_REPOSITORY_URL")]
    NoTarget,
    #[error("upload URL `{0}` is not usable: {1}")]
    BadUrl(String, String),
    #[error("publishing over HTTP to {0} is not supported by this build of release yet; use a file:// index")]
    HttpUnsupported(String),
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
    Http { url: String },
}

/// The upload target, the environment first (as twine does), then the config.
pub fn publish_target(config: &Config) -> Result<Target, IndexError> {
    let url = std::env::var("TWINE_REPOSITORY_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| config.publish.upload_url.clone())
        .ok_or(IndexError::NoTarget)?;
    parse_target(&url)
}

pub fn parse_target(url: &str) -> Result<Target, IndexError> {
    let url = url.trim();
    if let Some(path) = url.strip_prefix("file://") {
        let path = PathBuf::from(path);
        if !path.is_absolute() {
            return Err(IndexError::BadUrl(
                url.into(),
                "a file:// URL needs an absolute path (file:///srv/index)".into(),
            ));
        }
        return Ok(Target::File { root: path });
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(Target::Http { url: url.into() });
    }
    Err(IndexError::BadUrl(
        url.into(),
        "expected file://, https:// or (loopback only) http://".into(),
    ))
}

impl Target {
    /// The URL without credentials, fit for the journal and the screen.
    pub fn display_url(&self) -> String {
        match self {
            Target::File { root } => format!("file://{}", root.display()),
            Target::Http { url } => strip_userinfo(url),
        }
    }

    /// Check, without changing anything, that publishing can work.
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
            Target::Http { url } => Err(IndexError::HttpUnsupported(strip_userinfo(url))),
        }
    }
}

fn strip_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
            format!("{scheme}://{host}/{path}")
        }
        None => url.to_string(),
    }
}

/// A file an index serves for a project.
#[derive(Debug, Clone)]
pub struct Served {
    pub filename: String,
    /// The `#sha256=` of the anchor, if any (may be stale: audit hashes the bytes).
    pub anchor_sha256: Option<String>,
    /// sha256 of the bytes actually served.
    pub sha256: Option<String>,
    /// Why the bytes could not be read, if they could not.
    pub fault: Option<String>,
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
}

impl FileIndex {
    fn simple(&self) -> PathBuf {
        self.root.join("simple")
    }

    fn project_dir(&self, package: &str) -> PathBuf {
        self.simple().join(normalize_name(package))
    }

    /// sha256 of `filename` if the index already has it.
    pub fn lookup(&self, package: &str, filename: &str) -> Result<Option<String>, IndexError> {
        let path = self.project_dir(package).join(filename);
        match super::sha256_file(&path) {
            Ok(h) => Ok(Some(h)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Put `file` into the index (atomically) and regenerate the index pages.
    /// A file already there with the same bytes is fine; with other bytes, a conflict.
    pub fn upload(&self, package: &str, file: &Path, sha256: &str) -> Result<(), IndexError> {
        let dir = self.project_dir(package);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let filename = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dest = dir.join(&filename);
        if let Some(served) = self.lookup(package, &filename)? {
            if served != sha256 {
                return Err(IndexError::Conflict {
                    filename,
                    served,
                    ours: sha256.into(),
                });
            }
        } else {
            let bytes = std::fs::read(file).map_err(io(file))?;
            let tmp = write_temp(&dir, &bytes)?;
            // persist_noclobber: never replace a file another writer put there.
            if let Err(e) = tmp.persist_noclobber(&dest) {
                if let Some(served) = self.lookup(package, &filename)? {
                    if served != sha256 {
                        return Err(IndexError::Conflict {
                            filename,
                            served,
                            ours: sha256.into(),
                        });
                    }
                } else {
                    return Err(io(&dest)(e.error));
                }
            }
        }
        self.write_project_page(package)?;
        self.write_root_page()
    }

    fn files_of(&self, package: &str) -> Result<Vec<String>, IndexError> {
        let dir = self.project_dir(package);
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
        let dir = self.project_dir(package);
        let name = normalize_name(package);
        let mut html = format!(
            "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.0\">\n    <title>Links for {0}</title>\n  </head>\n  <body>\n    <h1>Links for {0}</h1>\n",
            html_escape(&name)
        );
        for f in self.files_of(package)? {
            let path = dir.join(&f);
            let sha = super::sha256_file(&path).map_err(io(&path))?;
            html.push_str(&format!(
                "    <a href=\"{0}#sha256={1}\">{0}</a><br/>\n",
                html_escape(&f),
                sha
            ));
        }
        html.push_str("  </body>\n</html>\n");
        replace_file(&dir.join("index.html"), html.as_bytes())
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
        replace_file(&simple.join("index.html"), html.as_bytes())
    }

    /// What the index serves for `package`: the project page's anchors, each
    /// file read and hashed (an anchor's `#sha256=` alone can be stale).
    pub fn served(&self, package: &str) -> Result<Vec<Served>, IndexError> {
        let dir = self.project_dir(package);
        let page = dir.join("index.html");
        let html = match std::fs::read_to_string(&page) {
            Ok(h) => h,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&page)(e)),
        };
        let mut out = Vec::new();
        for (href, _) in parse_anchors(&html) {
            let (path, anchor_sha256) = split_fragment(&href);
            let filename = path.rsplit('/').next().unwrap_or(path).to_string();
            let local = dir.join(path);
            let (sha256, fault) = if path.contains("..") || path.starts_with('/') {
                (None, Some(format!("link {href} leaves the project folder")))
            } else {
                match super::sha256_file(&local) {
                    Ok(h) => (Some(h), None),
                    Err(e) => (None, Some(format!("{}: {e}", local.display()))),
                }
            };
            out.push(Served {
                filename,
                anchor_sha256,
                sha256,
                fault,
            });
        }
        Ok(out)
    }
}

fn write_temp(dir: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile, IndexError> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".upload.")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    tmp.write_all(bytes).map_err(io(dir))?;
    tmp.as_file().sync_all().map_err(io(dir))?;
    Ok(tmp)
}

fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let tmp = write_temp(dir, bytes)?;
    tmp.persist(path).map_err(|e| io(path)(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_and_urls() {
        let html = r#"<a href="../../packages/a-1.0.tar.gz#sha256=ABC">a-1.0.tar.gz</a><A HREF='b.whl'>b</A>"#;
        let a = parse_anchors(html);
        assert_eq!(a.len(), 2);
        assert_eq!(split_fragment(&a[0].0).1.as_deref(), Some("abc"));
        assert_eq!(strip_userinfo("https://u:p@h.example/x/"), "https://h.example/x/");
        assert!(parse_target("file://relative").is_err());
        assert!(parse_target("ftp://x").is_err());
    }
}
