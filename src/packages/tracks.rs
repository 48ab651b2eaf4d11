//! Version tracks: sets of packages that each move in lockstep, together.
//!
//! Dagster since 1.0 releases core packages at `1.x` with libraries at
//! `0.(x+16)`; OpenTelemetry releases stable `1.27.0` with pre-release `0.48b0`.
//! The first track is primary: its version is the one typed and tagged, and
//! every other track moves by the same step ([`crate::version::follow`]) unless
//! `--track NAME=VERSION` says otherwise. Without `[[track]]` all packages are
//! one track and nothing here changes the behaviour.

use std::collections::BTreeMap;

use super::Package;
use crate::config::Config;
use crate::version::{self, ReleaseVersion};

/// The packages of one track, in discovery order.
#[derive(Debug)]
pub struct Track<'a> {
    /// Empty for the single track of a repository without `[[track]]`.
    pub name: &'a str,
    pub packages: Vec<&'a Package>,
}

impl Track<'_> {
    /// How the track is named in messages.
    pub fn label(&self) -> String {
        if self.name.is_empty() {
            "packages".to_string()
        } else {
            format!("track `{}`", self.name)
        }
    }

    /// The version most of its packages declare (ties: the greatest string).
    pub fn common_version(&self) -> Option<&str> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for p in &self.packages {
            *counts.entry(p.version.as_str()).or_default() += 1;
        }
        counts.into_iter().max_by_key(|(_, n)| *n).map(|(v, _)| v)
    }

    /// Packages whose version differs from the common one.
    pub fn out_of_step(&self) -> Vec<&Package> {
        let common = self.common_version();
        self.packages
            .iter()
            .copied()
            .filter(|p| Some(p.version.as_str()) != common)
            .collect()
    }
}

/// The packages grouped by track, primary first (config order). Tracks with
/// no package are left out.
pub fn group<'a>(packages: &'a [Package], config: &'a Config) -> Vec<Track<'a>> {
    let names: Vec<&str> = if config.track.is_empty() {
        vec![""]
    } else {
        config.track.iter().map(|t| t.name.as_str()).collect()
    };
    names
        .into_iter()
        .map(|name| Track {
            name,
            packages: packages.iter().filter(|p| p.track == name).collect(),
        })
        .filter(|t| !t.packages.is_empty())
        .collect()
}

/// Every `[[track]]` that ends up with no package, as findings: its globs
/// match no package folder, or only folders an earlier track claims. A track
/// left out silently would let the next one take its place (an empty primary
/// would hand the typed version and the tag to another track).
pub fn empty_tracks(packages: &[Package], config: &Config) -> Vec<String> {
    let mut findings = Vec::new();
    for (i, t) in config.track.iter().enumerate() {
        if packages.iter().any(|p| p.track == t.name) {
            continue;
        }
        let claimed: Vec<&str> = packages
            .iter()
            .filter(|p| t.packages.iter().any(|g| super::glob_matches(g, &p.path)))
            .map(|p| p.path.as_str())
            .collect();
        let role = if i == 0 { "primary track" } else { "track" };
        findings.push(if claimed.is_empty() {
            format!(
                "{role} `{}` has no package: its globs {:?} match no package folder; fix its `packages` globs in release.toml, or remove the track",
                t.name, t.packages
            )
        } else {
            format!(
                "{role} `{}` has no package: every folder its globs {:?} match ({}) belongs to an earlier track; fix the globs in release.toml, or remove the track",
                t.name,
                t.packages,
                crate::first_few(
                    &claimed.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    4
                )
            )
        });
    }
    findings
}

/// One track's move in a release.
#[derive(Debug, Clone)]
pub struct Move {
    pub track: String,
    pub from: String,
    pub to: ReleaseVersion,
}

