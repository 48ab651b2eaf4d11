//! The release spine (issue 3) and publish/audit on the file:// index
//! (issue 4), driving the real binary on the sample monorepo with a bare
//! origin.

mod common;

use common::{assert_released, assert_released_git, assert_valid, git_bare, index_listing, Sample};

#[test]
fn a_clean_release_goes_through_every_step() {
    let s = Sample::new();
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.ok(&["start", "0.2.0.pre0"]);
    for step in [
        "preflight",
        "bump",
        "tag",
        "push",
        "publish",
        "audit",
        "announce",
    ] {
        assert!(
            r.stdout.contains(&format!("==> {step}")),
            "{step} not shown:\n{}",
            r.stdout
        );
    }
    assert!(r.stdout.contains("skipped: not configured"));
    assert_released(&s, "0.2.0.pre0", &base);
    // Every declaration and every sibling pin moved, formatting kept.
    let diff = s.git(&["diff", "HEAD~1", "--stat"]);
    assert!(diff.contains("5 files changed"), "{diff}");
    let toml = std::fs::read_to_string(
        s.repo
            .join("python_modules/libraries/demo-aws/pyproject.toml"),
    )
    .unwrap();
    assert!(
        toml.contains("\"demo-core==0.2.0.pre0\",  # sibling pins move in lockstep"),
        "{toml}"
    );
    assert!(toml.contains("demo-cli[extra]==0.2.0.pre0; python_version >= '3.8'"));
    let setup = std::fs::read_to_string(s.repo.join("python_modules/demo-cli/setup.py")).unwrap();
    assert!(setup.contains("install_requires=[\"demo-core==0.2.0.pre0\"]"));
    s.ok(&["version"]);
    s.ok(&["audit", "0.2.0.pre0"]);
    s.ok(&["audit", "0.2.0rc0"]);
    let status = s.ok(&["status"]);
    assert!(
        status.stdout.contains("no release in progress"),
        "{}",
        status.stdout
    );
}

/// Start refused: exit 1, the finding named, nothing changed.
fn assert_refused(s: &Sample, version: &str, extra: &[&str], finding: &str) {
    let before = s.snapshot();
    let mut args = vec!["start", version];
    args.extend_from_slice(extra);
    let r = s.run(&args);
    assert_eq!(
        r.code,
        Some(1),
        "expected a refusal:\n{}\n{}",
        r.stdout,
        r.stderr
    );
    assert!(
        r.stderr.contains(finding),
        "expected `{finding}` in:\n{}",
        r.stderr
    );
    assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);
    assert_eq!(s.snapshot(), before, "a refused start changed something");
    assert!(s.journal().is_none());
}

