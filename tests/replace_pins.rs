//! Range pins between siblings (`[pins] ranges`) and other files that carry
//! the version (`[[replace]]`), issue 21 items 3 and 4, on a repository
//! shaped like OpenTelemetry Python's main in miniature: two tracks at dev
//! versions, `==` and `~=` sibling pins, `eachdist.ini` holding each track's
//! version, a docs `conf.py`.

mod common;

use common::{git_bare, Sample};

const CONFIG: &str = r#"branch = "master"
remote = "origin"
tag = "v{version}"
notes = "CHANGELOG.md"

[[track]]
name = "stable"
packages = ["opentelemetry-api", "opentelemetry-sdk"]

[[track]]
name = "prerelease"
packages = ["opentelemetry-semantic-conventions"]

[build]
isolation = false

[publish]
upload_url = "file:///tmp/release-demo-index"
"#;

/// eachdist.ini as OpenTelemetry writes it.
const EACHDIST: &str = "# These will be sorted first in that order.\n[DEFAULT]\n\nsortfirst=\n    opentelemetry-api\n    opentelemetry-sdk\n\n[stable]\nversion=1.45.0.dev\n\npackages=\n    opentelemetry-sdk\n    opentelemetry-api\n\n[prerelease]\nversion=0.66b0.dev\n\npackages=\n    opentelemetry-semantic-conventions\n";

/// The `[[replace]]` entries for eachdist.ini's two versions, the docs and
/// the sdk's README (which its METADATA carries).
const REPLACE: &str = r#"
[[replace]]
file = "eachdist.ini"
search = "version={prev_track.stable}"
replace = "version={track.stable}"
exactly = 1

[[replace]]
file = "eachdist.ini"
search = "^version={prev_track.prerelease}$"
replace = "version={track.prerelease}"
exactly = 1

[[replace]]
file = "docs/conf.py"
search = 'release = "{prev_version}"'
replace = 'release = "{version}"'

[[replace]]
file = "opentelemetry-sdk/README.md"
search = "opentelemetry-api {prev_track.stable}"
replace = "opentelemetry-api {track.stable}"
"#;

fn pyproject(name: &str, module: &str, deps: &[&str], extra: &str) -> String {
    let deps: String = deps.iter().map(|d| format!("  {d:?},\n")).collect();
    format!(
        "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n\n[project]\nname = \"{name}\"\ndynamic = [\"version\"]\ndescription = \"shaped like OpenTelemetry's\"\nrequires-python = \">=3.8\"\n{extra}dependencies = [\n{deps}]\n\n[tool.hatch.version]\npath = \"src/opentelemetry/{module}version/__init__.py\"\n\n[tool.hatch.build.targets.wheel]\npackages = [\"src/opentelemetry\"]\n"
    )
}

const SDK_EXTRAS: &str = "\n[project.optional-dependencies]\ngrpc = [\n  \"opentelemetry_api[grpc] >= 1.45.0.dev, < 2 ; python_version >= \\\"3.9\\\"\",\n]\n";

