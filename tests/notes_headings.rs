//! Changelog headings (issue 21): notes found under OpenTelemetry's
//! `## Version X/Y (date)` and keep-a-changelog's `## [X] - date`, and
//! `[notes] unreleased`, which makes a final release's heading from
//! `## Unreleased` in the release commit.

mod common;

use common::apis::Apis;
use common::Sample;

fn write_and_push(s: &Sample, path: &str, text: &str) {
    std::fs::write(s.repo.join(path), text).unwrap();
    s.commit_and_push(&format!("edit {path}"));
}

fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// The beta track's version at HEAD.
fn beta(s: &Sample) -> String {
    s.read("packages/hk-contrib/pyproject.toml")
        .lines()
        .find_map(|l| {
            l.strip_prefix("version = \"")
                .map(|v| v.trim_end_matches('"').to_string())
        })
        .unwrap()
}

/// The release config without `[notes]` (so `notes = FILE` only, the
/// default heading recognition).
fn plain_notes(s: &Sample) {
    let toml = s.read("release.toml");
    let start = toml.find("[notes]").unwrap();
    let end = toml[start..].find("\n\n").unwrap() + start + 2;
    let toml = format!(
        "notes = \"CHANGELOG.md\"\n{}{}",
        &toml[..start],
        &toml[end..]
    );
    write_and_push(s, "release.toml", &toml);
}

/// The Slack message and GitHub release body announcing 1.46.0, whose
/// section is under `heading` (in place of `## Unreleased`), with no
/// heading setting.
fn announced_under(heading: &str) -> (String, String) {
    let apis = Apis::start();
    let s = Sample::fixture("changelog").announce_to(&apis);
    plain_notes(&s);
    let text = s.read("CHANGELOG.md").replace("## Unreleased\n", heading);
    write_and_push(&s, "CHANGELOG.md", &text);
    s.ok(&["start", "1.46.0", "--skip-prerelease-check"]);
    apis.with(|st| (st.messages[0].2.clone(), st.releases[0].3.clone()))
}

/// A section written by hand as `## Version 1.46.0/0.67b0 (date)` is the
/// one announced, found with no heading setting at all.
#[test]
fn a_version_slash_beta_heading_is_announced() {
    let (msg, body) = announced_under("## Version 1.46.0/0.67b0 (2026-12-03)\n\n### Fixed\n");
    assert!(
        msg.contains("### Fixed\n\n- `hk-sdk`: fix multi-processor `force_flush`"),
        "{msg}"
    );
    assert!(
        msg.contains("([#5177](https://github.com/acme/hk/pull/5177))"),
        "{msg}"
    );
    assert!(!msg.contains("the first API"), "{msg}");
    assert!(body.contains("Switch to SPDX license headers"), "{body}");
}

/// keep-a-changelog's `## [1.46.0] - 2026-12-03` is found too.
#[test]
fn a_keep_a_changelog_heading_is_announced() {
    let (msg, _) = announced_under("## [Unreleased]\n\n## [1.46.0] - 2026-12-03\n");
    assert!(msg.contains("Switch to SPDX license headers"), "{msg}");
    assert!(!msg.contains("the first API"), "{msg}");
}

/// `[notes] unreleased`: the final release's commit turns `## Unreleased`
/// into `## Version 1.46.0/BETA (today)` (an empty `## Unreleased` above
/// it), journaled like the version edits, and that section is announced.
/// A release candidate before it is announced with the `## Unreleased`
/// section and leaves the file as it is.
#[test]
fn unreleased_becomes_the_heading_of_the_final_release() {
    let apis = Apis::start();
    let s = Sample::fixture("changelog").announce_to(&apis);
    let before = s.read("CHANGELOG.md");
    s.ok(&["start", "1.46.0rc0"]);
    assert_eq!(s.read("CHANGELOG.md"), before, "a pre-release leaves it");
    apis.with(|st| {
        let msg = &st.messages[0].2;
        assert!(msg.contains("Switch to SPDX license headers"), "{msg}");
    });

    let r = s.ok(&["start", "1.46.0", "--dry-run"]);
    let planned = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("  notes     CHANGELOG.md: `## Unreleased` becomes `"))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    // The beta track's version is checked against the commit's below.
    assert!(planned.starts_with("## Version 1.46.0/0."), "{planned}");
    s.ok(&["start", "1.46.0"]);
    let tag_commit = s.git(&["rev-parse", "v1.46.0^{commit}"]);
    assert_eq!(s.git(&["rev-parse", "HEAD"]), tag_commit);
    let changelog = s.git(&["show", "v1.46.0:CHANGELOG.md"]);
    let heading = format!("## Version 1.46.0/{} ({})", beta(&s), today());
    assert_eq!(format!("{heading}`"), planned);
    assert!(
        changelog.contains(&format!(
            "## Unreleased\n\n{heading}\n\n- `hk-sdk`: fix multi-processor"
        )),
        "{changelog}"
    );
    assert_eq!(changelog.matches("## Unreleased").count(), 1);
    assert_eq!(s.git(&["status", "--porcelain"]), "");
    let files = s.git(&["show", "--name-only", "--format=", "HEAD"]);
    assert!(files.lines().any(|l| l == "CHANGELOG.md"), "{files}");
    apis.with(|st| {
        let msg = &st.messages[1].2;
        assert!(msg.contains("- `hk-sdk`: fix multi-processor"), "{msg}");
        assert!(!msg.contains("the first API"), "{msg}");
    });
    let j = s.finished("1.46.0");
    let edits = j["release"]["bump_edits"].as_array().unwrap();
    assert!(
        edits.iter().any(|e| e["path"] == "CHANGELOG.md"),
        "{edits:?}"
    );
}

/// `[notes] unreleased` with no `## Unreleased` heading is refused by
/// preflight, with nothing changed.
#[test]
fn a_missing_unreleased_heading_is_a_preflight_finding() {
    let s = Sample::fixture("changelog");
    let text = s.read("CHANGELOG.md").replace("## Unreleased\n", "");
    write_and_push(&s, "CHANGELOG.md", &text);
    let head = s.git(&["rev-parse", "HEAD"]);
    let r = s.run(&["start", "1.46.0", "--skip-prerelease-check"]);
    assert!(!r.ok());
    assert!(
        r.stderr
            .contains("[notes] unreleased is set, but CHANGELOG.md has no `## Unreleased` heading"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);
    assert_eq!(s.git(&["rev-parse", "HEAD"]), head);
    assert_eq!(s.read("CHANGELOG.md"), text);
}

/// Killed after the bump wrote the heading: `resume` undoes it with the
/// version edits and makes it again, once.
#[cfg(feature = "failpoints")]
#[test]
fn a_kill_after_the_heading_edit_resumes_with_one_heading() {
    let s = Sample::fixture("changelog");
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.run_failing(
        &["start", "1.46.0", "--skip-prerelease-check"],
        "bump.after_edit",
    );
    assert!(!r.ok());
    assert!(s.read("CHANGELOG.md").contains("## Version 1.46.0/"));
    s.ok(&["resume"]);
    assert_eq!(s.git(&["rev-parse", "HEAD^"]), base);
    let changelog = s.read("CHANGELOG.md");
    assert_eq!(
        changelog.matches("## Version 1.46.0/").count(),
        1,
        "{changelog}"
    );
    assert_eq!(changelog.matches("## Unreleased").count(), 1, "{changelog}");
    assert_eq!(s.git(&["status", "--porcelain"]), "");
}
