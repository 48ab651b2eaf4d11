//! Releasing from CI (issue 14): the `--json` result checked against its
//! schema, GitHub Actions' outputs and step summary.

mod common;

use common::pypi::Fault;
use common::{assert_matches_schema, Run, Sample};
use serde_json::Value;

/// The run's stdout is one JSON document valid by the result schema.
fn result_of(r: &Run) -> Value {
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            r.stdout, r.stderr
        )
    });
    assert_matches_schema("result.schema.json", &v);
    v
}

/// GitHub's files for a step, empty, set for every run of `s`.
fn on_github_actions(s: &mut Sample) -> (std::path::PathBuf, std::path::PathBuf) {
    let (output, summary) = (s.base.join("gh-output"), s.base.join("gh-summary.md"));
    std::fs::write(&output, "earlier=kept\n").unwrap();
    s.set_env("GITHUB_OUTPUT", output.to_str().unwrap());
    s.set_env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap());
    (output, summary)
}

#[test]
fn json_result_and_github_outputs_of_a_release() {
    let mut s = Sample::new();
    let (output, summary) = on_github_actions(&mut s);
    let r = s.ok(&["start", "0.2.0.pre0", "--json"]);
    // Progress goes to stderr; stdout holds the result alone.
    assert!(r.stderr.contains("==> publish"), "{}", r.stderr);
    let v = result_of(&r);
    assert_eq!(v["command"], "start");
    assert_eq!(v["ok"], true);
    assert_eq!(v["released"], true);
    assert_eq!(v["version"], "0.2.0.pre0");
    assert_eq!(v["normalized_version"], "0.2.0rc0");
    assert_eq!(v["tag"], "0.2.0.pre0");
    assert_eq!(v["phase"], "done");
    assert_eq!(v["error"], Value::Null);
    assert_eq!(v["next"]["command"], Value::Null);
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 8);
    assert!(steps.iter().all(|s| s["state"] == "done"), "{steps:?}");
    let packages = v["packages"].as_array().unwrap();
    let mut names: Vec<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["demo-cli", "demo-core", "demo_aws"], "as declared");
    for p in packages {
        let files = p["files"].as_array().unwrap();
        assert_eq!(files.len(), 2, "an sdist and a wheel: {p}");
        for f in files {
            assert_eq!(f["state"], "uploaded");
            // The URL is where the index serves the file, with its bytes.
            let url = f["url"].as_str().unwrap();
            let path = url.strip_prefix("file://").unwrap();
            let bytes = std::fs::read(path).unwrap();
            assert_eq!(release::ops::sha256_bytes(&bytes), f["sha256"]);
        }
    }
    assert!(v["journal"].as_str().unwrap().contains(".release/history/"));
    // The outputs are appended to what the job had written before.
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "earlier=kept\nversion=0.2.0.pre0\ntag=0.2.0.pre0\nreleased=true\n"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("## Released 0.2.0.pre0\n"), "{md}");
    assert!(md.contains("| package | version | files |"), "{md}");
    assert!(
        md.contains("| demo-core | 0.2.0.pre0 | [demo_core-0.2.0rc0"),
        "{md}"
    );
}

#[test]
fn json_result_of_a_refusal_and_of_a_stopped_publish_then_resume() {
    let mut s = Sample::new().with_pypi();
    let (output, summary) = on_github_actions(&mut s);
    // Refused in preflight: no journal, and the way on is the same command.
    std::fs::write(s.repo.join("stray.txt"), "x").unwrap();
    let r = s.run(&["start", "0.2.0.pre0", "--json"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("preflight refused"), "{}", r.stderr);
    let v = result_of(&r);
    assert_eq!(
        (&v["ok"], &v["released"]),
        (&Value::Bool(false), &Value::Bool(false))
    );
    assert_eq!(v["phase"], Value::Null);
    assert!(v["error"].as_str().unwrap().contains("stray.txt"), "{v}");
    assert_eq!(v["next"]["command"], "release start 0.2.0.pre0");
    std::fs::remove_file(s.repo.join("stray.txt")).unwrap();

    // The index refuses an upload: pushed, not published.
    s.pypi()
        .log()
        .inject(&[Fault::Status(400, "Invalid value for classifiers")]);
    let r = s.run(&["start", "0.2.0.pre0", "--json"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let v = result_of(&r);
    assert_eq!(v["released"], false);
    assert_eq!(v["phase"], "in_progress");
    assert_eq!(v["next"]["command"], "release resume");
    assert!(
        v["error"].as_str().unwrap().contains("Invalid value"),
        "{v}"
    );
    let publish = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "publish")
        .unwrap();
    assert_eq!(publish["state"], "failed");
    assert!(v["journal"]
        .as_str()
        .unwrap()
        .ends_with(".release/state.json"));

    let r = s.run(&["resume", "--json"]);
    assert!(r.ok(), "{}", r.stderr);
    let v = result_of(&r);
    assert_eq!(v["command"], "resume");
    assert_eq!(v["released"], true);
    assert_eq!(v["version"], "0.2.0.pre0");
    // Over HTTP, each file's URL is the one the index's page links.
    for p in v["packages"].as_array().unwrap() {
        for f in p["files"].as_array().unwrap() {
            let url = f["url"].as_str().unwrap();
            assert!(
                url.starts_with(&s.pypi().proxy.url())
                    && url.contains(f["filename"].as_str().unwrap()),
                "{url}"
            );
        }
        assert!(
            p["page_url"]
                .as_str()
                .unwrap()
                .ends_with("/simple/demo-core/")
                || p["name"] != "demo-core"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "earlier=kept\n\
         version=0.2.0.pre0\ntag=\nreleased=false\n\
         version=0.2.0.pre0\ntag=0.2.0.pre0\nreleased=false\n\
         version=0.2.0.pre0\ntag=0.2.0.pre0\nreleased=true\n"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("## Release of 0.2.0.pre0 stopped at publish"),
        "{md}"
    );
    assert!(md.contains("**Next:** fix the cause"), "{md}");
    assert!(md.contains("## Released 0.2.0.pre0"), "{md}");
}