/// OpenTelemetry's main in miniature, with `config` after the base config.
fn otel_main(config: &str) -> Sample {
    let version =
        |v: &str| format!("# Copyright The OpenTelemetry Authors\n\n__version__ = \"{v}\"\n");
    let api = pyproject("opentelemetry-api", "", &["Deprecated >= 1.2.6"], "");
    let sdk = pyproject(
        "opentelemetry-sdk",
        "sdk/",
        &[
            "opentelemetry-api == 1.45.0.dev",
            "opentelemetry-semantic-conventions ~= 0.66b0.dev",
            "typing-extensions >= 3.7.4",
        ],
        "readme = \"README.md\"\n",
    ) + SDK_EXTRAS;
    let semconv = pyproject(
        "opentelemetry-semantic-conventions",
        "semconv/",
        &["opentelemetry-api ~= 1.45.0.dev", "Deprecated >= 1.2.6"],
        "",
    );
    let files: Vec<(String, String)> = vec![
        ("release.toml".into(), format!("{CONFIG}{config}")),
        (
            "CHANGELOG.md".into(),
            "# Changelog\n\n## Unreleased\n".into(),
        ),
        ("eachdist.ini".into(), EACHDIST.into()),
        (
            "docs/conf.py".into(),
            "project = \"OpenTelemetry Python\"\nrelease = \"1.45.0.dev\"\n".into(),
        ),
        ("opentelemetry-api/pyproject.toml".into(), api),
        (
            "opentelemetry-api/src/opentelemetry/version/__init__.py".into(),
            version("1.45.0.dev"),
        ),
        ("opentelemetry-sdk/pyproject.toml".into(), sdk),
        (
            "opentelemetry-sdk/README.md".into(),
            "# OpenTelemetry SDK\n\nBuilt with opentelemetry-api 1.45.0.dev.\n".into(),
        ),
        (
            "opentelemetry-sdk/src/opentelemetry/sdk/version/__init__.py".into(),
            version("1.45.0.dev"),
        ),
        (
            "opentelemetry-semantic-conventions/pyproject.toml".into(),
            semconv,
        ),
        (
            "opentelemetry-semantic-conventions/src/opentelemetry/semconv/version/__init__.py"
                .into(),
            version("0.66b0.dev"),
        ),
    ];
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    Sample::made_of(&files)
}

/// The rc of 1.45.0, with the beta track given its version (the track
/// arithmetic for dev versions is not what these tests are about).
const START: [&str; 4] = ["start", "1.45.0rc0", "--track", "prerelease=0.66b0"];

fn has_dep(deps: &[String], wanted: &str) -> bool {
    deps.iter()
        .any(|d| d == wanted || d.starts_with(&format!("{wanted};")))
}

#[test]
fn moved_ranges_and_replacements_carry_every_new_version() {
    let s = otel_main(&format!("\n[pins]\nranges = \"move\"\n{REPLACE}"));
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.ok(&START);
    assert!(
        !format!("{}{}", r.stdout, r.stderr).contains("left as written"),
        "{}",
        r.stdout
    );
    let sdk = s.read("opentelemetry-sdk/pyproject.toml");
    for pin in [
        "\"opentelemetry-api == 1.45.0rc0\"",
        "\"opentelemetry-semantic-conventions ~= 0.66b0\"",
        "\"opentelemetry_api[grpc] >= 1.45.0rc0, < 2 ; python_version >= \\\"3.9\\\"\"",
        "\"typing-extensions >= 3.7.4\"",
    ] {
        assert!(sdk.contains(pin), "{pin} not in\n{sdk}");
    }
    let semconv = s.read("opentelemetry-semantic-conventions/pyproject.toml");
    assert!(
        semconv.contains("\"opentelemetry-api ~= 1.45.0rc0\""),
        "{semconv}"
    );
    assert_eq!(
        s.read("eachdist.ini"),
        EACHDIST
            .replace("version=1.45.0.dev", "version=1.45.0rc0")
            .replace("version=0.66b0.dev", "version=0.66b0")
    );
    assert_eq!(
        s.read("docs/conf.py"),
        "project = \"OpenTelemetry Python\"\nrelease = \"1.45.0rc0\"\n"
    );
    // One release commit holds them all, and nothing is left over.
    assert_eq!(
        s.git(&["rev-list", "--count", &format!("{base}..HEAD")]),
        "1"
    );
    let changed = s.git(&["diff", "--name-only", &base, "HEAD"]);
    for f in [
        "eachdist.ini",
        "docs/conf.py",
        "opentelemetry-sdk/README.md",
    ] {
        assert!(changed.lines().any(|l| l == f), "{f} not in\n{changed}");
    }
    assert_eq!(s.git(&["status", "--porcelain"]), "");
    assert_eq!(s.assert_pushed("v1.45.0rc0"), s.git(&["rev-parse", "HEAD"]));

    let common::Built {
        version: v,
        requires: deps,
        body,
    } = s.built("opentelemetry-sdk", "1.45.0rc0", ".whl");
    assert_eq!(v, "1.45.0rc0");
    assert!(has_dep(&deps, "opentelemetry-api==1.45.0rc0"), "{deps:?}");
    assert!(
        has_dep(&deps, "opentelemetry-semantic-conventions~=0.66b0"),
        "{deps:?}"
    );
    assert!(
        deps.iter()
            .any(|d| d.contains(">=1.45.0rc0") && d.contains("<2")),
        "{deps:?}"
    );
    assert!(body.contains("opentelemetry-api 1.45.0rc0"), "{body}");
    let common::Built {
        version: v,
        requires: deps,
        body: _,
    } = s.built("opentelemetry-semantic-conventions", "0.66b0", ".whl");
    assert_eq!(v, "0.66b0");
    assert!(has_dep(&deps, "opentelemetry-api~=1.45.0rc0"), "{deps:?}");
    // No built file still pins a dev version.
    for (p, v) in [
        ("opentelemetry-api", "1.45.0rc0"),
        ("opentelemetry-sdk", "1.45.0rc0"),
        ("opentelemetry-semantic-conventions", "0.66b0"),
    ] {
        let common::Built {
            version: _,
            requires: deps,
            body: _,
        } = s.built(p, v, ".whl");
        assert!(!deps.iter().any(|d| d.contains(".dev")), "{p}: {deps:?}");
    }
}

