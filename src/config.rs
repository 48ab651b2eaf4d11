//! `release.toml`: what to release and where.
//!
//! Parsed once into a validated [`Config`] before any step runs, with unknown keys
//! refused, so that a typo in the config is a clear error up front rather than a
//! setting silently ignored half-way through a release.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid release config: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_branch")]
    pub branch: String,
    #[serde(default = "default_remote")]
    pub remote: String,
    /// Package globs; without them, the tracks' globs, else the default.
    pub packages: Option<Vec<String>>,
    #[serde(default = "default_tag")]
    pub tag: String,
    /// `notes = "FILE"`, or a `[notes]` table (file, heading, unreleased).
    #[serde(default, deserialize_with = "notes_setting")]
    pub notes: NotesConfig,
    /// `[hooks]`: commands run at points of a release.
    #[serde(default)]
    pub hooks: HooksConfig,
    #[serde(default)]
    pub build: BuildConfig,
    #[serde(default)]
    pub publish: PublishConfig,
    #[serde(default)]
    pub announce: AnnounceConfig,
    #[serde(default)]
    pub nightly: NightlyConfig,
    #[serde(default)]
    pub git: GitConfig,
    /// `[pull_request]`: release through a pull request (protected branches).
    pub pull_request: Option<PullRequestConfig>,
    /// Per-package settings, keyed by package name (`[package.dagit]`). Named
    /// `package` because `packages` is already the list of globs.
    #[serde(default)]
    pub package: BTreeMap<String, PackageConfig>,
    /// Version tracks (`[[track]]`); the first is primary. Empty: one track.
    #[serde(default)]
    pub track: Vec<TrackConfig>,
    /// `[pins]`: which sibling pins a bump moves.
    #[serde(default)]
    pub pins: PinsConfig,
    /// `[[replace]]`: other files that carry the version, rewritten by the
    /// bump (and in a nightly's export) by pattern.
    #[serde(default)]
    pub replace: Vec<ReplaceConfig>,
    /// `[release]`: what a release does beyond its own commit.
    #[serde(default)]
    pub release: ReleaseConfig,
}

/// `[pins]`: exact pins (`==`) on a sibling always move with it; ranges
/// are the maintainer's choice unless `ranges = "move"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinsConfig {
    #[serde(default)]
    pub ranges: RangePins,
}

/// What a bump does to a range pin on a sibling (`~= 1.45.0.dev`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RangePins {
    /// Left as written, and named in the bump's output.
    #[default]
    Leave,
    /// Each clause at the sibling's current version moves to its new one,
    /// operator kept (`~= 1.45.0.dev` -> `~= 1.45.0rc0`; `< 2` stays).
    Move,
}

/// One `[[replace]]`: in `file`, every match of `search` (a regex) becomes
/// `replace`, with the version templates filled in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceConfig {
    /// Relative to the repository root.
    pub file: String,
    pub search: String,
    pub replace: String,
    /// How many matches there must be (default: at least one).
    pub exactly: Option<usize>,
}

/// `[release]`: the conventions of the release commits themselves.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseConfig {
    /// `next_dev = true | "major" | "minor" | "patch"`: after the release
    /// commit (the one tagged), a second commit moves every package to the
    /// next version's `.dev0` (`true` is "minor": `1.45.0` → `1.46.0.dev0`),
    /// for projects that keep their main branch at the next dev version.
    #[serde(default)]
    pub next_dev: NextDev,
}

/// `next_dev` as written: a boolean or the part to move.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NextDev(pub Option<crate::version::Part>);

impl<'de> Deserialize<'de> for NextDev {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use crate::version::Part;
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            On(bool),
            Part(String),
        }
        match Written::deserialize(d)? {
            Written::On(false) => Ok(NextDev(None)),
            Written::On(true) => Ok(NextDev(Some(Part::Minor))),
            Written::Part(p) => match p.as_str() {
                "major" => Ok(NextDev(Some(Part::Major))),
                "minor" => Ok(NextDev(Some(Part::Minor))),
                "patch" => Ok(NextDev(Some(Part::Patch))),
                other => Err(serde::de::Error::custom(format!(
                    "[release] next_dev = \"{other}\": write true, false, \"major\", \"minor\" or \"patch\""
                ))),
            },
        }
    }
}

