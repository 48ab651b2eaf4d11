//! `[[replace]]`: other files that carry the version (`eachdist.ini`, a docs
//! `conf.py`, a Helm chart, a README badge), rewritten by pattern as
//! cargo-release's `pre-release-replacements` do.
//!
//! Each entry names one `file` (from the repository root), a `search` regex
//! and a `replace` template; `{version}`, `{prev_version}`, `{track.NAME}`,
//! `{prev_track.NAME}` and `{date}` are filled in both, regex-escaped in
//! `search` so that `version={prev_track.stable}` matches its dots literally.
//! The edits join the bump's own ([`super::Edits`]), after the version
//! rewrite, so one file touched by both composes, is journaled, and is
//! undone by a resume or an abort like a version file. A nightly applies
//! them to its export with the nightly's versions.
//!
//! A pattern that matches nothing (or not `exactly` times) is a finding
//! before anything changes: a version file left behind silently is what
//! this exists to prevent. The file is confined to the repository like a
//! version file, and never in `.git/` or `.release/`.

use std::path::Path;

use thiserror::Error;

use super::{leaves_by_name, plan_write, read_planned, real_key, Edits, Package, PackageError};
use crate::config::{Config, ReplaceConfig};

#[derive(Debug, Error)]
pub enum ReplaceError {
    #[error(transparent)]
    Package(#[from] PackageError),
    /// Every entry that cannot be applied, each naming its file and pattern.
    #[error("{}", .0.join("\n"))]
    Findings(Vec<String>),
}

/// One track's versions before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackMove {
    /// Empty for the single track of a repository without `[[track]]`.
    pub track: String,
    pub from: String,
    pub to: String,
}

/// What the templates are filled with: each track's move, primary first,
/// and the date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    pub tracks: Vec<TrackMove>,
    /// `YYYY-MM-DD`.
    pub date: String,
}

impl Versions {
    /// Each track's move as `packages` plan it (a package's `version` to
    /// its `next_version`, else `release_version`).
    pub fn of(
        packages: &[Package],
        config: &Config,
        release_version: &str,
        date: String,
    ) -> Versions {
        let tracks = super::tracks::group(packages, config)
            .into_iter()
            .filter_map(|t| {
                let first = t.packages.first()?;
                Some(TrackMove {
                    track: t.name.to_string(),
                    from: t.common_version().unwrap_or(&first.version).to_string(),
                    to: first.release_version(release_version).to_string(),
                })
            })
            .collect();
        Versions { tracks, date }
    }
}

/// Today in UTC, as `{date}` is written.
pub fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// A nightly's date (`20240131`) as `{date}` is written.
pub fn iso_date(yyyymmdd: u64) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        yyyymmdd / 10_000,
        yyyymmdd / 100 % 100,
        yyyymmdd % 100
    )
}

fn placeholder_regex() -> regex::Regex {
    regex::Regex::new(r"\{(version|prev_version|date|(?:prev_)?track\.[A-Za-z0-9_.-]+)\}")
        .unwrap_or_else(|_| unreachable!("static regex"))
}

/// `template` with its placeholders filled from `versions` (regex-escaped
/// when `escape`); other braces (a regex's `\d{4}`) are kept. An error
/// names a placeholder with nothing to fill it.
fn render(template: &str, versions: &Versions, escape: bool) -> Result<String, String> {
    let primary = versions.tracks.first();
    let mut missing = None;
    let out = placeholder_regex().replace_all(template, |c: &regex::Captures| {
        let key = &c[1];
        let value = match key {
            "version" => primary.map(|t| t.to.clone()),
            "prev_version" => primary.map(|t| t.from.clone()),
            "date" => Some(versions.date.clone()),
            _ => {
                let (prev, name) = match key.strip_prefix("prev_track.") {
                    Some(name) => (true, name),
                    None => (false, key.strip_prefix("track.").unwrap_or(key)),
                };
                versions
                    .tracks
                    .iter()
                    .find(|t| !t.track.is_empty() && t.track == name)
                    .map(|t| if prev { t.from.clone() } else { t.to.clone() })
            }
        };
        match value {
            Some(v) if escape => regex::escape(&v),
            Some(v) => v,
            None => {
                missing.get_or_insert_with(|| c[0].to_string());
                c[0].to_string()
            }
        }
    });
    match missing {
        Some(m) => Err(format!("`{m}` names no track in `[[track]]`")),
        None => Ok(out.into_owned()),
    }
}

