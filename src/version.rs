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
    #[error("`{input}` has no next dev version for `[release] next_dev`: {reason}")]
    NoNextDev { input: String, reason: String },
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

/// The release a version is heading to: itself without its dev segment,
/// spelled as typed (`1.45.0.dev` → `1.45.0`, `0.66b0.dev` → `0.66b0`,
/// `1.45.0rc1.dev0` → `1.45.0rc1`). A version that is no dev release is
/// its own heading-to release.
pub fn heading_to(v: &ReleaseVersion) -> Result<ReleaseVersion, VersionError> {
    match dev_suffix(&v.typed) {
        Some(dev) if v.parsed.dev().is_some() => {
            ReleaseVersion::parse(&v.typed[..v.typed.len() - dev.len()])
        }
        _ => Ok(v.clone()),
    }
}

/// The dev segment of a typed version as typed, with its separator:
/// `.dev1` of `1.45.0.dev1`, `dev0` of `1.0rc1dev0`.
fn dev_suffix(typed: &str) -> Option<&str> {
    let lower = typed.to_ascii_lowercase();
    let at = lower.rfind("dev")?;
    // Only a trailing `devN`: nothing but digits after it.
    if !lower[at + 3..].chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let start = match typed[..at].chars().last() {
        Some('.' | '-' | '_') => at - 1,
        _ => at,
    };
    Some(&typed[start..])
}

/// The version a following track moves to when the primary track goes from
/// `primary_from` to `primary_to`.
///
/// - From a release (no dev segment): the same release segment moved by the
///   same step (`1.9.3` → `1.10.0` takes `0.25.3` to `0.26.0`), the later
///   segments reset, and the primary's pre/post/dev suffix as typed
///   (`1.10.0.pre0` takes it to `0.26.0.pre0`). A track whose versions carry
///   a marker the primary's do not (OpenTelemetry's `0.48b0` beside
///   `1.27.0`) keeps its marker, numbered 0 when its release segment moved
///   (`0.49b0`), else one more (`1.28.0rc0` → `1.28.0` takes `0.49b0` to
///   `0.49b1`).
/// - From a dev release (a main branch kept at `1.45.0.dev`), to a version
///   with the release segment of the one it was heading to ([`heading_to`]:
///   `1.45.0.dev` → `1.45.0rc0`, `1.45.0`, `1.45.0.dev1`): a track at a dev
///   release goes to its own heading-to release (`0.66b0.dev` → `0.66b0`),
///   taking the primary's pre/dev suffix when it has no marker of its own
///   (`0.26.0.dev` → `0.26.0rc0` beside `1.45.0rc0`). A track at no dev
///   release moves as from the primary's heading-to release.
/// - From a dev release, to a release segment past the heading-to one: the
///   tracks' heading-to releases move as from a release (`1.45.0.dev` →
///   `1.46.0` takes `0.66b0.dev` to `0.67b0`).
/// - To a dev release (`1.45.0.dev1`, `1.46.0.dev0`): the track gets a dev
///   release too, with the primary's dev segment as typed, never a real
///   release of its own (`0.66b0.dev0` → `0.66b0.dev1`; beside `1.45.0` →
///   `1.46.0.dev1`, `0.66b1` → `0.67b0.dev1`).
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
    if primary_from.parsed.dev().is_none() {
        return follow_release(primary_from, primary_to, track_from);
    }
    let primary_head = heading_to(primary_from)?;
    let track_head = heading_to(track_from)?;
    if primary_to.parsed.release() != primary_head.parsed.release() {
        // Past the release main was heading to: move on from there.
        return follow_release(&primary_head, primary_to, &track_head);
    }
    if track_from.parsed.dev().is_none() {
        return follow_release(&primary_head, primary_to, track_from);
    }
    // The release main was heading to (as a pre, final or dev release):
    // the track's own heading-to release.
    let (_, to_suffix) = split_release(&primary_to.typed)
        .ok_or_else(|| cannot("the primary version has no release segment"))?;
    let typed = match marker(&primary_head, &track_head) {
        Some(_) => match dev_suffix(&primary_to.typed) {
            Some(dev) if primary_to.parsed.dev().is_some() => {
                format!("{}{dev}", track_head.typed)
            }
            _ => track_head.typed.clone(),
        },
        None => format!("{}{to_suffix}", join(track_head.parsed.release())),
    };
    ReleaseVersion::parse(&typed)
}

