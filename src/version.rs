//! PEP 440 helpers on top of `pep440_rs`.
//!
//! A release keeps two spellings of its version: the one the user typed (used for
//! the commit message and the tag, because that is what the team's history uses)
//! and the normalised one (what build backends put in file names and what an index
//! serves). Everything that compares versions goes through here.

use std::str::FromStr;

use pep440_rs::{Prerelease, Version};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum VersionError {
    #[error("`{input}` is not a valid PEP 440 version: {reason}")]
    Invalid { input: String, reason: String },
    #[error("write the version without the `v` prefix: `{0}`")]
    Prefixed(String),
    #[error("`{0}` has a local segment (`+...`); an index refuses local versions")]
    Local(String),
}

/// A version as typed plus its parsed form.
#[derive(Debug, Clone)]
pub struct ReleaseVersion {
    pub typed: String,
    pub parsed: Version,
}

impl ReleaseVersion {
    pub fn parse(input: &str) -> Result<Self, VersionError> {
        let typed = input.trim().to_string();
        let parsed = Version::from_str(&typed).map_err(|e| VersionError::Invalid {
            input: typed.clone(),
            reason: e.to_string(),
        })?;
        if parsed.is_local() {
            return Err(VersionError::Local(typed));
        }
        Ok(Self { typed, parsed })
    }

    /// A version the user typed for a new release: as [`Self::parse`], and
    /// spelled without a `v` prefix, since the typed spelling is written into
    /// every version declaration and names the tag.
    pub fn parse_new(input: &str) -> Result<Self, VersionError> {
        let v = Self::parse(input)?;
        if let Some(rest) = v.typed.strip_prefix(['v', 'V']) {
            return Err(VersionError::Prefixed(rest.to_string()));
        }
        Ok(v)
    }

    /// The PEP 440 normal form, e.g. `0.6.5.pre0` -> `0.6.5rc0`.
    pub fn normalized(&self) -> String {
        self.parsed.to_string()
    }

    /// A final release has no pre-release and no dev segment (post-releases are final).
    pub fn is_final(&self) -> bool {
        self.parsed.pre().is_none() && self.parsed.dev().is_none()
    }

    /// The base release, e.g. `0.6.5` for `0.6.5.pre0` or `0.6.5.post1`.
    pub fn base_release(&self) -> String {
        self.parsed
            .release()
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(".")
    }

    /// The version a burned release rolls forward to, spelled like the input:
    /// a pre-release to the next pre-release (`0.6.5.pre0` -> `0.6.5.pre1`), a dev
    /// release to the next dev release, a final release to its post-release
    /// (`0.6.5` -> `0.6.5.post1`, `0.6.5.post1` -> `0.6.5.post2`).
    pub fn roll_forward(&self) -> Result<ReleaseVersion, VersionError> {
        let next = if self.parsed.dev().is_some() {
            bump_trailing_segment(&self.typed, "dev")
        } else if self.parsed.pre().is_some() {
            bump_pre_segment(&self.typed)
        } else if self.parsed.post().is_some() {
            bump_trailing_segment(&self.typed, "post")
        } else {
            Some(format!("{}.post1", self.typed))
        };
        let candidate = next.ok_or_else(|| VersionError::Invalid {
            input: self.typed.clone(),
            reason: "cannot compute the next version from this spelling; use `release recover --to VERSION`".into(),
        })?;
        let next = ReleaseVersion::parse(&candidate)?;
        if next.parsed <= self.parsed {
            return Err(VersionError::Invalid {
                input: candidate,
                reason:
                    "the computed next version is not greater; use `release recover --to VERSION`"
                        .into(),
            });
        }
        Ok(next)
    }
}

/// Split a typed version into its release segment and the rest, spelled as
/// typed: `0.6.5.pre0` -> (`0.6.5`, `.pre0`), `0.48b0` -> (`0.48`, `b0`).
fn split_release(typed: &str) -> Option<(&str, &str)> {
    let end = typed
        .char_indices()
        .find(|(i, c)| {
            !(c.is_ascii_digit()
                || (*c == '.'
                    && typed[i + 1..]
                        .chars()
                        .next()
                        .is_some_and(|n| n.is_ascii_digit())))
        })
        .map(|(i, _)| i)
        .unwrap_or(typed.len());
    (end > 0).then(|| typed.split_at(end))
}

