//! Release notes: the section of the notes file (`CHANGES.md`) for a version.
//!
//! Teams write one heading per release, in styles of their own: `## 0.6.5`,
//! keep-a-changelog's `## [0.6.5] - 2024-01-01`, OpenTelemetry's
//! `## Version 1.46.0/0.67b0 (2026-12-03)`. Any heading whose first word
//! (after `Version`) is the version is found by default; `[notes] heading`
//! names the exact shape when that is not enough. A pre-release is
//! announced with its base release's section (or the `## Unreleased` one,
//! with `[notes] unreleased`), and a pre-release without one gets a short
//! generated note, so announcing never blocks on writing prose. With
//! `[notes] unreleased` the bump turns `## Unreleased` into the version's
//! heading ([`promote_unreleased`]).

use regex::Regex;

use crate::config::NotesConfig;
use crate::packages::Package;
use crate::version::{normalize, ReleaseVersion};

/// How the notes file's headings are read for one release.
#[derive(Debug, Clone, Default)]
pub struct Style {
    /// `[notes] heading`: the template a release's heading matches.
    pub heading: Option<String>,
    /// `[notes] unreleased`: `## Unreleased` holds the coming release's notes.
    pub unreleased: bool,
    /// Each track's version in this release, for `{track.NAME}`.
    pub tracks: Vec<(String, String)>,
}

impl Style {
    pub fn of(config: &NotesConfig, tracks: Vec<(String, String)>) -> Style {
        Style {
            heading: config.heading.clone(),
            unreleased: config.unreleased,
            tracks,
        }
    }
}

/// Each track's version in a release of `version` (empty without tracks).
pub fn tracks_of(packages: &[Package], version: &str) -> Vec<(String, String)> {
    let mut tracks: Vec<(String, String)> = Vec::new();
    for p in packages.iter().filter(|p| !p.track.is_empty()) {
        if !tracks.iter().any(|(t, _)| *t == p.track) {
            tracks.push((p.track.clone(), p.release_version(version).to_string()));
        }
    }
    tracks
}

