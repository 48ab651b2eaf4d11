//! Every state has a way forward: each failure names a command, and following
//! exactly the commands named ends in a released or cleanly aborted state.

mod common;

use common::pypi::{Fault, Proxy};
use common::{assert_released, git_bare, Sample};

#[test]
fn after_the_push_recover_rolls_forward_from_the_branch_tip_with_the_fix() {
    let s = Sample::new();
    // Pushed, then the runner died before publishing.
    let r = s.run_failing(&["start", "0.2.0.pre0"], "push.after_tag");
    assert_ne!(r.code, Some(0));
    let pre0 = s.git(&["rev-parse", "HEAD"]);
    assert_eq!(git_bare(&s.origin, &["rev-parse", "master"]).unwrap(), pre0);
    let status = s.ok(&["status"]);
    assert!(
        status.stdout.contains("`release recover` rolls forward"),
        "{}",
        status.stdout
    );

    // The fix goes to the branch first, as the message says.
    let fix = s.colleague_pushes(Some(("FIX.txt", "the fix\n")));
    let r = s.ok(&["recover"]);
    assert!(
        r.stdout.contains("rolled forward to 0.2.0.pre1"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("release resume"), "{}", r.stdout);
    assert_eq!(
        s.git(&["rev-parse", "HEAD"]),
        fix,
        "fast-forwarded to the tip"
    );
    s.ok(&["resume"]);
    assert_released(&s, "0.2.0.pre1", &fix);
    assert!(s.repo.join("FIX.txt").exists());
    // The old tag stays where it was pushed.
    assert_eq!(
        git_bare(&s.origin, &["rev-parse", "0.2.0.pre0^{commit}"]).unwrap(),
        pre0
    );
    let status = s.ok(&["status"]);
    assert!(!status.stdout.contains("run `nothing"), "{}", status.stdout);
}

#[test]
fn before_the_push_recover_points_at_resume_or_abort_and_abort_works() {
    let s = Sample::new();
    let base = s.git(&["rev-parse", "HEAD"]);
    s.killed_after_tag();
    let r = s.run(&["recover"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("release abort"), "{}", r.stderr);
    s.ok(&["abort"]);
    assert_eq!(s.git(&["rev-parse", "HEAD"]), base);
    assert_eq!(s.git(&["tag"]), "");
    assert_eq!(
        git_bare(&s.origin, &["rev-parse", "master"]).unwrap(),
        base,
        "nothing on the remote"
    );
}

#[test]
fn a_branch_pushed_then_a_colleague_on_top_is_not_drift_the_tag_follows() {
    let s = Sample::new();
    let r = s.run_failing(&["start", "0.2.0.pre0"], "push.after_branch");
    assert_ne!(r.code, Some(0));
    let release_commit = s.git(&["rev-parse", "HEAD"]);
    let theirs = s.colleague_pushes(None);
    let r = s.ok(&["resume"]);
    assert!(!r.stderr.contains("drift"), "{}", r.stderr);
    assert_eq!(
        git_bare(&s.origin, &["rev-parse", "master", "0.2.0.pre0^{commit}"]).unwrap(),
        format!("{theirs}\n{release_commit}"),
        "their commit stays on top; the tag is on the release commit"
    );
}

#[test]
fn a_package_that_does_not_build_stops_before_the_tag_and_abort_then_start_again_works() {
    let s = Sample::new();
    let base = s.git(&["rev-parse", "HEAD"]);
    let setup = s.repo.join("python_modules/demo-cli/setup.py");
    let good = std::fs::read_to_string(&setup).unwrap();
    std::fs::write(&setup, format!("import not_a_module_anywhere\n{good}")).unwrap();
    s.commit_and_push("a setup.py that cannot run");
    let broken = s.git(&["rev-parse", "HEAD"]);

    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("build failed"), "{}", r.stderr);
    assert!(
        r.stderr.contains("not_a_module_anywhere"),
        "the build's own words: {}",
        r.stderr
    );
    assert!(r.stderr.contains("release abort"), "{}", r.stderr);
    assert_eq!(s.git(&["tag"]), "", "nothing tagged");
    assert_eq!(
        git_bare(&s.origin, &["rev-parse", "master"]).unwrap(),
        broken,
        "nothing pushed"
    );
    assert!(git_bare(&s.origin, &["rev-parse", "0.2.0.pre0"]).is_none());

    // The way on the message names: abort, fix, start again.
    s.ok(&["abort"]);
    assert_eq!(s.git(&["rev-parse", "HEAD"]), broken);
    std::fs::write(&setup, good).unwrap();
    s.commit_and_push("fix setup.py");
    let fixed = s.git(&["rev-parse", "HEAD"]);
    s.ok(&["start", "0.2.0.pre0"]);
    assert_released(&s, "0.2.0.pre0", &fixed);
    assert_ne!(fixed, base);
}

#[test]
fn a_build_warning_about_missing_files_is_shown() {
    let s = Sample::new();
    std::fs::write(
        s.repo.join("python_modules/demo-cli/MANIFEST.in"),
        "recursive-include demo_cli/webapp/build *\n",
    )
    .unwrap();
    s.commit_and_push("ship a generated web UI that is not in git");
    let r = s.ok(&["start", "0.2.0.pre0"]);
    let shown = r
        .stdout
        .lines()
        .find(|l| l.contains("warning from the build of demo-cli"))
        .unwrap_or_else(|| panic!("no warning shown: {}", r.stdout));
    assert!(shown.contains("demo_cli/webapp/build"), "{shown}");
}

#[test]
fn built_files_are_checked_as_an_index_checks_them() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let wheel = |file: &str, metadata: &str| {
        let path = dir.path().join(file);
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        zip.start_file::<_, ()>("demo_core-0.2.0rc0.dist-info/METADATA", Default::default())
            .unwrap();
        zip.write_all(metadata.as_bytes()).unwrap();
        zip.finish().unwrap();
        path
    };
    let check = |path: &std::path::Path| {
        let name = path.file_name().unwrap().to_str().unwrap();
        release::steps::build::check_file(path, name, "demo-core", "0.2.0rc0")
    };
    let good = wheel(
        "demo_core-0.2.0rc0-py3-none-any.whl",
        "Metadata-Version: 2.1\nName: demo-core\nVersion: 0.2.0rc0\nRequires-Dist: demo-cli==0.2.0rc0; python_version >= \"3.8\"\n",
    );
    assert_eq!(check(&good), Vec::<String>::new());

    let bad_req = wheel(
        "demo_core-0.2.0rc0-py3-none-any.whl",
        "Metadata-Version: 2.1\nName: demo-core\nVersion: 0.2.0rc0\nRequires-Dist: google-cloud-bigquery>=1.19.*\n",
    );
    let p = check(&bad_req);
    assert!(
        p.iter()
            .any(|e| e.contains("google-cloud-bigquery>=1.19.*")),
        "{p:?}"
    );

    let wrong = wheel(
        "demo_core-0.2.0rc0-py3-none-any.whl",
        "Metadata-Version: 2.1\nName: demo-other\nVersion: 0.1.0\n",
    );
    let p = check(&wrong);
    assert!(p.iter().any(|e| e.contains("`demo-other`")), "{p:?}");
    assert!(p.iter().any(|e| e.contains("version 0.1.0")), "{p:?}");

    let old_name = wheel("demo-core-0.2.0rc0.tar.gz", "");
    let p = check(&old_name);
    assert!(p.iter().any(|e| e.contains("PEP 625")), "{p:?}");
}