#[test]
fn preflight_refusals_change_nothing() {
    let s = Sample::new();
    s.git(&["switch", "-qc", "feature"]);
    assert_refused(&s, "0.2.0.pre0", &[], "not the release branch `master`");
    s.git(&["switch", "-q", "master"]);

    std::fs::write(s.repo.join("CHANGES.md"), "edited\n").unwrap();
    assert_refused(&s, "0.2.0.pre0", &[], "local changes in CHANGES.md");
    s.git(&["checkout", "--", "CHANGES.md"]);

    std::fs::write(s.repo.join("stray.txt"), "x").unwrap();
    assert_refused(&s, "0.2.0.pre0", &[], "untracked files stray.txt");
    std::fs::remove_file(s.repo.join("stray.txt")).unwrap();

    assert_refused(&s, "0.2.0.pre0+local", &[], "local segment");
    assert_refused(&s, "not-a-version", &[], "not a valid PEP 440 version");
    assert_refused(
        &s,
        "0.1.0",
        &[],
        "not greater than the current version 0.1.0",
    );
    assert_refused(&s, "0.0.9", &[], "not greater");
    assert_refused(&s, "0.2.0", &[], "no pre-release of 0.2.0 was completed");

    s.git(&["tag", "-a", "-m", "x", "0.3.0.pre0"]);
    assert_refused(
        &s,
        "0.3.0.pre0",
        &[],
        "tag `0.3.0.pre0` already exists locally",
    );
    s.git(&["push", "-q", "origin", "0.3.0.pre0"]);
    s.git(&["tag", "-d", "0.3.0.pre0"]);
    assert_refused(&s, "0.3.0.pre0", &[], "already exists on `origin`");
    // The fetch in preflight never creates local tags.
    assert_eq!(s.git(&["tag"]), "");

    // Versions differ.
    let v = s.repo.join("python_modules/demo-cli/demo_cli/version.py");
    std::fs::write(&v, "__version__ = \"0.1.1\"\n").unwrap();
    s.commit_and_push("odd version");
    assert_refused(
        &s,
        "0.2.0.pre0",
        &[],
        "package versions differ (most are 0.1.0): demo-cli is 0.1.1",
    );
    let r = s.run(&["version"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("demo-cli (0.1.1)"), "{}", r.stderr);
}

#[test]
fn every_finding_is_reported_together() {
    let s = Sample::new();
    std::fs::write(s.repo.join("stray.txt"), "x").unwrap();
    std::fs::write(s.repo.join("CHANGES.md"), "edited\n").unwrap();
    let r = s.run(&["start", "0.0.1.pre0"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("3 findings"), "{}", r.stderr);
    assert!(
        r.stderr.contains("local changes")
            && r.stderr.contains("untracked")
            && r.stderr.contains("not greater")
    );
}

#[test]
fn behind_and_ahead_of_the_remote_are_refused() {
    let s = Sample::new();
    // A colleague pushes: we are behind.
    s.colleague_pushes(None);
    assert_refused(&s, "0.2.0.pre0", &[], "1 commit(s) behind `origin/master`");
    s.git(&["pull", "-q", "--ff-only"]);
    s.git(&["commit", "-q", "--allow-empty", "-m", "ours"]);
    assert_refused(
        &s,
        "0.2.0.pre0",
        &[],
        "1 commit(s) ahead of `origin/master`",
    );
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let s = Sample::new();
    let before = s.snapshot();
    let r = s.ok(&["start", "0.2.0.pre0", "--dry-run"]);
    assert!(
        r.stdout.contains("demo_aws 0.1.0 -> 0.2.0.pre0"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("files carry 0.2.0rc0"));
    assert_eq!(s.snapshot(), before);
    assert!(!s.repo.join(".release").exists());
}

#[test]
fn remote_drift_then_recover_then_resume_releases_on_the_new_base() {
    let s = Sample::new();
    // Stop after tag, before push; a colleague pushes meanwhile.
    let theirs = s.drifted();
    let j = s.journal().unwrap();
    assert_eq!(j["phase"], "remote_drift");
    assert_valid(&j);
    // Resume will not push over it.
    let r = s.run(&["resume"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("release recover"));
    assert_eq!(
        git_bare(&s.origin, &["rev-parse", "master"]).unwrap(),
        theirs
    );

    let r = s.ok(&["recover"]);
    assert!(r.stdout.contains("release resume"), "{}", r.stdout);
    assert_eq!(s.git(&["rev-parse", "HEAD"]), theirs);
    assert_eq!(s.git(&["tag"]), "", "the local tag is deleted");
    assert_valid(&s.journal().unwrap());
    s.ok(&["resume"]);
    assert_released(&s, "0.2.0.pre0", &theirs);
    assert!(s.repo.join("NEWS.txt").exists());
}

#[test]
fn abort_before_push_leaves_the_repo_as_it_was() {
    let s = Sample::new();
    let before = s.git(&["rev-parse", "HEAD"]);
    let origin_before = git_bare(&s.origin, &["for-each-ref"]).unwrap();
    s.killed_after_tag();
    assert_eq!(s.git(&["tag"]), "0.2.0.pre0");
    s.ok(&["abort"]);
    assert_eq!(s.git(&["rev-parse", "HEAD"]), before);
    assert_eq!(s.git(&["tag"]), "");
    assert_eq!(s.git(&["status", "--porcelain"]), "");
    assert_eq!(
        git_bare(&s.origin, &["for-each-ref"]).unwrap(),
        origin_before
    );
    assert!(s.journal().is_none());
    assert!(s
        .history()
        .iter()
        .any(|p| p.to_string_lossy().contains("aborted")));
    // And a new release can start.
    s.ok(&["start", "0.2.0.pre0"]);
}

#[test]
fn abort_after_push_is_refused() {
    let s = Sample::new();
    let r = s.run_failing(&["start", "0.2.0.pre0"], "push.after_tag");
    assert_ne!(r.code, Some(0));
    let r = s.run(&["abort"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("release resume"), "{}", r.stderr);
    s.ok(&["resume"]);
}

#[test]
fn status_json_matches_the_schema_mid_release() {
    let s = Sample::new();
    let r = s.run_failing(&["start", "0.2.0.pre0"], "publish.after_upload@2");
    assert_ne!(r.code, Some(0));
    let r = s.ok(&["status", "--json"]);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_valid(&j);
    assert_eq!(j["steps"][5]["state"], "running");
    let human = s.ok(&["status"]);
    // Killed, not failed: no process holds it, and resume is the way on.
    assert!(
        human.stdout.contains("next: the run was interrupted")
            && human.stdout.contains("run `release resume`")
            && !human.stdout.contains("fix the cause")
            && !human.stdout.contains("roll forward"),
        "after the push, killed: resume: {}",
        human.stdout
    );
    assert!(
        human.stdout.contains("publish    interrupted"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("upload URL in use: file://"),
        "{}",
        human.stdout
    );
    // While another process holds the lock, status says a release is running.
    let lock = std::fs::File::options()
        .write(true)
        .open(s.repo.join(".release/lock"))
        .unwrap();
    lock.lock().unwrap();
    let human = s.ok(&["status"]);
    assert!(
        human
            .stdout
            .contains("next: a release is running right now"),
        "{}",
        human.stdout
    );
    assert!(!human.stdout.contains("`nothing"), "{}", human.stdout);
    drop(lock);
    let human = s.ok(&["status"]);
    assert!(
        !human.stdout.contains("running right now"),
        "{}",
        human.stdout
    );
}

#[test]
fn unreadable_journals_are_clear_errors_and_left_alone() {
    let s = Sample::new();
    let r = s.run_failing(&["start", "0.2.0.pre0"], "bump.after_commit");
    assert_ne!(r.code, Some(0));
    let good = std::fs::read_to_string(s.state_path()).unwrap();
    let cases: Vec<(String, &str)> = vec![
        ("{{{ not json".into(), "not valid JSON"),
        (good[..good.len() / 2].to_string(), "not valid JSON"),
        (
            good.replacen("\"schema_version\":6", "\"schema_version\":99", 1),
            "schema_version 99",
        ),
        (
            good.replacen("\"schema_version\":6", "\"schema_version\":1", 1),
            "written by an older `release`",
        ),
        (
            good.replacen("\"phase\":\"in_progress\"", "\"phase\":\"sideways\"", 1),
            "does not match the schema",
        ),
        ("[]".into(), "no `schema_version`"),
        (String::new(), "not valid JSON"),
    ];
    for (text, fault) in cases {
        std::fs::write(s.state_path(), &text).unwrap();
        for args in [
            &["resume"][..],
            &["status"],
            &["abort"],
            &["recover"],
            &["start", "0.3.0.pre0"],
        ] {
            let r = s.run(args);
            assert_eq!(r.code, Some(1), "{args:?} with {fault}: {}", r.stderr);
            assert!(
                r.stderr.contains("state.json"),
                "{args:?}: the file is named: {}",
                r.stderr
            );
            assert!(
                r.stderr.contains(fault),
                "{args:?}: expected `{fault}` in {}",
                r.stderr
            );
            assert!(!r.stderr.contains("panicked"));
            assert_eq!(
                std::fs::read_to_string(s.state_path()).unwrap(),
                text,
                "never overwritten"
            );
        }
    }
    std::fs::write(s.state_path(), &good).unwrap();
    s.ok(&["resume"]);
}

#[test]
fn a_second_runner_is_refused_at_once() {
    let s = Sample::new();
    s.killed_after_tag();
    // Hold the lock as a running release would.
    std::fs::create_dir_all(s.repo.join(".release")).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(s.repo.join(".release/lock"))
        .unwrap();
    fs2::FileExt::try_lock_exclusive(&lock).unwrap();
    let started = std::time::Instant::now();
    for args in [&["resume"][..], &["abort"], &["start", "0.3.0.pre0"]] {
        let r = s.run(args);
        assert_eq!(r.code, Some(1));
        assert!(
            r.stderr.contains("another release is running"),
            "{}",
            r.stderr
        );
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "refused at once, not after waiting"
    );
    drop(lock);
    // The lock of a killed runner (above) never blocks: flock dies with it.
    s.ok(&["resume"]);
}

#[test]
fn usage_errors_exit_2() {
    let s = Sample::new();
    for args in [
        &["start"][..],
        &["frobnicate"],
        &["start", "1.0", "--bogus"],
        &["status", "--json", "extra"],
    ] {
        let r = s.run(args);
        assert_eq!(r.code, Some(2), "{args:?}");
    }
    let r = s.run(&["completions", "bash"]);
    assert!(r.ok() && r.stdout.contains("release"));
}

#[test]
fn a_bad_config_is_a_clear_error() {
    let s = Sample::new();
    std::fs::write(s.repo.join("release.toml"), "brnach = \"master\"\n").unwrap();
    s.commit_and_push("typo");
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("release.toml") && r.stderr.contains("brnach"),
        "{}",
        r.stderr
    );
}

#[test]
fn audit_finds_missing_and_altered_files() {
    let s = Sample::new();
    s.ok(&["start", "0.2.0.pre0"]);
    s.ok(&["audit", "0.2.0.pre0"]);
    let wheel = s
        .index
        .join("simple/demo-core/demo_core-0.2.0rc0-py3-none-any.whl");
    let bytes = std::fs::read(&wheel).unwrap();
    std::fs::write(&wheel, b"tampered").unwrap();
    let r = s.run(&["audit", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stdout
            .contains("demo_core-0.2.0rc0-py3-none-any.whl is served with sha256"),
        "{}",
        r.stdout
    );
    std::fs::remove_file(&wheel).unwrap();
    let r = s.run(&["audit", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stdout.contains("demo_core-0.2.0rc0-py3-none-any.whl"),
        "{}",
        r.stdout
    );
    std::fs::write(&wheel, bytes).unwrap();
    s.ok(&["audit", "0.2.0.pre0"]);
    // Without any journal: an sdist and a wheel per package.
    std::fs::remove_dir_all(s.repo.join(".release")).unwrap();
    s.ok(&["audit", "0.2.0.pre0"]);
    let r = s.run(&["audit", "0.9.0"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stdout.contains("no sdist for 0.9.0"), "{}", r.stdout);
}

#[test]
fn a_foreign_file_in_the_index_burns_the_version_then_roll_forward() {
    let s = Sample::new();
    let dir = s.index.join("simple/demo-core");
    std::fs::create_dir_all(&dir).unwrap();
    let foreign = dir.join("demo_core-0.2.0rc0-py3-none-any.whl");
    std::fs::write(&foreign, b"someone else's wheel").unwrap();
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("burned") && r.stderr.contains("release recover"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read(&foreign).unwrap(),
        b"someone else's wheel",
        "never replaced"
    );
    assert_valid(&s.journal().unwrap());
    let r = s.ok(&["recover"]);
    assert!(r.stdout.contains("0.2.0.pre1"));
    let base = s.git(&["rev-parse", "HEAD"]);
    s.ok(&["resume"]);
    assert_eq!(s.git(&["log", "-1", "--format=%s"]), "0.2.0.pre1");
    assert_eq!(s.git(&["rev-parse", "HEAD~1"]), base);
    s.ok(&["audit", "0.2.0.pre1"]);
    assert!(s
        .history()
        .iter()
        .any(|p| p.to_string_lossy().contains("0.2.0.pre0-burned")));
}

#[test]
fn a_dist_file_altered_after_the_ledger_is_refused_on_resume() {
    let s = Sample::new();
    let r = s.run_failing(&["start", "0.2.0.pre0"], "publish.after_upload@1");
    assert_ne!(r.code, Some(0));
    let dist = s.repo.join(".release/dist/0.2.0rc0/demo-cli");
    let file = std::fs::read_dir(&dist)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    std::fs::write(&file, b"rebuilt, different").unwrap();
    let r = s.run(&["resume"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("no longer match the ledger"),
        "{}",
        r.stderr
    );
    assert!(r
        .stderr
        .contains(&file.file_name().unwrap().to_string_lossy().into_owned()));
    // The files cannot be restored: follow the other way the message names.
    assert!(r.stderr.contains("release recover"), "{}", r.stderr);
    let pre0 = s.git(&["rev-parse", "HEAD"]);
    let r = s.ok(&["recover"]);
    assert!(r.stdout.contains("0.2.0.pre1"), "{}", r.stdout);
    s.ok(&["resume"]);
    assert_released_git(&s, "0.2.0.pre1", &pre0);
}

#[test]
fn a_failed_journal_write_keeps_the_previous_journal() {
    let s = Sample::new();
    s.killed_after_tag();
    let before = std::fs::read(s.state_path()).unwrap();
    let mut cmd = s.cmd(&["resume"]);
    cmd.env("RELEASE_FAILPOINT_IOERR", "journal.write");
    let r = s.run_cmd(cmd);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("injected I/O error"), "{}", r.stderr);
    assert_eq!(
        std::fs::read(s.state_path()).unwrap(),
        before,
        "the previous journal is intact"
    );
    // A read-only .release/: same, and resume works once it is writable
    // again. Root ignores permission bits, so as root the folder is made
    // immutable instead (chattr, on file systems that have it).
    let dir = s.repo.join(".release");
    if read_only(&dir, true) {
        let r = s.run(&["resume"]);
        read_only(&dir, false);
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        assert!(
            r.stderr.contains("state.json") || r.stderr.contains(".release"),
            "{}",
            r.stderr
        );
        assert_eq!(std::fs::read(s.state_path()).unwrap(), before);
    } else {
        eprintln!("SKIPPED the read-only .release/ case: cannot make a folder read-only here");
    }
    s.ok(&["resume"]);
    assert_eq!(index_listing(&s.index).len(), 6 + 3);
}

/// Make `dir` read-only (or writable again); false if this machine cannot.
fn read_only(dir: &std::path::Path, on: bool) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if root {
        std::process::Command::new("chattr")
            .arg(if on { "+i" } else { "-i" })
            .arg(dir)
            .status()
            .map(|st| st.success())
            .unwrap_or(false)
    } else {
        let mode = if on { 0o555 } else { 0o755 };
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).is_ok()
    }
}

#[test]
fn prebuild_commands_run_in_the_export_and_a_failure_stops_publish() {
    let s = Sample::new();
    let toml = s.repo.join("release.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str("\n[package.demo-core]\nprebuild = \"echo webapp built > WEBAPP && echo yarn says hi && exit 3\"\n");
    std::fs::write(&toml, &text).unwrap();
    s.commit_and_push("prebuild for demo-core");
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("prebuild") && r.stderr.contains("yarn says hi"),
        "{}",
        r.stderr
    );
    assert!(index_listing(&s.index).is_empty(), "nothing uploaded");
    let export = s
        .repo
        .join(".release/build/0.2.0rc0/python_modules/demo-core");
    assert!(export.join("WEBAPP").exists(), "ran in the clean export");
    assert!(
        !s.repo.join("python_modules/demo-core/WEBAPP").exists(),
        "never in the working tree"
    );
    // Fixed (as a hot fix would be, here by hand in the config), resume builds.
    let fixed = text.replace(" && exit 3", "");
    std::fs::write(&toml, fixed).unwrap();
    let r = s.run(&["resume"]);
    // The config is now a local change, but resume reads it: publish goes on.
    assert!(r.ok(), "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        index_listing(&s.index)
            .iter()
            .filter(|l| !l.ends_with("index.html"))
            .count(),
        6
    );
}
