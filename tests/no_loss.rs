//! Nothing lost: `abort`, `recover` and every reconcile keep the user's
//! uncommitted, staged and untracked work; names and versions from outside
//! input cannot reach outside their folder or into version files; the push
//! sends the release commit only; output to a closed pipe never panics.
//! Each test reproduces a way the user lost work (or could have) first.

mod common;

use common::{assert_released, git, git_bare, Sample};

/// The user's work in progress: an edit to a tracked file, a staged new
/// file, an untracked file. Returns what to compare afterwards.
fn make_work(s: &Sample) -> Vec<(String, Vec<u8>)> {
    let changes = s.repo.join("CHANGES.md");
    let mut text = std::fs::read(&changes).unwrap();
    text.extend_from_slice(b"\n- an edit the user has not committed yet\n");
    std::fs::write(&changes, &text).unwrap();
    std::fs::write(s.repo.join("notes.txt"), b"staged, not committed\n").unwrap();
    s.git(&["add", "notes.txt"]);
    std::fs::write(s.repo.join("scratch.txt"), b"untracked\n").unwrap();
    ["CHANGES.md", "notes.txt", "scratch.txt"]
        .iter()
        .map(|f| (f.to_string(), std::fs::read(s.repo.join(f)).unwrap()))
        .collect()
}

fn assert_work_kept(s: &Sample, work: &[(String, Vec<u8>)]) {
    for (f, bytes) in work {
        assert_eq!(
            &std::fs::read(s.repo.join(f)).unwrap_or_default(),
            bytes,
            "{f} changed"
        );
    }
    let status = s.git(&["status", "--porcelain"]);
    let has = |line: &str| status.lines().any(|l| l.trim() == line);
    assert!(has("M CHANGES.md"), "edited, not staged: {status}");
    assert!(has("A  notes.txt"), "still staged: {status}");
    assert!(has("?? scratch.txt"), "{status}");
}

#[test]
fn abort_keeps_edited_staged_and_untracked_work() {
    let s = Sample::new();
    let base = s.git(&["rev-parse", "HEAD"]);
    s.killed_after_tag();
    let work = make_work(&s);
    let r = s.ok(&["abort"]);
    assert!(r.stdout.contains("aborted"), "{}", r.stdout);
    assert_eq!(s.git(&["rev-parse", "HEAD"]), base);
    assert_eq!(s.git(&["tag"]), "");
    assert_work_kept(&s, &work);
    // The version files are back at the base.
    assert_eq!(
        s.git(&["diff", "HEAD", "--", "python_modules"]),
        "",
        "bump's edits are undone"
    );
}