#[test]
fn dist_deleted_while_nothing_was_uploaded_is_built_again_on_resume() {
    let s = Sample::new();
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.run_failing(&["start", "0.2.0.pre0"], "push.after_tag");
    assert_ne!(r.code, Some(0));
    std::fs::remove_dir_all(s.repo.join(".release/dist")).unwrap();
    let r = s.ok(&["resume"]);
    assert!(r.stdout.contains("building again"), "{}", r.stdout);
    assert_released(&s, "0.2.0.pre0", &base);
}

#[test]
fn drift_behind_a_lagging_fetch_url_is_recovered_from_the_push_url() {
    let s = Sample::new();
    let mirror = s.lagging_fetch_url();
    let theirs = s.drifted();
    s.ok(&["recover"]);
    assert_eq!(
        s.git(&["rev-parse", "HEAD"]),
        theirs,
        "forwarded to the push URL's tip"
    );
    s.ok(&["resume"]);
    assert_eq!(s.git(&["rev-parse", "HEAD~1"]), theirs);
    s.assert_pushed("0.2.0.pre0");
    assert!(
        git_bare(&mirror, &["rev-parse", "0.2.0.pre0"]).is_none(),
        "nothing was pushed to the fetch URL"
    );
}

/// The sample publishing to a real pypiserver through the fault proxy.
fn over_http() -> Sample {
    Sample::new().with_pypi_config("attempts = 3")
}

