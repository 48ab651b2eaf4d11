//! Real monorepo shapes (issue 13): version tracks, version sources where each
//! build backend reads them, sibling pins in every dependency list, and the
//! shrink check. Each fixture under `tests/fixtures/` is released as a
//! pre-release, then as the final release, with the real build backends.

mod common;

use common::Sample;

/// Each package's version in the finished journal of `version`.
fn journal_versions(s: &Sample, version: &str) -> Vec<(String, String)> {
    s.finished(version)["release"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["next_version"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_dagster_shaped_repo_releases_two_tracks() {
    let s = Sample::fixture("dagster");
    let listed = s.ok(&["version"]);
    for line in [
        "track core (1.9.3):",
        "track libraries (0.25.3):",
        "dagster-aws",
    ] {
        assert!(listed.stdout.contains(line), "{line}:\n{}", listed.stdout);
    }
    // The plan names each track's move; an override moves a track as told.
    let dry = s.ok(&["start", "1.10.0rc0", "--dry-run"]);
    assert!(
        dry.stdout
            .contains("track     libraries 0.25.3 -> 0.26.0rc0"),
        "{}",
        dry.stdout
    );
    let dry = s.ok(&[
        "start",
        "1.10.0rc0",
        "--dry-run",
        "--track",
        "libraries=0.26.1rc0",
    ]);
    assert!(
        dry.stdout.contains("libraries 0.25.3 -> 0.26.1rc0"),
        "{}",
        dry.stdout
    );
    let bad = s.run(&["start", "1.10.0rc0", "--track", "libraries=0.25.0"]);
    assert_eq!(bad.code, Some(1));
    assert!(bad.stderr.contains("not greater"), "{}", bad.stderr);
    assert!(bad.stderr.contains("nothing was changed"), "{}", bad.stderr);

    let pre = s.ok(&["start", "1.9.4rc0"]);
    // A pin computed in code is left alone, and said so once.
    assert_eq!(
        pre.stdout
            .matches("sibling pin(s) computed in code")
            .count(),
        1,
        "{}",
        pre.stdout
    );
    assert!(pre.stdout.contains("f\"dagster{pin}\""), "{}", pre.stdout);
    assert_eq!(
        s.read("python_modules/dagster/dagster/version.py"),
        "__version__ = \"1.9.4rc0\"\n"
    );
    assert_eq!(
        s.read("python_modules/libraries/dagster-aws/dagster_aws/version.py"),
        "__version__ = \"0.25.4rc0\"\n"
    );
    let aws = s.read("python_modules/libraries/dagster-aws/setup.py");
    assert!(aws.contains("\"dagster==1.9.4rc0\""), "{aws}");
    assert!(
        aws.contains("\"dagster-webserver[notebook] == 1.9.4rc0; python_version >= '3.8'\""),
        "{aws}"
    );
    assert!(
        aws.contains("\"dagster-webserver>=1.9\""),
        "a range moved:\n{aws}"
    );
    let web = s.read("python_modules/dagster-webserver/setup.py");
    assert!(web.contains("\"uvicorn[standard]==0.30.1\""), "{web}");
    assert!(web.contains("f\"dagster{pin}\""), "{web}");
    assert_eq!(s.git(&["tag", "-l"]), "1.9.4rc0");

    final_release(&s);
    assert_eq!(
        s.read("python_modules/dagster-webserver/dagster_webserver/version.py"),
        "__version__ = \"1.9.4\"\n"
    );
    assert_eq!(
        journal_versions(&s, "1.9.4"),
        vec![
            ("dagster".into(), "1.9.4".into()),
            ("dagster-webserver".into(), "1.9.4".into()),
            ("dagster-aws".into(), "0.25.4".into()),
        ]
    );
    // What was built and published carries every new version and pin.
    let (v, deps) = s.requires("dagster-aws", "0.25.4", ".whl");
    assert_eq!(v, "0.25.4");
    assert!(deps.contains(&"dagster==1.9.4".to_string()), "{deps:?}");
    assert!(
        deps.iter()
            .any(|d| d.starts_with("dagster-webserver[notebook]==1.9.4;")),
        "{deps:?}"
    );
    let (v, deps) = s.requires("dagster-webserver", "1.9.4", ".whl");
    assert_eq!(v, "1.9.4");
    assert!(deps.contains(&"dagster==1.9.4".to_string()), "{deps:?}");
    assert!(
        deps.contains(&"uvicorn[standard]==0.30.1".to_string()),
        "{deps:?}"
    );
    for (project, version) in [
        ("dagster", "1.9.4"),
        ("dagster-aws", "0.25.4"),
        ("dagster-aws", "0.25.4rc0"),
    ] {
        assert_eq!(s.files_of(project, version).len(), 2, "{project} {version}");
    }
    assert_eq!(s.git(&["tag", "-l"]), "1.9.4\n1.9.4rc0");
    s.ok(&["audit", "1.9.4"]);
    s.ok(&["audit", "1.9.4rc0"]);
    s.ok(&["version"]);
}

/// 1.9.4, killed after its tag and resumed: the journal carries each
/// track's version, and `status` says them.
#[cfg(feature = "failpoints")]
fn final_release(s: &Sample) {
    let killed = s.run_failing(&["start", "1.9.4"], "tag.after_create");
    assert_ne!(killed.code, Some(0));
    let status = s.ok(&["status"]);
    for line in [
        "track core: 2 package(s) at 1.9.4",
        "track libraries: 1 package(s) at 0.25.4",
    ] {
        assert!(status.stdout.contains(line), "{line}:\n{}", status.stdout);
    }
    s.ok(&["resume"]);
}

#[cfg(not(feature = "failpoints"))]
fn final_release(s: &Sample) {
    s.ok(&["start", "1.9.4"]);
}

#[test]
fn an_opentelemetry_shaped_repo_keeps_its_beta_track() {
    let s = Sample::fixture("otel");
    s.ok(&["start", "1.28.0rc0"]);
    let semconv =
        "opentelemetry-semantic-conventions/src/opentelemetry/semconv/version/__init__.py";
    assert!(s.read(semconv).ends_with("\n__version__ = \"0.49b0\"\n"));
    assert!(s
        .read(semconv)
        .starts_with("# Copyright The OpenTelemetry Authors\n"));
    let sdk = s.read("opentelemetry-sdk/pyproject.toml");
    assert!(
        sdk.contains("  \"opentelemetry-api == 1.28.0rc0\",\n"),
        "{sdk}"
    );
    assert!(
        sdk.contains("  \"opentelemetry-semantic-conventions == 0.49b0\",\n"),
        "{sdk}"
    );
    assert!(sdk.contains("  \"typing-extensions >= 3.7.4\",\n"), "{sdk}");
    assert_eq!(s.git(&["tag", "-l"]), "v1.28.0rc0");

    s.ok(&["start", "1.28.0"]);
    assert!(s.read(semconv).ends_with("\n__version__ = \"0.49b1\"\n"));
    assert!(s
        .read("opentelemetry-api/src/opentelemetry/version/__init__.py")
        .ends_with("\n__version__ = \"1.28.0\"\n"));
    let (v, deps) = s.requires("opentelemetry-sdk", "1.28.0", ".whl");
    assert_eq!(v, "1.28.0");
    assert!(
        deps.contains(&"opentelemetry-api==1.28.0".to_string()),
        "{deps:?}"
    );
    assert!(
        deps.contains(&"opentelemetry-semantic-conventions==0.49b1".to_string()),
        "{deps:?}"
    );
    let (v, _) = s.requires("opentelemetry-semantic-conventions", "0.49b1", ".tar.gz");
    assert_eq!(v, "0.49b1");
    for (project, version) in [
        ("opentelemetry-api", "1.28.0rc0"),
        ("opentelemetry-api", "1.28.0"),
        ("opentelemetry-semantic-conventions", "0.49b0"),
        ("opentelemetry-semantic-conventions", "0.49b1"),
    ] {
        assert_eq!(s.files_of(project, version).len(), 2, "{project} {version}");
    }
    s.ok(&["audit", "1.28.0"]);
}

#[test]
fn poetry_and_setup_cfg_packages_release_together() {
    let s = Sample::fixture("mixed");
    s.ok(&["start", "2.3.1rc0"]);
    s.ok(&["start", "2.3.1"]);
    let core = s.read("packages/acme-core/pyproject.toml");
    assert!(
        core.contains("version = \"2.3.1\"  # the version poetry builds"),
        "{core}"
    );
    let plugin = s.read("packages/acme-plugin/pyproject.toml");
    assert!(
        plugin.contains("version = '2.3.1'") || plugin.contains("version = \"2.3.1\""),
        "{plugin}"
    );
    assert!(plugin.contains("acme-core = \"2.3.1\""), "{plugin}");
    assert!(
        plugin.contains("acme-cfg = { version = \"==2.3.1\", extras = [\"fast\"] }"),
        "{plugin}"
    );
    assert!(plugin.contains("requests = \"^2.0\""), "{plugin}");
    let cfg = s.read("packages/acme-cfg/setup.cfg");
    assert!(cfg.contains("version = 2.3.1\n"), "{cfg}");
    assert!(cfg.contains("    acme-core == 2.3.1\n"), "{cfg}");
    assert!(
        cfg.contains("    acme-plugin[cli] == 2.3.1 ; python_version >= \"3.8\"\n"),
        "{cfg}"
    );
    assert!(cfg.contains("    requests >= 2\n"), "{cfg}");

    let (v, deps) = s.requires("acme-plugin", "2.3.1", ".whl");
    assert_eq!(v, "2.3.1");
    assert!(deps.contains(&"acme-core==2.3.1".to_string()), "{deps:?}");
    assert!(
        deps.iter().any(|d| d.starts_with("acme-cfg[fast]==2.3.1")),
        "{deps:?}"
    );
    let (v, deps) = s.requires("acme-cfg", "2.3.1", ".whl");
    assert_eq!(v, "2.3.1");
    assert!(deps.contains(&"acme-core==2.3.1".to_string()), "{deps:?}");
    for project in ["acme-core", "acme-plugin", "acme-cfg"] {
        assert_eq!(s.files_of(project, "2.3.1rc0").len(), 2, "{project}");
        assert_eq!(s.files_of(project, "2.3.1").len(), 2, "{project}");
    }
}

/// Members of the newest sdist of dagit on the index.
fn sdist_has_web_ui(s: &Sample, version: &str) -> bool {
    let path = s.index.join(format!("simple/dagit/dagit-{version}.tar.gz"));
    let members = release::ops::artefacts::members(&path).unwrap();
    members.contains("dagit/webapp/build/static/app.js")
}

fn set_prebuild(s: &Sample, on: bool) {
    let toml = s.repo.join("release.toml");
    let text = s.read("release.toml");
    let text = if on {
        text.replace("#prebuild = ", "prebuild = ")
    } else {
        text.replace("prebuild = ", "#prebuild = ")
    };
    std::fs::write(toml, text).unwrap();
}

#[test]
fn a_generated_folder_missing_from_the_export_stops_the_build() {
    let s = Sample::fixture("webui");
    s.ok(&["start", "0.6.5.pre0"]);
    assert!(sdist_has_web_ui(&s, "0.6.5rc0"));

    // The prebuild is lost: the build step stops, naming the package and
    // the folder, before anything is tagged or pushed.
    set_prebuild(&s, false);
    s.commit_and_push("lose the prebuild");
    let r = s.run(&["start", "0.6.5"]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    for said in [
        "dagit (against 0.6.5.pre0)",
        "dagit/webapp/build/* (2 file(s))",
        "lost more than half its size",
        "release resume --allow-shrink dagit",
        "nothing was tagged or pushed",
    ] {
        assert!(r.stderr.contains(said), "{said}:\n{}", r.stderr);
    }
    assert_eq!(s.git(&["tag", "-l"]), "0.6.5.pre0");
    // The warning setuptools printed is shown for the package.
    assert!(
        r.stdout.contains("warning from the build of dagit"),
        "{}",
        r.stdout
    );

    // Restore the prebuild, as the message says, and resume: it passes.
    set_prebuild(&s, true);
    s.ok(&["resume"]);
    assert!(sdist_has_web_ui(&s, "0.6.5"));
    s.commit_and_push("restore the prebuild");

    // From a clone without .release/ the previous files come from the index.
    std::fs::remove_dir_all(s.repo.join(".release")).unwrap();
    set_prebuild(&s, false);
    s.commit_and_push("lose the prebuild again");
    let r = s.run(&["start", "0.6.6.pre0"]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("dagit (against 0.6.5 on the index)"),
        "{}",
        r.stderr
    );
    // Meant: allowed for this release, and recorded in its journal.
    s.ok(&["resume", "--allow-shrink", "dagit"]);
    assert!(!sdist_has_web_ui(&s, "0.6.6rc0"));
    let j = s.finished("0.6.6.pre0");
    assert_eq!(j["release"]["allow_shrink"], serde_json::json!(["dagit"]));
}
