//! Issue 21's whole story on a repository shaped like OpenTelemetry
//! Python's main (`tests/fixtures/otel-main`): two tracks at dev versions
//! (`1.45.0.dev`, `0.66b0.dev`), `==` and `~=` sibling pins, `eachdist.ini`
//! under `[[replace]]`, towncrier fragments assembled by a bump hook under
//! `## Version X/Y (date)` headings, and `[release] next_dev`. It is
//! released as an rc, then final, then a nightly is made; each time every
//! version, every pin in the built METADATA, `eachdist.ini`, the notes and
//! the commit graph are checked.

mod common;

use common::apis::Apis;
use common::{git_bare, python, Sample};

const API: &str = "opentelemetry-api/src/opentelemetry/version/__init__.py";
const SDK: &str = "opentelemetry-sdk/src/opentelemetry/sdk/version/__init__.py";
const SEMCONV: &str =
    "opentelemetry-semantic-conventions/src/opentelemetry/semconv/version/__init__.py";
const PROM: &str =
    "exporter/opentelemetry-exporter-prometheus/src/opentelemetry/exporter/prometheus/version/__init__.py";

/// The fixture, announcing to `apis`, with the tool venv's `towncrier` on
/// PATH for the bump hook.
fn sample(apis: &Apis) -> Sample {
    let mut s = Sample::fixture("otel-main").announce_to(apis);
    let bin = python().parent().unwrap().to_path_buf();
    let path = std::env::var("PATH").unwrap_or_default();
    s.set_env("PATH", &format!("{}:{path}", bin.display()));
    s
}

/// A file as the commit `rev` has it.
fn at(s: &Sample, rev: &str, path: &str) -> String {
    s.git(&["show", &format!("{rev}:{path}")])
}

/// The version a `version/__init__.py` declares at `rev`.
fn declared(s: &Sample, rev: &str, path: &str) -> String {
    let text = at(s, rev, path);
    text.lines()
        .find_map(|l| l.strip_prefix("__version__ = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no __version__ in {path} at {rev}:\n{text}"))
        .to_string()
}

/// Every package's version at `rev`, each track's packages agreeing, and
/// eachdist.ini saying each track's: (stable, prerelease).
fn versions_at(s: &Sample, rev: &str) -> (String, String) {
    let stable = declared(s, rev, API);
    assert_eq!(declared(s, rev, SDK), stable, "sdk at {rev}");
    let pre = declared(s, rev, SEMCONV);
    assert_eq!(declared(s, rev, PROM), pre, "prometheus at {rev}");
    let eachdist = at(s, rev, "eachdist.ini");
    assert!(
        eachdist.contains(&format!("[stable]\nversion={stable}\n"))
            && eachdist.contains(&format!("[prerelease]\nversion={pre}\n")),
        "eachdist.ini at {rev} is not at {stable}/{pre}:\n{eachdist}"
    );
    // Every sibling pin, `==` and the `~=` range, at the versions of the
    // same commit; the range on an old version (`~= 1.12`) and third-party
    // pins as written.
    let sdk = at(s, rev, "opentelemetry-sdk/pyproject.toml");
    for pin in [
        format!("\"opentelemetry-api == {stable}\""),
        format!("\"opentelemetry-semantic-conventions == {pre}\""),
        "\"typing-extensions >= 4.5.0\"".to_string(),
    ] {
        assert!(sdk.contains(&pin), "{pin} at {rev}:\n{sdk}");
    }
    let semconv = at(s, rev, "opentelemetry-semantic-conventions/pyproject.toml");
    assert!(
        semconv.contains(&format!("\"opentelemetry-api == {stable}\"")),
        "{semconv}"
    );
    let prom = at(
        s,
        rev,
        "exporter/opentelemetry-exporter-prometheus/pyproject.toml",
    );
    for pin in [
        "\"opentelemetry-api ~= 1.12\"".to_string(),
        format!("\"opentelemetry-sdk ~= {stable}\""),
        "\"prometheus_client >= 0.5.0, < 1.0.0\"".to_string(),
    ] {
        assert!(prom.contains(&pin), "{pin} at {rev}:\n{prom}");
    }
    (stable, pre)
}