fn compile(search: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(search).multi_line(true).build()
}

/// How an entry is named in messages: its place and its file.
fn label(index: usize, entry: &ReplaceConfig) -> String {
    format!("[[replace]] #{} (file = {:?})", index + 1, entry.file)
}

/// The config check of entry `index`: a pattern that compiles, templates
/// that name configured tracks, a sane count. (Its file is checked against
/// the repository by [`apply`]: a preflight finding.)
pub fn check_entry(config: &Config, index: usize, entry: &ReplaceConfig) -> Result<(), String> {
    let name = label(index, entry);
    if entry.file.trim().is_empty() {
        return Err(format!("{name}: `file` is empty"));
    }
    if entry.search.is_empty() {
        return Err(format!("{name}: `search` is empty"));
    }
    if entry.exactly == Some(0) {
        return Err(format!(
            "{name}: `exactly = 0` would replace nothing; remove the entry, or give at least 1"
        ));
    }
    let tracks = if config.track.is_empty() {
        vec![String::new()]
    } else {
        config.track.iter().map(|t| t.name.clone()).collect()
    };
    let sample = Versions {
        tracks: tracks
            .into_iter()
            .map(|track| TrackMove {
                track,
                from: "0".into(),
                to: "0".into(),
            })
            .collect(),
        date: "1970-01-01".into(),
    };
    for (what, template, escape) in [
        ("search", &entry.search, true),
        ("replace", &entry.replace, false),
    ] {
        let rendered =
            render(template, &sample, escape).map_err(|e| format!("{name}: `{what}`: {e}"))?;
        if escape {
            compile(&rendered).map_err(|e| {
                format!(
                    "{name}: `search = {:?}` is not a valid regex: {}",
                    entry.search,
                    e.to_string().lines().last().unwrap_or_default().trim()
                )
            })?;
        }
    }
    Ok(())
}

/// Why `file` may not be rewritten, if it may not: outside the repository
/// (absolute, through `..`, a symlink leading out), or in `.git/` or
/// `.release/`. Otherwise its real path from the root.
fn confined_key(root: &Path, file: &str) -> Result<String, String> {
    if let Some(why) = leaves_by_name(file) {
        return Err(format!("it is {why}"));
    }
    let key = real_key(root, file).map_err(|e| match e {
        PackageError::Unsafe { why, .. } => why,
        other => other.to_string(),
    })?;
    for name in [file, key.as_str()] {
        let first = name
            .split(['/', '\\'])
            .find(|c| !c.is_empty() && *c != ".")
            .unwrap_or_default()
            .to_ascii_lowercase();
        if first == ".git" || first == ".release" {
            return Err(format!(
                "it is in `{first}/`, which belongs to git or to release"
            ));
        }
    }
    Ok(key)
}

