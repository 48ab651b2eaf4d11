//! Announce (issue 6): Slack and a GitHub release, each exactly once, against
//! a loopback stand-in for both APIs.

mod common;

use common::apis::{Apis, GITHUB_TOKEN, SLACK_TOKEN};
use common::{assert_no_secrets, assert_valid, Run, Sample};

fn setup() -> (Sample, Apis) {
    let mut s = Sample::new();
    let apis = Apis::start();
    s.announce_to(&apis);
    s.env.clear();
    (s, apis)
}

fn run(s: &Sample, args: &[&str], slack: &str, github: &str, failpoint: Option<&str>) -> Run {
    let mut cmd = s.cmd(args);
    cmd.env("SLACK_RELEASE_BOT_TOKEN", slack)
        .env("GITHUB_TOKEN", github);
    if let Some(f) = failpoint {
        cmd.env("RELEASE_FAILPOINT", f);
    }
    s.run_cmd(cmd)
}

fn ok(s: &Sample, args: &[&str]) -> Run {
    let r = run(s, args, SLACK_TOKEN, GITHUB_TOKEN, None);
    assert!(r.ok(), "{args:?}: {:?}\n{}\n{}", r.code, r.stdout, r.stderr);
    r
}

fn last_journal(s: &Sample) -> serde_json::Value {
    let p = s.history().pop().unwrap();
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn both_channels_announce_once_with_the_notes() {
    let (s, apis) = setup();
    let r1 = ok(&s, &["start", "0.2.0.pre0"]);
    assert_eq!((apis.posts(), apis.releases()), (1, 1));
    apis.with(|st| {
        let text = &st.messages[0].1;
        // A pre-release is announced with its base release's section.
        assert!(
            text.contains("demo-core: a greeting that knows its version"),
            "{text}"
        );
        assert!(text.contains("0.2.0.pre0"));
        let (_, tag, name, body, prerelease) = &st.releases[0];
        assert_eq!(
            (tag.as_str(), name.as_str(), *prerelease),
            ("0.2.0.pre0", "0.2.0.pre0", true)
        );
        assert!(body.contains("demo-aws: a library pinned to both"));
        let post = st
            .requests
            .iter()
            .find(|r| r.path.ends_with("chat.postMessage"))
            .unwrap();
        assert!(post.body.contains("\"channel\":\"#general\""));
    });
    let j = last_journal(&s);
    assert_valid(&j);
    let chans = j["announce"]["channels"].as_array().unwrap();
    assert!(chans.iter().all(|c| c["state"] == "done"), "{chans:?}");
    assert!(chans.iter().any(|c| c["remote_id"] == "1700000000.000001"));

    // The final release is not a pre-release.
    let r2 = ok(&s, &["start", "0.2.0"]);
    assert_eq!((apis.posts(), apis.releases()), (2, 2));
    assert!(!apis.with(|st| st.releases[1].4));
    assert_no_secrets(&s, &[SLACK_TOKEN, GITHUB_TOKEN], &[&r1, &r2]);
}

#[test]
#[cfg(feature = "failpoints")]
fn killed_between_post_and_journal_then_resume_posts_nothing_twice() {
    let (s, apis) = setup();
    // Killed right after the Slack post, then right after the GitHub release.
    let r = run(
        &s,
        &["start", "0.2.0.pre0"],
        SLACK_TOKEN,
        GITHUB_TOKEN,
        Some("announce.after_post@1"),
    );
    assert!(r.code.is_none(), "{}", r.stderr);
    assert_eq!(apis.posts(), 1);
    let r = run(
        &s,
        &["resume"],
        SLACK_TOKEN,
        GITHUB_TOKEN,
        Some("announce.after_post@1"),
    );
    assert!(r.code.is_none(), "{}", r.stderr);
    assert_eq!(apis.releases(), 1);
    let r = ok(&s, &["resume"]);
    assert_eq!((apis.posts(), apis.releases()), (1, 1), "{}", r.stdout);
    assert!(apis.with(|st| st
        .requests
        .iter()
        .any(|r| r.path.contains("conversations.history"))));
}

#[test]
#[cfg(feature = "failpoints")]
fn an_unreadable_slack_history_asks_the_user_instead_of_posting_twice() {
    let (s, apis) = setup();
    apis.with(|st| st.history_denied = true);
    let r = run(
        &s,
        &["start", "0.2.0.pre0"],
        SLACK_TOKEN,
        GITHUB_TOKEN,
        Some("announce.after_post@1"),
    );
    assert!(r.code.is_none());
    let r = run(&s, &["resume"], SLACK_TOKEN, GITHUB_TOKEN, None);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("release resume --announced slack"),
        "{}",
        r.stderr
    );
    assert_eq!(apis.posts(), 1);
    // GitHub went ahead meanwhile; Slack waits for the user.
    assert_eq!(apis.releases(), 1);
    ok(&s, &["resume", "--announced", "slack"]);
    assert_eq!((apis.posts(), apis.releases()), (1, 1));
}

#[test]
fn slack_ok_false_and_github_5xx_fail_the_step_then_resume_finishes() {
    let (s, apis) = setup();
    apis.with(|st| {
        st.slack_fail = 1;
        st.github_fail = 10;
    });
    let r = run(
        &s,
        &["start", "0.2.0.pre0"],
        SLACK_TOKEN,
        GITHUB_TOKEN,
        None,
    );
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("channel_not_found"), "{}", r.stderr);
    assert!(r.stderr.contains("502"), "{}", r.stderr);
    assert!(r.stderr.contains("release resume"));
    let j = s.journal().unwrap();
    assert_valid(&j);
    assert_eq!(j["steps"][6]["state"], "failed");
    assert_eq!(
        j["steps"][4]["state"], "done",
        "the release stays published"
    );
    assert_eq!((apis.posts(), apis.releases()), (0, 0));
    apis.with(|st| st.github_fail = 0);
    ok(&s, &["resume"]);
    assert_eq!((apis.posts(), apis.releases()), (1, 1));
    // Resume again: nothing left, nothing posted.
    ok(&s, &["status"]);
}

#[test]
fn bad_or_missing_tokens_are_refused_in_preflight() {
    let (s, apis) = setup();
    let before = s.snapshot();
    let r = run(
        &s,
        &["start", "0.2.0.pre0"],
        "xoxb-wrong",
        "ghp-wrong",
        None,
    );
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .contains("Slack: Slack refused the token from SLACK_RELEASE_BOT_TOKEN (invalid_auth)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("GitHub refused the token from GITHUB_TOKEN"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("xoxb-wrong") && !r.stderr.contains("ghp-wrong"));
    assert_eq!(s.snapshot(), before, "nothing changed");
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("SLACK_RELEASE_BOT_TOKEN is not set"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("GITHUB_TOKEN is not set"), "{}", r.stderr);
    assert_eq!(s.snapshot(), before);
    assert_eq!((apis.posts(), apis.releases()), (0, 0));
}

#[test]
fn a_final_release_needs_its_notes_section() {
    let (s, _apis) = setup();
    let r = run(
        &s,
        &["start", "0.3.0", "--skip-prerelease-check"],
        SLACK_TOKEN,
        GITHUB_TOKEN,
        None,
    );
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("CHANGES.md has no `## 0.3.0` section"),
        "{}",
        r.stderr
    );
}