#[test]
fn by_default_range_pins_stay_and_are_named_once() {
    let s = otel_main("");
    let r = s.ok(&START);
    let out = format!("{}{}", r.stdout, r.stderr);
    let sdk = s.read("opentelemetry-sdk/pyproject.toml");
    assert!(sdk.contains("\"opentelemetry-api == 1.45.0rc0\""), "{sdk}");
    assert!(
        sdk.contains("\"opentelemetry-semantic-conventions ~= 0.66b0.dev\""),
        "{sdk}"
    );
    assert!(sdk.contains(">= 1.45.0.dev, < 2"), "{sdk}");
    assert!(s
        .read("opentelemetry-semantic-conventions/pyproject.toml")
        .contains("\"opentelemetry-api ~= 1.45.0.dev\""));
    assert!(
        out.contains("3 sibling range pin(s) left as written"),
        "{out}"
    );
    for named in [
        "opentelemetry-sdk/pyproject.toml: opentelemetry-semantic-conventions ~= 0.66b0.dev",
        "opentelemetry-sdk/pyproject.toml: opentelemetry_api[grpc] >= 1.45.0.dev, < 2",
        "opentelemetry-semantic-conventions/pyproject.toml: opentelemetry-api ~= 1.45.0.dev",
    ] {
        assert_eq!(out.matches(named).count(), 1, "{named} in\n{out}");
    }
    // Non-sibling ranges are not the bump's business.
    assert!(!out.contains("typing-extensions"), "{out}");
    let common::Built {
        version: _,
        requires: deps,
        body: _,
    } = s.built("opentelemetry-sdk", "1.45.0rc0", ".whl");
    assert!(
        has_dep(&deps, "opentelemetry-semantic-conventions~=0.66b0.dev0")
            || has_dep(&deps, "opentelemetry-semantic-conventions~=0.66b0.dev"),
        "{deps:?}"
    );
}