#[test]
fn abort_refuses_to_overwrite_an_edit_to_a_bumped_file_and_says_what_to_do() {
    let s = Sample::new();
    s.killed_after_tag();
    let release_commit = s.git(&["rev-parse", "HEAD"]);
    let file = s.repo.join("python_modules/demo-core/pyproject.toml");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("# the user's comment\n");
    std::fs::write(&file, &text).unwrap();

    let r = s.run(&["abort"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("python_modules/demo-core/pyproject.toml"),
        "names the file: {}",
        r.stderr
    );
    assert!(r.stderr.contains("stash"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text, "untouched");
    assert_eq!(s.git(&["rev-parse", "HEAD"]), release_commit);
    assert!(s.journal().is_some(), "nothing aborted yet");

    // Following the message: stash, abort again, take the work back.
    s.git(&["stash"]);
    s.ok(&["abort"]);
    s.git(&["stash", "pop"]);
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("# the user's comment"));
}

#[test]
fn recover_after_drift_keeps_local_work() {
    let s = Sample::new();
    s.killed_after_tag();
    let theirs = s.colleague_pushes(Some(("NEWS.txt", "theirs\n")));
    let r = s.run(&["resume"]);
    assert!(r.stderr.contains("release recover"), "{}", r.stderr);
    let work = make_work(&s);

    let r = s.ok(&["recover"]);
    assert!(r.stdout.contains("release resume"), "{}", r.stdout);
    assert_eq!(s.git(&["rev-parse", "HEAD"]), theirs);
    assert!(s.repo.join("NEWS.txt").exists());
    assert_work_kept(&s, &work);

    // Preflight wants a clean tree: the user puts the work aside, releases,
    // and takes it back, byte for byte.
    let r = s.run(&["resume"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("commit or stash"), "{}", r.stderr);
    s.git(&["stash", "-u"]);
    s.ok(&["resume"]);
    assert_released(&s, "0.2.0.pre0", &theirs);
    s.git(&["stash", "pop", "--index"]);
    assert_work_kept(&s, &work);
}

#[test]
fn recover_refuses_a_fast_forward_over_an_edit_then_follows_through() {
    let s = Sample::new();
    s.killed_after_tag();
    let theirs = s.colleague_pushes(Some(("CHANGES.md", "# theirs\n")));
    let r = s.run(&["resume"]);
    assert_eq!(r.code, Some(1));
    let mine = b"# mine, not committed\n";
    std::fs::write(s.repo.join("CHANGES.md"), mine).unwrap();

    let r = s.run(&["recover"]);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(r.stderr.contains("CHANGES.md"), "{}", r.stderr);
    assert_eq!(std::fs::read(s.repo.join("CHANGES.md")).unwrap(), mine);
    assert_eq!(s.journal().unwrap()["phase"], "remote_drift");

    s.git(&["stash"]);
    s.ok(&["recover"]);
    assert_eq!(s.git(&["rev-parse", "HEAD"]), theirs);
    s.ok(&["resume"]);
    assert_released(&s, "0.2.0.pre0", &theirs);
    // The user's edit conflicts with theirs now; it is still in the stash.
    assert_eq!(
        s.git(&["show", "stash@{0}:CHANGES.md"]).as_bytes(),
        &mine[..mine.len() - 1]
    );
}

#[test]
fn an_interrupted_bump_undoes_only_its_own_edits_and_commits_only_them() {
    let s = Sample::new();
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.run_failing(&["start", "0.2.0.pre0"], "bump.after_edit");
    assert_ne!(r.code, Some(0));
    assert_ne!(
        s.git(&["status", "--porcelain"]),
        "",
        "bump's edits are there"
    );
    let work = make_work(&s);

    s.ok(&["resume"]);
    let head = s.git(&["rev-parse", "HEAD"]);
    assert_eq!(s.git(&["rev-parse", "HEAD~1"]), base);
    let committed = s.git(&["show", "--name-only", "--format=", &head]);
    assert!(!committed.contains("CHANGES.md"), "{committed}");
    assert!(!committed.contains("notes.txt"), "{committed}");
    assert!(committed.contains("pyproject.toml"), "{committed}");
    assert_eq!(
        git_bare(&s.origin, &["rev-parse", "master"]).unwrap(),
        head,
        "the release commit is pushed"
    );
    assert_work_kept(&s, &work);
}

#[test]
fn an_edit_to_a_half_bumped_file_is_never_overwritten() {
    let s = Sample::new();
    let r = s.run_failing(&["start", "0.2.0.pre0"], "bump.after_edit");
    assert_ne!(r.code, Some(0));
    let file = s.repo.join("python_modules/demo-core/pyproject.toml");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("# the user's comment\n");
    std::fs::write(&file, &text).unwrap();

    let r = s.run(&["resume"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("python_modules/demo-core/pyproject.toml"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("release resume"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);

    // The way on: put the edit aside, resume, take it back.
    s.git(&["stash"]);
    s.ok(&["resume"]);
    assert_eq!(
        git_bare(&s.origin, &["rev-parse", "master"]).unwrap(),
        s.git(&["rev-parse", "HEAD"])
    );
}

#[test]
fn resume_pushes_the_release_commit_not_a_commit_made_on_top() {
    let s = Sample::new();
    s.killed_after_tag();
    let release_commit = s.git(&["rev-parse", "HEAD"]);
    std::fs::write(s.repo.join("wip.txt"), "work in progress\n").unwrap();
    s.git(&["add", "wip.txt"]);
    s.git(&["commit", "-qm", "WIP"]);
    let wip = s.git(&["rev-parse", "HEAD"]);

    let r = s.ok(&["resume"]);
    assert!(
        r.stdout
            .contains("1 commit(s) on top of the release commit"),
        "says so: {}",
        r.stdout
    );
    assert_eq!(
        git_bare(&s.origin, &["rev-parse", "master", "0.2.0.pre0^{commit}"]).unwrap(),
        format!("{release_commit}\n{release_commit}"),
        "the remote has the release commit and the tag on it, not the WIP"
    );
    assert_eq!(s.git(&["rev-parse", "HEAD"]), wip, "the WIP stays local");
}

#[test]
fn abort_is_refused_once_the_remote_branch_contains_the_release_commit() {
    let s = Sample::new();
    // The branch reached origin; the tag did not; a colleague pushed on top.
    let r = s.run_failing(&["start", "0.2.0.pre0"], "push.after_branch");
    assert_ne!(r.code, Some(0));
    let release_commit = s.git(&["rev-parse", "HEAD"]);
    s.colleague_pushes(None);
    let before = s.snapshot();
    let r = s.run(&["abort"]);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(r.stderr.contains("already reached"), "{}", r.stderr);
    assert!(r.stderr.contains("release resume"), "{}", r.stderr);
    assert_eq!(s.snapshot(), before, "nothing changed");
    assert_eq!(s.git(&["rev-parse", "HEAD"]), release_commit);
}

#[test]
fn abort_asks_the_push_url_even_when_the_fetch_url_lags() {
    let s = Sample::new();
    s.lagging_fetch_url();
    let r = s.run_failing(&["start", "0.2.0.pre0"], "push.after_branch");
    assert_ne!(r.code, Some(0), "{}", r.stderr);
    s.colleague_pushes(None);
    let r = s.run(&["abort"]);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(r.stderr.contains("already reached"), "{}", r.stderr);
}

/// A folder outside the repository that a hostile name points at.
fn victim(s: &Sample) -> std::path::PathBuf {
    let victim = s.base.join("victim");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("keep.txt"), "keep me\n").unwrap();
    victim
}

fn assert_victim_untouched(victim: &std::path::Path) {
    assert_eq!(
        std::fs::read_to_string(victim.join("keep.txt")).unwrap(),
        "keep me\n"
    );
}

#[test]
fn a_package_name_that_is_a_path_is_refused_before_anything_changes() {
    let s = Sample::new();
    let victim = victim(&s);
    let file = s.repo.join("python_modules/demo-core/pyproject.toml");
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "name = \"demo-core\"",
        &format!("name = {:?}", victim.display().to_string()),
    );
    std::fs::write(&file, text).unwrap();
    s.commit_and_push("a hostile name");
    let before = s.snapshot();
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("not a valid PEP 508 name"),
        "{}",
        r.stderr
    );
    assert_eq!(s.snapshot(), before);
    assert_victim_untouched(&victim);
    assert!(git_bare(&s.origin, &["rev-parse", "0.2.0.pre0"]).is_none());
}

#[test]
fn a_hand_edited_journal_name_cannot_reach_outside_the_dist_folder() {
    let s = Sample::new();
    let victim = victim(&s);
    let r = s.run_failing(&["start", "0.2.0.pre0"], "bump.after_commit");
    assert_ne!(r.code, Some(0));
    let mut j = s.journal().unwrap();
    j["release"]["packages"][0]["normalized_name"] = victim.display().to_string().into();
    std::fs::write(s.state_path(), serde_json::to_vec_pretty(&j).unwrap()).unwrap();
    let r = s.run(&["resume"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("not a valid package name"),
        "{}",
        r.stderr
    );
    assert_victim_untouched(&victim);
}

#[test]
fn a_v_prefixed_version_is_refused_and_nothing_changes() {
    let s = Sample::new();
    let before = s.snapshot();
    let r = s.run(&["start", "v0.2.0.pre0"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("without the `v` prefix: `0.2.0.pre0`"),
        "{}",
        r.stderr
    );
    assert_eq!(s.snapshot(), before);
}

#[test]
fn a_stray_prerelease_tag_does_not_count_as_a_completed_prerelease() {
    let s = Sample::new();
    // A pre-release tag on the remote that was never published.
    s.git(&["tag", "0.2.0.pre0"]);
    s.git(&["push", "-q", "origin", "0.2.0.pre0"]);
    s.git(&["tag", "-d", "0.2.0.pre0"]);
    let r = s.run(&["start", "0.2.0"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("no pre-release of 0.2.0 was completed"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_prerelease_the_index_serves_counts_without_local_history() {
    let s = Sample::new();
    s.ok(&["start", "0.2.0.pre0"]);
    // Another machine: no .release/history/ here.
    std::fs::remove_dir_all(s.repo.join(".release")).unwrap();
    let r = s.run(&["start", "0.2.0", "--dry-run"]);
    assert!(r.ok(), "{}", r.stderr);
}

#[test]
fn output_to_a_closed_pipe_never_panics() {
    let s = Sample::new();
    for args in [&["version"][..], &["status"], &["completions", "bash"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = s.cmd(args).stdout(writer).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn outside_a_repository_the_error_is_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::release_cmd(&["--repo", dir.path().to_str().unwrap(), "version"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("not inside a git repository").count(),
        1,
        "{stderr}"
    );
    assert!(!stderr.contains("could not find repository"), "{stderr}");
    assert!(stderr.contains("--repo"), "names the way on: {stderr}");
}

#[cfg(unix)]
#[test]
fn the_clean_export_keeps_files_and_folders_whose_names_are_not_utf8() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let repo_dir = dir.path().join("r");
    std::fs::create_dir_all(&repo_dir).unwrap();
    git(&repo_dir, &["init", "-q"]);
    let odd_file = OsStr::from_bytes(b"caf\xe9.txt");
    let odd_dir = OsStr::from_bytes(b"d\xff");
    std::fs::write(repo_dir.join(odd_file), "latin-1 name\n").unwrap();
    std::fs::create_dir_all(repo_dir.join(odd_dir).join("inner")).unwrap();
    std::fs::write(repo_dir.join(odd_dir).join("inner/deep.txt"), "deep\n").unwrap();
    std::fs::write(repo_dir.join("z-after.txt"), "after\n").unwrap();
    git(&repo_dir, &["add", "-A"]);
    git(
        &repo_dir,
        &[
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@b",
            "commit",
            "-qm",
            "odd names",
        ],
    );
    let repo = git2::Repository::open(&repo_dir).unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap().id();
    let out = dir.path().join("export");
    release::ops::git::export_tree(&repo, head, &out).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join(odd_file)).unwrap(),
        "latin-1 name\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join(odd_dir).join("inner/deep.txt")).unwrap(),
        "deep\n",
        "the whole subtree is there"
    );
    assert!(out.join("z-after.txt").is_file());
}

#[test]
fn a_release_folder_left_half_made_by_a_kill_does_not_block_the_next_start() {
    let s = Sample::new();
    // Killed between creating `.release/.gitignore` and writing it.
    std::fs::create_dir_all(s.repo.join(".release")).unwrap();
    std::fs::write(s.repo.join(".release/.gitignore"), "").unwrap();
    s.ok(&["start", "0.2.0.pre0"]);
    assert_eq!(
        std::fs::read_to_string(s.repo.join(".release/.gitignore")).unwrap(),
        "*\n"
    );
    assert_eq!(s.git(&["status", "--porcelain"]), "");
}