/// A marker: the pre-release segment of the track's version that the
/// primary's version does not share (OpenTelemetry's `b0` beside `1.27.0`).
fn marker(primary: &ReleaseVersion, track: &ReleaseVersion) -> Option<Prerelease> {
    track
        .parsed
        .pre()
        .filter(|tp| primary.parsed.pre().is_none_or(|pp| pp.kind != tp.kind))
}

fn join(release: &[u64]) -> String {
    release
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

/// [`follow`] from a primary version that is no dev release.
fn follow_release(
    primary_from: &ReleaseVersion,
    primary_to: &ReleaseVersion,
    track_from: &ReleaseVersion,
) -> Result<ReleaseVersion, VersionError> {
    let cannot = |reason: &str| VersionError::Invalid {
        input: track_from.typed.clone(),
        reason: reason.to_string(),
    };
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
    let suffix = match marker(primary_from, track_from) {
        // The marker as the track spells it (`b`, `.beta`), numbered 0 when
        // the release segment moved, else one more: a release within the
        // same segment (a post-release, a final after an rc) still moves it.
        // To a dev release, the primary's dev segment after it.
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
            let dev = match dev_suffix(&primary_to.typed) {
                Some(dev) if primary_to.parsed.dev().is_some() => dev,
                _ => "",
            };
            format!("{spelled}{number}{dev}")
        }
        None => to_suffix.to_string(),
    };
    ReleaseVersion::parse(&format!("{}{suffix}", join(&release)))
}

/// Which release number a next-dev bump moves after a final release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Major,
    Minor,
    Patch,
}

impl Part {
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Major => "major",
            Part::Minor => "minor",
            Part::Patch => "patch",
        }
    }
}