/// The versions a release gives each track: the primary to `version`, every
/// other track by the same step or as `overrides` (track name to version)
/// say. Every finding is returned, not only the first. On success each
/// package's `next_version` is set.
pub fn plan(
    packages: &mut [Package],
    config: &Config,
    version: &ReleaseVersion,
    overrides: &BTreeMap<String, String>,
) -> Result<Vec<Move>, Vec<String>> {
    let mut findings = Vec::new();
    let known: Vec<&str> = config.track.iter().map(|t| t.name.as_str()).collect();
    for name in overrides.keys() {
        if !known.contains(&name.as_str()) {
            findings.push(format!(
                "--track {name}=...: there is no track `{name}` (tracks: {})",
                if known.is_empty() {
                    "none; add `[[track]]` to release.toml".to_string()
                } else {
                    known.join(", ")
                }
            ));
        } else if Some(name.as_str()) == config.primary_track() {
            findings.push(format!(
                "--track {name}=...: `{name}` is the primary track, whose version is the one given to `release start`"
            ));
        } else if !packages.iter().any(|p| &p.track == name) {
            findings.push(format!(
                "--track {name}={}: track `{name}` has no package, so this version would be given to nothing",
                overrides[name]
            ));
        }
    }
    let empty = empty_tracks(packages, config);
    if !empty.is_empty() {
        // An empty track changes which track leads, and so every other
        // track's move: plan nothing on that basis.
        findings.extend(empty);
        return Err(findings);
    }
    let tracks = group(packages, config);
    let mut moves = Vec::new();
    let mut primary_from: Option<ReleaseVersion> = None;
    for track in tracks.iter() {
        let primary = config.primary_track().is_none_or(|p| p == track.name);
        let odd = track.out_of_step();
        let Some(common) = track.common_version() else {
            continue;
        };
        if !odd.is_empty() {
            findings.push(format!(
                "{} differ (most are {common}): {}; run `release version` to see them all",
                if track.name.is_empty() {
                    "package versions".to_string()
                } else {
                    format!("versions in track `{}`", track.name)
                },
                odd.iter()
                    .map(|p| format!("{} is {}", p.name, p.version))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            continue;
        }
        let from = match ReleaseVersion::parse(common) {
            Ok(v) => v,
            Err(e) => {
                findings.push(format!(
                    "{}: the current version does not parse: {e}",
                    track.label()
                ));
                continue;
            }
        };
        let to = if primary {
            primary_from = Some(from.clone());
            Ok(version.clone())
        } else if let Some(given) = overrides.get(track.name) {
            ReleaseVersion::parse_new(given).map_err(|e| e.to_string())
        } else {
            match &primary_from {
                Some(pf) => version::follow(pf, version, &from).map_err(|e| {
                    format!(
                        "{e}; give its version with `--track {}=VERSION`",
                        track.name
                    )
                }),
                None => continue,
            }
        };
        let to = match to {
            Ok(to) => to,
            Err(e) => {
                findings.push(format!("{}: {e}", track.label()));
                continue;
            }
        };
        if to.parsed <= from.parsed {
            findings.push(if primary {
                format!("{to} is not greater than the current version {common}")
            } else {
                format!(
                    "{} would move from {common} to {to}, which is not greater; give its version with `--track {}=VERSION`",
                    track.label(),
                    track.name
                )
            });
            continue;
        }
        moves.push(Move {
            track: track.name.to_string(),
            from: common.to_string(),
            to,
        });
    }
    if !findings.is_empty() {
        return Err(findings);
    }
    for p in packages.iter_mut() {
        if let Some(m) = moves.iter().find(|m| m.track == p.track) {
            p.next_version = Some(m.to.typed.clone());
        }
    }
    Ok(moves)
}

/// Why a package has no nightly version.
#[derive(Debug, thiserror::Error)]
pub enum NightlyVersionError {
    #[error("{package}: {source}")]
    Version {
        package: String,
        #[source]
        source: version::VersionError,
    },
    #[error("{package} is at {current}, a dev release at or past {date} already; a nightly of {date} would not sort after it: pass a later --date")]
    NotAfter {
        package: String,
        current: String,
        date: u64,
    },
}

/// Every package's nightly version, from each package's own current version
/// (normalised name → version as found); normal form.
pub fn nightly_versions(
    current: &BTreeMap<String, String>,
    date: u64,
) -> Result<BTreeMap<String, String>, NightlyVersionError> {
    current
        .iter()
        .map(|(package, version)| {
            let parsed =
                ReleaseVersion::parse(version).map_err(|source| NightlyVersionError::Version {
                    package: package.clone(),
                    source,
                })?;
            let next = version::nightly_of(&parsed.parsed, date).ok_or_else(|| {
                NightlyVersionError::NotAfter {
                    package: package.clone(),
                    current: version.clone(),
                    date,
                }
            })?;
            Ok((package.clone(), next.to_string()))
        })
        .collect()
}

/// Parse `--track NAME=VERSION` arguments.
pub fn parse_overrides(args: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for a in args {
        let (name, version) = a.split_once('=').ok_or_else(|| {
            anyhow::anyhow!("--track {a}: write it as NAME=VERSION, e.g. --track libraries=0.26.1")
        })?;
        let (name, version) = (name.trim(), version.trim());
        if name.is_empty() || version.is_empty() {
            anyhow::bail!("--track {a}: write it as NAME=VERSION, e.g. --track libraries=0.26.1");
        }
        if out.insert(name.to_string(), version.to_string()).is_some() {
            anyhow::bail!("--track {name} is given twice");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packages::VersionSource;

    fn pkg(name: &str, version: &str, track: &str) -> Package {
        Package {
            name: name.into(),
            normalized_name: name.into(),
            path: format!("p/{name}"),
            version: version.into(),
            version_source: VersionSource::Pyproject,
            track: track.into(),
            next_version: None,
        }
    }

    fn config(tracks: &str) -> Config {
        Config::parse(tracks, std::path::Path::new("release.toml")).unwrap()
    }

    const D: u64 = 20240131;

    fn next(current: &str) -> String {
        let map = BTreeMap::from([("p".to_string(), current.to_string())]);
        nightly_versions(&map, D).unwrap()["p"].clone()
    }

    fn v(s: &str) -> pep440_rs::Version {
        std::str::FromStr::from_str(s).unwrap()
    }

    #[test]
    fn the_next_versions_dev_release() {
        assert_eq!(next("0.6.5"), "0.6.6.dev20240131");
        assert_eq!(next("0.6.5.pre1"), "0.6.5rc2.dev20240131");
        assert_eq!(next("0.6.5rc0"), "0.6.5rc1.dev20240131");
        assert_eq!(next("1.0b3"), "1.0b4.dev20240131");
        assert_eq!(next("0.6.5.post1"), "0.6.6.dev20240131");
        assert_eq!(next("1.0"), "1.1.dev20240131");
        assert_eq!(next("2!1.2.3"), "2!1.2.4.dev20240131");
        assert_eq!(next("0.7.0.dev0"), "0.7.0.dev20240131");
        assert_eq!(next("0.7.0rc1.dev3"), "0.7.0rc1.dev20240131");
    }

    #[test]
    fn a_nightly_sorts_after_the_last_release_and_before_the_next() {
        for (last, following) in [
            ("0.6.5", "0.6.6"),
            ("0.6.5", "0.6.6rc0"),
            ("0.6.5.pre1", "0.6.5.pre2"),
            ("0.6.5.pre1", "0.6.5"),
            ("0.6.5.post1", "0.6.6"),
            ("0.7.0.dev0", "0.7.0"),
        ] {
            let nightly = v(&next(last));
            assert!(nightly > v(last), "{nightly} > {last}");
            assert!(nightly < v(following), "{nightly} < {following}");
        }
        // A later date sorts later.
        let map = BTreeMap::from([("p".to_string(), "0.6.5".to_string())]);
        let tomorrow = nightly_versions(&map, D + 1).unwrap()["p"].clone();
        assert!(v(&tomorrow) > v(&next("0.6.5")));
    }

    #[test]
    fn each_package_moves_from_its_own_version() {
        let map = BTreeMap::from([
            ("core".to_string(), "1.9.3".to_string()),
            ("lib".to_string(), "0.25.3rc0".to_string()),
        ]);
        let out = nightly_versions(&map, D).unwrap();
        assert_eq!(out["core"], "1.9.4.dev20240131");
        assert_eq!(out["lib"], "0.25.3rc1.dev20240131");
    }

    #[test]
    fn refused_versions_name_the_package() {
        for bad in ["1.0+local", "nonsense", "1.0.dev20990101"] {
            let map = BTreeMap::from([("pkg".to_string(), bad.to_string())]);
            let e = nightly_versions(&map, D).unwrap_err().to_string();
            assert!(e.contains("pkg"), "{e}");
        }
    }

    #[test]
    fn plans_two_tracks() {
        let c = config("[[track]]\nname = \"core\"\npackages = [\"p/dagster*\"]\n[[track]]\nname = \"libraries\"\npackages = [\"p/*\"]\n");
        let mut pkgs = vec![
            pkg("dagster", "1.9.3", "core"),
            pkg("dagster-webserver", "1.9.3", "core"),
            pkg("dagster-aws", "0.25.3", "libraries"),
        ];
        let v = ReleaseVersion::parse("1.10.0rc0").unwrap();
        let moves = plan(&mut pkgs, &c, &v, &BTreeMap::new()).unwrap();
        assert_eq!(moves.len(), 2);
        assert_eq!(pkgs[2].next_version.as_deref(), Some("0.26.0rc0"));
        assert_eq!(pkgs[0].next_version.as_deref(), Some("1.10.0rc0"));

        let mut pkgs2 = pkgs.clone();
        let o: BTreeMap<String, String> = [("libraries".into(), "0.26.1".into())].into();
        plan(&mut pkgs2, &c, &v, &o).unwrap();
        assert_eq!(pkgs2[2].next_version.as_deref(), Some("0.26.1"));

        let bad: BTreeMap<String, String> =
            [("nope".into(), "1".into()), ("core".into(), "2".into())].into();
        let f = plan(&mut pkgs.clone(), &c, &v, &bad).unwrap_err();
        assert_eq!(f.len(), 2, "{f:?}");

        pkgs[1].version = "1.9.2".into();
        let f = plan(&mut pkgs, &c, &v, &BTreeMap::new()).unwrap_err();
        assert!(f[0].contains("dagster-webserver is 1.9.2"), "{f:?}");
    }

    fn otel() -> (Config, Vec<Package>) {
        let c = config("[[track]]\nname = \"stable\"\npackages = [\"p/api\", \"p/sdk\"]\n[[track]]\nname = \"beta\"\npackages = [\"p/*\"]\n");
        let pkgs = vec![
            pkg("api", "1.45.0.dev0", "stable"),
            pkg("sdk", "1.45.0.dev0", "stable"),
            pkg("semconv", "0.66b0.dev0", "beta"),
        ];
        (c, pkgs)
    }

    fn planned(pkgs: &mut [Package], c: &Config, to: &str) -> Vec<String> {
        let v = ReleaseVersion::parse(to).unwrap();
        plan(pkgs, c, &v, &BTreeMap::new()).unwrap();
        pkgs.iter()
            .map(|p| p.next_version.clone().unwrap_or_default())
            .collect()
    }

    #[test]
    fn plans_two_tracks_at_dev_versions() {
        let (c, pkgs) = otel();
        assert_eq!(
            planned(&mut pkgs.clone(), &c, "1.45.0rc0"),
            ["1.45.0rc0", "1.45.0rc0", "0.66b0"]
        );
        assert_eq!(
            planned(&mut pkgs.clone(), &c, "1.45.0"),
            ["1.45.0", "1.45.0", "0.66b0"]
        );
        assert_eq!(
            planned(&mut pkgs.clone(), &c, "1.45.0.dev1"),
            ["1.45.0.dev1", "1.45.0.dev1", "0.66b0.dev1"]
        );
        assert_eq!(
            planned(&mut pkgs.clone(), &c, "1.46.0"),
            ["1.46.0", "1.46.0", "0.67b0"]
        );
        // A plain (unmarked) track at a dev version takes the primary's suffix.
        let mut plain = pkgs.clone();
        plain[2].version = "0.26.0.dev0".into();
        assert_eq!(
            planned(&mut plain, &c, "1.45.0rc0"),
            ["1.45.0rc0", "1.45.0rc0", "0.26.0rc0"]
        );
        // Not greater: the same dev version again.
        let v = ReleaseVersion::parse("1.45.0.dev0").unwrap();
        let f = plan(&mut pkgs.clone(), &c, &v, &BTreeMap::new()).unwrap_err();
        assert!(f[0].contains("not greater"), "{f:?}");
    }

    #[test]
    fn plans_the_next_dev_versions_after_a_release() {
        let (c, mut pkgs) = otel();
        // rc0, then its next dev, then the final, then its next dev.
        for (to, want) in [
            ("1.45.0rc0", ["1.45.0rc0", "1.45.0rc0", "0.66b0"]),
            (
                "1.45.0rc1.dev0",
                ["1.45.0rc1.dev0", "1.45.0rc1.dev0", "0.66b1.dev0"],
            ),
            ("1.45.0", ["1.45.0", "1.45.0", "0.66b1"]),
            ("1.46.0.dev0", ["1.46.0.dev0", "1.46.0.dev0", "0.67b0.dev0"]),
            ("1.46.0", ["1.46.0", "1.46.0", "0.67b0"]),
        ] {
            assert_eq!(planned(&mut pkgs, &c, to), want, "{to}");
            for p in &mut pkgs {
                p.version = p.next_version.take().unwrap_or_default();
            }
        }
        // Post-releases of a beta-marked track.
        let v = ReleaseVersion::parse("1.46.0.post1").unwrap();
        plan(&mut pkgs, &c, &v, &BTreeMap::new()).unwrap();
        assert_eq!(pkgs[2].next_version.as_deref(), Some("0.67b1"));
    }

    #[test]
    fn one_track_without_config() {
        let c = config("");
        let mut pkgs = vec![pkg("a", "0.6.4", ""), pkg("b", "0.6.4", "")];
        let v = ReleaseVersion::parse("0.6.4").unwrap();
        let f = plan(&mut pkgs, &c, &v, &BTreeMap::new()).unwrap_err();
        assert!(f[0].contains("not greater"), "{f:?}");
        let v = ReleaseVersion::parse("0.6.5.pre0").unwrap();
        plan(&mut pkgs, &c, &v, &BTreeMap::new()).unwrap();
        assert_eq!(pkgs[1].next_version.as_deref(), Some("0.6.5.pre0"));
    }
}
