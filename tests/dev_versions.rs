//! Dev versions on main and the next-dev bump (issue 21, items 1 and 2): a
//! repository shaped like OpenTelemetry's main, its stable track at
//! `1.45.0.dev0` and its beta track at `0.66b0.dev0`, released as an rc,
//! then as the final with `[release] next_dev`, checked in the files, the
//! built METADATA, the tags and the commit graph on the origin.

mod common;

use std::path::Path;

use common::{git_bare, index_files, Sample};

const API: &str = "opentelemetry-api/src/opentelemetry/version/__init__.py";
const SDK: &str = "opentelemetry-sdk/src/opentelemetry/sdk/version/__init__.py";
const SEMCONV: &str =
    "opentelemetry-semantic-conventions/src/opentelemetry/semconv/version/__init__.py";

/// The `otel` fixture moved to main's dev versions (`1.45.0.dev0`, beta
/// `0.66b0.dev0`, `==` sibling pins at them), with `extra` appended to
/// release.toml's top-level keys.
fn otel_main(extra: &str) -> Sample {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/otel");
    let mut files = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
            let mut text = std::fs::read_to_string(&p)
                .unwrap()
                .replace("1.27.0", "1.45.0.dev0")
                .replace("0.48b0", "0.66b0.dev0");
            if rel == "release.toml" {
                text = text.replace(
                    "notes = \"CHANGELOG.md\"\n",
                    &format!("notes = \"CHANGELOG.md\"\n{extra}"),
                );
            }
            if rel == "CHANGELOG.md" {
                text = "# Changelog\n\n## 1.45.0\n\n- stable 1.45.0, beta 0.66b0\n".into();
            }
            files.push((rel, text));
        }
    }
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    Sample::made_of(&files)
}

fn read(s: &Sample, path: &str) -> String {
    std::fs::read_to_string(s.repo.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The version a `version/__init__.py` of the working tree declares.
fn declared(s: &Sample, path: &str) -> String {
    declared_in(&read(s, path))
}

fn declared_in(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("__version__ = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no __version__ in {text}"))
        .to_string()
}

/// Version and `Requires-Dist` of `project`'s file at `version` ending in
/// `suffix` on the sample's index, spaces taken out.
fn requires(s: &Sample, project: &str, version: &str, suffix: &str) -> (String, Vec<String>) {
    let stem = format!("{}-{version}", project.replace('-', "_"));
    let dir = s.index.join("simple").join(project);
    let file = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.ends_with(suffix)
                && name
                    .strip_prefix(&stem)
                    .is_some_and(|rest| rest.starts_with(['-', '.']))
        })
        .unwrap_or_else(|| panic!("no {suffix} for {project} {version}"));
    let m = release::ops::metadata::read(&file).unwrap();
    let version = m.get("Version").unwrap_or_default().to_string();
    let deps = m
        .fields
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("Requires-Dist"))
        .map(|(_, v)| v.replace([' ', '(', ')'], ""))
        .collect();
    (version, deps)
}

/// How many files of `project` at `version` the index holds.
fn files_of(s: &Sample, project: &str, version: &str) -> usize {
    let stem = format!("{}-{version}", project.replace('-', "_"));
    index_files(&s.index)
        .into_iter()
        .filter(|f| {
            f.strip_prefix(&format!("{project}/{stem}"))
                .is_some_and(|rest| rest.starts_with(['-', '.']))
        })
        .count()
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
    let sdk = read(&s, "opentelemetry-sdk/pyproject.toml");
    assert!(sdk.contains("\"opentelemetry-api == 1.45.0rc0\""), "{sdk}");
    assert!(
        sdk.contains("\"opentelemetry-semantic-conventions == 0.66b0\""),
        "{sdk}"
    );
    let (v, deps) = requires(&s, "opentelemetry-sdk", "1.45.0rc0", ".whl");
    assert_eq!(v, "1.45.0rc0");
    for pin in [
        "opentelemetry-api==1.45.0rc0",
        "opentelemetry-semantic-conventions==0.66b0",
    ] {
        assert!(deps.contains(&pin.to_string()), "{pin}: {deps:?}");
    }
    let (v, deps) = requires(
        &s,
        "opentelemetry-semantic-conventions",
        "0.66b0",
        ".tar.gz",
    );
    assert_eq!(v, "0.66b0");
    assert!(
        deps.contains(&"opentelemetry-api==1.45.0rc0".to_string()),
        "{deps:?}"
    );
    assert_eq!(
        files_of(&s, "opentelemetry-semantic-conventions", "0.66b0"),
        2
    );
    assert_eq!(origin(&s, &["tag", "-l"]), "v1.45.0rc0");
}