#[test]
fn a_replace_pattern_matching_nothing_is_refused_before_anything_changes() {
    let s = otel_main(&format!(
        "{REPLACE}\n[[replace]]\nfile = \"docs/conf.py\"\nsearch = 'version = \"{{prev_version}}\"'\nreplace = 'version = \"{{version}}\"'\n\n[[replace]]\nfile = \"eachdist.ini\"\nsearch = \"packages=\"\nreplace = \"packages=\"\nexactly = 3\n"
    ));
    let before = s.snapshot();
    let r = s.run(&[
        "start",
        "1.45.0rc0",
        "--track",
        "prerelease=0.66b0",
        "--dry-run",
    ]);
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    let r = s.run(&START);
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("preflight refused"), "{}", r.stderr);
    assert!(r.stderr.contains("2 findings"), "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "[[replace]] #5 (file = \"docs/conf.py\"): `search = \"version = \\\"{prev_version}\\\"\"`"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("matches 0 time(s) in `docs/conf.py`"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("[[replace]] #6 (file = \"eachdist.ini\"): `search = \"packages=\"`"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("matches 2 time(s) in `eachdist.ini`, not exactly 3"),
        "{}",
        r.stderr
    );
    assert_eq!(s.snapshot(), before);
    assert!(s.journal().is_none());

    // A nightly's preflight checks the entries on the export it would build.
    let r = s.run(&["nightly", "--date", "20261130"]);
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("preflight refused the nightly") && r.stderr.contains("2 findings"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("matches 2 time(s) in `eachdist.ini`, not exactly 3"),
        "{}",
        r.stderr
    );
    s.assert_unchanged_but_the_local_lock(&before);
    assert!(!s.repo.join(".release/nightly.json").exists());
}

#[cfg(unix)]
#[test]
fn a_replace_file_outside_the_repository_is_refused() {
    let s = otel_main(
        "\n[[replace]]\nfile = \"../outside.txt\"\nsearch = \"{prev_version}\"\nreplace = \"{version}\"\n\n[[replace]]\nfile = \"docs/link.txt\"\nsearch = \"{prev_version}\"\nreplace = \"{version}\"\n\n[[replace]]\nfile = \".git/description\"\nsearch = \"repository\"\nreplace = \"{version}\"\n",
    );
    let outside = s.base.join("outside.txt");
    std::fs::write(&outside, "1.45.0.dev\n").unwrap();
    std::os::unix::fs::symlink(&outside, s.repo.join("docs/link.txt")).unwrap();
    s.commit_and_push("a link out of the repository");
    let description = s.read(".git/description");
    let before = s.snapshot();
    let r = s.run(&START);
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("3 findings"), "{}", r.stderr);
    for (file, why) in [
        ("../outside.txt", "a path through `..`"),
        ("docs/link.txt", "outside the repository"),
        (".git/description", "`.git/`"),
    ] {
        let line = r
            .stderr
            .lines()
            .find(|l| l.contains(&format!("(file = {file:?})")))
            .unwrap_or_else(|| panic!("{file} not named:\n{}", r.stderr));
        assert!(line.contains(why), "{line}");
    }
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "1.45.0.dev\n");
    assert_eq!(s.read(".git/description"), description);
    assert_eq!(s.snapshot(), before);
}

#[test]
fn a_kill_after_the_bump_edit_resumes_to_one_release_commit_with_the_replacements() {
    let s = otel_main(&format!("\n[pins]\nranges = \"move\"\n{REPLACE}"));
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.run_failing(&START, "bump.after_edit");
    assert_ne!(r.code, Some(0));
    assert_eq!(s.git(&["rev-parse", "HEAD"]), base);
    assert!(s.read("eachdist.ini").contains("version=1.45.0rc0"));
    // The journal names the replaced files among the bump's edits.
    let journal = s.journal().unwrap();
    let edits: Vec<&str> = journal["release"]["bump_edits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    for f in [
        "eachdist.ini",
        "docs/conf.py",
        "opentelemetry-sdk/README.md",
    ] {
        assert!(edits.contains(&f), "{f} not in {edits:?}");
    }

    s.ok(&["resume"]);
    assert_eq!(
        s.git(&["rev-list", "--count", &format!("{base}..HEAD")]),
        "1"
    );
    assert_eq!(s.git(&["status", "--porcelain"]), "");
    let at_tag = |path: &str| s.git(&["show", &format!("v1.45.0rc0:{path}")]);
    assert!(at_tag("eachdist.ini").contains("version=1.45.0rc0\n"));
    assert!(at_tag("eachdist.ini").contains("version=0.66b0\n"));
    assert!(at_tag("docs/conf.py").contains("release = \"1.45.0rc0\""));
    assert!(at_tag("opentelemetry-semantic-conventions/pyproject.toml")
        .contains("\"opentelemetry-api ~= 1.45.0rc0\""));
}

