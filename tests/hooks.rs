//! `[hooks] bump` (issue 21): commands that edit the release commit, on a
//! repository shaped like OpenTelemetry Python's main (towncrier fragments
//! in `.changelog/`, a uv workspace with a committed `uv.lock`). Their
//! changes join the release commit; a failing hook or a kill during the
//! hooks leaves nothing committed and nothing behind.

mod common;

use common::apis::Apis;
use common::{assert_valid, python, Run, Sample};

/// The fixture, with the tool venv's `towncrier` and `uv` on PATH.
fn sample() -> Sample {
    let mut s = Sample::fixture("hooks");
    let bin = python().parent().unwrap().to_path_buf();
    let path = std::env::var("PATH").unwrap_or_default();
    s.set_env("PATH", &format!("{}:{path}", bin.display()));
    s
}

/// A third bump hook (`command` as written in TOML, quoted), committed
/// and pushed with `message`.
fn add_hook(s: &Sample, command: &str, message: &str) {
    let toml = s.repo.join("release.toml");
    let text = std::fs::read_to_string(&toml).unwrap().replace(
        "  \"uv lock --offline\",\n",
        &format!("  \"uv lock --offline\",\n  {command},\n"),
    );
    std::fs::write(&toml, text).unwrap();
    s.commit_and_push(message);
}

/// The files the last commit changed, with their status letter.
fn commit_files(s: &Sample) -> Vec<String> {
    let out = s.git(&["show", "--name-status", "--format=", "HEAD"]);
    let mut v: Vec<String> = out.lines().map(|l| l.replace('\t', " ")).collect();
    v.sort();
    v
}

/// The release commit holds the version edits and everything both hooks
/// changed (the changelog built, the fragments deleted, `uv.lock`
/// relocked): `uv lock --locked --offline` passes on it, and the notes
/// announced are the section towncrier wrote, `## Version X/Y (date)`.
#[test]
fn hooks_build_the_changelog_and_relock_the_workspace_in_the_release_commit() {
    let apis = Apis::start();
    let s = sample().announce_to(&apis);
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.ok(&["start", "1.46.0", "--skip-prerelease-check", "--dry-run"]);
    assert!(
        r.stdout
            .contains("  hook      uv lock --offline (its changes join the release commit)\n"),
        "{}",
        r.stdout
    );
    let r = s.ok(&["start", "1.46.0", "--skip-prerelease-check"]);
    assert!(
        r.stdout
            .contains("hook: towncrier build --yes --version 1.46.0/0.6"),
        "{}",
        r.stdout
    );
    let head = s.assert_pushed("v1.46.0");
    assert_eq!(
        s.git(&["rev-parse", "HEAD^"]),
        base,
        "one commit on the base"
    );
    assert_eq!(s.git(&["status", "--porcelain"]), "", "nothing left behind");
    let files = commit_files(&s);
    for f in [
        "D .changelog/5122.added",
        "D .changelog/5202.fixed",
        "M CHANGELOG.md",
        "M packages/hk-api/pyproject.toml",
        "M uv.lock",
    ] {
        assert!(files.contains(&f.to_string()), "{f} not in {files:?}");
    }
    assert!(s.repo.join(".changelog/.gitignore").is_file());

    let changelog = s.read("CHANGELOG.md");
    let beta = s
        .read("packages/hk-contrib/pyproject.toml")
        .lines()
        .find_map(|l| {
            l.strip_prefix("version = \"")
                .map(|v| v.trim_end_matches('"').to_string())
        })
        .unwrap();
    let date = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let heading = format!("## Version 1.46.0/{beta} ({date})");
    assert!(changelog.contains(&heading), "{changelog}");
    assert!(changelog.find(&heading) < changelog.find("## Version 1.45.0/0.66b0"));

    let lock = s.read("uv.lock");
    assert!(
        lock.contains("name = \"hk-api\"\nversion = \"1.46.0\"\n"),
        "{lock}"
    );
    assert!(
        lock.contains(&format!("name = \"hk-contrib\"\nversion = \"{beta}\"\n")),
        "{lock}"
    );
    let mut locked = std::process::Command::new(python().parent().unwrap().join("uv"));
    locked
        .args(["lock", "--locked", "--offline"])
        .current_dir(&s.repo)
        .env("HOME", &s.base);
    let locked = Run::output(locked);
    assert!(locked.ok(), "{}\n{}", locked.stdout, locked.stderr);
    assert_eq!(s.git(&["status", "--porcelain"]), "");

    // The notes announced are towncrier's section, fragments and all.
    apis.with(|st| {
        let text = &st.messages[0].2;
        assert!(
            text.contains("`hk-sdk`: add support to configure Resource attributes as metric labels ([#5122](https://github.com/acme/hk/pull/5122))"),
            "{text}"
        );
        assert!(text.contains("### Fixed") && !text.contains("the first API"), "{text}");
        assert!(st.releases[0].3.contains("`hk-api`: a context that survives forks"));
    });
    let j = serde_json::from_str(&std::fs::read_to_string(s.history().pop().unwrap()).unwrap())
        .unwrap();
    assert_valid(&j);
    let started = j["release"]["bump_hooks"]["started"].as_array().unwrap();
    assert_eq!(started.len(), 2, "{started:?}");
    assert_eq!(head, j["release"]["release_commit"].as_str().unwrap());
}