/// Each of the release's six files reached the index exactly once.
fn each_file_once(s: &Sample, norm: &str) {
    s.pypi().assert_each_file_once(norm, "");
}

/// A refusal that is not "exists with other bytes" burns nothing: the step
/// fails quoting the index, and `resume` (the cause gone) finishes.
fn refusal_then_resume(fault: Fault, quoted: &str) {
    let s = over_http();
    let base = s.git(&["rev-parse", "HEAD"]);
    s.pypi().log().inject(&[fault]);
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(
        r.stderr.contains(quoted),
        "the index's reason: {}",
        r.stderr
    );
    assert!(!r.stderr.contains("burned"), "{}", r.stderr);
    assert!(r.stderr.contains("release resume"), "{}", r.stderr);
    let j = s.journal().unwrap();
    assert_eq!(j["phase"], "in_progress");
    s.ok(&["resume"]);
    common::assert_released_git(&s, "0.2.0.pre0", &base);
    each_file_once(&s, "0.2.0rc0");
}

#[test]
fn a_413_from_a_proxy_burns_nothing_and_resume_finishes() {
    refusal_then_resume(Fault::Status(413, "Request Entity Too Large"), "413");
}

#[test]
fn a_404_on_upload_burns_nothing_and_resume_finishes() {
    refusal_then_resume(Fault::Status(404, "Not Found"), "404");
}

#[test]
fn a_403_on_upload_burns_nothing_and_resume_finishes() {
    refusal_then_resume(Fault::Status(403, "Forbidden"), "403");
}

#[test]
fn five_hundreds_until_retries_run_out_then_resume_finishes() {
    let s = over_http();
    let base = s.git(&["rev-parse", "HEAD"]);
    // More 503s than six files can retry through (attempts = 3 each).
    s.pypi().log().inject(&[Fault::Unavailable; 40]);
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(r.stderr.contains("503"), "{}", r.stderr);
    s.pypi().log().faults.lock().unwrap().clear();
    assert!(r.stderr.contains("release resume"), "{}", r.stderr);
    s.ok(&["resume"]);
    common::assert_released_git(&s, "0.2.0.pre0", &base);
    each_file_once(&s, "0.2.0rc0");
}

#[test]
fn invalid_metadata_after_the_push_rolls_forward_with_the_fix() {
    let s = over_http();
    s.pypi()
        .log()
        .inject(&[Fault::Status(400, "Invalid value for classifiers")]);
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("Invalid value for classifiers"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("release recover"), "{}", r.stderr);
    assert_eq!(s.journal().unwrap()["phase"], "in_progress", "not burned");
    // The fix goes to the branch, then recover rolls forward from it.
    let fix = s.colleague_pushes(Some(("FIX.txt", "valid classifiers\n")));
    let r = s.ok(&["recover"]);
    assert!(r.stdout.contains("0.2.0.pre1"), "{}", r.stdout);
    s.ok(&["resume"]);
    common::assert_released_git(&s, "0.2.0.pre1", &fix);
    each_file_once(&s, "0.2.0rc1");
}

