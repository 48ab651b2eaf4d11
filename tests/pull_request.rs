//! Releases through a pull request when the branch is protected (issue 22).
//!
//! The origin is a bare repository behind `git daemon` whose pre-receive
//! hook refuses pushes to `master`, as a protected branch on a forge does;
//! the GitHub pulls API is the loopback stand-in of `common::apis`. The test
//! lands pull requests itself, as GitHub would: a merge commit, a squash or
//! a rebase made in a scratch clone and pushed past the hook (the hook lets
//! `RELEASE_TEST_LANDING` through, which only the test's own push sets).

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::apis::{self, Apis};
use common::gitdaemon::GitDaemon;
use common::{git, git_bare, Run, Sample};

const VERSION: &str = "0.2.0.pre0";
const BRANCH: &str = "release/0.2.0.pre0";

/// Refuses pushes to master, with GitHub's words, except the test's landings.
const HOOK: &str = "#!/bin/sh\n[ -n \"$RELEASE_TEST_LANDING\" ] && exit 0\nwhile read old new ref; do\n  if [ \"$ref\" = refs/heads/master ]; then\n    echo 'error: GH006: Protected branch update failed for refs/heads/master.' >&2\n    echo 'error: Changes must be made through a pull request.' >&2\n    exit 1\n  fi\ndone\n";

struct Protected {
    s: Sample,
    apis: Apis,
    daemon: GitDaemon,
}

/// The sample behind a protected origin; with `[pull_request]` (aimed at
/// the stand-in) when `through_pr`.
fn protected(through_pr: bool) -> Protected {
    protected_sample(Sample::new(), through_pr)
}

/// `protected` on a sample of one's own (a fixture).
fn protected_sample(mut s: Sample, through_pr: bool) -> Protected {
    let apis = Apis::start();
    let toml = s.repo.join("release.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str("\n[announce]\nattempts = 3\nbackoff_ms = 10\n");
    if through_pr {
        text.push_str(&format!(
            "\n[pull_request]\nrepo = \"acme/demo\"\napi = \"http://127.0.0.1:{}/github\"\n",
            apis.github_port
        ));
    }
    std::fs::write(&toml, text).unwrap();
    s.commit_and_push("release through a pull request");
    s.set_env("GITHUB_TOKEN", apis::GITHUB_TOKEN);
    s.apis = Some(apis.clone());
    apis.with(|st| st.origin = Some(s.origin.clone()));
    let hook = s.origin.join("hooks/pre-receive");
    std::fs::write(&hook, HOOK).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let daemon = GitDaemon::start(&s.base);
    s.git(&["remote", "set-url", "origin", &daemon.url("origin.git")]);
    Protected { s, apis, daemon }
}

impl Protected {
    /// Replace the clone by a fresh one (a new CI runner), talking to the
    /// origin through the daemon.
    fn fresh_clone(&self) {
        self.s.fresh_clone();
        self.s.git(&[
            "remote",
            "set-url",
            "origin",
            &self.daemon.url("origin.git"),
        ]);
    }

    fn pulls(&self) -> Vec<apis::Pull> {
        self.apis.with(|st| st.pulls.clone())
    }

    fn origin(&self, rev: &str) -> Option<String> {
        git_bare(&self.s.origin, &["rev-parse", "--verify", "-q", rev]).filter(|o| !o.is_empty())
    }
}

#[derive(Debug, Clone, Copy)]
enum Style {
    Merge,
    Squash,
    Rebase,
}

/// A scratch clone of the origin (by path) for the forge's own work.
fn scratch(p: &Protected) -> PathBuf {
    let dir = tempfile::Builder::new()
        .prefix("forge-")
        .tempdir_in(&p.s.base)
        .unwrap()
        .keep();
    git(
        &p.s.base,
        &[
            "clone",
            "-q",
            p.s.origin.to_str().unwrap(),
            dir.to_str().unwrap(),
        ],
    );
    git(&dir, &["config", "user.name", "GitHub"]);
    git(&dir, &["config", "user.email", "noreply@github.com"]);
    dir
}

/// Push master from `dir` to the origin past the hook; its new tip.
fn push_past_the_hook(dir: &Path) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["push", "-q", "origin", "master"])
        .env("RELEASE_TEST_LANDING", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    git(dir, &["rev-parse", "HEAD"])
}