/// A hook that fails stops the bump with nothing committed and the tree
/// back at the base (the first hook's changelog and deleted fragments
/// too), shows its output once and names the way on; fixed, `resume`
/// releases with every hook's changes.
#[test]
fn a_failing_hook_leaves_nothing_and_resume_finishes_once_fixed() {
    let s = sample();
    add_hook(&s, "\"touch half-made.txt; test -n \\\"$HOOK_FIXED\\\" || { echo hook-broke-$((3+4)); exit 7; }\"", "a third hook");
    let base = s.git(&["rev-parse", "HEAD"]);

    let r = s.run(&["start", "1.46.0", "--skip-prerelease-check"]);
    assert!(!r.ok(), "{}", r.stdout);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(all.matches("hook-broke-7").count(), 1, "{all}");
    assert!(all.contains("exit status 7"), "{all}");
    assert!(
        all.contains("release resume") && all.contains("release abort"),
        "{all}"
    );
    assert_eq!(s.git(&["rev-parse", "HEAD"]), base, "nothing committed");
    assert_eq!(
        s.git(&["status", "--porcelain", "--untracked-files=all"]),
        ""
    );
    assert!(s.repo.join(".changelog/5122.added").is_file());
    assert_eq!(
        s.git(&["show", "HEAD:uv.lock"]),
        s.read("uv.lock").trim_end()
    );

    let mut cmd = s.cmd(&["resume"]);
    cmd.env("HOOK_FIXED", "1");
    let r = s.run_cmd(cmd);
    assert!(r.ok(), "{}\n{}", r.stdout, r.stderr);
    s.assert_pushed("v1.46.0");
    assert_eq!(s.git(&["rev-parse", "HEAD^"]), base);
    let files = commit_files(&s);
    assert!(files.contains(&"A half-made.txt".to_string()), "{files:?}");
    assert!(files.contains(&"M uv.lock".to_string()), "{files:?}");
    assert_eq!(
        s.git(&["status", "--porcelain", "--untracked-files=all"]),
        ""
    );
}

