//! Announce (issue 6): Slack and a GitHub release, each exactly once, against
//! a loopback stand-in for both APIs.

mod common;

use common::apis::{Apis, Fault, Origin, GENERAL, GITHUB_TOKEN, SLACK_TOKEN};
use common::{assert_no_secrets, assert_valid, Run, Sample};

const POST: &str = "/slack/chat.postMessage";
const CREATE: &str = "/github/repos/acme/demo/releases";
const HISTORY: &str = "/slack/conversations.history";
#[cfg(feature = "failpoints")]
const LIST: &str = "/slack/conversations.list";

/// Upload credentials every run is given (unused by the file:// index), so
/// the scan of what reached the stand-ins has something to look for.
const PASSWORD: &str = "pw-announce-never-send-9f3";
const URL_PASSWORD: &str = "urlpw-never-send-4c1";

fn setup() -> (Sample, Apis) {
    let apis = Apis::start();
    let mut s = Sample::new()
        .announce_to(&apis)
        .with_credentials("alice", PASSWORD);
    s.set_env(
        "RELEASE_TEST_MIRROR",
        &format!("https://alice:{URL_PASSWORD}@127.0.0.1:9/simple/"),
    );
    (s, apis)
}

/// The journal's record of an announce channel.
fn channel(j: &serde_json::Value, name: &str) -> serde_json::Value {
    j["announce"]["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_default()
}

/// A run with these tokens in place of the right ones.
fn with_tokens(s: &Sample, args: &[&str], slack: &str, github: &str) -> Run {
    let mut cmd = s.cmd(args);
    cmd.env("SLACK_RELEASE_BOT_TOKEN", slack)
        .env("GITHUB_TOKEN", github);
    s.run_cmd(cmd)
}

fn last_journal(s: &Sample) -> serde_json::Value {
    let p = s.history().pop().unwrap();
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn both_channels_announce_once_with_the_notes() {
    let (s, apis) = setup();
    let r1 = s.ok(&["start", "0.2.0.pre0"]);
    assert_eq!((apis.posts(), apis.releases()), (1, 1));
    apis.with(|st| {
        let text = &st.messages[0].2;
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
        // Posted to the channel's ID, resolved from `#general`.
        assert!(
            post.body.contains(&format!("\"channel\":\"{GENERAL}\"")),
            "{}",
            post.body
        );
    });
    let j = last_journal(&s);
    assert_valid(&j);
    let chans = j["announce"]["channels"].as_array().unwrap();
    assert!(chans.iter().all(|c| c["state"] == "done"), "{chans:?}");
    let ts = apis.with(|st| st.messages[0].1.clone());
    assert!(
        chans.iter().any(|c| c["remote_id"] == ts.as_str()),
        "{chans:?}"
    );

    // The final release is not a pre-release.
    let r2 = s.ok(&["start", "0.2.0"]);
    assert_eq!((apis.posts(), apis.releases()), (2, 2));
    assert!(!apis.with(|st| st.releases[1].4));
    assert_no_secrets(&s, &[SLACK_TOKEN, GITHUB_TOKEN], &[&r1, &r2]);
}

#[test]
#[cfg(feature = "failpoints")]
fn killed_between_post_and_journal_then_resume_posts_nothing_twice() {
    let (s, apis) = setup();
    // Killed right after the Slack post, then right after the GitHub release.
    let r = s.run_failing(&["start", "0.2.0.pre0"], "announce.after_post@1");
    assert!(r.code.is_none(), "{}", r.stderr);
    assert_eq!(apis.posts(), 1);
    let r = s.run_failing(&["resume"], "announce.after_post@1");
    assert!(r.code.is_none(), "{}", r.stderr);
    assert_eq!(apis.releases(), 1);
    let r = s.ok(&["resume"]);
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
    let denied = Fault::Refuse(200, r#"{"ok":false,"error":"missing_scope"}"#);
    apis.fault(HISTORY, denied, 100);
    let r = s.run_failing(&["start", "0.2.0.pre0"], "announce.after_post@1");
    assert!(r.code.is_none());
    let r = s.run(&["resume"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("release resume --announced slack"),
        "{}",
        r.stderr
    );
    assert_eq!(apis.posts(), 1);
    // GitHub went ahead meanwhile; Slack waits for the user.
    assert_eq!(apis.releases(), 1);
    s.ok(&["resume", "--announced", "slack"]);
    assert_eq!((apis.posts(), apis.releases()), (1, 1));
}

#[test]
fn slack_ok_false_and_github_5xx_fail_the_step_then_resume_finishes() {
    let (s, apis) = setup();
    let not_found = Fault::Refuse(200, r#"{"ok":false,"error":"channel_not_found"}"#);
    apis.fault(POST, not_found, 1);
    apis.fault(
        CREATE,
        Fault::Refuse(502, r#"{"message":"Bad Gateway"}"#),
        10,
    );
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("channel_not_found"), "{}", r.stderr);
    assert!(r.stderr.contains("502"), "{}", r.stderr);
    assert!(r.stderr.contains("release resume"));
    let j = s.journal().unwrap();
    assert_valid(&j);
    assert_eq!(j["steps"][7]["state"], "failed");
    assert_eq!(
        j["steps"][5]["state"], "done",
        "the release stays published"
    );
    assert_eq!((apis.posts(), apis.releases()), (0, 0));
    let j = s.journal().unwrap();
    // Slack said no: nothing posted. A 502 may hide a release: look it up.
    assert_eq!(channel(&j, "slack")["state"], "failed");
    assert_eq!(channel(&j, "github")["state"], "posting");
    apis.clear_faults();
    s.ok(&["resume"]);
    assert_eq!((apis.posts(), apis.releases()), (1, 1));
    // Resume again: nothing left, nothing posted.
    s.ok(&["status"]);
}

#[test]
fn bad_or_missing_tokens_are_refused_in_preflight() {
    let (s, apis) = setup();
    let before = s.snapshot();
    let r = with_tokens(&s, &["start", "0.2.0.pre0"], "xoxb-wrong", "ghp-wrong");
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
    let mut cmd = s.cmd(&["start", "0.2.0.pre0"]);
    cmd.env_remove("SLACK_RELEASE_BOT_TOKEN")
        .env_remove("GITHUB_TOKEN");
    let r = s.run_cmd(cmd);
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
    let r = s.run(&["start", "0.3.0", "--skip-prerelease-check"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("CHANGES.md has no `## 0.3.0` section"),
        "{}",
        r.stderr
    );
}

/// What a channel made in the stand-in: how many, and the first one's id.
fn made(apis: &Apis, name: &str) -> (usize, String) {
    apis.with(|st| match name {
        "slack" => (st.messages.len(), st.messages[0].1.clone()),
        _ => (st.releases.len(), st.releases[0].0.to_string()),
    })
}

/// The post to `route` (channel `name`) lands but its answer cannot be read
/// (`fault`): the run stops with the channel `posting`; resume finds what was
/// made (Slack in the history, GitHub by tag) and makes nothing more.
fn outcome_unknown(name: &str, route: &str, fault: Fault) {
    let (s, apis) = setup();
    apis.fault(route, fault, 1);
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("release resume"), "{}", r.stderr);
    assert_eq!(made(&apis, name).0, 1, "the stand-in made it");
    let j = s.journal().unwrap();
    assert_valid(&j);
    assert_eq!(channel(&j, name)["state"], "posting", "{j:#}");
    assert_eq!(
        (apis.posts(), apis.releases()),
        (1, 1),
        "the other went ahead"
    );

    let r = s.ok(&["resume"]);
    assert_eq!(apis.calls(route).len(), 1, "resume did not post again");
    let (count, id) = made(&apis, name);
    assert_eq!(count, 1, "exactly one:\n{}", r.stdout);
    let j = last_journal(&s);
    assert_valid(&j);
    assert_eq!(j["steps"][7]["state"], "done");
    assert_eq!(channel(&j, name)["state"], "done");
    assert_eq!(channel(&j, name)["remote_id"], id.as_str());
}

#[test]
fn a_slack_post_answered_with_an_html_page_is_looked_up_not_posted_again() {
    outcome_unknown("slack", POST, Fault::HtmlAfter);
}

#[test]
fn a_slack_post_whose_connection_drops_mid_body_is_looked_up_not_posted_again() {
    outcome_unknown("slack", POST, Fault::DropAfter);
}

#[test]
fn a_github_release_answered_with_garbage_is_looked_up_not_created_again() {
    outcome_unknown("github", CREATE, Fault::HtmlAfter);
}

#[test]
fn a_github_release_whose_connection_drops_mid_body_is_looked_up_not_created_again() {
    outcome_unknown("github", CREATE, Fault::DropAfter);
}

#[test]
fn a_github_refusal_is_failed_and_resume_creates_it() {
    let (s, apis) = setup();
    let refusal = Fault::Refuse(
        403,
        r#"{"message":"Resource not accessible by integration"}"#,
    );
    apis.fault(CREATE, refusal, 1);
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("Resource not accessible"), "{}", r.stderr);
    let j = s.journal().unwrap();
    assert_eq!(channel(&j, "github")["state"], "failed");
    assert_eq!(apis.releases(), 0);
    s.ok(&["resume"]);
    assert_eq!((apis.posts(), apis.releases()), (1, 1));
}

#[test]
#[cfg(feature = "failpoints")]
fn slack_history_is_read_by_the_channel_id_found_in_conversations_list() {
    let (s, apis) = setup();
    // The stand-in is as strict as Slack: a name is not a channel ID.
    let history = |channel: &str| {
        let path = format!("{HISTORY}?channel={channel}");
        apis.get(Origin::Slack, &path, SLACK_TOKEN)
    };
    let v = history("%23general");
    assert_eq!(v["error"], "channel_not_found", "{v}");
    let v = history(GENERAL);
    assert_eq!(v["ok"], true, "{v}");
    apis.with(|st| st.requests.clear());

    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let r = s.run_failing(&["start", "0.2.0.pre0"], "announce.after_post@1");
    assert!(r.code.is_none(), "{}", r.stderr);
    s.ok(&["resume"]);
    assert_eq!((apis.posts(), apis.releases()), (1, 1));

    // Resolved through every page, public and private, archived left out
    // (an archived `general` comes first).
    let lists = apis.calls(LIST);
    assert!(!lists.is_empty(), "conversations.list was never called");
    assert!(lists.len() >= 3, "all pages were read: {lists:#?}");
    for l in &lists {
        assert_eq!(
            l.query("types").as_deref(),
            Some("public_channel,private_channel")
        );
        assert_eq!(l.query("exclude_archived").as_deref(), Some("true"));
    }
    assert!(
        lists.iter().any(|l| l.query("cursor").is_some()),
        "{lists:#?}"
    );
    let history = apis.calls(HISTORY);
    assert!(!history.is_empty());
    for h in &history {
        assert_eq!(h.query("channel").as_deref(), Some(GENERAL), "{}", h.path);
        // Only since the first attempt (with a margin for clock skew).
        let oldest: f64 = h.query("oldest").unwrap_or_default().parse().unwrap();
        assert!(
            oldest > before - 24.0 * 3600.0 && oldest <= before + 60.0,
            "{oldest} vs {before}"
        );
    }
    let j = last_journal(&s);
    assert_eq!(
        channel(&j, "slack")["channel_id"],
        GENERAL,
        "cached for resume"
    );
}

#[test]
#[cfg(feature = "failpoints")]
fn a_channel_that_cannot_be_resolved_asks_the_user_instead_of_posting_twice() {
    let (s, apis) = setup();
    let denied = Fault::Refuse(200, r#"{"ok":false,"error":"missing_scope"}"#);
    apis.fault(LIST, denied, 100);
    let r = s.run_failing(&["start", "0.2.0.pre0"], "announce.after_post@1");
    assert!(r.code.is_none(), "{}", r.stderr);
    // Posted by name, as configured, since the ID could not be found.
    assert_eq!(apis.posts(), 1);
    let r = s.run(&["resume"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("missing_scope"), "{}", r.stderr);
    assert!(
        r.stderr.contains("release resume --announced slack"),
        "{}",
        r.stderr
    );
    assert_eq!(apis.posts(), 1);
    s.ok(&["resume", "--announced", "slack"]);
    assert_eq!((apis.posts(), apis.releases()), (1, 1));
}

/// The scan of what reached the stand-ins is live: a password in any
/// request, or a token sent to the other service, fails the next run.
#[test]
fn the_scan_of_requests_to_the_stand_ins_catches_leaks() {
    let leaks = [
        (
            Origin::Slack,
            format!("{HISTORY}?channel={PASSWORD}"),
            SLACK_TOKEN,
        ),
        (
            Origin::Github,
            format!("/github/x?u={URL_PASSWORD}"),
            GITHUB_TOKEN,
        ),
        (
            Origin::Slack,
            format!("{HISTORY}?channel={GENERAL}"),
            GITHUB_TOKEN,
        ),
        (
            Origin::Github,
            "/github/repos/acme/demo".to_string(),
            SLACK_TOKEN,
        ),
    ];
    for (origin, path, token) in leaks {
        let (s, apis) = setup();
        s.ok(&["status"]);
        apis.get(origin, &path, token);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.run(&["status"])));
        let message = caught
            .err()
            .and_then(|p| p.downcast::<String>().ok())
            .unwrap_or_default();
        assert!(
            message.contains("was sent"),
            "not caught: {origin:?} {path}: {message}"
        );
    }
}
