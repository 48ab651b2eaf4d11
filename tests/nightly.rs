//! Nightly dev releases (issue 16, part 1): `release nightly --date D`
//! publishes every package at the next version's `.devD`, built from the
//! tip of the remote release branch with no commit, tag or push; once per
//! date, resumable, and what pip picks from the file:// index.

mod common;

use std::path::Path;
use std::process::Command;

use common::apis::Apis;
use common::{assert_valid, git_bare, index_files, index_listing, python, Sample};

/// What a nightly must leave alone: HEAD, every local branch and tag, the
/// tree (ignored files included), origin's refs.
fn git_world(s: &Sample) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        s.git(&["rev-parse", "HEAD"]),
        s.git(&["for-each-ref", "refs/heads", "refs/tags"]),
        s.git(&["status", "--porcelain"]),
        git_bare(&s.origin, &["for-each-ref"]).unwrap_or_default(),
    )
}

/// The archived journals of nightlies, as JSON.
fn nightlies(s: &Sample) -> Vec<serde_json::Value> {
    s.history()
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .filter(|j: &serde_json::Value| j["kind"] == "nightly")
        .collect()
}

/// Every file of the index with its sha256, to see nothing was re-uploaded.
fn index_hashes(index: &Path) -> Vec<(String, String)> {
    index_listing(index)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(index.join("simple").join(&f)).unwrap();
            let sha = release::ops::sha256_bytes(&bytes);
            (f, sha)
        })
        .collect()
}

fn nightly_json(s: &Sample) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(s.repo.join(".release/nightly.json")).ok()?;
    Some(serde_json::from_str(&text).unwrap())
}

#[test]
fn a_nightly_publishes_once_per_date_from_the_branch_tip_with_no_commit_or_tag() {
    let s = Sample::new();
    // The checkout is on another branch with a commit of its own and an
    // untracked file: a nightly builds origin's master all the same.
    s.git(&["switch", "-qc", "feature"]);
    std::fs::write(s.repo.join("NOTES.txt"), "mine\n").unwrap();
    s.git(&["add", "NOTES.txt"]);
    s.git(&["commit", "-qm", "work in progress"]);
    std::fs::write(s.repo.join("scratch.txt"), "untracked\n").unwrap();
    let tip = git_bare(&s.origin, &["rev-parse", "master"]).unwrap();
    let before = git_world(&s);

    let r = s.ok(&["nightly", "--date", "20240101"]);
    assert!(
        r.stdout.contains("0.1.0 -> 0.1.1.dev20240101"),
        "{}",
        r.stdout
    );
    for step in ["preflight", "build", "publish", "audit", "announce"] {
        assert!(r.stdout.contains(&format!("==> {step}")), "{}", r.stdout);
    }
    for step in ["bump", "tag", "push"] {
        assert!(!r.stdout.contains(&format!("==> {step}")), "{}", r.stdout);
    }
    assert_eq!(git_world(&s), before, "a nightly changes nothing in git");
    assert!(
        nightly_json(&s).is_none(),
        "the nightly journal is archived"
    );
    let files = index_files(&s.index);
    assert_eq!(files.len(), 6, "{files:?}");
    assert!(
        files.iter().all(|f| f.contains("0.1.1.dev20240101")),
        "{files:?}"
    );
    // Built from origin's tip, with versions and pins rewritten in the export.
    let j = &nightlies(&s)[0];
    assert_valid(j);
    assert_eq!(j["phase"], "done");
    assert_eq!(j["release"]["release_commit"], tip.as_str());
    assert_eq!(j["release"]["tag"], "");
    let steps: Vec<&str> = j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| st["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["preflight", "build", "publish", "audit", "announce"]
    );
    let wheel = s
        .index
        .join("simple/demo-aws/demo_aws-0.1.1.dev20240101-py3-none-any.whl");
    let meta = release::ops::metadata::read(&wheel).unwrap();
    assert_eq!(meta.get("Version"), Some("0.1.1.dev20240101"));
    let requires: Vec<&str> = meta
        .fields
        .iter()
        .filter(|(k, _)| k == "Requires-Dist")
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(
        requires.contains(&"demo-core==0.1.1.dev20240101"),
        "{requires:?}"
    );

    // The same date again: found in the history, nothing uploaded.
    let served = index_hashes(&s.index);
    let r = s.ok(&["nightly", "--date", "20240101"]);
    assert!(r.stdout.contains("published already"), "{}", r.stdout);
    assert!(!r.stdout.contains("==> build"), "{}", r.stdout);
    assert_eq!(index_hashes(&s.index), served);
    assert_eq!(nightlies(&s).len(), 1);

    // A fresh runner without that history (another CI machine): the index
    // serves it, so it is done too.
    std::fs::remove_dir_all(s.repo.join(".release/history")).unwrap();
    let r = s.ok(&["nightly", "--date", "20240101"]);
    assert!(r.stdout.contains("already serves"), "{}", r.stdout);
    assert_eq!(index_hashes(&s.index), served);
    assert!(nightly_json(&s).is_none());

    // The next date publishes again.
    s.ok(&["nightly", "--date", "20240102"]);
    let files = index_files(&s.index);
    assert_eq!(files.len(), 12, "{files:?}");
    assert_eq!(
        files.iter().filter(|f| f.contains("dev20240102")).count(),
        6
    );
    assert_eq!(git_world(&s), before);

    // status and audit know nightlies.
    let st = s.ok(&["status", "--nightly"]);
    assert!(
        st.stdout.contains("no nightly in progress"),
        "{}",
        st.stdout
    );
    assert!(
        st.stdout.contains("nightly 0.1.1.dev20240102"),
        "{}",
        st.stdout
    );
    let json = s.ok(&["status", "--nightly", "--json"]);
    assert_eq!(json.stdout.trim(), "null");
    let a = s.ok(&["audit", "0.1.1.dev20240102"]);
    assert!(
        a.stdout.contains("against the recorded ledger"),
        "{}",
        a.stdout
    );
}

