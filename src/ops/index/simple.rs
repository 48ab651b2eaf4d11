//! Reading an index's project pages: PEP 691 JSON or PEP 503 HTML, and
//! PEP 503's name normalisation. Pure parsing, shared by the backends.

use serde::Deserialize;

use super::super::http::SafeUrl;
use super::api::{IndexError, Served};

/// PEP 503 normalised name: runs of `-`, `_`, `.` become `-`, lowercased
/// (`Dagster_AWS` is `dagster-aws`), as an index names a project.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
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

pub fn html_escape(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