/// Land pull request `number` on master as GitHub does in `style`, and
/// mark it merged there with the commit it landed as.
fn land(p: &Protected, number: u64, style: Style) -> String {
    let pull = p
        .pulls()
        .into_iter()
        .find(|x| x.number == number)
        .expect("the pull request");
    assert_eq!(pull.state, "open");
    let dir = scratch(p);
    let head = format!("origin/{}", pull.head);
    match style {
        Style::Merge => {
            let msg = format!("Merge pull request #{number} from acme/{}", pull.head);
            git(&dir, &["merge", "-q", "--no-ff", "-m", &msg, &head]);
        }
        Style::Squash => {
            git(&dir, &["merge", "-q", "--squash", &head]);
            git(
                &dir,
                &["commit", "-q", "-m", &format!("{} (#{number})", pull.title)],
            );
        }
        Style::Rebase => {
            let commits = git(&dir, &["rev-list", "--reverse", &format!("HEAD..{head}")]);
            for c in commits.lines() {
                // A new committer: a new commit, as GitHub's rebase makes.
                git(&dir, &["cherry-pick", "--allow-empty", c]);
            }
        }
    }
    let landed = push_past_the_hook(&dir);
    p.apis.with(|st| {
        let pr = st.pulls.iter_mut().find(|x| x.number == number).unwrap();
        pr.state = "closed".into();
        pr.merged = true;
        pr.merge_commit_sha = Some(landed.clone());
    });
    landed
}

/// Another pull request lands first: demo-core needs Python 3.9 now.
fn another_pull_request_lands(p: &Protected) -> String {
    let dir = scratch(p);
    let path = dir.join("python_modules/demo-core/pyproject.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("requires-python = \">=3.8\"", "requires-python = \">=3.9\""),
    )
    .unwrap();
    std::fs::write(
        dir.join("python_modules/demo-core/demo_core/extra.py"),
        "EXTRA = 1\n",
    )
    .unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "demo-core: Python 3.9 (#7)"]);
    push_past_the_hook(&dir)
}

/// `start` ran and the release waits: the release branch is on the origin
/// with the release commit, master did not move, one pull request is open
/// (title, notes, table, marker), the journal says `waiting`.
fn assert_waiting(p: &Protected, base: &str) {
    let j = p.s.journal().expect("a journal");
    common::assert_valid(&j);
    assert_eq!(j["phase"], "waiting", "{j:#}");
    let release_commit = j["release"]["release_commit"].as_str().unwrap();
    assert_eq!(p.origin(BRANCH).as_deref(), Some(release_commit));
    assert_eq!(
        p.origin("master").as_deref(),
        Some(base),
        "master untouched"
    );
    assert_eq!(p.origin(&format!("refs/tags/{VERSION}")), None, "no tag");
    assert_eq!(p.origin("refs/release/lock"), None, "no lock held");
    let pulls = p.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let pr = &pulls[0];
    assert_eq!(pr.state, "open");
    assert_eq!((pr.head.as_str(), pr.base.as_str()), (BRANCH, "master"));
    assert_eq!(pr.title, format!("Release {VERSION}"));
    for said in [
        "| demo-core | 0.2.0.pre0 |",
        "| demo_aws | 0.2.0.pre0 |",
        "<!-- release: pull request for 0.2.0.pre0 -->",
    ] {
        assert!(pr.body.contains(said), "{said}:\n{}", pr.body);
    }
    assert_eq!(j["release"]["pull_request"]["number"], 1);
    assert_eq!(
        j["release"]["pull_request"]["url"],
        "https://github.com/acme/demo/pull/1"
    );
}

