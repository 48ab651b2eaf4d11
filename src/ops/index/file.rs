//! The static PEP 503 index in a folder (`file://`): the embedded default
//! for demos and tests, and a real target for a plain file server.
//! `simple/<normalised-name>/<file>` plus an `index.html` per project and one
//! at the root, each replaced atomically, so a file server can serve it while
//! a release writes to it. A file already there with other bytes is a
//! conflict, never overwritten.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::super::paths::confined;
use super::api::{io, Index, IndexError, Served, Upload};
use super::simple::{html_escape, normalize_name, parse_anchors, split_fragment};

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
            let sha = super::super::sha256_file(&path).map_err(io(&path))?;
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
    fn upload(&self, package: &str, file: &Path, entry: &Upload<'_>) -> Result<(), IndexError> {
        let dir = self.project_dir(package)?;
        let dest = confined(&dir, entry.filename)?;
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let conflict = |served: String| IndexError::Conflict {
            filename: entry.filename.to_string(),
            served,
            ours: entry.sha256.to_string(),
        };
        let held = match super::super::sha256_file(&dest) {
            Ok(h) if h == entry.sha256 => Ok(()),
            Ok(h) => Err(conflict(h)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Streamed: memory stays a buffer, whatever the file's size.
                let mut src = std::fs::File::open(file).map_err(io(file))?;
                let tmp = write_temp(&self.staging(), &mut src)?;
                match tmp.persist_noclobber(&dest) {
                    Ok(_) => Ok(()),
                    Err(e) => match super::super::sha256_file(&dest) {
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
