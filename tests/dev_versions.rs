//! Dev versions on main and the next-dev bump (issue 21, items 1 and 2): a
//! repository shaped like OpenTelemetry's main, its stable track at
//! `1.45.0.dev0` and its beta track at `0.66b0.dev0`, released as an rc,
//! then as the final with `[release] next_dev`, checked in the files, the
//! built METADATA, the tags and the commit graph on the origin.

mod common;

use common::{git_bare, index_files, Sample};

const API: &str = "opentelemetry-api/src/opentelemetry/version/__init__.py";
const SDK: &str = "opentelemetry-sdk/src/opentelemetry/sdk/version/__init__.py";
const SEMCONV: &str =
    "opentelemetry-semantic-conventions/src/opentelemetry/semconv/version/__init__.py";

/// The `otel` fixture moved to main's dev versions (`1.45.0.dev0`, beta
/// `0.66b0.dev0`, `==` sibling pins at them), with `extra` appended to
/// release.toml's top-level keys.
fn otel_main(extra: &str) -> Sample {
    Sample::fixture_with("otel", |rel, text| {
        let text = text
            .replace("1.27.0", "1.45.0.dev0")
            .replace("0.48b0", "0.66b0.dev0");
        match rel {
            "release.toml" => text.replace(
                "notes = \"CHANGELOG.md\"\n",
                &format!("notes = \"CHANGELOG.md\"\n{extra}"),
            ),
            "CHANGELOG.md" => "# Changelog\n\n## 1.45.0\n\n- stable 1.45.0, beta 0.66b0\n".into(),
            _ => text,
        }
    })
}

/// The version a `version/__init__.py` of the working tree declares.
fn declared(s: &Sample, path: &str) -> String {
    declared_in(&s.read(path))
}

fn declared_in(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("__version__ = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no __version__ in {text}"))
        .to_string()
}

