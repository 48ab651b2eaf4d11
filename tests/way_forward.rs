//! Every state has a way forward: each failure names a command, and following
//! exactly the commands named ends in a released or cleanly aborted state.

mod common;

use common::{assert_released, git_bare, Sample};

#[test]
fn after_the_push_recover_rolls_forward_from_the_branch_tip_with_the_fix() {
    let s = Sample::new();
    // Pushed, then publish stopped (the runner died after building).
    let r = s.run_failing(&["start", "0.2.0.pre0"], "publish.after_build");
    assert_ne!(r.code, Some(0));
    let pre0 = s.git(&["rev-parse", "HEAD"]);
    assert_eq!(git_bare(&s.origin, &["rev-parse", "master"]).unwrap(), pre0);
    let status = s.ok(&["status"]);
    assert!(
        status.stdout.contains("`release recover` to roll forward"),
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
    let r = s.run_failing(&["start", "0.2.0.pre0"], "tag.after_create");
    assert_ne!(r.code, Some(0));
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