/// The version a following track moves to when the primary track goes from
/// `primary_from` to `primary_to`: the same release segment moved by the same
/// step (`1.9.3` -> `1.10.0` takes `0.25.3` to `0.26.0`), the later segments
/// reset, and the primary's pre/post/dev suffix as typed (`1.10.0.pre0` takes
/// it to `0.26.0.pre0`). A track whose versions carry a marker the primary's do
/// not (OpenTelemetry's `0.48b0` beside `1.27.0`) keeps its marker: `0.49b0`.
pub fn follow(
    primary_from: &ReleaseVersion,
    primary_to: &ReleaseVersion,
    track_from: &ReleaseVersion,
) -> Result<ReleaseVersion, VersionError> {
    let cannot = |reason: &str| VersionError::Invalid {
        input: track_from.typed.clone(),
        reason: reason.to_string(),
    };
    if [primary_from, primary_to, track_from]
        .iter()
        .any(|v| v.parsed.epoch() != 0)
    {
        return Err(cannot("an epoch (`N!`) cannot be followed"));
    }
    let (_, to_suffix) = split_release(&primary_to.typed)
        .ok_or_else(|| cannot("the primary version has no release segment"))?;
    let (_, track_suffix) =
        split_release(&track_from.typed).ok_or_else(|| cannot("no release segment"))?;
    let from = primary_from.parsed.release();
    let to = primary_to.parsed.release();
    let mut release: Vec<u64> = track_from.parsed.release().to_vec();
    let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    let width = from.len().max(to.len());
    if let Some(i) = (0..width).find(|&i| at(from, i) != at(to, i)) {
        let (f, t) = (at(from, i), at(to, i));
        if t < f {
            return Err(cannot("the primary version moves backwards"));
        }
        release.resize(release.len().max(i + 1), 0);
        release[i] = release[i]
            .checked_add(t - f)
            .ok_or_else(|| cannot("the release segment overflows"))?;
        for n in release.iter_mut().skip(i + 1) {
            *n = 0;
        }
    }
    // A marker: the track has a pre-release segment the primary's previous
    // version does not share.
    let marker = track_from.parsed.pre().filter(|tp| {
        primary_from
            .parsed
            .pre()
            .is_none_or(|pp| pp.kind != tp.kind)
    });
    let suffix = match marker {
        // The marker as the track spells it (`b`, `.beta`), numbered 0 when
        // the release segment moved, else one more: a release within the
        // same segment (a post-release, a final after an rc) still moves it.
        Some(pre) => {
            let spelled: String = track_suffix
                .chars()
                .take_while(|c| !c.is_ascii_digit())
                .collect();
            let number = if release.as_slice() == track_from.parsed.release() {
                pre.number
                    .checked_add(1)
                    .ok_or_else(|| cannot("the marker number overflows"))?
            } else {
                0
            };
            format!("{spelled}{number}")
        }
        None => to_suffix.to_string(),
    };
    let typed = format!(
        "{}{suffix}",
        release
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(".")
    );
    ReleaseVersion::parse(&typed)
}

/// The dev release of the next version, dated `date`: it sorts after
/// `current` and before the release that follows it.
///
/// - a final or post-release moves its last release number on:
///   `0.6.5` → `0.6.6.devD`, `0.6.5.post1` → `0.6.6.devD`;
/// - a pre-release moves its pre-release number on: `0.6.5.pre1` (`0.6.5rc1`)
///   → `0.6.5rc2.devD`, which sorts between `0.6.5rc1` and `0.6.5rc2`;
/// - a dev release (a branch kept at `0.7.0.dev0`) takes the date as its
///   dev number: `0.7.0.dev0` → `0.7.0.devD`.
///
/// Returned in PEP 440 normal form, which is what files and indexes carry.
pub fn nightly_of(current: &Version, date: u64) -> Option<Version> {
    if current.is_local() {
        return None;
    }
    let next = if let Some(dev) = current.dev() {
        if dev >= date {
            return None;
        }
        current.clone().with_dev(Some(date))
    } else if let Some(pre) = current.pre() {
        current
            .clone()
            .with_post(None)
            .with_pre(Some(Prerelease {
                kind: pre.kind,
                number: pre.number.checked_add(1)?,
            }))
            .with_dev(Some(date))
    } else {
        let mut release = current.release().to_vec();
        let last = release.last_mut()?;
        *last = last.checked_add(1)?;
        Version::new(release)
            .with_epoch(current.epoch())
            .with_dev(Some(date))
    };
    (next > *current).then_some(next)
}

impl std::fmt::Display for ReleaseVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.typed)
    }
}