/// Apply every `[[replace]]` entry over `edits` (the bump's plan so far,
/// else the files on disk), in order, with `versions` filled in. Nothing is
/// written. Every entry that cannot be applied is returned as one finding
/// each ([`ReplaceError::Findings`]), naming its file and its pattern.
pub fn apply(
    root: &Path,
    config: &Config,
    versions: &Versions,
    edits: &mut Edits,
) -> Result<(), ReplaceError> {
    let mut findings = Vec::new();
    for (i, entry) in config.replace.iter().enumerate() {
        let name = label(i, entry);
        let key = match confined_key(root, &entry.file) {
            Ok(key) => key,
            Err(why) => {
                findings.push(format!(
                    "{name}: refusing `{}`: {why}; release rewrites only files inside the repository: name a file inside it",
                    entry.file
                ));
                continue;
            }
        };
        if !root.join(&key).is_file() {
            findings.push(format!(
                "{name}: there is no file `{}` in the repository: fix `file`, or remove the entry",
                entry.file
            ));
            continue;
        }
        let (search, replacement) = match (
            render(&entry.search, versions, true),
            render(&entry.replace, versions, false),
        ) {
            (Ok(s), Ok(r)) => (s, r),
            (Err(e), _) | (_, Err(e)) => {
                findings.push(format!("{name}: {e}"));
                continue;
            }
        };
        let re = match compile(&search) {
            Ok(re) => re,
            Err(e) => {
                findings.push(format!("{name}: `search` is not a valid regex: {e}"));
                continue;
            }
        };
        let (key, text) = read_planned(root, edits, &key)?;
        let found = re.find_iter(&text).count();
        let wanted = match entry.exactly {
            Some(n) if found != n => Some(format!("exactly {n} time(s)")),
            None if found == 0 => Some("at least once".to_string()),
            _ => None,
        };
        if let Some(wanted) = wanted {
            findings.push(format!(
                "{name}: `search = {:?}` (here `{search}`) matches {found} time(s) in `{}`, not {wanted}: fix the pattern or the file",
                entry.search, entry.file
            ));
            continue;
        }
        let new = re.replace_all(&text, replacement.as_str());
        if new != text {
            plan_write(root, edits, key, &new);
        }
    }
    if findings.is_empty() {
        Ok(())
    } else {
        Err(ReplaceError::Findings(findings))
    }
}