#[test]
fn an_abort_after_the_bump_edit_undoes_the_replacements() {
    let s = otel_main(REPLACE);
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.run_failing(&START, "bump.after_edit");
    assert_ne!(r.code, Some(0));
    assert!(s.read("docs/conf.py").contains("1.45.0rc0"));
    s.ok(&["abort"]);
    assert_eq!(s.git(&["rev-parse", "HEAD"]), base);
    assert_eq!(s.git(&["status", "--porcelain"]), "");
    assert_eq!(s.read("eachdist.ini"), EACHDIST);
}

#[test]
fn a_nightly_carries_its_versions_in_the_built_files_only() {
    let s = otel_main(&format!("\n[pins]\nranges = \"move\"\n{REPLACE}"));
    let head = s.git(&["rev-parse", "HEAD"]);
    s.ok(&["nightly", "--date", "20261130"]);
    assert_eq!(s.git(&["rev-parse", "HEAD"]), head);
    assert_eq!(s.git(&["status", "--porcelain"]), "");
    assert_eq!(s.read("eachdist.ini"), EACHDIST);
    assert_eq!(s.git(&["tag", "-l"]), "");

    let api = "1.45.0.dev20261130";
    let semconv = "0.66b0.dev20261130";
    let common::Built {
        version: v,
        requires: deps,
        body,
    } = s.built("opentelemetry-sdk", api, ".whl");
    assert_eq!(v, api);
    assert!(
        has_dep(&deps, &format!("opentelemetry-api=={api}")),
        "{deps:?}"
    );
    assert!(
        has_dep(
            &deps,
            &format!("opentelemetry-semantic-conventions~={semconv}")
        ),
        "{deps:?}"
    );
    assert!(body.contains(&format!("opentelemetry-api {api}")), "{body}");
    let common::Built {
        version: v,
        requires: deps,
        body: _,
    } = s.built("opentelemetry-semantic-conventions", semconv, ".whl");
    assert_eq!(v, semconv);
    assert!(
        has_dep(&deps, &format!("opentelemetry-api~={api}")),
        "{deps:?}"
    );
}

/// A runner killed after the tag, whose tag (not branch) reached the
/// remote, then lost with its clone: the release rebuilt from the world
/// recognises its own release commit, replacements and moved ranges
/// included, and finishes it.
#[test]
fn a_release_commit_with_replacements_is_recognised_from_the_world() {
    let s = otel_main(&format!("\n[pins]\nranges = \"move\"\n{REPLACE}"));
    let r = s.run_failing(&START, "tag.after_create");
    assert_ne!(r.code, Some(0));
    s.git(&["push", "-q", "origin", "v1.45.0rc0"]);
    s.fresh_clone();
    s.ok(&["unlock"]);
    let r = s.run(&["resume", "1.45.0rc0"]);
    assert!(r.ok(), "{}{}", r.stdout, r.stderr);
    let on_origin = git_bare(&s.origin, &["rev-parse", "master", "v1.45.0rc0^{commit}"]).unwrap();
    let (master, tagged) = on_origin.split_once('\n').unwrap();
    assert_eq!(master, tagged);
    assert!(s
        .git(&["show", "v1.45.0rc0:eachdist.ini"])
        .contains("version=1.45.0rc0\n"));
    let common::Built {
        version: _,
        requires: deps,
        body: _,
    } = s.built("opentelemetry-sdk", "1.45.0rc0", ".whl");
    assert!(
        has_dep(&deps, "opentelemetry-semantic-conventions~=0.66b0"),
        "{deps:?}"
    );
}
