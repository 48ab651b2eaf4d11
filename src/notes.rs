//! Release notes: the section of the notes file (`CHANGES.md`) for a version.
//!
//! Teams write one heading per release (`## 0.6.5`); a pre-release is
//! announced with its base release's section, and a pre-release without one
//! gets a short generated note, so announcing never blocks on writing prose.

use crate::version::{normalize, ReleaseVersion};

/// The heading's version: `## 0.6.5`, `## v0.6.5`, `## [0.6.5] - 2024-01-01`.
fn heading_version(line: &str) -> Option<(usize, String)> {
    let level = line.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = line[level..].trim();
    let token = rest
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()?
        .trim_matches(|c| c == '[' || c == ']');
    let token = token.strip_prefix('v').unwrap_or(token);
    Some((level, token.to_string()))
}

/// The body under the first heading naming `wanted` (typed or normalised),
/// up to the next heading of the same or a higher level.
pub fn section_for(text: &str, wanted: &str) -> Option<String> {
    let wanted_norm = normalize(wanted);
    let mut lines = text.lines();
    let mut level = 0;
    for line in lines.by_ref() {
        if let Some((l, v)) = heading_version(line) {
            if v == wanted || normalize(&v) == wanted_norm {
                level = l;
                break;
            }
        }
    }
    if level == 0 {
        return None;
    }
    let mut body = Vec::new();
    for line in lines {
        if let Some((l, _)) = heading_version(line) {
            if l <= level {
                break;
            }
        }
        body.push(line);
    }
    let body = body.join("\n").trim().to_string();
    (!body.is_empty()).then_some(body)
}

/// The section for a release: its own, else (pre-releases) its base release's.
pub fn section(text: &str, version: &ReleaseVersion) -> Option<String> {
    section_for(text, &version.typed).or_else(|| {
        if version.is_final() {
            None
        } else {
            section_for(text, &version.base_release())
        }
    })
}

/// The short note a nightly is announced with.
pub fn nightly(state: &crate::journal::State) -> String {
    let r = &state.release;
    let commit = r.release_commit.as_deref().unwrap_or("");
    let index = state.publish.index_url.clone().unwrap_or_default();
    let mut note = format!(
        "Nightly {} of {} packages, built from `{}` at {}.\n",
        r.version,
        r.packages.len(),
        r.branch,
        &commit[..commit.len().min(12)]
    );
    for p in &r.packages {
        note.push_str(&format!(
            "- {} {}: {index}{}/\n",
            p.name, r.normalized_version, p.normalized_name
        ));
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGES: &str =
        "# Changelog\n\n## 0.6.5\n\n- a fix\n\n### Details\n\nmore\n\n## 0.6.4\n\n- old\n";

    #[test]
    fn finds_sections() {
        let v = |s| ReleaseVersion::parse(s).unwrap();
        let s = section(CHANGES, &v("0.6.5")).unwrap();
        assert!(s.contains("a fix") && s.contains("more") && !s.contains("old"));
        assert!(section(CHANGES, &v("0.6.5.pre0"))
            .unwrap()
            .contains("a fix"));
        assert!(section(CHANGES, &v("0.6.4")).unwrap().contains("old"));
        assert!(section(CHANGES, &v("0.6.6")).is_none());
        assert_eq!(
            section_for("## [v1.0rc1] - 2024\nx\n", "1.0.pre1").as_deref(),
            Some("x")
        );
        assert!(section_for("", "1.0").is_none());
        assert!(section_for("#######\n## \n", "1.0").is_none());
    }
}