/// Where a release's notes are: `notes = "CHANGES.md"` names the file
/// only; the `[notes]` table also says how its headings look and whether
/// the bump makes the version's heading from `## Unreleased`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotesConfig {
    #[serde(default = "default_notes")]
    pub file: String,
    /// The heading of a release's section, as a template
    /// (`## Version {version}/{track.beta} ({date})`); unset: any heading
    /// whose first word is the version (`## 1.2.0`, `## v1.2.0 (date)`,
    /// `## [1.2.0] - date`, `## Version 1.2.0/0.3b0 (date)`).
    pub heading: Option<String>,
    /// Final releases turn the `## Unreleased` heading into the version's
    /// heading, dated today (UTC), in the release commit; an empty
    /// `## Unreleased` stays above it. Pre-releases are announced with the
    /// `## Unreleased` section and leave it as it is.
    #[serde(default)]
    pub unreleased: bool,
}

impl Default for NotesConfig {
    fn default() -> Self {
        Self {
            file: default_notes(),
            heading: None,
            unreleased: false,
        }
    }
}

/// `notes` as a file name or as a `[notes]` table: the string form was the
/// only one before the table, and stays valid.
fn notes_setting<'de, D: serde::Deserializer<'de>>(d: D) -> Result<NotesConfig, D::Error> {
    use serde::de::Error;
    match toml::Value::deserialize(d)? {
        toml::Value::String(file) => Ok(NotesConfig {
            file,
            ..NotesConfig::default()
        }),
        table @ toml::Value::Table(_) => NotesConfig::deserialize(table).map_err(D::Error::custom),
        other => Err(D::Error::custom(format!(
            "`notes` is a file name or a table (file, heading, unreleased), not a {}",
            other.type_str()
        ))),
    }
}

/// `[hooks]`: shell commands run at points of a release, in the
/// repository's root, with `{version}`, `{prev_version}` and
/// `{track.NAME}` filled in (and as `RELEASE_VERSION`,
/// `RELEASE_PREV_VERSION`, `RELEASE_TRACK_<NAME>`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HooksConfig {
    /// After the bump rewrote the versions, before the release commit:
    /// what they change in the repository joins the release commit.
    #[serde(default)]
    pub bump: Vec<String>,
}

/// The `{...}` placeholders of `template` that are not `{version}`,
/// `{prev_version}` (when `prev` allows it), `{date}` (when `date` does)
/// or `{track.NAME}` of a configured track.
pub fn unknown_placeholders(
    template: &str,
    tracks: &[TrackConfig],
    prev: bool,
    date: bool,
) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        let known = name == "version"
            || (prev && name == "prev_version")
            || (date && name == "date")
            || name
                .strip_prefix("track.")
                .is_some_and(|t| tracks.iter().any(|c| c.name == t));
        if !known {
            unknown.push(format!("{{{name}}}"));
        }
        rest = &rest[open + close + 1..];
    }
    unknown
}

/// A set of packages whose versions move in lockstep (`[[track]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackConfig {
    pub name: String,
    /// Globs of package folders, relative to the repository root.
    pub packages: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    #[serde(default = "yes")]
    pub isolation: bool,
    pub python: Option<String>,
    pub jobs: Option<usize>,
    /// Warm build workers (default true): in the interpreter itself without
    /// isolation, in shared cached environments with it.
    pub warm: Option<bool>,
    /// Built files of the last N finished releases kept in `.release/dist/`
    /// (default 2).
    pub keep_releases: Option<usize>,
}

impl BuildConfig {
    pub fn keep_releases(&self) -> usize {
        self.keep_releases.unwrap_or(2)
    }
}