/// The built files of the four packages at (stable, pre), wheel and sdist
/// each: their versions, and every sibling pin in them at the same versions.
fn assert_built(s: &Sample, stable: &str, pre: &str) {
    for suffix in [".whl", ".tar.gz"] {
        let (v, _) = s.requires("opentelemetry-api", stable, suffix);
        assert_eq!(v, stable);
        let (v, deps) = s.requires("opentelemetry-sdk", stable, suffix);
        assert_eq!(v, stable);
        for pin in [
            format!("opentelemetry-api=={stable}"),
            format!("opentelemetry-semantic-conventions=={pre}"),
        ] {
            assert!(deps.contains(&pin), "{pin} in sdk {suffix}: {deps:?}");
        }
        let (v, deps) = s.requires("opentelemetry-semantic-conventions", pre, suffix);
        assert_eq!(v, pre);
        assert!(
            deps.contains(&format!("opentelemetry-api=={stable}")),
            "{deps:?}"
        );
        let (v, deps) = s.requires("opentelemetry-exporter-prometheus", pre, suffix);
        assert_eq!(v, pre);
        for pin in [
            "opentelemetry-api~=1.12".to_string(),
            format!("opentelemetry-sdk~={stable}"),
        ] {
            assert!(
                deps.contains(&pin),
                "{pin} in prometheus {suffix}: {deps:?}"
            );
        }
        if !stable.contains(".dev") {
            assert!(
                !deps.iter().any(|d| d.contains(".dev")),
                "a release pins no dev version: {deps:?}"
            );
        }
    }
}