/// Released: the tag on the landed commit (on the origin), the release
/// branch gone there and here, every file in the index once, the journal
/// archived with every step done, and the audit passes.
fn assert_released_at(p: &Protected, landed: &str) {
    assert_eq!(
        p.origin(&format!("{VERSION}^{{commit}}")).as_deref(),
        Some(landed),
        "tagged where it landed"
    );
    assert_eq!(
        git_bare(&p.s.origin, &["cat-file", "-t", VERSION]).as_deref(),
        Some("tag")
    );
    assert_eq!(p.origin(BRANCH), None, "the release branch is deleted");
    assert!(
        p.origin("master").is_some_and(|m| {
            git_bare(&p.s.origin, &["merge-base", "--is-ancestor", landed, &m]).is_some()
        }),
        "the landed commit is on master"
    );
    assert!(p.s.journal().is_none(), "the journal is archived");
    let done =
        p.s.history()
            .into_iter()
            .find(|h| {
                h.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{VERSION}-done-"))
            })
            .expect("a finished journal");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(done).unwrap()).unwrap();
    common::assert_valid(&j);
    for step in j["steps"].as_array().unwrap() {
        assert_eq!(step["state"], "done", "{step}");
    }
    assert_eq!(j["release"]["release_commit"], landed);
    assert_eq!(j["release"]["pull_request"]["landed"], landed);
    let files = common::index_files(&p.s.index);
    assert_eq!(files.len(), 6, "{files:?}");
    for f in j["publish"]["ledger"].as_array().unwrap() {
        let (pkg, name) = (
            f["package"].as_str().unwrap(),
            f["filename"].as_str().unwrap(),
        );
        let bytes = std::fs::read(p.s.index.join("simple").join(pkg).join(name)).unwrap();
        assert_eq!(
            release::ops::sha256_bytes(&bytes),
            f["sha256"].as_str().unwrap()
        );
        let page =
            std::fs::read_to_string(p.s.index.join("simple").join(pkg).join("index.html")).unwrap();
        assert_eq!(page.matches(&format!(">{name}<")).count(), 1, "{name}");
    }
    assert_eq!(p.pulls().len(), 1, "one pull request, never a second");
    let audit = p.s.ok(&["audit", VERSION]);
    assert!(audit.stdout.contains("audit passed"), "{}", audit.stdout);
}

/// The METADATA of demo-core's wheel on the index.
fn core_wheel(p: &Protected) -> (String, Vec<String>) {
    let dir = p.s.index.join("simple/demo-core");
    let wheel = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|f| f.extension().is_some_and(|e| e == "whl"))
        .expect("a wheel");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(wheel).unwrap()).unwrap();
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let meta = names
        .iter()
        .find(|n| n.ends_with(".dist-info/METADATA"))
        .unwrap()
        .clone();
    let mut text = String::new();
    zip.by_name(&meta)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    (text, names)
}

fn start_waiting(p: &Protected) -> (String, Run) {
    let base = p.s.git(&["rev-parse", "HEAD"]);
    let summary = p.s.base.join(format!("summary-{}.md", fastrand::u64(..)));
    let mut cmd = p.s.cmd(&["start", VERSION, "--json"]);
    cmd.env("GITHUB_STEP_SUMMARY", &summary);
    let r = p.s.run_cmd(cmd);
    assert_eq!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    common::assert_matches_schema("result.schema.json", &doc);
    assert_eq!(doc["phase"], "waiting", "{doc:#}\n{}", r.stderr);
    assert_eq!(doc["released"], false);
    assert_eq!(
        doc["pull_request"]["url"],
        "https://github.com/acme/demo/pull/1"
    );
    assert_waiting(p, &base);
    // On GitHub Actions, the step's summary says what to merge.
    let md = std::fs::read_to_string(&summary).unwrap();
    for said in [
        "waits for its pull request",
        "Pull request: https://github.com/acme/demo/pull/1",
    ] {
        assert!(md.contains(said), "{said}:\n{md}");
    }
    assert_eq!(
        p.s.git(&["rev-parse", "master"]),
        base,
        "the local master stays where it was"
    );
    (base, r)
}