impl Default for BuildConfig {
    fn default() -> Self {
        Self {
            isolation: true,
            python: None,
            jobs: None,
            warm: None,
            keep_releases: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishConfig {
    pub repository: Option<String>,
    pub upload_url: Option<String>,
    pub index_url: Option<String>,
    pub pypirc: Option<String>,
    /// Parallel uploads (default 16).
    pub jobs: Option<usize>,
    /// Tries per file for transient failures (default 5).
    pub attempts: Option<u32>,
    /// First backoff between tries, doubled each time, with jitter (default 500).
    pub backoff_ms: Option<u64>,
    /// Per-request timeout (default 60; an upload also gets its body's time
    /// at 256 KiB/s).
    pub timeout_secs: Option<u64>,
    /// A PEM bundle of CA certificates the index's HTTPS is trusted with,
    /// besides the system's (a relative path is from the config's folder).
    pub ca_cert: Option<PathBuf>,
    /// Trusted publishing (an OIDC token from CI exchanged at the index):
    /// `true` always, `false` never, unset when the CI offers one and no
    /// password is given.
    pub trusted: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnounceConfig {
    pub slack: Option<SlackConfig>,
    pub github: Option<GithubConfig>,
    /// Tries for transient failures of lookups and GitHub creation (default 4).
    pub attempts: Option<u32>,
    /// First backoff between tries (default 500).
    pub backoff_ms: Option<u64>,
}

impl AnnounceConfig {
    pub fn retry(&self) -> crate::ops::http::RetryPolicy {
        crate::ops::http::RetryPolicy {
            attempts: self.attempts.unwrap_or(4).max(1),
            base: std::time::Duration::from_millis(self.backoff_ms.unwrap_or(500)),
            max: std::time::Duration::from_secs(15),
        }
    }
}

/// `[nightly]`: how `release nightly` differs from a release.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NightlyConfig {
    /// Announce each nightly to Slack like a release (default: false; a
    /// nightly has no tag, so no GitHub release is made).
    #[serde(default)]
    pub announce: bool,
}

/// `[git]`: the remote lock that keeps two machines from releasing at once.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitConfig {
    /// Take `refs/release/lock` on the remote (default true). `false` for
    /// hosts that refuse refs outside `refs/heads` and `refs/tags`: then
    /// nothing keeps two machines from releasing at once.
    #[serde(default = "yes")]
    pub remote_lock: bool,
    /// How long the lock holds without renewal (default 600 s): a runner
    /// killed while holding it blocks others that long at most.
    pub lock_lease_secs: Option<u64>,
}

impl Default for GitConfig {
    fn default() -> Self {
        Self {
            remote_lock: true,
            lock_lease_secs: None,
        }
    }
}

impl GitConfig {
    /// Renewed every third of it, so a few seconds is the least that works.
    pub const LEASE_SECS: std::ops::RangeInclusive<u64> = 3..=86_400;

    pub fn lock_lease(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.lock_lease_secs.unwrap_or(600))
    }
}

/// `[pull_request]`: the release commit goes to a release branch and a pull
/// request against `branch`; the tag waits for the commit it lands as.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullRequestConfig {
    /// The release branch's name, `{version}` filled in.
    #[serde(default = "default_pr_branch")]
    pub branch: String,
    /// owner/name on GitHub; else `GITHUB_REPOSITORY`, else the remote's URL.
    pub repo: Option<String>,
    /// The GitHub API (default https://api.github.com).
    pub api: Option<String>,
}

impl PullRequestConfig {
    pub fn branch_for(&self, version: &str) -> String {
        self.branch.replace("{version}", version)
    }
}