/// A throwaway venv; `pip install --pre` of demo-core from the file://
/// index into it (by the test Python's pip); the version installed.
fn pip_picks(s: &Sample, venv: &Path) -> String {
    if !venv.exists() {
        let out = Command::new(python())
            .args(["-m", "venv", "--without-pip"])
            .arg(venv)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let index = format!("file://{}/simple", s.index.display());
    let out = Command::new(python())
        .args(["-m", "pip", "--python"])
        .arg(venv.join("bin/python"))
        .args(["install", "-q", "--upgrade", "--pre", "--no-deps"])
        .args(["--index-url", &index, "demo-core"])
        // Only this index: no find-links or config of the machine.
        .env_remove("PIP_FIND_LINKS")
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_EXTRA_INDEX_URL")
        .env("PIP_CONFIG_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pip install: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(venv.join("bin/python"))
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('demo-core'))",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn pip_picks_the_nightly_over_the_last_release_and_the_next_release_over_the_nightly() {
    let s = Sample::new();
    let venv = s.base.join("venv");
    s.ok(&["start", "0.2.0.pre0"]);
    assert_eq!(pip_picks(&s, &venv), "0.2.0rc0");

    let r = s.ok(&["nightly", "--date", "20240101"]);
    assert!(
        r.stdout.contains("0.2.0.pre0 -> 0.2.0rc1.dev20240101"),
        "{}",
        r.stdout
    );
    assert_eq!(pip_picks(&s, &venv), "0.2.0rc1.dev20240101");

    // The next release sorts after the nightly; the nightly did not stand
    // in its way (its own journal, no tag, no commit).
    s.ok(&["start", "0.2.0.pre1"]);
    assert_eq!(pip_picks(&s, &venv), "0.2.0rc1");

    // From a final release, the nightly is of the next patch release.
    s.ok(&["start", "0.2.0"]);
    let r = s.ok(&["nightly", "--date", "20240102"]);
    assert!(
        r.stdout.contains("0.2.0 -> 0.2.1.dev20240102"),
        "{}",
        r.stdout
    );
    assert_eq!(pip_picks(&s, &venv), "0.2.1.dev20240102");
}

#[test]
fn an_interrupted_nightly_resumes_for_its_date_and_a_new_date_supersedes_it() {
    let s = Sample::new();
    // Killed after the first upload.
    let r = s.run_failing(&["nightly", "--date", "20240101"], "publish.after_upload");
    assert_ne!(r.code, Some(0));
    let j = nightly_json(&s).expect("the nightly's journal");
    assert_valid(&j);
    assert_eq!(j["kind"], "nightly");
    let st = s.ok(&["status"]);
    assert!(
        st.stdout.contains("no release in progress"),
        "{}",
        st.stdout
    );
    assert!(
        st.stdout.contains("release status --nightly"),
        "{}",
        st.stdout
    );
    let st = s.ok(&["status", "--nightly"]);
    assert!(st.stdout.contains("release nightly"), "{}", st.stdout);

    // A release meanwhile is not in its way, nor in the release's.
    s.ok(&["start", "0.2.0.pre0"]);
    assert!(nightly_json(&s).is_some());

    // The same date resumes it, from the commit it began with, each file
    // uploaded once.
    let r = s.ok(&["nightly", "--date", "20240101"]);
    assert!(r.stdout.contains("resuming the nightly"), "{}", r.stdout);
    assert!(r.stdout.contains("0.1.1.dev20240101"), "{}", r.stdout);
    let j = nightlies(&s).pop().unwrap();
    assert_eq!(j["phase"], "done");
    let ledger = j["publish"]["ledger"].as_array().unwrap();
    assert_eq!(ledger.len(), 6);
    for f in ledger {
        let (pkg, name) = (
            f["package"].as_str().unwrap(),
            f["filename"].as_str().unwrap(),
        );
        let page =
            std::fs::read_to_string(s.index.join("simple").join(pkg).join("index.html")).unwrap();
        assert_eq!(page.matches(&format!(">{name}<")).count(), 1, "{name}");
    }

    // Killed again on another date, then superseded by the next one.
    let r = s.run_failing(&["nightly", "--date", "20240102"], "build.after_build");
    assert_ne!(r.code, Some(0));
    let r = s.ok(&["nightly", "--date", "20240103"]);
    assert!(r.stdout.contains("superseded"), "{}", r.stdout);
    assert!(r.stdout.contains("0.2.0rc1.dev20240103"), "{}", r.stdout);
    let phases: Vec<(String, String)> = nightlies(&s)
        .iter()
        .map(|j| {
            (
                j["release"]["version"].as_str().unwrap().to_string(),
                j["phase"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        phases.contains(&("0.2.0rc1.dev20240102".into(), "aborted".into())),
        "{phases:?}"
    );
    assert!(
        phases.contains(&("0.2.0rc1.dev20240103".into(), "done".into())),
        "{phases:?}"
    );
    assert!(!index_files(&s.index)
        .iter()
        .any(|f| f.contains("dev20240102")));
}

#[test]
fn a_refused_nightly_changes_nothing() {
    let s = Sample::new();
    // Origin's packages at different versions: a nightly moves them together.
    let toml = s.repo.join("python_modules/demo-core/pyproject.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        text.replace("version = \"0.1.0\"", "version = \"0.1.5\""),
    )
    .unwrap();
    s.commit_and_push("demo-core ahead");
    let before = s.snapshot();
    let r = s.run(&["nightly", "--date", "20240101"]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("preflight refused the nightly of 20240101"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("are not at one version"), "{}", r.stderr);
    assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);
    assert_eq!(s.snapshot(), before);
    assert!(nightly_json(&s).is_none());

    // A date that is no day is a usage error.
    let r = s.run(&["nightly", "--date", "20240230"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("YYYYMMDD"), "{}", r.stderr);
}

#[test]
fn a_nightly_is_announced_only_when_asked_and_only_to_slack() {
    let apis = Apis::start();
    let s = Sample::new().announce_to(&apis);
    s.ok(&["nightly", "--date", "20240101"]);
    assert_eq!((apis.posts(), apis.releases()), (0, 0), "off by default");

    let toml = s.repo.join("release.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str("\n[nightly]\nannounce = true\n");
    std::fs::write(&toml, text).unwrap();
    s.commit_and_push("announce nightlies");
    let r = s.ok(&["nightly", "--date", "20240102"]);
    assert!(r.stdout.contains("slack: posted"), "{}", r.stdout);
    assert_eq!((apis.posts(), apis.releases()), (1, 0), "Slack only");
    let text = apis.with(|st| st.messages[0].2.clone());
    assert!(text.contains("Nightly 0.1.1.dev20240102"), "{text}");
    let j = nightlies(&s).pop().unwrap();
    let github = j["announce"]["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "github")
        .cloned()
        .unwrap();
    assert_eq!(github["state"], "skipped");
    // Once per date: not announced again.
    s.ok(&["nightly", "--date", "20240102"]);
    assert_eq!(apis.posts(), 1);
}

#[test]
fn a_two_track_nightly_moves_each_track_alike_with_pins_to_each_siblings_nightly() {
    let s = Sample::fixture("dagster");
    let r = s.ok(&["nightly", "--date", "20240101", "--dry-run"]);
    assert!(
        r.stdout
            .contains("dagster-aws 0.25.3 -> 0.25.4.dev20240101"),
        "{}",
        r.stdout
    );
    s.ok(&["nightly", "--date", "20240101"]);
    let files = index_files(&s.index);
    for f in [
        "dagster/dagster-1.9.4.dev20240101.tar.gz",
        "dagster-aws/dagster_aws-0.25.4.dev20240101.tar.gz",
    ] {
        assert!(files.iter().any(|x| x == f), "{f} in {files:?}");
    }
    let wheel = std::fs::read_dir(s.index.join("simple/dagster-aws"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .unwrap();
    let meta = release::ops::metadata::read(&wheel).unwrap();
    assert_eq!(meta.get("Version"), Some("0.25.4.dev20240101"));
    let requires: Vec<String> = meta
        .fields
        .iter()
        .filter(|(k, _)| k == "Requires-Dist")
        .map(|(_, v)| v.replace(' ', ""))
        .collect();
    assert!(
        requires.iter().any(|r| r == "dagster==1.9.4.dev20240101"),
        "{requires:?}"
    );
    let j = nightlies(&s).pop().unwrap();
    assert_valid(&j);
    assert_eq!(j["release"]["version"], "1.9.4.dev20240101");
    // Nothing in git: the working tree still declares the released versions.
    assert_eq!(
        std::fs::read_to_string(s.repo.join("python_modules/dagster/dagster/version.py")).unwrap(),
        "__version__ = \"1.9.3\"\n"
    );
}