/// One merge style, released from the clone that started it or a fresh one.
fn released_through(style: Style, fresh: bool) {
    let p = protected(true);
    start_waiting(&p);
    let status = p.s.ok(&["status"]);
    for said in [
        "https://github.com/acme/demo/pull/1",
        "merge https://github.com/acme/demo/pull/1, then run `release resume`",
    ] {
        assert!(status.stdout.contains(said), "{said}:\n{}", status.stdout);
    }
    // Not merged yet: resume waits, with exit 0, and changes nothing.
    let early = p.s.ok(&["resume"]);
    assert!(
        early.stdout.contains("waiting for the pull request"),
        "{}",
        early.stdout
    );
    assert_eq!(p.origin(&format!("refs/tags/{VERSION}")), None);
    assert_eq!(p.s.journal().unwrap()["phase"], "waiting");

    let landed = land(&p, 1, style);
    let done = if fresh {
        p.fresh_clone();
        p.s.ok(&["resume", VERSION])
    } else {
        p.s.ok(&["resume"])
    };
    assert!(
        done.stdout.contains("released 0.2.0.pre0"),
        "{}",
        done.stdout
    );
    assert_released_at(&p, &landed);
    if !fresh {
        assert!(done.stdout.contains("run `git pull`"), "{}", done.stdout);
        assert_eq!(p.s.git(&["rev-parse", "--abbrev-ref", "HEAD"]), "master");
        assert_eq!(
            p.s.git(&["branch", "--list", BRANCH]),
            "",
            "the local release branch is deleted"
        );
    }
    assert_eq!(
        p.origin("refs/release/lock"),
        None,
        "the lock is given back"
    );
}

#[test]
fn a_merge_commit_is_released_from_the_same_clone() {
    released_through(Style::Merge, false);
}

#[test]
fn a_merge_commit_is_released_from_a_fresh_clone() {
    released_through(Style::Merge, true);
}

#[test]
fn a_squash_is_released_from_the_same_clone() {
    released_through(Style::Squash, false);
}

#[test]
fn a_squash_is_released_from_a_fresh_clone() {
    released_through(Style::Squash, true);
}

#[test]
fn a_rebase_is_released_from_the_same_clone() {
    released_through(Style::Rebase, false);
}

#[test]
fn a_rebase_is_released_from_a_fresh_clone() {
    released_through(Style::Rebase, true);
}

/// Two tracks (a Dagster-shaped repository): the squashed release lands
/// with each track at its own version, and a fresh clone's `resume VERSION`
/// accepts it, tags it and publishes every package at its track's version.
#[test]
fn two_tracks_land_and_are_released_from_a_fresh_clone() {
    let p = protected_sample(Sample::fixture("dagster"), true);
    let r = p.s.run(&["start", "1.9.4rc0"]);
    assert_eq!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
    let body = p.pulls()[0].body.clone();
    for row in ["| dagster | 1.9.4rc0 |", "| dagster-aws | 0.25.4rc0 |"] {
        assert!(body.contains(row), "{row}:\n{body}");
    }
    let pulls = p.pulls();
    assert_eq!(pulls[0].head, "release/1.9.4rc0");
    let landed = land(&p, 1, Style::Squash);
    p.fresh_clone();
    p.s.ok(&["resume", "1.9.4rc0"]);
    assert_eq!(
        p.origin("1.9.4rc0^{commit}").as_deref(),
        Some(landed.as_str())
    );
    assert_eq!(p.origin("release/1.9.4rc0"), None);
    let files = common::index_files(&p.s.index);
    for f in [
        "dagster/dagster-1.9.4rc0.tar.gz",
        "dagster-aws/dagster_aws-0.25.4rc0.tar.gz",
    ] {
        assert!(files.iter().any(|x| x == f), "{f}: {files:?}");
    }
    p.s.ok(&["audit", "1.9.4rc0"]);
}

/// Another pull request landed on master before the release's merge: the
/// landed commit's demo-core differs from the one built, so it is built
/// again from the landed commit before anything is uploaded; the wheel on
/// the index carries the other change (file and METADATA).
#[test]
fn main_moved_before_the_merge_builds_again_from_the_landed_commit() {
    let p = protected(true);
    start_waiting(&p);
    let built = p.s.journal().unwrap()["publish"]["ledger"].clone();
    another_pull_request_lands(&p);
    let landed = land(&p, 1, Style::Merge);
    let done = p.s.ok(&["resume"]);
    assert!(
        done.stdout.contains("building again from"),
        "{}",
        done.stdout
    );
    assert_released_at(&p, &landed);
    let (meta, names) = core_wheel(&p);
    assert!(meta.contains("Requires-Python: >=3.9"), "{meta}");
    assert!(meta.contains("Version: 0.2.0rc0"), "{meta}");
    assert!(names.iter().any(|n| n == "demo_core/extra.py"), "{names:?}");
    let archived: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.s.history().pop().unwrap()).unwrap())
            .unwrap();
    assert_ne!(archived["publish"]["ledger"], built, "a new ledger");
}