fn origin(s: &Sample, args: &[&str]) -> String {
    git_bare(&s.origin, args)
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn an_rc_from_dev_versions_gives_the_beta_track_its_heading_to_release() {
    let s = otel_main("");
    let version = s.ok(&["version"]);
    assert!(version.stdout.contains("1.45.0.dev0"), "{}", version.stdout);
    s.ok(&["start", "1.45.0rc0", "--dry-run"]);
    s.ok(&["start", "1.45.0rc0"]);
    assert_eq!(declared(&s, API), "1.45.0rc0");
    assert_eq!(declared(&s, SDK), "1.45.0rc0");
    assert_eq!(declared(&s, SEMCONV), "0.66b0");
    let sdk = s.read("opentelemetry-sdk/pyproject.toml");
    assert!(sdk.contains("\"opentelemetry-api == 1.45.0rc0\""), "{sdk}");
    assert!(
        sdk.contains("\"opentelemetry-semantic-conventions == 0.66b0\""),
        "{sdk}"
    );
    let (v, deps) = s.requires("opentelemetry-sdk", "1.45.0rc0", ".whl");
    assert_eq!(v, "1.45.0rc0");
    for pin in [
        "opentelemetry-api==1.45.0rc0",
        "opentelemetry-semantic-conventions==0.66b0",
    ] {
        assert!(deps.contains(&pin.to_string()), "{pin}: {deps:?}");
    }
    let (v, deps) = s.requires("opentelemetry-semantic-conventions", "0.66b0", ".tar.gz");
    assert_eq!(v, "0.66b0");
    assert!(
        deps.contains(&"opentelemetry-api==1.45.0rc0".to_string()),
        "{deps:?}"
    );
    assert_eq!(
        s.files_of("opentelemetry-semantic-conventions", "0.66b0")
            .len(),
        2
    );
    assert_eq!(origin(&s, &["tag", "-l"]), "v1.45.0rc0");
}

const NEXT_DEV: &str = "[release]\nnext_dev = true\n";

/// A file as the commit `rev` of the origin holds it.
fn at(s: &Sample, rev: &str, path: &str) -> String {
    git_bare(&s.origin, &["show", &format!("{rev}:{path}")])
        .unwrap_or_else(|| panic!("no {path} at {rev} on the origin"))
}

/// The commit graph a release with `next_dev` leaves: the annotated tag on
/// the release commit, whose parent is `base`; the origin's branch (and
/// HEAD here, with a clean tree) at the next-dev commit on top of it.
/// Returns (release commit, next-dev commit).
fn assert_graph(s: &Sample, base: &str, tag: &str) -> (String, String) {
    let release = origin(s, &["rev-parse", &format!("{tag}^{{commit}}")]);
    let next_dev = origin(s, &["rev-parse", "master"]);
    assert_eq!(
        origin(s, &["cat-file", "-t", tag]),
        "tag",
        "an annotated tag"
    );
    assert_eq!(origin(s, &["rev-parse", &format!("{release}^")]), base);
    assert_eq!(
        origin(s, &["rev-parse", &format!("{next_dev}^")]),
        release,
        "the next-dev commit is on the release commit"
    );
    assert_eq!(s.git(&["rev-parse", "HEAD"]), next_dev);
    assert_eq!(s.git(&["rev-parse", &format!("{tag}^{{commit}}")]), release);
    assert_eq!(s.git(&["status", "--porcelain"]), "", "a clean tree");
    assert!(s.journal().is_none(), "the journal is archived");
    (release, next_dev)
}

/// What each version file and the sdk's sibling pins say at `rev` on the
/// origin: (api, sdk, semconv) and whether the pins name them.
fn versions_at(s: &Sample, rev: &str) -> [String; 3] {
    let v = [API, SDK, SEMCONV].map(|p| declared_in(&at(s, rev, p)));
    let sdk = at(s, rev, "opentelemetry-sdk/pyproject.toml");
    assert!(
        sdk.contains(&format!("\"opentelemetry-api == {}\"", v[0])),
        "{rev}: {sdk}"
    );
    assert!(
        sdk.contains(&format!(
            "\"opentelemetry-semantic-conventions == {}\"",
            v[2]
        )),
        "{rev}: {sdk}"
    );
    let semconv = at(s, rev, "opentelemetry-semantic-conventions/pyproject.toml");
    assert!(
        semconv.contains(&format!("\"opentelemetry-api == {}\"", v[0])),
        "{rev}: {semconv}"
    );
    v
}

#[test]
fn next_dev_moves_main_on_after_the_tagged_release_commit() {
    let s = otel_main(NEXT_DEV);
    let base = s.git(&["rev-parse", "HEAD"]);
    let run = s.ok(&["start", "1.45.0", "--skip-prerelease-check"]);
    assert!(
        run.stdout
            .contains("then \"bump to the next dev version 1.46.0.dev0 (prerelease 0.67b0.dev0)\""),
        "{}",
        run.stdout
    );
    let (release, next_dev) = assert_graph(&s, &base, "v1.45.0");
    assert_eq!(versions_at(&s, &release), ["1.45.0", "1.45.0", "0.66b0"]);
    assert_eq!(
        versions_at(&s, &next_dev),
        ["1.46.0.dev0", "1.46.0.dev0", "0.67b0.dev0"]
    );
    assert_eq!(declared(&s, SEMCONV), "0.67b0.dev0");
    assert_eq!(
        origin(&s, &["log", "-1", "--format=%s", &next_dev]),
        "bump to the next dev version 1.46.0.dev0 (prerelease 0.67b0.dev0)"
    );
    assert_eq!(
        origin(&s, &["log", "-1", "--format=%s", &release]),
        "1.45.0"
    );
    // Built from the release commit, not the branch's tip.
    let (v, deps) = s.requires("opentelemetry-sdk", "1.45.0", ".whl");
    assert_eq!(v, "1.45.0");
    for pin in [
        "opentelemetry-api==1.45.0",
        "opentelemetry-semantic-conventions==0.66b0",
    ] {
        assert!(deps.contains(&pin.to_string()), "{pin}: {deps:?}");
    }
    assert_eq!(
        s.files_of("opentelemetry-semantic-conventions", "0.66b0")
            .len(),
        2
    );
    assert_eq!(index_files(&s.index).len(), 6);

    // A fresh clone of main, now at the next dev version, audits the
    // release from its tag's commit.
    s.fresh_clone();
    let audit = s.ok(&["audit", "1.45.0"]);
    assert!(audit.stdout.contains("3 package(s)"), "{}", audit.stdout);
    s.ok(&["version"]);

    // Then an rc and the final from the dev version, each with its
    // next-dev commit.
    s.ok(&["start", "1.46.0rc0"]);
    let (release, next_dev) = assert_graph(&s, &next_dev, "v1.46.0rc0");
    assert_eq!(
        versions_at(&s, &release),
        ["1.46.0rc0", "1.46.0rc0", "0.67b0"]
    );
    assert_eq!(
        versions_at(&s, &next_dev),
        ["1.46.0rc1.dev0", "1.46.0rc1.dev0", "0.67b1.dev0"]
    );
    s.ok(&["start", "1.46.0"]);
    let (release, next_dev) = assert_graph(&s, &next_dev, "v1.46.0");
    assert_eq!(versions_at(&s, &release), ["1.46.0", "1.46.0", "0.67b1"]);
    assert_eq!(
        versions_at(&s, &next_dev),
        ["1.47.0.dev0", "1.47.0.dev0", "0.68b0.dev0"]
    );
    let (_, deps) = s.requires("opentelemetry-semantic-conventions", "0.67b1", ".whl");
    assert!(
        deps.contains(&"opentelemetry-api==1.46.0".to_string()),
        "{deps:?}"
    );
    s.ok(&["audit", "1.46.0"]);
}

#[test]
fn a_dev_release_of_the_primary_gives_each_track_a_dev_release() {
    let s = otel_main(NEXT_DEV);
    let base = s.git(&["rev-parse", "HEAD"]);
    s.ok(&["start", "1.45.0.dev1"]);
    // A dev release leaves main at a dev version: no next-dev commit.
    let tagged = origin(&s, &["rev-parse", "v1.45.0.dev1^{commit}"]);
    assert_eq!(origin(&s, &["rev-parse", "master"]), tagged);
    assert_eq!(origin(&s, &["rev-parse", &format!("{tagged}^")]), base);
    assert_eq!(
        versions_at(&s, &tagged),
        ["1.45.0.dev1", "1.45.0.dev1", "0.66b0.dev1"]
    );
    let (v, deps) = s.requires("opentelemetry-semantic-conventions", "0.66b0.dev1", ".whl");
    assert_eq!(v, "0.66b0.dev1");
    assert!(
        deps.contains(&"opentelemetry-api==1.45.0.dev1".to_string()),
        "{deps:?}"
    );
    assert_eq!(
        s.files_of("opentelemetry-semantic-conventions", "0.66b1")
            .len(),
        0
    );
}

/// Each file of the finished release of `version` reached the index once.
#[cfg(feature = "failpoints")]
fn each_file_once(s: &Sample, version: &str) {
    let j = s.finished(version);
    let ledger = j["publish"]["ledger"].as_array().unwrap();
    assert_eq!(ledger.len(), 6);
    for f in ledger {
        let name = f["filename"].as_str().unwrap();
        assert_eq!(s.pypi().log().delivered(name), 1, "{name} uploaded once");
    }
}

#[cfg(feature = "failpoints")]
#[test]
fn a_release_with_next_dev_killed_anywhere_in_its_commits_resumes_to_one_tag_and_two_commits() {
    for point in [
        "bump.after_commit",
        "bump.after_next_dev_edit",
        "bump.after_next_dev_commit",
        "journal.after_write@4",
        "tag.after_create",
        "push.after_branch",
        "publish.after_upload@2",
    ] {
        let s = otel_main(NEXT_DEV).with_pypi();
        let base = s.git(&["rev-parse", "HEAD"]);
        let r = s.run_failing(&["start", "1.45.0", "--skip-prerelease-check"], point);
        assert_ne!(r.code, Some(0), "{point}: {}", r.stdout);
        let r = s.run(&["resume"]);
        assert!(r.ok(), "{point}: {}\n{}", r.stdout, r.stderr);
        assert!(
            !r.stdout.contains("not part of the release"),
            "{point}: {}",
            r.stdout
        );
        let (release, next_dev) = assert_graph(&s, &base, "v1.45.0");
        assert_eq!(origin(&s, &["tag", "-l"]), "v1.45.0", "{point}");
        assert_eq!(versions_at(&s, &release), ["1.45.0", "1.45.0", "0.66b0"]);
        assert_eq!(
            versions_at(&s, &next_dev),
            ["1.46.0.dev0", "1.46.0.dev0", "0.67b0.dev0"],
            "{point}"
        );
        each_file_once(&s, "1.45.0");
    }
}

#[cfg(feature = "failpoints")]
#[test]
fn a_runner_gone_after_the_push_is_finished_from_a_fresh_clone_at_the_next_dev_commit() {
    let s = otel_main(NEXT_DEV).with_pypi();
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.run_failing(
        &["start", "1.45.0", "--skip-prerelease-check"],
        "publish.after_upload@2",
    );
    assert_ne!(r.code, Some(0));
    let next_dev = origin(&s, &["rev-parse", "master"]);
    assert_eq!(
        declared_in(&at(&s, &next_dev, API)),
        "1.46.0.dev0",
        "the branch was pushed at the next-dev commit"
    );
    s.fresh_clone();
    // The dead runner's lock, taken over as a CI job would.
    s.ok(&["unlock"]);
    s.ok(&["resume", "1.45.0"]);
    assert_eq!(origin(&s, &["rev-parse", "master"]), next_dev);
    let release = origin(&s, &["rev-parse", "v1.45.0^{commit}"]);
    assert_eq!(origin(&s, &["rev-parse", &format!("{next_dev}^")]), release);
    assert_eq!(origin(&s, &["rev-parse", &format!("{release}^")]), base);
    for f in s.pypi().files_on_server() {
        assert_eq!(s.pypi().log().delivered(&f), 1, "{f} uploaded once");
    }
    assert_eq!(s.pypi().files_on_server().len(), 6);
    s.ok(&["audit", "1.45.0"]);
}

#[cfg(feature = "failpoints")]
#[test]
fn abort_after_the_next_dev_commit_goes_back_to_the_base() {
    for point in [
        "bump.after_next_dev_edit",
        "bump.after_next_dev_commit",
        "build.after_build",
        "tag.after_create",
    ] {
        let s = otel_main(NEXT_DEV);
        let base = s.git(&["rev-parse", "HEAD"]);
        let r = s.run_failing(&["start", "1.45.0", "--skip-prerelease-check"], point);
        assert_ne!(r.code, Some(0), "{point}");
        assert_ne!(s.git(&["rev-parse", "HEAD"]), base, "{point}");
        s.ok(&["abort"]);
        assert_eq!(s.git(&["rev-parse", "HEAD"]), base, "{point}");
        assert_eq!(s.git(&["status", "--porcelain"]), "", "{point}");
        assert_eq!(s.git(&["tag", "-l"]), "", "{point}");
        assert_eq!(origin(&s, &["rev-parse", "master"]), base, "{point}");
        assert_eq!(declared(&s, SEMCONV), "0.66b0.dev0", "{point}");
    }
}

#[cfg(feature = "failpoints")]
#[test]
fn drift_recovery_resets_over_both_commits_and_releases_again_on_top() {
    let s = otel_main(NEXT_DEV);
    let r = s.run_failing(
        &["start", "1.45.0", "--skip-prerelease-check"],
        "tag.after_create",
    );
    assert_ne!(r.code, Some(0));
    let theirs = s.colleague_pushes(Some(("NEWS.txt", "theirs\n")));
    let r = s.run(&["resume"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("remote drift"), "{}", r.stderr);
    s.ok(&["recover"]);
    assert_eq!(s.git(&["rev-parse", "HEAD"]), theirs);
    assert_eq!(s.git(&["tag", "-l"]), "");
    s.ok(&["resume"]);
    let (release, next_dev) = assert_graph(&s, &theirs, "v1.45.0");
    assert_eq!(versions_at(&s, &release), ["1.45.0", "1.45.0", "0.66b0"]);
    assert_eq!(
        versions_at(&s, &next_dev),
        ["1.46.0.dev0", "1.46.0.dev0", "0.67b0.dev0"]
    );
}

#[test]
fn next_dev_through_a_pull_request_is_refused_before_anything_changes() {
    let s = otel_main(&format!(
        "{NEXT_DEV}[pull_request]\napi = \"http://127.0.0.1:9\"\nrepo = \"o/r\"\n"
    ));
    let before = s.snapshot();
    let r = s.run(&["start", "1.45.0", "--skip-prerelease-check"]);
    assert_ne!(r.code, Some(0));
    assert!(
        r.stderr
            .contains("`[release] next_dev` does not work with `[pull_request]`"),
        "{}",
        r.stderr
    );
    assert_eq!(s.snapshot(), before);
}

#[cfg(feature = "failpoints")]
#[test]
fn a_roll_forward_after_the_push_goes_to_the_release_main_is_heading_to() {
    let s = otel_main(NEXT_DEV);
    let r = s.run_failing(
        &["start", "1.45.0", "--skip-prerelease-check"],
        "push.after_tag",
    );
    assert_ne!(r.code, Some(0));
    let pushed = origin(&s, &["rev-parse", "master"]);
    assert_eq!(versions_at(&s, &pushed)[0], "1.46.0.dev0");
    let r = s.ok(&["recover"]);
    assert!(
        r.stdout.contains("rolled forward to 1.46.0"),
        "{}",
        r.stdout
    );
    s.ok(&["resume"]);
    let (release, next_dev) = assert_graph(&s, &pushed, "v1.46.0");
    assert_eq!(versions_at(&s, &release), ["1.46.0", "1.46.0", "0.67b0"]);
    assert_eq!(
        versions_at(&s, &next_dev),
        ["1.47.0.dev0", "1.47.0.dev0", "0.68b0.dev0"]
    );
    // The first release's tag stays on its own release commit.
    assert_eq!(
        origin(&s, &["rev-parse", &format!("{pushed}^")]),
        origin(&s, &["rev-parse", "v1.45.0^{commit}"])
    );
}

/// A release with no next dev version (a post-release of a pre-release)
/// is refused by preflight with `[release] next_dev` named, nothing
/// changed; `--dry-run` of a plannable one shows each track's next dev
/// version.
#[test]
fn a_next_dev_version_that_cannot_be_planned_is_refused_before_anything_changes() {
    let s = otel_main(NEXT_DEV);
    let before = s.snapshot();
    let r = s.run(&["start", "1.45.0rc0.post1"]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("preflight refused")
            && r.stderr.contains("[release] next_dev")
            && r.stderr
                .contains("a post-release of a pre-release has no next dev version"),
        "{}",
        r.stderr
    );
    assert_eq!(s.snapshot(), before);
    assert!(s.journal().is_none());

    let r = s.ok(&["start", "1.45.0rc0", "--dry-run"]);
    assert!(
        r.stdout.contains(
            "  next dev  1.45.0rc1.dev0 (stable 1.45.0rc1.dev0, prerelease 0.66b1.dev0): a second commit after the tagged release commit"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(s.snapshot(), before);
}

/// Killed between pushing the branch (release commit and next-dev commit)
/// and pushing the tag, then lost with its clone: `resume VERSION` in a
/// fresh clone finds the release commit on the branch, tags it there and
/// finishes, the branch left at the next-dev commit. Before, it said the
/// release never reached the remote and named `release start`, which a tree
/// at 1.46.0.dev0 refuses.
#[cfg(feature = "failpoints")]
#[test]
fn a_runner_lost_between_the_branch_and_the_tag_is_finished_from_a_fresh_clone() {
    let s = otel_main(NEXT_DEV).with_pypi();
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.run_failing(
        &["start", "1.45.0", "--skip-prerelease-check"],
        "push.after_branch",
    );
    assert_ne!(r.code, Some(0));
    let next_dev = origin(&s, &["rev-parse", "master"]);
    let release = origin(&s, &["rev-parse", &format!("{next_dev}^")]);
    assert_eq!(origin(&s, &["rev-parse", &format!("{release}^")]), base);
    assert_eq!(origin(&s, &["tag", "-l"]), "", "no tag reached the remote");
    s.fresh_clone();
    s.ok(&["unlock"]);
    let r = s.ok(&["resume", "1.45.0"]);
    assert!(
        r.stdout.contains(&format!(
            "release commit {release} is on `origin/master` with no tag"
        )),
        "{}",
        r.stdout
    );
    assert_eq!(origin(&s, &["rev-parse", "v1.45.0^{commit}"]), release);
    assert_eq!(origin(&s, &["rev-parse", "master"]), next_dev);
    assert_eq!(declared_in(&at(&s, "v1.45.0", API)), "1.45.0");
    each_file_once(&s, "1.45.0");
    s.ok(&["audit", "1.45.0"]);
}
