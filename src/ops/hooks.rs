//! `[hooks] bump`: commands that edit the release commit, run in the
//! repository after the version rewrite (towncrier building the changelog
//! from fragments, `uv lock` relocking a workspace at the new versions).
//!
//! What a hook changes cannot be planned and hashed beforehand like the
//! bump's own edits, so its changes are found afterwards from git's
//! status, against the files that were untracked before the hooks ran
//! (those are never committed, moved or removed). Only plain files inside
//! the repository join the commit, and never `.release/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use git2::{Oid, Repository};
use thiserror::Error;

use super::git;

#[derive(Debug, Error)]
pub enum HookError {
    #[error("cannot run the bump hook `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("the bump hook `{command}` failed ({status}){}", output_block(.output))]
    Failed {
        command: String,
        status: String,
        output: String,
    },
    #[error("a bump hook made {path}, which is not a plain file of the repository (a symlink or another repository); only plain files join the release commit")]
    NotAFile { path: String },
    #[error(transparent)]
    Git(#[from] git::GitError),
    #[error("cannot move {path} aside: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn output_block(output: &str) -> String {
    if output.trim().is_empty() {
        ", with no output".into()
    } else {
        format!(":\n{}", indent(output))
    }
}

fn indent(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Lines of a failing hook's output shown: its end says why it failed.
const TAIL_LINES: usize = 40;

/// What a hook's command is filled in with.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    pub version: String,
    pub prev_version: String,
    /// Each track's name and version in this release.
    pub tracks: Vec<(String, String)>,
}

impl Vars {
    /// `template` with `{version}`, `{prev_version}` and `{track.NAME}`
    /// filled in; any other braces are the shell's (`${HOME}`).
    pub fn fill(&self, template: &str) -> String {
        let mut out = template
            .replace("{version}", &self.version)
            .replace("{prev_version}", &self.prev_version);
        for (name, v) in &self.tracks {
            out = out.replace(&format!("{{track.{name}}}"), v);
        }
        out
    }

    /// The same values as environment variables: `RELEASE_VERSION`,
    /// `RELEASE_PREV_VERSION`, `RELEASE_TRACK_<NAME>` (upper case, other
    /// characters as `_`).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("RELEASE_VERSION".to_string(), self.version.clone()),
            (
                "RELEASE_PREV_VERSION".to_string(),
                self.prev_version.clone(),
            ),
        ];
        for (name, v) in &self.tracks {
            let name: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            env.push((format!("RELEASE_TRACK_{name}"), v.clone()));
        }
        env
    }
}

/// Variables of the runner's environment a hook is not given: upload
/// passwords and API tokens have no business in a changelog or lock file,
/// and a hook that prints its environment must not show them.
fn is_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["TOKEN", "PASSWORD", "SECRET", "CREDENTIAL"]
        .iter()
        .any(|w| upper.contains(w))
        || upper.starts_with("TWINE_")
}

/// Run `command` (already filled in) through `sh -c` in `root`, stdin
/// closed, with `vars` in its environment; its output when it succeeds.
pub fn run(root: &Path, command: &str, vars: &Vars) -> Result<String, HookError> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars_os() {
        if is_secret(&k.to_string_lossy()) {
            cmd.env_remove(&k);
        }
    }
    cmd.envs(vars.env());
    let out = cmd.output().map_err(|source| HookError::Spawn {
        command: command.to_string(),
        source,
    })?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    if !err.trim().is_empty() {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&err);
    }
    if out.status.success() {
        return Ok(text);
    }
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let shown = if lines.len() > TAIL_LINES {
        format!(
            "... ({} earlier lines)\n{}",
            lines.len() - TAIL_LINES,
            lines[lines.len() - TAIL_LINES..].join("\n")
        )
    } else {
        lines.join("\n")
    };
    Err(HookError::Failed {
        command: command.to_string(),
        status: out
            .status
            .code()
            .map(|c| format!("exit status {c}"))
            .unwrap_or_else(|| "killed by a signal".into()),
        output: shown,
    })
}

fn ours(path: &str) -> bool {
    path == ".release" || path.starts_with(".release/")
}

/// The untracked files now (outside `.release/`), as the hooks' "before".
pub fn untracked(repo: &Repository) -> Result<Vec<String>, HookError> {
    let mut u = git::status(repo)?.untracked;
    u.retain(|p| !ours(p));
    Ok(u)
}