/// A landed commit that does not declare the version (a merge that lost
/// the bump) is refused, with nothing changed.
#[test]
fn a_landing_that_does_not_declare_the_version_is_refused() {
    let p = protected(true);
    start_waiting(&p);
    // "Merged", but as a commit that leaves demo-core at 0.1.0.
    let dir = scratch(&p);
    std::fs::write(dir.join("NEWS.txt"), "not the release\n").unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "something else"]);
    let wrong = push_past_the_hook(&dir);
    p.apis.with(|st| {
        let pr = &mut st.pulls[0];
        pr.state = "closed".into();
        pr.merged = true;
        pr.merge_commit_sha = Some(wrong.clone());
    });
    let before = p.s.journal().unwrap();
    let r = p.s.run(&["resume"]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("does not declare 0.2.0.pre0"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("nothing was tagged or published"),
        "{}",
        r.stderr
    );
    assert_eq!(p.origin(&format!("refs/tags/{VERSION}")), None);
    assert_eq!(p.s.journal().unwrap()["phase"], before["phase"]);
    assert!(common::index_files(&p.s.index).is_empty());
}

/// Closed without merging: `resume` says so and names `release abort`;
/// abort deletes the release branch there and here and archives.
#[test]
fn a_pull_request_closed_without_merging_leads_to_abort() {
    let p = protected(true);
    let (base, _) = start_waiting(&p);
    p.apis.with(|st| st.pulls[0].state = "closed".into());
    let r = p.s.run(&["resume"]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    for said in ["closed without merging", "release abort"] {
        assert!(r.stderr.contains(said), "{said}:\n{}", r.stderr);
    }
    let aborted = p.s.ok(&["abort"]);
    assert!(
        aborted.stdout.contains("aborted the release"),
        "{}",
        aborted.stdout
    );
    assert_eq!(
        p.origin(BRANCH),
        None,
        "the release branch is deleted there"
    );
    assert_eq!(p.s.git(&["branch", "--list", BRANCH]), "", "and here");
    assert_eq!(p.s.git(&["rev-parse", "--abbrev-ref", "HEAD"]), "master");
    assert_eq!(p.s.git(&["rev-parse", "HEAD"]), base);
    assert_eq!(p.s.git(&["status", "--porcelain"]), "");
    assert!(p.s.journal().is_none());
    assert_eq!(p.origin("master").as_deref(), Some(base.as_str()));
    // And a new start goes through, with a new pull request.
    let again = p.s.run(&["start", VERSION]);
    assert_eq!(again.code, Some(0), "{}\n{}", again.stdout, again.stderr);
    assert_eq!(p.s.journal().unwrap()["phase"], "waiting");
    let pulls = p.pulls();
    assert_eq!(pulls.len(), 2, "{pulls:?}");
    assert_eq!(
        (pulls[0].state.as_str(), pulls[1].state.as_str()),
        ("closed", "open")
    );
}

/// `abort` while the pull request is open closes it.
#[test]
fn abort_closes_an_open_pull_request() {
    let p = protected(true);
    start_waiting(&p);
    p.s.ok(&["abort"]);
    let pulls = p.pulls();
    assert_eq!(pulls[0].state, "closed");
    assert!(!pulls[0].merged);
    assert_eq!(p.origin(BRANCH), None);
    assert!(p.s.journal().is_none());
}

/// A runner that opened the pull request is gone with its journal: in a
/// fresh clone, `resume VERSION` says it is open (exit 0), and `abort
/// VERSION` closes it and deletes its branch, so a new start goes through.
#[test]
fn abort_version_in_a_fresh_clone_closes_the_pull_request() {
    let p = protected(true);
    start_waiting(&p);
    p.fresh_clone();
    let waiting = p.s.ok(&["resume", VERSION]);
    assert!(
        waiting.stdout.contains(
            "the pull request #1 (https://github.com/acme/demo/pull/1) of 0.2.0.pre0 is open"
        ),
        "{}",
        waiting.stdout
    );
    assert!(p.s.journal().is_none(), "nothing written while it waits");
    let r = p.s.run(&["abort"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("`release abort VERSION`"), "{}", r.stderr);
    p.s.ok(&["abort", VERSION]);
    assert_eq!(p.pulls()[0].state, "closed");
    assert_eq!(p.origin(BRANCH), None);
    let closed = p.s.run(&["resume", VERSION]);
    assert_eq!(closed.code, Some(1));
    assert!(
        closed.stderr.contains("closed without merging"),
        "{}",
        closed.stderr
    );
    let again = p.s.run(&["start", VERSION]);
    assert_eq!(again.code, Some(0), "{}\n{}", again.stdout, again.stderr);
    assert_eq!(p.pulls().len(), 2);
}

/// While the release waits, its open pull request is the lock: a second
/// start (another clone) is refused, naming it, and changes nothing.
#[test]
fn a_second_start_while_waiting_is_refused_naming_the_pull_request() {
    let p = protected(true);
    start_waiting(&p);
    let other = p.s.base.join("other");
    p.s.clone_at(&other);
    git(
        &other,
        &["remote", "set-url", "origin", &p.daemon.url("origin.git")],
    );
    let refs = || git_bare(&p.s.origin, &["for-each-ref"]);
    let before = refs();
    let r = p.s.run_cmd(p.s.cmd_in(&other, &["start", "0.2.0.pre1"]));
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    for said in [
        "the release pull request #1 (https://github.com/acme/demo/pull/1) for 0.2.0.pre0 is open",
        "release abort",
    ] {
        assert!(r.stderr.contains(said), "{said}:\n{}", r.stderr);
    }
    assert_eq!(refs(), before, "nothing changed on the origin");
    assert_eq!(p.pulls().len(), 1);
}

/// The answer to the POST that opens the pull request is lost (GitHub made
/// it, then the connection dropped): the release looks it up by its marker
/// before any second POST, and goes on with the one that was opened. No
/// token went anywhere but GitHub's Authorization header.
#[test]
fn a_lost_answer_to_the_open_is_looked_up_not_posted_again() {
    let p = protected(true);
    p.apis.fault(
        "POST /github/repos/acme/demo/pulls",
        apis::Fault::DropAfter,
        1,
    );
    start_waiting(&p);
    let posts = p
        .apis
        .calls("/github/repos/acme/demo/pulls")
        .into_iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 1, "one POST, then a lookup");
    p.apis
        .assert_no_leaks(&[], apis::SLACK_TOKEN, apis::GITHUB_TOKEN);
}

/// `release start --sign` through a pull request: the tag made on the
/// landed commit (a merge commit, made by "GitHub") is signed, and git
/// verifies it on the origin's copy.
#[test]
fn start_sign_signs_the_tag_on_the_landed_commit() {
    let p = protected(true);
    let (key, allowed) = p.s.ssh_key();
    p.s.git(&["config", "gpg.format", "ssh"]);
    p.s.git(&["config", "user.signingKey", key.to_str().unwrap()]);
    let r = p.s.run(&["start", VERSION, "--sign"]);
    assert_eq!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
    let landed = land(&p, 1, Style::Merge);
    let done = p.s.ok(&["resume"]);
    assert!(
        done.stdout.contains("signed with ssh key"),
        "{}",
        done.stdout
    );
    assert_released_at(&p, &landed);
    let verify = Command::new("git")
        .arg("--git-dir")
        .arg(&p.s.origin)
        .args(["-c", "gpg.format=ssh", "-c"])
        .arg(format!("gpg.ssh.allowedSignersFile={}", allowed.display()))
        .args(["tag", "-v", VERSION])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success(), "git tag -v: {text}");
    assert!(text.contains("Good \"git\" signature"), "{text}");
}