/// Normalise a version string if it parses, else return it unchanged.
pub fn normalize(input: &str) -> String {
    Version::from_str(input.trim())
        .map(|v| v.to_string())
        .unwrap_or_else(|_| input.trim().to_string())
}

fn increment_digits_at_end(prefix: &str, digits: &str) -> Option<String> {
    let n: u64 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    Some(format!("{prefix}{}", n.checked_add(1)?))
}

fn bump_pre_segment(typed: &str) -> Option<String> {
    let re =
        regex::Regex::new(r"(?i)^(.*?(?:a|b|c|rc|alpha|beta|pre|preview)[._-]?)(\d*)$").ok()?;
    let caps = re.captures(typed)?;
    increment_digits_at_end(caps.get(1)?.as_str(), caps.get(2)?.as_str())
}

fn bump_trailing_segment(typed: &str, word: &str) -> Option<String> {
    let re = regex::Regex::new(&format!(r"(?i)^(.*{word}[._-]?)(\d*)$")).ok()?;
    let caps = re.captures(typed)?;
    increment_digits_at_end(caps.get(1)?.as_str(), caps.get(2)?.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ReleaseVersion {
        ReleaseVersion::parse(s).unwrap()
    }

    #[test]
    fn normalises_pre() {
        assert_eq!(v("0.6.5.pre0").normalized(), "0.6.5rc0");
        assert_eq!(v("0.4.3.pre0").normalized(), "0.4.3rc0");
        assert!(!v("0.6.5.pre0").is_final());
        assert!(v("0.6.5.post1").is_final());
        assert_eq!(v("0.6.5.pre0").base_release(), "0.6.5");
    }

    #[test]
    fn rolls_forward() {
        assert_eq!(v("0.6.5.pre0").roll_forward().unwrap().typed, "0.6.5.pre1");
        assert_eq!(v("0.6.5rc9").roll_forward().unwrap().typed, "0.6.5rc10");
        assert_eq!(v("0.6.5").roll_forward().unwrap().typed, "0.6.5.post1");
        assert_eq!(
            v("0.6.5.post1").roll_forward().unwrap().typed,
            "0.6.5.post2"
        );
        assert_eq!(v("1.0.dev3").roll_forward().unwrap().typed, "1.0.dev4");
    }

    fn follows(pf: &str, pt: &str, tf: &str) -> String {
        follow(&v(pf), &v(pt), &v(tf)).unwrap().typed
    }

    #[test]
    fn tracks_follow_the_primary() {
        // Dagster: core 1.x with libraries 0.(x+16).
        assert_eq!(follows("1.9.3", "1.9.4", "0.25.3"), "0.25.4");
        assert_eq!(follows("1.9.3", "1.10.0", "0.25.3"), "0.26.0");
        assert_eq!(follows("1.9.3", "1.10.0rc0", "0.25.3"), "0.26.0rc0");
        assert_eq!(follows("1.9.2", "1.9.3rc0", "0.25.2"), "0.25.3rc0");
        assert_eq!(follows("1.10.0rc0", "1.10.0", "0.26.0rc0"), "0.26.0");
        assert_eq!(follows("1.10.0rc0", "1.10.0rc1", "0.26.0rc0"), "0.26.0rc1");
        assert_eq!(follows("1.9.3", "1.9.3.post1", "0.25.3"), "0.25.3.post1");
        assert_eq!(follows("0.6.4", "0.6.5.pre0", "0.2.4"), "0.2.5.pre0");
        assert_eq!(follows("1.9.3", "2.0.0", "0.25.3"), "1.0.0");
        // OpenTelemetry: a `b0` track keeps its marker.
        assert_eq!(follows("1.27.0", "1.28.0", "0.48b0"), "0.49b0");
        assert_eq!(follows("1.27.0", "1.27.0.post1", "0.48b0"), "0.48b1");
        assert_eq!(follows("1.27.0", "1.28.0rc0", "0.48b0"), "0.49b0");
        assert_eq!(follows("1.28.0rc0", "1.28.0", "0.49b0"), "0.49b1");
        assert_eq!(follows("1.28.0", "1.29.0", "0.49b1"), "0.50b0");
        // Shorter or longer release segments.
        assert_eq!(follows("1.9", "1.10", "0.25.3"), "0.26.0");
        assert_eq!(follows("1.9.3", "1.9.4", "7"), "7.0.1");
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "abc",
            "1.0+local",
            "1..2",
            "\u{0}",
            "9999999999999999999999999",
        ] {
            assert!(ReleaseVersion::parse(bad).is_err(), "{bad}");
        }
    }
}
