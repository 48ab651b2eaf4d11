//! PEP 440 helpers on top of `pep440_rs`.
//!
//! A release keeps two spellings of its version: the one the user typed (used for
//! the commit message and the tag, because that is what the team's history uses)
//! and the normalised one (what build backends put in file names and what an index
//! serves). Everything that compares versions goes through here.

use std::str::FromStr;

use pep440_rs::Version;
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