/// Preflight in pull-request mode: a token GitHub refuses, and a release
/// branch already on the remote, are refused before anything changes.
#[test]
fn preflight_refuses_a_bad_token_and_a_stale_release_branch() {
    let mut p = protected(true);
    let refs = |p: &Protected| git_bare(&p.s.origin, &["for-each-ref"]);
    let dir = scratch(&p);
    git(
        &dir,
        &["push", "-q", "origin", &format!("HEAD:refs/heads/{BRANCH}")],
    );
    let before = refs(&p);
    p.s.set_env("GITHUB_TOKEN", "ghp_not_the_right_one");
    let r = p.s.run(&["start", VERSION]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    for said in [
        "GitHub refused the token from GITHUB_TOKEN",
        "has a branch `release/0.2.0.pre0` already",
    ] {
        assert!(r.stderr.contains(said), "{said}:\n{}", r.stderr);
    }
    assert_eq!(refs(&p), before, "nothing changed on the origin");
    assert!(p.s.journal().is_none());
    assert_eq!(p.s.git(&["rev-parse", "--abbrev-ref", "HEAD"]), "master");
    assert!(p.pulls().is_empty());
}

/// Direct-push mode against a protected branch: the refusal shows the
/// server's words and names `[pull_request]`.
#[test]
fn a_direct_push_refused_by_protection_names_pull_request() {
    let p = protected(false);
    let r = p.s.run(&["start", VERSION]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    for said in [
        "GH006: Protected branch update failed",
        "`[pull_request]` to release.toml",
        "release abort",
    ] {
        assert!(r.stderr.contains(said), "{said}:\n{}", r.stderr);
    }
}

/// Killed at each new failpoint: resumed without a second pull request,
/// a second tag or a second upload (`assert_released_at`).
#[cfg(feature = "failpoints")]
mod kills {
    use super::*;

    /// Killed during `start` at `point`: resume opens (or finds) the one
    /// pull request and waits; merged, it is released.
    fn killed_before_waiting(point: &str) {
        let p = protected(true);
        let r = p.s.run_failing(&["start", VERSION], point);
        assert_eq!(
            r.code, None,
            "killed at {point}: {}\n{}",
            r.stdout, r.stderr
        );
        let again = p.s.ok(&["resume"]);
        assert!(
            again.stdout.contains("waiting for the pull request"),
            "{}",
            again.stdout
        );
        assert_eq!(p.pulls().len(), 1, "{:?}", p.pulls());
        assert_eq!(p.s.journal().unwrap()["phase"], "waiting");
        let landed = land(&p, 1, Style::Squash);
        p.s.ok(&["resume"]);
        assert_released_at(&p, &landed);
    }

    #[test]
    fn killed_after_the_branch_push() {
        killed_before_waiting("pr.after_branch");
    }

    #[test]
    fn killed_after_the_pull_request_opened_found_again_by_its_marker() {
        killed_before_waiting("pr.after_open");
    }

    /// Killed after the merge was seen (`point`) in `resume`: resumed from
    /// the same clone, or a fresh one (`resume VERSION`).
    fn killed_after_the_merge(point: &str, fresh: bool) {
        let p = protected(true);
        start_waiting(&p);
        let landed = land(&p, 1, Style::Rebase);
        let r = p.s.run_failing(&["resume"], point);
        assert_eq!(
            r.code, None,
            "killed at {point}: {}\n{}",
            r.stdout, r.stderr
        );
        if fresh {
            // The killed runner's lock outlives it until its lease ends:
            // a new runner that cannot wait removes it, as a user would.
            p.fresh_clone();
            p.s.ok(&["unlock"]);
            p.s.ok(&["resume", VERSION]);
        } else {
            p.s.ok(&["resume"]);
        }
        assert_released_at(&p, &landed);
        let tags = git_bare(&p.s.origin, &["tag"]).unwrap();
        assert_eq!(tags, VERSION, "one tag");
    }

    #[test]
    fn killed_after_the_landing_was_journaled() {
        killed_after_the_merge("pr.after_landed", false);
    }

    #[test]
    fn killed_after_the_tag_push() {
        killed_after_the_merge("pr.after_tag_push", false);
    }

    #[test]
    fn killed_after_the_tag_push_finished_from_a_fresh_clone() {
        killed_after_the_merge("pr.after_tag_push", true);
    }
}