/// Killed between the hooks (towncrier done and journaled, uv not yet
/// run): `resume` undoes the version edits and what towncrier changed,
/// runs the bump again from the base, and ends with one release commit
/// holding every hook's change. A file the user made after the kill is
/// not lost: it is moved to `.release/undone/`, and that is said.
#[cfg(feature = "failpoints")]
#[test]
fn a_kill_during_the_hooks_resumes_from_the_base() {
    let (s, base) = killed_between_hooks();
    assert_eq!(s.git(&["rev-parse", "HEAD"]), base);
    let j = s.journal().unwrap();
    assert_valid(&j);
    let hooks = &j["release"]["bump_hooks"];
    assert_eq!(hooks["started"].as_array().unwrap().len(), 1, "{hooks}");
    assert!(
        !s.repo.join(".changelog/5122.added").exists(),
        "towncrier ran"
    );
    std::fs::write(s.repo.join("after-the-kill.txt"), "the user's").unwrap();

    let r = s.ok(&["resume"]);
    assert!(
        r.stdout
            .contains("(after-the-kill.txt) were copied first to"),
        "{}",
        r.stdout
    );
    s.assert_pushed("v1.46.0");
    assert_eq!(s.git(&["rev-parse", "HEAD^"]), base, "one release commit");
    let files = commit_files(&s);
    for f in ["D .changelog/5122.added", "M CHANGELOG.md", "M uv.lock"] {
        assert!(files.contains(&f.to_string()), "{f} not in {files:?}");
    }
    assert!(
        !files.iter().any(|f| f.contains("after-the-kill")),
        "{files:?}"
    );
    let changelog = s.read("CHANGELOG.md");
    assert_eq!(
        changelog.matches("## Version 1.46.0/").count(),
        1,
        "{changelog}"
    );
    assert_eq!(
        s.git(&["status", "--porcelain", "--untracked-files=all"]),
        ""
    );
    let kept: Vec<_> = walk(&s.repo.join(".release/undone"))
        .into_iter()
        .filter(|p| p.ends_with("after-the-kill.txt"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read_to_string(&kept[0]).unwrap(), "the user's");
}

/// Killed between the hooks, then aborted: the tree is back at the base,
/// the hooks' changes included.
#[cfg(feature = "failpoints")]
#[test]
fn abort_after_a_kill_during_the_hooks_undoes_them() {
    let (s, base) = killed_between_hooks();
    assert_ne!(s.git(&["status", "--porcelain"]), "");
    s.ok(&["abort"]);
    assert_eq!(s.git(&["rev-parse", "HEAD"]), base);
    assert_eq!(
        s.git(&["status", "--porcelain", "--untracked-files=all"]),
        ""
    );
    assert!(s.repo.join(".changelog/5122.added").is_file());
}

/// The fixture, its release killed after the first hook (towncrier) ran
/// and was journaled; and the base commit.
#[cfg(feature = "failpoints")]
fn killed_between_hooks() -> (Sample, String) {
    let s = sample();
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.run_failing(
        &["start", "1.46.0", "--skip-prerelease-check"],
        "bump.in_hook",
    );
    assert!(!r.ok());
    (s, base)
}

#[cfg(feature = "failpoints")]
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A hook that makes a symlink (here to a file outside the repository)
/// is refused: only plain files of the repository join the release commit,
/// and the tree goes back to the base.
#[test]
fn a_symlink_made_by_a_hook_is_refused() {
    let s = sample();
    add_hook(
        &s,
        "\"ln -s /etc/hostname outside.txt\"",
        "a hook making a symlink",
    );
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.run(&["start", "1.46.0", "--skip-prerelease-check"]);
    assert!(!r.ok());
    assert!(
        r.stderr
            .contains("a bump hook made outside.txt, which is not a plain file of the repository"),
        "{}",
        r.stderr
    );
    assert_eq!(s.git(&["rev-parse", "HEAD"]), base);
    assert_eq!(
        s.git(&["status", "--porcelain", "--untracked-files=all"]),
        ""
    );
    assert!(std::fs::symlink_metadata(s.repo.join("outside.txt")).is_err());
}

/// A hook killed half-way (it kills the runner itself, as a machine that
/// dies would, after writing part of its work): what it wrote cannot be
/// told from the user's, so `resume` copies it aside, puts the tree back
/// at the base, and runs every hook again; one release commit.
#[test]
fn a_runner_killed_inside_a_hook_resumes_from_the_base() {
    let mut s = sample();
    add_hook(&s, "\"echo partial >> CHANGELOG.md; echo made > made-by-hook.txt; test -n \\\"$HOOK_OK\\\" || kill -9 $PPID\"", "a hook that dies half-way");
    let base = s.git(&["rev-parse", "HEAD"]);
    let r = s.run(&["start", "1.46.0", "--skip-prerelease-check"]);
    assert_eq!(r.code, None, "killed: {}\n{}", r.stdout, r.stderr);
    assert_eq!(s.git(&["rev-parse", "HEAD"]), base);
    assert!(s.read("CHANGELOG.md").ends_with("partial\n"));

    s.set_env("HOOK_OK", "1");
    let r = s.ok(&["resume"]);
    assert!(
        r.stdout
            .contains("(CHANGELOG.md, made-by-hook.txt) were copied first to"),
        "{}",
        r.stdout
    );
    s.assert_pushed("v1.46.0");
    assert_eq!(s.git(&["rev-parse", "HEAD^"]), base, "one release commit");
    let changelog = s.read("CHANGELOG.md");
    assert_eq!(
        changelog.matches("## Version 1.46.0/").count(),
        1,
        "{changelog}"
    );
    assert_eq!(changelog.matches("partial").count(), 1, "{changelog}");
    let files = commit_files(&s);
    for f in ["A made-by-hook.txt", "D .changelog/5122.added", "M uv.lock"] {
        assert!(files.contains(&f.to_string()), "{f} not in {files:?}");
    }
    assert_eq!(
        s.git(&["status", "--porcelain", "--untracked-files=all"]),
        ""
    );
}