fn default_pr_branch() -> String {
    "release/{version}".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    pub channel: String,
    pub api: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    pub repo: String,
    pub api: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageConfig {
    /// A shell command run in the package's folder of the clean export before it is built.
    pub prebuild: Option<String>,
    /// Wheels built elsewhere (a CI matrix for compiled packages), a glob
    /// relative to the repository root: collected instead of built, and
    /// checked like the package's own builds. The sdist is still built here.
    pub prebuilt: Option<String>,
    /// The platform tags the prebuilt wheels must cover
    /// (`manylinux_2_17_x86_64`, `macosx_11_0_arm64`, `win_amd64`, ...): a
    /// missing one is a finding, and so is a wheel for none of them.
    #[serde(default)]
    pub platforms: Vec<String>,
}

/// Bounds of `[build] jobs` and `[publish] jobs`.
const MAX_JOBS: u64 = 1024;
/// Bound of every `backoff_ms`: ten minutes.
const MAX_BACKOFF_MS: u64 = 600_000;

fn default_branch() -> String {
    "master".into()
}
fn default_remote() -> String {
    "origin".into()
}
fn default_packages() -> Vec<String> {
    vec![
        "python_modules/*".into(),
        "python_modules/libraries/*".into(),
    ]
}
fn default_tag() -> String {
    "{version}".into()
}
fn default_notes() -> String {
    "CHANGES.md".into()
}
fn yes() -> bool {
    true
}

impl Config {
    /// Load `path`; a missing file at the default location means all defaults.
    pub fn load(path: &Path, explicit: bool) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => String::new(),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let mut config = Self::parse(&text, path)?;
        if let (Some(ca), Some(dir)) = (&config.publish.ca_cert, path.parent()) {
            config.publish.ca_cert = Some(dir.join(ca));
        }
        Ok(config)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        if !self.tag.contains("{version}") {
            return Err(invalid(format!(
                "tag template `{}` must contain `{{version}}`",
                self.tag
            )));
        }
        if self.packages.as_ref().is_some_and(|p| p.is_empty()) {
            return Err(invalid("`packages` lists no globs".into()));
        }
        let mut names = std::collections::BTreeSet::new();
        for t in &self.track {
            let valid = !t.name.is_empty()
                && t.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !valid {
                return Err(invalid(format!(
                    "track name `{}` must be letters, digits, `-`, `_` or `.`",
                    t.name
                )));
            }
            if !names.insert(t.name.as_str()) {
                return Err(invalid(format!("two tracks are named `{}`", t.name)));
            }
            if t.packages.is_empty() {
                return Err(invalid(format!(
                    "track `{}` lists no package globs",
                    t.name
                )));
            }
        }
        let track_globs = self.track.iter().flat_map(|t| t.packages.iter());
        for g in self.package_globs().iter().chain(track_globs) {
            glob::Pattern::new(g).map_err(|e| invalid(format!("bad package glob `{g}`: {e}")))?;
            if Path::new(g).is_absolute() || g.split('/').any(|c| c == "..") {
                return Err(invalid(format!(
                    "package glob `{g}` must stay inside the repository"
                )));
            }
        }
        if git2::Branch::name_is_valid(&self.branch).ok() != Some(true) {
            return Err(invalid(format!(
                "`{}` is not a valid branch name",
                self.branch
            )));
        }
        if self.remote.is_empty() {
            return Err(invalid("`remote` is empty".into()));
        }
        for (name, p) in &self.package {
            if let Some(g) = &p.prebuilt {
                glob::Pattern::new(g).map_err(|e| {
                    invalid(format!("[package.{name}] bad prebuilt glob `{g}`: {e}"))
                })?;
                if Path::new(g).is_absolute() || g.split('/').any(|c| c == "..") {
                    return Err(invalid(format!(
                        "[package.{name}] prebuilt glob `{g}` must stay inside the repository"
                    )));
                }
            } else if !p.platforms.is_empty() {
                return Err(invalid(format!(
                    "[package.{name}] lists platforms but no `prebuilt` glob to find their wheels"
                )));
            }
        }
        for (i, r) in self.replace.iter().enumerate() {
            crate::packages::replace::check_entry(self, i, r).map_err(invalid)?;
        }
        if self.build.jobs == Some(0) || self.publish.jobs == Some(0) {
            return Err(invalid("`jobs` must be at least 1".into()));
        }
        self.check_numbers().map_err(invalid)?;
        self.check_notes_and_hooks().map_err(invalid)?;
        Ok(())
    }

    /// Templates whose every placeholder can be filled in, and a notes file
    /// inside the repository (the bump may write it).
    fn check_notes_and_hooks(&self) -> Result<(), String> {
        let file = &self.notes.file;
        if file.is_empty()
            || Path::new(file).is_absolute()
            || file.split(['/', '\\']).any(|c| c == "..")
        {
            return Err(format!(
                "the notes file `{file}` must be a path inside the repository"
            ));
        }
        if let Some(h) = &self.notes.heading {
            if !h.starts_with('#') || !h.contains("{version}") {
                return Err(format!(
                    "[notes] heading `{h}` must be a Markdown heading (`## ...`) containing `{{version}}`"
                ));
            }
            let unknown = unknown_placeholders(h, &self.track, false, true);
            if !unknown.is_empty() {
                return Err(format!(
                    "[notes] heading `{h}` has {}: it may use {{version}}, {{date}} and {{track.NAME}} of a configured track",
                    unknown.join(", ")
                ));
            }
        }
        for cmd in &self.hooks.bump {
            if cmd.trim().is_empty() {
                return Err("[hooks] bump has an empty command".into());
            }
            // A shell command has braces of its own (`${HOME}`, `{} \;`):
            // only a track that is not configured is surely a mistake.
            let unknown: Vec<String> = unknown_placeholders(cmd, &self.track, true, false)
                .into_iter()
                .filter(|p| p.starts_with("{track."))
                .collect();
            if !unknown.is_empty() {
                return Err(format!(
                    "[hooks] bump command `{cmd}` has {}, which names no configured track",
                    unknown.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Every number within a range the code can use: a timeout or backoff
    /// of `u64::MAX` would overflow the clock arithmetic it feeds (a panic,
    /// not an error), and no sane setting is near these bounds.
    fn check_numbers(&self) -> Result<(), String> {
        let (b, p, a) = (&self.build, &self.publish, &self.announce);
        let lease = GitConfig::LEASE_SECS;
        let settings: [(&str, Option<u64>, u64, u64); 9] = [
            ("[build] jobs", b.jobs.map(|n| n as u64), 1, MAX_JOBS),
            (
                "[build] keep_releases",
                b.keep_releases.map(|n| n as u64),
                0,
                10_000,
            ),
            ("[publish] jobs", p.jobs.map(|n| n as u64), 1, MAX_JOBS),
            ("[publish] attempts", p.attempts.map(u64::from), 1, 100),
            ("[publish] backoff_ms", p.backoff_ms, 0, MAX_BACKOFF_MS),
            ("[publish] timeout_secs", p.timeout_secs, 1, 86_400),
            ("[announce] attempts", a.attempts.map(u64::from), 1, 100),
            ("[announce] backoff_ms", a.backoff_ms, 0, MAX_BACKOFF_MS),
            (
                "[git] lock_lease_secs",
                self.git.lock_lease_secs,
                *lease.start(),
                *lease.end(),
            ),
        ];
        for (name, value, min, max) in settings {
            if let Some(v) = value.filter(|v| !(min..=max).contains(v)) {
                return Err(format!(
                    "`{name} = {v}` is out of range: it must be from {min} to {max}"
                ));
            }
        }
        Ok(())
    }

    /// The globs packages are found under: `packages`, else every track's,
    /// else the default.
    pub fn package_globs(&self) -> Vec<String> {
        match &self.packages {
            Some(p) => p.clone(),
            None if !self.track.is_empty() => {
                let mut globs: Vec<String> = Vec::new();
                for g in self.track.iter().flat_map(|t| t.packages.iter()) {
                    if !globs.contains(g) {
                        globs.push(g.clone());
                    }
                }
                globs
            }
            None => default_packages(),
        }
    }

    /// The primary track's name (the first), if there are tracks.
    pub fn primary_track(&self) -> Option<&str> {
        self.track.first().map(|t| t.name.as_str())
    }

    /// The `[package.NAME]` settings of a package, by its name as declared
    /// or normalised.
    pub fn package_config(&self, name: &str, normalized: &str) -> Option<&PackageConfig> {
        self.package
            .get(name)
            .or_else(|| self.package.get(normalized))
    }

    /// The tag name for a version as typed.
    pub fn tag_name(&self, version: &str) -> String {
        self.tag.replace("{version}", version)
    }

    /// The version a tag name carries, if the tag matches the template.
    pub fn version_of_tag<'a>(&self, tag: &'a str) -> Option<&'a str> {
        let (prefix, suffix) = self.tag.split_once("{version}")?;
        tag.strip_prefix(prefix)?.strip_suffix(suffix)
    }

    /// The interpreter for builds: `[build] python`, else `$PYTHON`, else
    /// `python3`. A relative path is made absolute here, because builds run with
    /// another current directory.
    pub fn python(&self) -> String {
        let python = self
            .build
            .python
            .clone()
            .or_else(|| std::env::var("PYTHON").ok().filter(|p| !p.is_empty()))
            .unwrap_or_else(|| "python3".into());
        if python.contains('/') && Path::new(&python).is_relative() {
            if let Ok(cwd) = std::env::current_dir() {
                return cwd.join(&python).to_string_lossy().into_owned();
            }
        }
        python
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_dev_is_a_boolean_or_a_part() {
        use crate::version::Part;
        let p = Path::new("release.toml");
        let next = |t: &str| Config::parse(t, p).map(|c| c.release.next_dev.0);
        assert_eq!(next("").unwrap(), None);
        assert_eq!(next("[release]\nnext_dev = false\n").unwrap(), None);
        assert_eq!(
            next("[release]\nnext_dev = true\n").unwrap(),
            Some(Part::Minor)
        );
        assert_eq!(
            next("[release]\nnext_dev = \"major\"\n").unwrap(),
            Some(Part::Major)
        );
        assert_eq!(
            next("[release]\nnext_dev = \"patch\"\n").unwrap(),
            Some(Part::Patch)
        );
        for bad in [
            "[release]\nnext_dev = \"micro\"\n",
            "[release]\nnext_dev = 1\n",
            "[release]\nnext = true\n",
        ] {
            assert!(next(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_and_errors() {
        let p = Path::new("release.toml");
        let c = Config::parse("", p).unwrap();
        assert_eq!(c.branch, "master");
        assert!(c.build.isolation);
        assert_eq!(c.tag_name("1.0"), "1.0");
        assert!(c.git.remote_lock);
        assert_eq!(c.git.lock_lease().as_secs(), 600);
        let c = Config::parse("[git]\nremote_lock = false\nlock_lease_secs = 3\n", p).unwrap();
        assert!(!c.git.remote_lock);
        assert_eq!(c.git.lock_lease().as_secs(), 3);
        let c = Config::parse("tag = \"v{version}\"\n", p).unwrap();
        assert_eq!(c.version_of_tag("v1.2"), Some("1.2"));
        assert_eq!(c.version_of_tag("1.2"), None);
        for bad in [
            "brnach = \"x\"",
            "tag = \"v\"",
            "packages = []",
            "packages = \"x\"",
            "[build]\njobs = 0",
            "[[[",
            "branch = \"a..b\"",
            "packages = [\"../x\"]",
            "[[track]]\nname = \"a\"\npackages = []",
            "[[track]]\nname = \"a b\"\npackages = [\"x\"]",
            "[[track]]\nname = \"a\"\npackages = [\"x\"]\n[[track]]\nname = \"a\"\npackages = [\"y\"]",
            "[[track]]\nname = \"a\"\npackages = [\"../y\"]",
            "[git]\nlock_lease_secs = 1",
            "[git]\nlock_lease_secs = 100000000",
            "[git]\nremote_lock = \"no\"",
            "[package.x]\nprebuilt = \"../dist/*.whl\"",
            "[package.x]\nprebuilt = \"/tmp/*.whl\"",
            "[package.x]\nplatforms = [\"win_amd64\"]",
        ] {
            assert!(Config::parse(bad, p).is_err(), "{bad}");
        }
        for (bad, says) in [
            ("[publish]\ntimeout_secs = 9223372036854775807", "`[publish] timeout_secs = 9223372036854775807` is out of range: it must be from 1 to 86400"),
            ("[publish]\nattempts = 0", "[publish] attempts"),
            ("[announce]\nbackoff_ms = 600001", "from 0 to 600000"),
            ("[build]\nkeep_releases = 10001", "[build] keep_releases"),
        ] {
            let e = Config::parse(bad, p).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        // `notes` as a file name, or as a table.
        assert_eq!(c.notes.file, "CHANGES.md");
        let c = Config::parse("notes = \"CHANGELOG.md\"\n", p).unwrap();
        assert_eq!(
            (c.notes.file.as_str(), c.notes.unreleased),
            ("CHANGELOG.md", false)
        );
        let c = Config::parse(
            "[notes]\nheading = \"## Version {version}/{track.beta} ({date})\"\nunreleased = true\n[[track]]\nname = \"beta\"\npackages = [\"x\"]\n[hooks]\nbump = [\"uv lock --offline\", \"echo {track.beta} ${HOME} {}\"]\n",
            p,
        )
        .unwrap();
        assert_eq!(c.notes.file, "CHANGES.md");
        assert!(c.notes.unreleased && c.notes.heading.is_some());
        assert_eq!(c.hooks.bump.len(), 2);
        for (bad, says) in [
            ("notes = 1", "`notes` is a file name or a table"),
            ("[notes]\nfiel = \"x\"", "unknown field `fiel`"),
            (
                "notes = \"../CHANGES.md\"",
                "must be a path inside the repository",
            ),
            (
                "[notes]\nheading = \"Version {version}\"",
                "must be a Markdown heading",
            ),
            (
                "[notes]\nheading = \"## {version} {track.beta}\"",
                "has {track.beta}",
            ),
            (
                "[notes]\nheading = \"## {verison}\"",
                "must be a Markdown heading",
            ),
            (
                "[hooks]\nbump = [\"echo {track.nope}\"]",
                "names no configured track",
            ),
            ("[hooks]\nbump = [\" \"]", "empty command"),
            ("[hooks]\nbmup = []", "unknown field `bmup`"),
        ] {
            let e = Config::parse(bad, p).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let edges = "[build]\njobs = 1024\nkeep_releases = 0\n[publish]\ntimeout_secs = 86400\nbackoff_ms = 600000\nattempts = 100\n";
        assert!(Config::parse(edges, p).is_ok());
    }
}
