//! Core metadata of a built file (`METADATA` in a wheel, `PKG-INFO` in an
//! sdist), read back from the file itself: the upload form must describe the
//! bytes being sent, not what the source tree says.

use std::io::Read;
use std::path::Path;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum MetadataError {
    #[error("{path}: {message}")]
    Bad { path: String, message: String },
}

/// Header fields in file order (multi-use fields repeat), plus the body.
#[derive(Debug, Default, Clone)]
pub struct Metadata {
    pub fields: Vec<(String, String)>,
    pub body: Option<String>,
}

impl Metadata {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The fields as the legacy upload API names them (as twine sends them).
    pub fn form_fields(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .fields
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("description") || self.body.is_none())
            .map(|(k, v)| {
                let key = match k.to_ascii_lowercase().as_str() {
                    "classifier" => "classifiers".to_string(),
                    "project-url" => "project_urls".to_string(),
                    other => other.replace('-', "_"),
                };
                (key, v.clone())
            })
            .collect();
        if let Some(body) = &self.body {
            out.push(("description".into(), body.clone()));
        }
        out
    }
}

/// Parse RFC 822-style metadata: `Key: value` lines, continuation lines
/// starting with whitespace, then an optional body after a blank line.
pub fn parse(text: &str) -> Metadata {
    let mut m = Metadata::default();
    let mut lines = text.split('\n');
    for line in lines.by_ref() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, v)) = m.fields.last_mut() {
                v.push('\n');
                v.push_str(line.trim_start_matches("       |").trim_start());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            m.fields.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let body: String = lines.collect::<Vec<_>>().join("\n");
    if !body.trim().is_empty() {
        m.body = Some(body);
    }
    m
}

const LIMIT: u64 = 16 << 20;

fn bad(path: &Path, message: impl Into<String>) -> MetadataError {
    MetadataError::Bad {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Read the metadata of a wheel or an sdist (`.tar.gz` or `.zip`).
pub fn read(path: &Path) -> Result<Metadata, MetadataError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = std::fs::File::open(path).map_err(|e| bad(path, e.to_string()))?;
    let text = if name.ends_with(".whl") || name.ends_with(".zip") {
        let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(path, e.to_string()))?;
        let wanted = (0..zip.len()).find_map(|i| {
            let entry = zip.by_index(i).ok()?;
            let n = entry.name().to_string();
            let parts: Vec<&str> = n.split('/').collect();
            let hit = match parts.as_slice() {
                [dir, "METADATA"] => dir.ends_with(".dist-info"),
                [_, "PKG-INFO"] => true,
                _ => false,
            };
            hit.then_some(i)
        });
        let i = wanted.ok_or_else(|| bad(path, "no METADATA or PKG-INFO inside"))?;
        let entry = zip.by_index(i).map_err(|e| bad(path, e.to_string()))?;
        let mut s = String::new();
        entry
            .take(LIMIT)
            .read_to_string(&mut s)
            .map_err(|e| bad(path, e.to_string()))?;
        s
    } else if name.ends_with(".tar.gz") {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
        let entries = archive.entries().map_err(|e| bad(path, e.to_string()))?;
        let mut found = None;
        for entry in entries {
            let entry = entry.map_err(|e| bad(path, e.to_string()))?;
            let p = entry
                .path()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let parts: Vec<&str> = p.split('/').collect();
            if let [_, "PKG-INFO"] = parts.as_slice() {
                let mut s = String::new();
                entry
                    .take(LIMIT)
                    .read_to_string(&mut s)
                    .map_err(|e| bad(path, e.to_string()))?;
                found = Some(s);
                break;
            }
        }
        found.ok_or_else(|| bad(path, "no PKG-INFO at the top of the sdist"))?
    } else {
        return Err(bad(path, "not a wheel or an sdist"));
    };
    let m = parse(&text);
    if m.get("Name").is_none() || m.get("Version").is_none() {
        return Err(bad(path, "its metadata has no Name or Version"));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers_and_body() {
        let m = parse("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nClassifier: A\nClassifier: B\nProject-URL: x, y\nLicense: MIT\n        more\n\nThe body\n");
        assert_eq!(m.get("name"), Some("demo"));
        let f = m.form_fields();
        assert_eq!(f.iter().filter(|(k, _)| k == "classifiers").count(), 2);
        assert!(f.iter().any(|(k, v)| k == "metadata_version" && v == "2.1"));
        assert!(f.iter().any(|(k, _)| k == "project_urls"));
        assert!(f.iter().any(|(k, v)| k == "license" && v == "MIT\nmore"));
        assert!(f
            .iter()
            .any(|(k, v)| k == "description" && v.contains("The body")));
        let empty = parse("");
        assert!(empty.get("Name").is_none());
    }
}