#[test]
fn an_upload_url_that_is_not_an_upload_endpoint_is_refused_in_preflight() {
    let s = over_http();
    let toml = s.repo.join("release.toml");
    let url = s.pypi().proxy.url();
    let text = std::fs::read_to_string(&toml)
        .unwrap()
        .replace(&url, &format!("{url}no/such/route/"));
    std::fs::write(&toml, text).unwrap();
    s.commit_and_push("a wrong upload URL");
    let before = s.snapshot();
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("not an upload endpoint"), "{}", r.stderr);
    assert_eq!(s.snapshot(), before, "nothing changed");
}

#[test]
fn a_different_upload_url_on_resume_is_refused_naming_both() {
    let s = over_http();
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.run_failing(&["start", "0.2.0.pre0"], "publish.after_upload@2");
    assert_ne!(r.code, Some(0));
    let other = Proxy::start(s.pypi().server.port);
    let mut cmd = s.cmd(&["resume"]);
    cmd.env("TWINE_REPOSITORY_URL", other.url());
    let r = s.run_cmd(cmd);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains(&other.url()), "{}", r.stderr);
    assert!(r.stderr.contains(&s.pypi().proxy.url()), "{}", r.stderr);
    assert!(
        other.log.delivered_uploads().is_empty(),
        "nothing went to the other index"
    );
    // Following the message: back to the journaled URL, resume.
    s.ok(&["resume"]);
    common::assert_released_git(&s, "0.2.0.pre0", &base);
    each_file_once(&s, "0.2.0rc0");
}

/// The commands a message names, in order: `release …` in backticks, without
/// placeholders (VERSION) a user must fill in.
fn named_commands(text: &str) -> Vec<Vec<String>> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.starts_with("release ") && !c.chars().any(|ch| ch.is_ascii_uppercase()))
        .map(|c| c.split_whitespace().skip(1).map(str::to_string).collect())
        .collect()
}

/// How a followed release ended.
#[derive(Debug, PartialEq)]
enum End {
    Released,
    Aborted,
}

/// Follow exactly what the messages name, first command first. After the
/// n-th failure, `between[n]` (if any) is what the user does before the next
/// command: fix the cause, or something odd but legal. Returns how it ended
/// and the commands run.
fn follow(s: &mut Sample, between: &[fn(&mut Sample)]) -> (End, Vec<String>) {
    let mut args: Vec<String> = vec!["start".into(), "0.2.0.pre0".into()];
    let mut ran = Vec::new();
    let mut failures = 0;
    for _ in 0..8 {
        ran.push(args.join(" "));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = s.run(&argv);
        if r.code == Some(0) && s.journal().is_none() {
            let aborted = r.stdout.contains("aborted the release");
            return (if aborted { End::Aborted } else { End::Released }, ran);
        }
        if r.code != Some(0) {
            if let Some(step) = between.get(failures) {
                step(s);
            }
            failures += 1;
        }
        // A killed runner says nothing: the user asks `release status`.
        let r = if r.code.is_none() {
            s.ok(&["status"])
        } else {
            r
        };
        let named = named_commands(&format!("{}\n{}", r.stderr, r.stdout));
        args = named.into_iter().next().unwrap_or_else(|| {
            panic!(
                "no command named after {ran:?}:\n{}\n{}",
                r.stdout, r.stderr
            )
        });
    }
    panic!("no end after {ran:?}");
}

/// Released: one release commit on the base, one tag, on the remote.
fn assert_end(s: &Sample, end: &End, base: &str) {
    match end {
        End::Released => {
            assert_eq!(
                s.git(&["log", "-1", "--format=%P"]),
                base,
                "one release commit on the base"
            );
            s.assert_pushed(&s.git(&["log", "-1", "--format=%s"]));
        }
        End::Aborted => {
            assert_eq!(s.git(&["rev-parse", "HEAD"]), base, "back at the base");
            assert_eq!(s.git(&["tag"]), "", "no tag");
            assert_eq!(git_bare(&s.origin, &["rev-parse", "master"]).unwrap(), base);
            assert_eq!(
                git_bare(&s.origin, &["tag"]).unwrap(),
                "",
                "nothing on the remote"
            );
        }
    }
}