/// Every change in the work tree against HEAD that is not a file in
/// `before`: tracked files changed or deleted, and files new since.
pub fn changes(repo: &Repository, before: &[String]) -> Result<Vec<String>, HookError> {
    let st = git::status(repo)?;
    // A file untracked before stays out even if a hook staged it.
    let mut paths: Vec<String> = st
        .changed
        .into_iter()
        .chain(st.untracked)
        .filter(|p| !before.contains(p) && !ours(p))
        .collect();
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// The changes the hooks made, ready to be committed: each one a plain
/// file of the repository or a deletion, never a symlink or a nested
/// repository (`dir/` in git's status).
pub fn committable(root: &Path, paths: &[String]) -> Result<(), HookError> {
    for p in paths {
        let not_a_file =
            p.ends_with('/') || std::fs::symlink_metadata(root.join(p)).is_ok_and(|m| !m.is_file());
        if not_a_file {
            return Err(HookError::NotAFile { path: p.clone() });
        }
    }
    Ok(())
}

/// Put the work tree back at `base` for `paths` (from [`changes`]): files
/// new since `base` are removed, the rest checked out as `base` has them.
/// With `aside`, each changed or new file is first copied there (same
/// relative path): after a crash, what changed since the hooks ran cannot
/// be told from what the user did since, so nothing is lost, only moved.
pub fn undo(
    repo: &Repository,
    root: &Path,
    base: Oid,
    paths: &[String],
    aside: Option<&Path>,
) -> Result<(), HookError> {
    if let Some(aside) = aside {
        for p in paths {
            let from = root.join(p);
            if !std::fs::symlink_metadata(&from).is_ok_and(|m| m.is_file()) {
                continue;
            }
            let to = aside.join(p);
            let io = |source| HookError::Io {
                path: from.clone(),
                source,
            };
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            std::fs::copy(&from, &to).map_err(io)?;
        }
    }
    git::restore_paths(repo, base, paths)?;
    // Folders left empty by removing new files: git keeps no empty
    // folder, so none of them is anyone's work.
    for p in paths {
        let mut dir = Path::new(p).parent();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            if std::fs::remove_dir(root.join(d)).is_err() {
                break;
            }
            dir = d.parent();
        }
    }
    Ok(())
}

/// Where the files an interrupted hook may have changed are kept when
/// undone: under the release's own folder (`.release/`), by version and time.
pub fn undone_dir(release_dir: &Path, version: &str) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    release_dir
        .join("undone")
        .join(format!("{version}-{stamp}"))
}

/// Each of `paths` as it is now: its sha256, or `None` when deleted.
pub fn snapshot(root: &Path, paths: &[String]) -> Vec<(String, Option<String>)> {
    paths
        .iter()
        .map(|p| {
            let sha = std::fs::read(root.join(p))
                .ok()
                .map(|b| super::sha256_bytes(&b));
            (p.clone(), sha)
        })
        .collect()
}

/// After a crash during the bump hooks (HEAD still at `base`): every
/// change since `base` undone, sparing the files untracked before them.
/// A file still as release left it (`known`: the bump's edits and what
/// the hooks had changed when the last one finished, path and sha256 or
/// `None` for deleted) is simply undone; anything else changed since (by
/// a hook cut short, or by the user after the crash: they cannot be told
/// apart) is first copied to `aside`. Returns the files copied there.
pub fn undo_interrupted(
    repo: &Repository,
    root: &Path,
    base: Oid,
    untracked_before: &[String],
    known: &[(String, Option<String>)],
    aside: &Path,
) -> Result<Vec<String>, HookError> {
    let changed = changes(repo, untracked_before)?;
    let mut mine = Vec::new();
    let mut unknown = Vec::new();
    for state in snapshot(root, &changed) {
        if known.contains(&state) {
            mine.push(state.0);
        } else {
            unknown.push(state.0);
        }
    }
    undo(repo, root, base, &unknown, Some(aside))?;
    undo(repo, root, base, &mine, None)?;
    Ok(unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_templates_and_environment() {
        let vars = Vars {
            version: "1.46.0".into(),
            prev_version: "1.45.0".into(),
            tracks: vec![
                ("beta".into(), "0.67b0".into()),
                ("semconv-x".into(), "0.1".into()),
            ],
        };
        assert_eq!(
            vars.fill("towncrier build --yes --version {version}/{track.beta} # from {prev_version} ${HOME} {}"),
            "towncrier build --yes --version 1.46.0/0.67b0 # from 1.45.0 ${HOME} {}"
        );
        let env = vars.env();
        assert!(env.contains(&("RELEASE_TRACK_SEMCONV_X".into(), "0.1".into())));
        assert!(env.contains(&("RELEASE_PREV_VERSION".into(), "1.45.0".into())));
        assert!(is_secret("TWINE_USERNAME") && is_secret("GITHUB_TOKEN") && !is_secret("PATH"));
    }

    #[test]
    fn a_failing_hook_shows_its_output_tail() {
        let dir = tempfile::tempdir().unwrap();
        let vars = Vars::default();
        let ok = run(dir.path(), "echo out; echo err >&2", &vars).unwrap();
        assert_eq!(ok, "out\nerr\n");
        let e = run(dir.path(), "seq 1 100; echo broke >&2; exit 3", &vars)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("the bump hook `seq 1 100; echo broke >&2; exit 3` failed (exit status 3):\n    | ... (61 earlier lines)\n    | 62\n"), "{e}");
        assert!(e.ends_with("    | 100\n    | broke"), "{e}");
    }
}