fn origin(s: &Sample, args: &[&str]) -> String {
    git_bare(&s.origin, args)
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// After a release with `next_dev`: origin's branch at the next-dev commit,
/// whose parent is the tagged release commit, whose parent is `base`; the
/// work tree clean at the branch. Returns (release commit, next-dev commit).
fn assert_graph(s: &Sample, base: &str, tag: &str) -> (String, String) {
    let release = origin(s, &["rev-parse", &format!("{tag}^{{commit}}")]);
    let tip = origin(s, &["rev-parse", "master"]);
    assert_eq!(origin(s, &["rev-parse", &format!("{tip}^")]), release);
    assert_eq!(origin(s, &["rev-parse", &format!("{release}^")]), base);
    assert_eq!(
        origin(s, &["rev-list", "--count", &format!("{base}..master")]),
        "2",
        "exactly the release commit and the next-dev commit"
    );
    assert_eq!(origin(s, &["log", "-1", "--format=%s", &release]), tag[1..]);
    assert!(
        origin(s, &["log", "-1", "--format=%s", &tip]).starts_with("bump to the next dev version"),
        "{}",
        origin(s, &["log", "-1", "--format=%s", &tip])
    );
    assert_eq!(s.git(&["rev-parse", "HEAD"]), tip);
    assert_eq!(s.git(&["status", "--porcelain"]), "", "nothing left behind");
    (release, tip)
}

fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

#[test]
fn an_opentelemetry_main_releases_rc_then_final_with_next_dev_then_a_nightly() {
    let apis = Apis::start();
    let s = sample(&apis);
    let start = s.git(&["rev-parse", "HEAD"]);
    assert_eq!(
        versions_at(&s, "HEAD"),
        ("1.45.0.dev".into(), "0.66b0.dev".into())
    );
    let listed = s.ok(&["version"]);
    assert!(listed.stdout.contains("1.45.0.dev"), "{}", listed.stdout);

    // The rc: the beta track goes to the release it was heading to.
    s.ok(&["start", "1.45.0rc0"]);
    let (rc, tip) = assert_graph(&s, &start, "v1.45.0rc0");
    assert_eq!(versions_at(&s, &rc), ("1.45.0rc0".into(), "0.66b0".into()));
    assert_built(&s, "1.45.0rc0", "0.66b0");
    // The next dev versions sort after the rc and before the next release,
    // spelled as main spells them (`.dev`, which PEP 440 reads as `.dev0`).
    assert_eq!(
        versions_at(&s, &tip),
        ("1.45.0rc1.dev".into(), "0.66b1.dev".into())
    );
    // towncrier's section, in the release commit, fragments consumed; the
    // notes announced are that section.
    let changelog = at(&s, &rc, "CHANGELOG.md");
    let heading = format!("## Version 1.45.0rc0/0.66b0 ({})", today());
    assert!(changelog.contains(&heading), "{heading} in:\n{changelog}");
    assert!(
        changelog.find(&heading) < changelog.find("## Version 1.44.0/0.65b0"),
        "newest first:\n{changelog}"
    );
    assert_eq!(
        s.git(&["ls-tree", "--name-only", &rc, ".changelog/"])
            .trim(),
        ".changelog/.gitignore",
        "the fragments are consumed in the release commit"
    );
    apis.with(|st| {
        let text = &st.messages[0].2;
        assert!(
            text.contains("attributes as metric labels")
                && text.contains("[#5122]")
                && text.contains("make the batch processor's queue size configurable"),
            "{text}"
        );
        assert!(!text.contains("force_flush"), "not 1.44.0's notes: {text}");
    });

    // A fix lands on main; the final release, with its notes.
    std::fs::write(
        s.repo.join(".changelog/5400.fixed"),
        "`opentelemetry-sdk`: keep the exporter's timeout when it is zero\n",
    )
    .unwrap();
    s.commit_and_push("a fix with its fragment");
    let before_final = s.git(&["rev-parse", "HEAD"]);
    s.ok(&["start", "1.45.0"]);
    let (final_commit, tip) = assert_graph(&s, &before_final, "v1.45.0");
    assert_eq!(
        versions_at(&s, &final_commit),
        ("1.45.0".into(), "0.66b1".into())
    );
    assert_built(&s, "1.45.0", "0.66b1");
    assert_eq!(
        versions_at(&s, &tip),
        ("1.46.0.dev".into(), "0.67b0.dev".into())
    );
    let changelog = at(&s, &final_commit, "CHANGELOG.md");
    let heading = format!("## Version 1.45.0/0.66b1 ({})", today());
    assert!(changelog.contains(&heading), "{heading} in:\n{changelog}");
    apis.with(|st| {
        let text = &st.messages[1].2;
        assert!(
            text.contains("keep the exporter's timeout when it is zero")
                && !text.contains("metric labels"),
            "only 1.45.0's notes: {text}"
        );
        assert_eq!(st.releases.len(), 2);
        assert!(st.releases[1].3.contains("[#5400]"), "{:?}", st.releases[1]);
    });
    // Main is at the next dev version, yet the release is audited from a
    // fresh clone: each track's version read from the tag's commit.
    s.fresh_clone();
    let audit = s.ok(&["audit", "1.45.0"]);
    assert!(audit.stdout.contains("1.45.0"), "{}", audit.stdout);
    let listed = s.ok(&["version"]);
    assert!(listed.stdout.contains("1.46.0.dev"), "{}", listed.stdout);
    assert_eq!(s.git(&["tag", "-l"]), "v1.45.0\nv1.45.0rc0");

    // The nightly: from main's next dev versions, dated, in the built files
    // only (no commit, no tag; eachdist.ini and the pins as committed).
    let date = chrono::Utc::now().format("%Y%m%d").to_string();
    let head = s.git(&["rev-parse", "HEAD"]);
    s.ok(&["nightly", "--date", &date]);
    assert_eq!(s.git(&["rev-parse", "HEAD"]), head);
    assert_eq!(origin(&s, &["rev-parse", "master"]), head);
    assert_eq!(s.git(&["status", "--porcelain"]), "");
    assert_eq!(s.git(&["tag", "-l"]), "v1.45.0\nv1.45.0rc0");
    assert_eq!(
        versions_at(&s, "HEAD"),
        ("1.46.0.dev".into(), "0.67b0.dev".into())
    );
    let (stable, pre) = (format!("1.46.0.dev{date}"), format!("0.67b0.dev{date}"));
    assert_built(&s, &stable, &pre);
}

/// A runner killed after tagging whose tag alone reached the remote (pushed
/// by hand), then lost with its clone: the hooks' changes (towncrier's
/// changelog) cannot be made again from a fresh clone, so `resume VERSION`
/// refuses with nothing changed and names both ways on; following the
/// first (the branch moved to the tagged commit by hand) finishes the
/// release from there, saying that main has no next-dev commit.
#[cfg(feature = "failpoints")]
#[test]
fn a_tag_pushed_alone_after_hooks_is_refused_then_finished_once_the_branch_has_it() {
    let apis = Apis::start();
    let s = sample(&apis);
    let r = s.run_failing(&["start", "1.45.0rc0"], "tag.after_create");
    assert_ne!(r.code, Some(0));
    s.git(&["push", "-q", "origin", "v1.45.0rc0"]);
    let tagged = s.git(&["rev-parse", "v1.45.0rc0^{commit}"]);
    s.fresh_clone();
    s.ok(&["unlock"]);
    let before = s.snapshot();
    let r = s.run(&["resume", "1.45.0rc0"]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    let way_on = format!("git push origin {tagged}:refs/heads/master");
    assert!(
        r.stderr
            .contains("`[hooks] bump` cannot be made again here")
            && r.stderr.contains(&way_on)
            && r.stderr.contains("CHANGELOG.md"),
        "{}",
        r.stderr
    );
    s.assert_unchanged_but_the_local_lock(&before);

    s.git(&[
        "push",
        "-q",
        "origin",
        &format!("{tagged}:refs/heads/master"),
    ]);
    let r = s.ok(&["resume", "1.45.0rc0"]);
    // Its next-dev commit stayed on the lost clone: said, not made here.
    assert!(
        r.stdout
            .contains("`origin/master` has no next-dev commit on v1.45.0rc0"),
        "{}",
        r.stdout
    );
    assert_eq!(origin(&s, &["rev-parse", "v1.45.0rc0^{commit}"]), tagged);
    assert_eq!(origin(&s, &["rev-parse", "master"]), tagged);
    assert_eq!(
        versions_at(&s, &tagged),
        ("1.45.0rc0".into(), "0.66b0".into())
    );
    assert_built(&s, "1.45.0rc0", "0.66b0");
    s.ok(&["audit", "1.45.0rc0"]);
}