/// Preflight's check: the whole bump planned (nothing written), and each
/// `[[replace]]` entry that could not be applied, as findings.
pub fn findings(
    root: &Path,
    config: &Config,
    packages: &[Package],
    release_version: &str,
) -> Vec<String> {
    if config.replace.is_empty() {
        return Vec::new();
    }
    let versions = Versions::of(packages, config, release_version, today());
    let mut edits = Edits::new();
    match super::plan_bump(
        root,
        config,
        packages,
        release_version,
        &versions,
        &mut edits,
    ) {
        Ok(_) => Vec::new(),
        Err(ReplaceError::Findings(f)) => f,
        Err(ReplaceError::Package(e)) => vec![e.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions() -> Versions {
        Versions {
            tracks: vec![
                TrackMove {
                    track: "stable".into(),
                    from: "1.45.0.dev".into(),
                    to: "1.45.0rc0".into(),
                },
                TrackMove {
                    track: "prerelease".into(),
                    from: "0.66b0.dev".into(),
                    to: "0.66b0".into(),
                },
            ],
            date: "2026-12-03".into(),
        }
    }

    fn config(text: &str) -> Result<Config, String> {
        let tracks = "[[track]]\nname = \"stable\"\npackages = [\"a\"]\n[[track]]\nname = \"prerelease\"\npackages = [\"b\"]\n";
        Config::parse(&format!("{tracks}{text}"), Path::new("release.toml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn templates_fill_and_escape() {
        let v = versions();
        assert_eq!(
            render("version={prev_track.stable}", &v, true).unwrap(),
            r"version=1\.45\.0\.dev"
        );
        assert_eq!(
            render(
                "{version} {prev_version} {track.prerelease} {date}",
                &v,
                false
            )
            .unwrap(),
            "1.45.0rc0 1.45.0.dev 0.66b0 2026-12-03"
        );
        assert_eq!(
            render(r"\d{4}-{date}", &v, false).unwrap(),
            r"\d{4}-2026-12-03"
        );
        assert!(render("{track.nope}", &v, false)
            .unwrap_err()
            .contains("{track.nope}"));
        assert_eq!(iso_date(20240131), "2024-01-31");
    }

    #[test]
    fn bad_entries_are_config_errors_naming_the_entry() {
        for (bad, says) in [
            (
                "[[replace]]\nfile = \"a.ini\"\nsearch = \"version=(\"\nreplace = \"x\"\n",
                "[[replace]] #1 (file = \"a.ini\"): `search = \"version=(\"` is not a valid regex",
            ),
            (
                "[[replace]]\nfile = \"a.ini\"\nsearch = \"{track.nope}\"\nreplace = \"x\"\n",
                "`{track.nope}` names no track",
            ),
            (
                "[[replace]]\nfile = \"a.ini\"\nsearch = \"v\"\nreplace = \"{prev_track.x}\"\n",
                "`replace`",
            ),
            (
                "[[replace]]\nfile = \"a.ini\"\nsearch = \"v\"\nreplace = \"x\"\nexactly = 0\n",
                "exactly = 0",
            ),
            (
                "[[replace]]\nfile = \"a.ini\"\nsearch = \"v\"\nreplace = \"x\"\nmin = 1\n",
                "unknown field",
            ),
            ("[pins]\nranges = \"all\"\n", "unknown variant"),
        ] {
            let e = config(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let ok = config(
            "[pins]\nranges = \"move\"\n[[replace]]\nfile = \"eachdist.ini\"\nsearch = \"version={prev_track.stable}\"\nreplace = \"version={track.stable}\"\nexactly = 1\n",
        )
        .unwrap();
        assert_eq!(ok.pins.ranges, crate::config::RangePins::Move);
    }

    #[test]
    fn applies_over_planned_edits_and_counts() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(
            root.join("eachdist.ini"),
            "[stable]\r\nversion=1.45.0.dev\r\n\r\n[prerelease]\r\nversion=0.66b0.dev\r\n",
        )
        .unwrap();
        let c = config(
            "[[replace]]\nfile = \"eachdist.ini\"\nsearch = \"version={prev_track.stable}\"\nreplace = \"version={track.stable}\"\n\
             [[replace]]\nfile = \"eachdist.ini\"\nsearch = \"^version={prev_track.prerelease}$\"\nreplace = \"version={track.prerelease}\"\nexactly = 1\n",
        )
        .unwrap();
        let mut edits = Edits::new();
        apply(root, &c, &versions(), &mut edits).unwrap();
        assert_eq!(
            edits["eachdist.ini"],
            "[stable]\r\nversion=1.45.0rc0\r\n\r\n[prerelease]\r\nversion=0.66b0\r\n"
        );
        // Again over the plan: the old versions are gone, so nothing matches.
        let Err(ReplaceError::Findings(f)) = apply(root, &c, &versions(), &mut edits) else {
            panic!("matched twice");
        };
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(
            f[0].contains("matches 0 time(s) in `eachdist.ini`"),
            "{f:?}"
        );
        assert!(f[0].contains("version={prev_track.stable}"), "{f:?}");
    }

    #[cfg(unix)]
    #[test]
    fn files_outside_the_repository_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo");
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::create_dir_all(root.join(".release")).unwrap();
        std::fs::write(root.join(".git/config"), "1.45.0.dev").unwrap();
        std::fs::write(root.join(".release/state.json"), "1.45.0.dev").unwrap();
        std::fs::write(tmp.path().join("out.txt"), "1.45.0.dev").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("out.txt"), root.join("link.txt")).unwrap();
        std::os::unix::fs::symlink(".git/config", root.join("cfg")).unwrap();
        for file in [
            "/etc/hostname",
            "../out.txt",
            "link.txt",
            ".git/config",
            "./.release/state.json",
            "cfg",
            "missing.txt",
        ] {
            let c = config(&format!(
                "[[replace]]\nfile = {file:?}\nsearch = \"{{prev_version}}\"\nreplace = \"{{version}}\"\n"
            ))
            .unwrap();
            let mut edits = Edits::new();
            let r = apply(&root, &c, &versions(), &mut edits);
            assert!(
                matches!(&r, Err(ReplaceError::Findings(f)) if f.len() == 1 && f[0].contains(&format!("{file:?}"))),
                "{file}: {r:?}"
            );
            assert!(edits.is_empty());
        }
    }
}