/// A Markdown (ATX) heading's level and text.
fn heading(line: &str) -> Option<(usize, &str)> {
    let line = line.trim_end();
    let level = line.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &line[level..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let text = rest.trim();
    (!text.is_empty()).then_some((level, text))
}

/// The version a heading's text names: its first word, after a `Version`
/// or `Release`, without brackets, a `v`, or what follows a `/` (the other
/// tracks' versions).
fn heading_version(text: &str) -> &str {
    let mut text = text;
    for word in ["version ", "release "] {
        if text.len() > word.len() && text[..word.len()].eq_ignore_ascii_case(word) {
            text = text[word.len()..].trim_start();
        }
    }
    let token = text
        .split(|c: char| c.is_whitespace() || c == '(' || c == '/')
        .next()
        .unwrap_or("")
        .trim_matches(|c| c == '[' || c == ']');
    token
        .strip_prefix(['v', 'V'])
        .filter(|t| t.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(token)
}

fn is_unreleased(text: &str) -> bool {
    text.trim_matches(|c| c == '[' || c == ']')
        .eq_ignore_ascii_case("unreleased")
}

/// The first heading `is_it` accepts: its line index, level, and the body
/// under it up to the next heading of the same or a higher level.
fn find(text: &str, is_it: impl Fn(usize, &str) -> bool) -> Option<(usize, usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let (at, level) = lines.iter().enumerate().find_map(|(i, line)| {
        heading(line)
            .filter(|(level, t)| is_it(*level, t))
            .map(|(level, _)| (i, level))
    })?;
    let body: Vec<&str> = lines[at + 1..]
        .iter()
        .take_while(|l| heading(l).is_none_or(|(l, _)| l > level))
        .copied()
        .collect();
    Some((at, level, body.join("\n").trim().to_string()))
}

/// The body under the first heading naming `wanted` (typed or normalised),
/// up to the next heading of the same or a higher level.
pub fn section_for(text: &str, wanted: &str) -> Option<String> {
    let wanted_norm = normalize(wanted);
    find(text, |_, t| {
        let v = heading_version(t);
        v == wanted || normalize(v) == wanted_norm
    })
    .map(|(_, _, body)| body)
    .filter(|b| !b.is_empty())
}

/// A heading template as a pattern of the whole heading line: `{version}`
/// is the version typed or normalised, `{date}` any `YYYY-MM-DD`,
/// `{track.NAME}` that track's version (any version with `any_track`), a
/// run of spaces any run of spaces.
fn template_pattern(
    template: &str,
    version: &str,
    tracks: &[(String, String)],
    any_track: bool,
) -> Option<Regex> {
    let alternatives = |v: &str| {
        let mut alts = vec![regex::escape(v)];
        let norm = normalize(v);
        if norm != v {
            alts.push(regex::escape(&norm));
        }
        format!("(?:{})", alts.join("|"))
    };
    let mut pattern = String::from("^");
    let mut rest = template.trim();
    while !rest.is_empty() {
        let placeholder = rest
            .strip_prefix('{')
            .and_then(|r| r.find('}').map(|end| &r[..end]));
        if let Some(name) = placeholder {
            let part = match name {
                "version" => Some(alternatives(version)),
                "date" => Some(r"\d{4}-\d{2}-\d{2}".to_string()),
                _ => name.strip_prefix("track.").and_then(|t| {
                    if any_track {
                        return Some(r"[^\s/()\[\]]+".to_string());
                    }
                    tracks
                        .iter()
                        .find(|(n, _)| n == t)
                        .map(|(_, v)| alternatives(v))
                }),
            };
            if let Some(part) = part {
                pattern.push_str(&part);
                rest = &rest[name.len() + 2..];
                continue;
            }
        }
        let c = rest.chars().next()?;
        if c.is_whitespace() {
            pattern.push_str(r"\s+");
            rest = rest.trim_start();
        } else {
            pattern.push_str(&regex::escape(&c.to_string()));
            rest = &rest[c.len_utf8()..];
        }
    }
    pattern.push('$');
    Regex::new(&pattern).ok()
}

/// The body of the section whose heading is `version`'s in `style`.
fn own_section(text: &str, version: &str, style: &Style, any_track: bool) -> Option<String> {
    match &style.heading {
        None => section_for(text, version),
        Some(template) => {
            let re = template_pattern(template, version, &style.tracks, any_track)?;
            find(text, |level, t| {
                re.is_match(&format!("{} {t}", "#".repeat(level)))
            })
            .map(|(_, _, body)| body)
            .filter(|b| !b.is_empty())
        }
    }
}

/// The section for a release: its own; else (pre-releases) its base
/// release's, else the `## Unreleased` one when the style keeps notes there.
pub fn section(text: &str, version: &ReleaseVersion, style: &Style) -> Option<String> {
    if let Some(s) = own_section(text, &version.typed, style, false) {
        return Some(s);
    }
    if version.is_final() {
        return None;
    }
    own_section(text, &version.base_release(), style, true).or_else(|| {
        style
            .unreleased
            .then(|| unreleased_section(text))
            .flatten()
            .filter(|b| !b.is_empty())
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

/// The body under the `## Unreleased` heading (empty when it has none);
/// `None` when there is no such heading.
pub fn unreleased_section(text: &str) -> Option<String> {
    find(text, |_, t| is_unreleased(t)).map(|(_, _, body)| body)
}

/// The heading a release of `version` gets on `date` (`YYYY-MM-DD`), at
/// `level`: the template filled in, else in the style of the file's latest
/// version heading (`Version X`, `[X] - date`, `vX`), else `X (date)`.
pub fn new_heading(text: &str, version: &str, style: &Style, date: &str, level: usize) -> String {
    if let Some(template) = &style.heading {
        let mut h = template
            .replace("{version}", version)
            .replace("{date}", date);
        for (name, v) in &style.tracks {
            h = h.replace(&format!("{{track.{name}}}"), v);
        }
        return h;
    }
    let hashes = "#".repeat(level);
    let latest = text
        .lines()
        .filter_map(heading)
        .find(|(_, t)| !is_unreleased(t) && ReleaseVersion::parse(heading_version(t)).is_ok());
    match latest.map(|(_, t)| t) {
        Some(t) if t.len() > 8 && t[..8].eq_ignore_ascii_case("version ") => {
            format!("{hashes} {} {version} ({date})", &t[..7])
        }
        Some(t) if t.starts_with('[') => format!("{hashes} [{version}] - {date}"),
        Some(t) if t.starts_with('v') => format!("{hashes} v{version} ({date})"),
        _ => format!("{hashes} {version} ({date})"),
    }
}

/// The heading a missing section would have, for messages: the template
/// filled in (the date as `YYYY-MM-DD`), else `## VERSION`.
pub fn expected_heading(version: &str, style: &Style) -> String {
    match &style.heading {
        Some(_) => new_heading("", version, style, "YYYY-MM-DD", 2),
        None => format!("## {version}"),
    }
}

/// `text` with its `## Unreleased` heading turned into `version`'s heading
/// dated `date`, an empty `## Unreleased` kept above it for the next
/// release's notes. `None` when there is no `## Unreleased` heading.
pub fn promote_unreleased(text: &str, version: &str, style: &Style, date: &str) -> Option<String> {
    let (at, level, _) = find(text, |_, t| is_unreleased(t))?;
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let new = new_heading(text, version, style, date, level);
    let mut out = String::with_capacity(text.len() + new.len() + 4);
    for (i, line) in text.split_inclusive('\n').enumerate() {
        out.push_str(line);
        if i == at {
            if !line.ends_with('\n') {
                out.push_str(eol);
            }
            out.push_str(eol);
            out.push_str(&new);
            out.push_str(eol);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGES: &str =
        "# Changelog\n\n## 0.6.5\n\n- a fix\n\n### Details\n\nmore\n\n## 0.6.4\n\n- old\n";

    fn v(s: &str) -> ReleaseVersion {
        ReleaseVersion::parse(s).unwrap()
    }

    #[test]
    fn finds_sections() {
        let plain = Style::default();
        let s = section(CHANGES, &v("0.6.5"), &plain).unwrap();
        assert!(s.contains("a fix") && s.contains("more") && !s.contains("old"));
        assert!(section(CHANGES, &v("0.6.5.pre0"), &plain)
            .unwrap()
            .contains("a fix"));
        assert!(section(CHANGES, &v("0.6.4"), &plain)
            .unwrap()
            .contains("old"));
        assert!(section(CHANGES, &v("0.6.6"), &plain).is_none());
        assert_eq!(
            section_for("## [v1.0rc1] - 2024\nx\n", "1.0.pre1").as_deref(),
            Some("x")
        );
        assert!(section_for("", "1.0").is_none());
        assert!(section_for("#######\n## \n", "1.0").is_none());
        assert!(section_for("##1.0\nx\n", "1.0").is_none());
    }

    /// OpenTelemetry's CHANGELOG.md, as on its main branch.
    const OTEL: &str = "# Changelog\n\n<!-- changelog start -->\n\n## Unreleased\n\n- coming\n\n\
        ## Version 1.46.0/0.67b0 (2026-12-03)\n\n### Added\n\n- `opentelemetry-sdk`: a thing\n  ([#5122](https://x/5122))\n\n\
        ## Version 1.45.0/0.66b0 (2026-11-02)\n\n- older\n";

    #[test]
    fn finds_version_slash_beta_headings_by_default() {
        let plain = Style::default();
        let s = section(OTEL, &v("1.46.0"), &plain).unwrap();
        assert!(
            s.starts_with("### Added\n\n- `opentelemetry-sdk`: a thing"),
            "{s}"
        );
        assert!(!s.contains("older") && !s.contains("coming"), "{s}");
        assert_eq!(
            section(OTEL, &v("1.45.0"), &plain).as_deref(),
            Some("- older")
        );
        assert!(section(OTEL, &v("1.47.0"), &plain).is_none());
        // A release candidate of 1.46.0 is announced with 1.46.0's section.
        assert!(section(OTEL, &v("1.46.0rc0"), &plain)
            .unwrap()
            .contains("a thing"));
        assert!(section_for("## version 2.0 (2026-01-01)\nx\n", "2.0").is_some());
        assert!(section_for("## Release v2.0\nx\n", "2.0").is_some());
    }

    #[test]
    fn finds_keep_a_changelog_headings() {
        let kac = "# Changelog\n\n## [Unreleased]\n\n## [1.46.0] - 2026-12-03\n\n### Fixed\n\n- a bug\n\n## [1.45.0] - 2026-11-02\n\n- old\n\n[1.46.0]: https://x/compare\n";
        let s = section(kac, &v("1.46.0"), &Style::default()).unwrap();
        assert!(s.starts_with("### Fixed\n\n- a bug"), "{s}");
        assert!(!s.contains("old"), "{s}");
    }

    #[test]
    fn a_heading_template_names_the_section() {
        let style = Style {
            heading: Some("## Version {version}/{track.beta} ({date})".into()),
            unreleased: false,
            tracks: vec![
                ("stable".into(), "1.46.0".into()),
                ("beta".into(), "0.67b0".into()),
            ],
        };
        assert!(section(OTEL, &v("1.46.0"), &style)
            .unwrap()
            .contains("a thing"));
        // The beta track's version is part of the heading.
        let other_beta = Style {
            tracks: vec![("beta".into(), "0.68b0".into())],
            ..style.clone()
        };
        assert!(section(OTEL, &v("1.46.0"), &other_beta).is_none());
        // A pre-release falls back to its base release's heading, whatever
        // the beta track's version there.
        let rc = Style {
            tracks: vec![("beta".into(), "0.67b1".into())],
            ..style.clone()
        };
        assert!(section(OTEL, &v("1.46.0rc0"), &rc)
            .unwrap()
            .contains("a thing"));
        // A heading of another shape is not the release's.
        let strict = Style {
            heading: Some("## Release {version}".into()),
            ..style.clone()
        };
        assert!(section(OTEL, &v("1.46.0"), &strict).is_none());
        assert!(section("### Release 1.46.0\nx\n", &v("1.46.0"), &strict).is_none());
        assert!(section("##  Release   1.46.0\nx\n", &v("1.46.0"), &strict).is_some());
    }

    #[test]
    fn names_the_heading_expected() {
        let style = Style {
            heading: Some("## Version {version}/{track.beta} ({date})".into()),
            unreleased: false,
            tracks: vec![("beta".into(), "0.67b0".into())],
        };
        assert_eq!(
            expected_heading("1.46.0", &style),
            "## Version 1.46.0/0.67b0 (YYYY-MM-DD)"
        );
        assert_eq!(expected_heading("1.46.0", &Style::default()), "## 1.46.0");
    }

    #[test]
    fn pre_releases_use_the_unreleased_section() {
        let style = Style {
            unreleased: true,
            ..Style::default()
        };
        let text = "# Changelog\n\n## Unreleased\n\n- coming\n\n## 1.0.0 (2026-01-01)\n\n- first\n";
        assert_eq!(
            section(text, &v("1.1.0rc0"), &style).as_deref(),
            Some("- coming")
        );
        assert!(section(text, &v("1.1.0rc0"), &Style::default()).is_none());
        // A final release is announced with its own section only.
        assert!(section(text, &v("1.1.0"), &style).is_none());
        assert_eq!(unreleased_section(text).as_deref(), Some("- coming"));
        assert_eq!(
            unreleased_section("## Unreleased\n\n## 1.0\n").as_deref(),
            Some("")
        );
        assert!(unreleased_section("## 1.0\n").is_none());
    }

    #[test]
    fn promotes_the_unreleased_heading() {
        let date = "2026-12-03";
        let otel = Style {
            heading: Some("## Version {version}/{track.beta} ({date})".into()),
            unreleased: true,
            tracks: vec![
                ("stable".into(), "1.47.0".into()),
                ("beta".into(), "0.68b0".into()),
            ],
        };
        let out = promote_unreleased(OTEL, "1.47.0", &otel, date).unwrap();
        assert!(
            out.contains("## Unreleased\n\n## Version 1.47.0/0.68b0 (2026-12-03)\n\n- coming\n\n## Version 1.46.0/"),
            "{out}"
        );
        assert_eq!(
            section(&out, &v("1.47.0"), &otel).as_deref(),
            Some("- coming")
        );
        assert_eq!(unreleased_section(&out).as_deref(), Some(""));
        // Without a template: the style of the latest version heading.
        let plain = Style::default();
        let out = promote_unreleased(OTEL, "1.47.0", &plain, date).unwrap();
        assert!(
            out.contains("## Unreleased\n\n## Version 1.47.0 (2026-12-03)\n\n- coming"),
            "{out}"
        );
        let kac = "## [Unreleased]\n### Added\n- x\n\n## [1.0.0] - 2026-01-01\n- y\n";
        let out = promote_unreleased(kac, "1.1.0", &plain, date).unwrap();
        assert_eq!(out, "## [Unreleased]\n\n## [1.1.0] - 2026-12-03\n### Added\n- x\n\n## [1.0.0] - 2026-01-01\n- y\n");
        assert_eq!(
            section(&out, &v("1.1.0"), &plain).as_deref(),
            Some("### Added\n- x")
        );
        let bare = "# Changes\r\n\r\n## unreleased\r\n\r\n- x\r\n";
        assert_eq!(
            promote_unreleased(bare, "0.1.0", &plain, date).unwrap(),
            "# Changes\r\n\r\n## unreleased\r\n\r\n## 0.1.0 (2026-12-03)\r\n\r\n- x\r\n"
        );
        assert_eq!(
            promote_unreleased("## Unreleased", "0.1.0", &plain, date).unwrap(),
            "## Unreleased\n\n## 0.1.0 (2026-12-03)\n"
        );
        assert!(promote_unreleased(CHANGES, "0.6.6", &plain, date).is_none());
    }
}