#[test]
fn every_failure_followed_by_the_commands_it_names_ends_released_or_aborted() {
    type Setup = fn(&mut Sample, &Proxy);
    type Between = fn(&mut Sample);
    let cases: Vec<(&str, Setup, Vec<Between>, End)> = vec![
        (
            "a package that does not build",
            |s, _| {
                let setup = s.repo.join("python_modules/demo-cli/setup.py");
                let good = std::fs::read_to_string(&setup).unwrap();
                std::fs::write(&setup, format!("import not_a_module_anywhere\n{good}")).unwrap();
                s.commit_and_push("broken setup.py");
            },
            vec![],
            End::Aborted,
        ),
        (
            "413 from a proxy",
            |_, p| p.log.inject(&[Fault::Status(413, "Too Large")]),
            vec![],
            End::Released,
        ),
        (
            "404 on upload",
            |_, p| p.log.inject(&[Fault::Status(404, "Not Found")]),
            vec![],
            End::Released,
        ),
        (
            "400 invalid metadata",
            |_, p| {
                p.log
                    .inject(&[Fault::Status(400, "Invalid value for classifiers")])
            },
            vec![],
            End::Released,
        ),
        (
            "5xx until retries run out",
            |_, p| p.log.inject(&[Fault::Unavailable; 18]),
            vec![],
            End::Released,
        ),
        (
            "the upload URL changed between runs",
            |s, _| {
                s.env
                    .push(("RELEASE_FAILPOINT".into(), "publish.after_upload@2".into()))
            },
            vec![
                // Killed after two uploads; the next run comes with
                // another index in the environment...
                |s| {
                    s.env.retain(|(k, _)| k != "RELEASE_FAILPOINT");
                    s.env.push((
                        "TWINE_REPOSITORY_URL".into(),
                        "http://127.0.0.1:9/legacy/".into(),
                    ));
                },
                // ...which the message says to restore.
                |s| s.env.retain(|(k, _)| k != "TWINE_REPOSITORY_URL"),
            ],
            End::Released,
        ),
        (
            "branch pushed, then a colleague on top and a foreign tag of that name",
            |s, _| {
                s.env
                    .push(("RELEASE_FAILPOINT".into(), "push.after_branch".into()))
            },
            vec![
                |s| {
                    s.env.retain(|(k, _)| k != "RELEASE_FAILPOINT");
                    let theirs = s.colleague_pushes(None);
                    git_bare(&s.origin, &["tag", "0.2.0.pre0", &theirs]).unwrap();
                },
                // The refusal says: remove it there, then resume.
                |s| {
                    git_bare(&s.origin, &["tag", "-d", "0.2.0.pre0"]).unwrap();
                },
            ],
            End::Released,
        ),
    ];
    let mut checked = 0;
    for (what, setup, between, want) in cases {
        let mut s = over_http();
        let proxy = s.pypi().proxy.clone();
        setup(&mut s, &proxy);
        let base = s.git(&["rev-parse", "HEAD"]);
        let (end, ran) = follow(&mut s, &between);
        assert_eq!(end, want, "{what}: {ran:?}");
        if what.starts_with("branch pushed") {
            // Their commit stays on top; the tag is on the release commit.
            let rc = s.git(&["rev-parse", "HEAD"]);
            assert_eq!(s.git(&["log", "-1", "--format=%P"]), base);
            assert_eq!(
                git_bare(&s.origin, &["rev-parse", "0.2.0.pre0^{commit}"]).unwrap(),
                rc
            );
            assert_eq!(git_bare(&s.origin, &["rev-parse", "master~1"]).unwrap(), rc);
        } else {
            assert_end(&s, &end, &base);
        }
        if end == End::Released {
            each_file_once(&s, "0.2.0rc0");
        }
        checked += 1;
        println!("way forward: {what}: {}", ran.join(" -> "));
    }
    println!("way forward: {checked} failures followed to an end");
}