/// The version main moves to after releasing `released`: the next
/// version's `.dev0`, spelled like `released`.
///
/// - after a final or post-release, `part` moves on and the numbers after it
///   reset: `1.45.0` → `1.46.0.dev0` (minor), `2.0.0.dev0` (major),
///   `1.45.1.dev0` (patch); `1.45.0.post1` → `1.46.0.dev0`;
/// - after a pre-release, its number moves on: `1.45.0rc0` → `1.45.0rc1.dev0`,
///   which sorts after the rc and before the next rc and the final;
/// - after a dev release: none, main is at a dev version already.
pub fn next_dev(
    released: &ReleaseVersion,
    part: Part,
) -> Result<Option<ReleaseVersion>, VersionError> {
    let cannot = |reason: &str| VersionError::NoNextDev {
        input: released.typed.clone(),
        reason: reason.to_string(),
    };
    if released.parsed.dev().is_some() {
        return Ok(None);
    }
    if released.parsed.epoch() != 0 {
        return Err(cannot("an epoch (`N!`) has no next dev version here"));
    }
    let typed = if released.parsed.pre().is_some() {
        let (_, suffix) =
            split_release(&released.typed).ok_or_else(|| cannot("no release segment"))?;
        if released.parsed.post().is_some() || suffix.to_ascii_lowercase().contains("post") {
            return Err(cannot(
                "a post-release of a pre-release has no next dev version here",
            ));
        }
        let next = bump_pre_segment(&released.typed)
            .ok_or_else(|| cannot("cannot tell its pre-release number"))?;
        format!("{next}.dev0")
    } else {
        let at = match part {
            Part::Major => 0,
            Part::Minor => 1,
            Part::Patch => 2,
        };
        let mut release = released.parsed.release().to_vec();
        release.resize(release.len().max(at + 1), 0);
        release[at] = release[at]
            .checked_add(1)
            .ok_or_else(|| cannot("the release segment overflows"))?;
        for n in release.iter_mut().skip(at + 1) {
            *n = 0;
        }
        format!("{}.dev0", join(&release))
    };
    let next = ReleaseVersion::parse(&typed)?;
    if next.parsed <= released.parsed {
        return Err(cannot("the next dev version would not sort after it"));
    }
    Ok(Some(next))
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

/// `next` (a `.dev0` release) spelled as `like` spells its dev segment
/// when `like` writes it without a number (`1.45.0.dev`, which PEP 440
/// reads as `.dev0`): `1.46.0.dev0` like `1.45.0.dev` is `1.46.0.dev`.
/// Anything else is `next` as it is.
pub fn dev_spelled_like(next: ReleaseVersion, like: &str) -> ReleaseVersion {
    // Ends in `dev` and is a version: a dev segment with no number.
    let bare = like.to_ascii_lowercase().ends_with("dev")
        && ReleaseVersion::parse(like).is_ok_and(|l| l.parsed.dev() == Some(0));
    if !bare {
        return next;
    }
    match next.typed.strip_suffix("dev0") {
        Some(stem) if next.parsed.dev() == Some(0) => {
            ReleaseVersion::parse(&format!("{stem}dev")).unwrap_or(next)
        }
        _ => next,
    }
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
    fn heading_to_strips_the_dev_segment() {
        for (dev, head) in [
            ("1.45.0.dev", "1.45.0"),
            ("0.66b0.dev", "0.66b0"),
            ("1.45.0rc1.dev0", "1.45.0rc1"),
            ("1.0.post1.dev2", "1.0.post1"),
            ("1.0dev3", "1.0"),
            ("1.45.0", "1.45.0"),
            ("0.66b0", "0.66b0"),
        ] {
            assert_eq!(heading_to(&v(dev)).unwrap().typed, head, "{dev}");
        }
    }

    #[test]
    fn tracks_follow_a_primary_at_a_dev_version() {
        // Releasing what main was heading to: each dev track goes to its own
        // heading-to release; a track without a marker takes the primary's
        // pre or dev suffix.
        assert_eq!(follows("1.45.0.dev", "1.45.0rc0", "0.66b0.dev"), "0.66b0");
        assert_eq!(
            follows("1.45.0.dev", "1.45.0rc0", "0.26.0.dev"),
            "0.26.0rc0"
        );
        assert_eq!(follows("1.45.0.dev", "1.45.0", "0.66b0.dev"), "0.66b0");
        assert_eq!(follows("1.45.0.dev", "1.45.0", "0.26.0.dev"), "0.26.0");
        assert_eq!(
            follows("1.45.0.dev0", "1.45.0.post1", "0.26.0.dev0"),
            "0.26.0.post1"
        );
        assert_eq!(
            follows("1.45.0rc1.dev0", "1.45.0rc1", "0.66b1.dev0"),
            "0.66b1"
        );
        assert_eq!(
            follows("1.45.0rc1.dev0", "1.45.0rc1", "0.26.0rc1.dev0"),
            "0.26.0rc1"
        );
        assert_eq!(
            follows("1.45.0rc1.dev0", "1.45.0", "0.26.0rc1.dev0"),
            "0.26.0"
        );
        // Past the heading-to release: move on from there, marker number 0.
        assert_eq!(follows("1.45.0.dev", "1.46.0", "0.66b0.dev"), "0.67b0");
        assert_eq!(follows("1.45.0.dev0", "1.46.0rc0", "0.66b0.dev0"), "0.67b0");
        assert_eq!(
            follows("1.45.0.dev0", "1.46.0rc0", "0.26.0.dev0"),
            "0.27.0rc0"
        );
        assert_eq!(follows("1.45.0.dev0", "2.0.0", "0.26.0.dev0"), "1.0.0");
        // A track at no dev release beside a dev primary moves as from the
        // primary's heading-to release.
        assert_eq!(follows("1.45.0.dev0", "1.45.0", "0.66b0"), "0.66b1");
        assert_eq!(follows("1.45.0.dev0", "1.46.0", "0.26.0"), "0.27.0");
    }

    #[test]
    fn a_dev_release_of_the_primary_gives_each_track_a_dev_release() {
        assert_eq!(
            follows("1.45.0.dev0", "1.45.0.dev1", "0.66b0.dev0"),
            "0.66b0.dev1"
        );
        assert_eq!(
            follows("1.45.0.dev0", "1.45.0.dev1", "0.26.0.dev0"),
            "0.26.0.dev1"
        );
        assert_eq!(
            follows("1.45.0.dev", "1.45.0-dev1", "0.66b0.dev"),
            "0.66b0-dev1"
        );
        assert_eq!(follows("1.45.0", "1.46.0.dev1", "0.66b1"), "0.67b0.dev1");
        assert_eq!(follows("1.45.0", "1.46.0.dev0", "0.26.0"), "0.27.0.dev0");
        assert_eq!(
            follows("1.45.0rc0", "1.45.0rc1.dev0", "0.66b0"),
            "0.66b1.dev0"
        );
        assert_eq!(
            follows("1.45.0rc0", "1.45.0rc1.dev0", "0.26.0rc0"),
            "0.26.0rc1.dev0"
        );
        assert_eq!(
            follows("1.45.0.post1", "1.46.0.dev0", "0.66b1"),
            "0.67b0.dev0"
        );
        assert_eq!(
            follows("1.45.0.dev0", "1.46.0.dev0", "0.66b0.dev0"),
            "0.67b0.dev0"
        );
        for (pf, pt, tf) in [
            ("1.45.0.dev0", "1.45.0.dev1", "0.66b0.dev0"),
            ("1.45.0", "1.46.0.dev1", "0.66b1"),
            ("1.45.0rc0", "1.45.0rc1.dev0", "0.66b0"),
        ] {
            let got = follow(&v(pf), &v(pt), &v(tf)).unwrap();
            assert!(got.parsed.dev().is_some(), "{pf} -> {pt}: {tf} -> {got}");
        }
    }

    #[test]
    fn post_releases_of_a_dev_tracked_primary() {
        assert_eq!(follows("1.45.0", "1.45.0.post1", "0.66b0"), "0.66b1");
        assert_eq!(follows("1.45.0", "1.45.0.post1", "0.26.0"), "0.26.0.post1");
        assert_eq!(follows("1.45.0.post1", "1.46.0", "0.66b1"), "0.67b0");
    }

    #[test]
    fn the_next_dev_version() {
        let nd = |s: &str, part| next_dev(&v(s), part).unwrap().map(|n| n.typed);
        let some = |s: &str| Some(s.to_string());
        assert_eq!(nd("1.45.0", Part::Minor), some("1.46.0.dev0"));
        assert_eq!(nd("1.45.0", Part::Major), some("2.0.0.dev0"));
        assert_eq!(nd("1.45.0", Part::Patch), some("1.45.1.dev0"));
        assert_eq!(nd("1.45.3", Part::Minor), some("1.46.0.dev0"));
        assert_eq!(nd("1.0", Part::Patch), some("1.0.1.dev0"));
        assert_eq!(nd("1.45.0.post1", Part::Minor), some("1.46.0.dev0"));
        assert_eq!(nd("1.45.0rc0", Part::Minor), some("1.45.0rc1.dev0"));
        assert_eq!(nd("0.6.5.pre0", Part::Major), some("0.6.5.pre1.dev0"));
        assert_eq!(nd("0.66b1", Part::Minor), some("0.66b2.dev0"));
        assert_eq!(nd("1.45.0.dev1", Part::Minor), None);
        for (released, following) in [("1.45.0rc0", "1.45.0rc1"), ("1.45.0rc0", "1.45.0")] {
            let n = next_dev(&v(released), Part::Minor).unwrap().unwrap();
            assert!(
                n.parsed > v(released).parsed && n.parsed < v(following).parsed,
                "{n}"
            );
        }
    }

    #[test]
    fn a_next_dev_version_keeps_mains_spelling() {
        let spelled = |next: &str, like: &str| dev_spelled_like(v(next), like).typed;
        assert_eq!(spelled("1.46.0.dev0", "1.45.0.dev"), "1.46.0.dev");
        assert_eq!(spelled("1.45.0rc1.dev0", "1.45.0.dev"), "1.45.0rc1.dev");
        assert_eq!(spelled("1.46.0.dev0", "1.45.0.dev0"), "1.46.0.dev0");
        assert_eq!(spelled("1.46.0.dev0", "1.45.0rc0"), "1.46.0.dev0");
        assert_eq!(spelled("1.46.0.dev0", "1.45.0.dev3"), "1.46.0.dev0");
        assert_eq!(spelled("1.46.0.dev0", "1.45.0"), "1.46.0.dev0");
        // The track that follows carries the primary's spelling.
        assert_eq!(
            follow(&v("1.45.0"), &v("1.46.0.dev"), &v("0.66b1"))
                .unwrap()
                .typed,
            "0.67b0.dev"
        );
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
