//! Git effects through libgit2: status, fetch, ls-remote, commit, tag, push,
//! reset, and exporting a commit's tree.
//!
//! Steps decide what should happen; this module is the only place that touches
//! refs, the index or a remote. Authentication follows what users already have:
//! the ssh agent and `~/.ssh` keys for ssh remotes, `GITHUB_TOKEN` and git's
//! credential helpers for https.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{
    AutotagOption, CredentialType, Direction, FetchOptions, ObjectType, Oid, PushOptions,
    RemoteCallbacks, Repository, ResetType, StatusOptions,
};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum GitError {
    #[error("{what}: {source}")]
    Git {
        what: String,
        #[source]
        source: git2::Error,
    },
    #[error("{0}")]
    Other(String),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, GitError>;

trait Ctx<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Ctx<T> for std::result::Result<T, git2::Error> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| GitError::Git {
            what: what(),
            source,
        })
    }
}

pub fn open(dir: &Path) -> Result<Repository> {
    let repo = Repository::discover(dir)
        .ctx(|| format!("{} is not inside a git repository", dir.display()))?;
    if repo.is_bare() {
        return Err(GitError::Other(format!(
            "{} is a bare repository; run release in a working tree",
            dir.display()
        )));
    }
    Ok(repo)
}

pub fn workdir(repo: &Repository) -> Result<PathBuf> {
    repo.workdir()
        .map(Path::to_path_buf)
        .ok_or_else(|| GitError::Other("the repository has no working tree".into()))
}

/// The short name of the checked-out branch, `None` when HEAD is detached or unborn.
pub fn current_branch(repo: &Repository) -> Option<String> {
    let head = repo.head().ok()?;
    if !head.is_branch() {
        return None;
    }
    head.shorthand().map(str::to_string)
}

pub fn head_commit(repo: &Repository) -> Result<Oid> {
    let head = repo
        .head()
        .ctx(|| "HEAD does not point at a commit".into())?;
    head.peel_to_commit()
        .map(|c| c.id())
        .ctx(|| "HEAD does not point at a commit".into())
}

#[derive(Debug, Default)]
pub struct TreeStatus {
    pub changed: Vec<String>,
    pub untracked: Vec<String>,
}

pub fn status(repo: &Repository) -> Result<TreeStatus> {
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .exclude_submodules(false);
    let statuses = repo
        .statuses(Some(&mut opts))
        .ctx(|| "cannot read the working tree status".into())?;
    let mut out = TreeStatus::default();
    for s in statuses.iter() {
        let path = s.path().unwrap_or("<non-utf8 path>").to_string();
        if s.status().is_wt_new() {
            out.untracked.push(path);
        } else if !s.status().is_ignored() {
            out.changed.push(path);
        }
    }
    Ok(out)
}

/// Credentials the way git users already have them: ssh agent, then `~/.ssh`
/// keys; `GITHUB_TOKEN`, then git credential helpers for https. Each kind is
/// tried once, so a refused credential ends in an error instead of a loop.
fn callbacks<'a>(repo: &Repository) -> RemoteCallbacks<'a> {
    let git_config = repo.config().ok();
    let mut tried_agent = false;
    let mut tried_token = false;
    let mut tried_helper = false;
    let mut key_index = 0usize;
    let keys: Vec<PathBuf> = std::env::var_os("HOME")
        .map(PathBuf::from)
        .map(|home| {
            ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .map(|k| home.join(".ssh").join(k))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    let mut cb = RemoteCallbacks::new();
    cb.credentials(move |url, username, allowed| {
        let user = username.unwrap_or("git");
        if allowed.contains(CredentialType::SSH_KEY) {
            if !tried_agent {
                tried_agent = true;
                if std::env::var_os("SSH_AUTH_SOCK").is_some() {
                    return git2::Cred::ssh_key_from_agent(user);
                }
            }
            if let Some(key) = keys.get(key_index) {
                key_index += 1;
                let public = key.with_extension("pub");
                let public = public.is_file().then_some(public);
                return git2::Cred::ssh_key(user, public.as_deref(), key, None);
            }
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            let parsed = url::Url::parse(url).ok();
            if let Some(u) = parsed.as_ref().filter(|u| u.scheme() == "http") {
                if !super::http::is_loopback(u) {
                    return Err(git2::Error::from_str(
                        "refusing to send credentials over plain http:// to a remote that is not on this machine; use https:// or ssh",
                    ));
                }
            }
            // GITHUB_TOKEN is GitHub's: never offered to another host.
            let github = parsed
                .as_ref()
                .and_then(|u| u.host_str())
                .is_some_and(|h| h == "github.com" || h.ends_with(".github.com"));
            if !tried_token && github {
                tried_token = true;
                if let Ok(token) = std::env::var("GITHUB_TOKEN") {
                    if !token.is_empty() {
                        return git2::Cred::userpass_plaintext("x-access-token", &token);
                    }
                }
            }
            if !tried_helper {
                tried_helper = true;
                if let Some(cfg) = &git_config {
                    return git2::Cred::credential_helper(cfg, url, username);
                }
            }
        }
        if allowed.contains(CredentialType::USERNAME) {
            return git2::Cred::username(user);
        }
        Err(git2::Error::from_str(
            "no accepted credentials: tried the ssh agent, ~/.ssh keys, GITHUB_TOKEN and git credential helpers",
        ))
    });
    cb
}

/// Fetch the release branch into its remote-tracking ref only: no local tags.
pub fn fetch_branch(repo: &Repository, remote: &str, branch: &str) -> Result<Option<Oid>> {
    let mut r = repo
        .find_remote(remote)
        .ctx(|| format!("no remote named `{remote}`"))?;
    let mut opts = FetchOptions::new();
    opts.remote_callbacks(callbacks(repo))
        .download_tags(AutotagOption::None);
    let refspec = format!("+refs/heads/{branch}:refs/remotes/{remote}/{branch}");
    r.fetch(&[refspec.as_str()], Some(&mut opts), None)
        .ctx(|| format!("cannot fetch `{branch}` from `{remote}`"))?;
    Ok(remote_tracking(repo, remote, branch))
}

pub fn remote_tracking(repo: &Repository, remote: &str, branch: &str) -> Option<Oid> {
    repo.refname_to_id(&format!("refs/remotes/{remote}/{branch}"))
        .ok()
}

pub fn local_branch(repo: &Repository, branch: &str) -> Option<Oid> {
    repo.refname_to_id(&format!("refs/heads/{branch}")).ok()
}

/// (ahead, behind) of `local` relative to `upstream`.
pub fn ahead_behind(repo: &Repository, local: Oid, upstream: Oid) -> Result<(usize, usize)> {
    repo.graph_ahead_behind(local, upstream)
        .ctx(|| "cannot compare the branch with its remote".into())
}

pub fn is_ancestor(repo: &Repository, ancestor: Oid, of: Oid) -> bool {
    ancestor == of || repo.graph_descendant_of(of, ancestor).unwrap_or(false)
}

/// The remote's refs, like `git ls-remote`: tags map to the commit they peel to.
#[derive(Debug, Default)]
pub struct RemoteRefs {
    pub refs: BTreeMap<String, Oid>,
}

impl RemoteRefs {
    pub fn branch(&self, branch: &str) -> Option<Oid> {
        self.refs.get(&format!("refs/heads/{branch}")).copied()
    }

    /// The commit a tag points at (peeled through an annotated tag object).
    pub fn tag_commit(&self, tag: &str) -> Option<Oid> {
        self.refs
            .get(&format!("refs/tags/{tag}^{{}}"))
            .or_else(|| self.refs.get(&format!("refs/tags/{tag}")))
            .copied()
    }

    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.refs
            .keys()
            .filter_map(|r| r.strip_prefix("refs/tags/"))
            .filter(|t| !t.ends_with("^{}"))
    }
}

pub fn ls_remote(repo: &Repository, remote: &str) -> Result<RemoteRefs> {
    let mut r = repo
        .find_remote(remote)
        .ctx(|| format!("no remote named `{remote}`"))?;
    let conn = r
        .connect_auth(Direction::Fetch, Some(callbacks(repo)), None)
        .ctx(|| format!("cannot reach remote `{remote}`"))?;
    let heads = conn
        .list()
        .ctx(|| format!("cannot list the refs of `{remote}`"))?;
    let refs = heads
        .iter()
        .map(|h| (h.name().to_string(), h.oid()))
        .collect();
    Ok(RemoteRefs { refs })
}

/// The commit a local tag points at, if the tag exists.
pub fn tag_commit(repo: &Repository, tag: &str) -> Option<Oid> {
    let r = repo.find_reference(&format!("refs/tags/{tag}")).ok()?;
    r.peel_to_commit().ok().map(|c| c.id())
}

pub fn is_annotated_tag(repo: &Repository, tag: &str) -> bool {
    repo.find_reference(&format!("refs/tags/{tag}"))
        .ok()
        .and_then(|r| r.target())
        .and_then(|oid| repo.find_tag(oid).ok())
        .is_some()
}

/// A file's text in a commit, if it exists and is UTF-8.
pub fn read_at(repo: &Repository, commit: Oid, path: &str) -> Option<String> {
    let tree = repo.find_commit(commit).ok()?.tree().ok()?;
    let entry = tree.get_path(Path::new(path)).ok()?;
    let blob = repo.find_blob(entry.id()).ok()?;
    String::from_utf8(blob.content().to_vec()).ok()
}

pub fn commit_message(repo: &Repository, oid: Oid) -> Option<String> {
    repo.find_commit(oid)
        .ok()
        .and_then(|c| c.message().map(|m| m.trim().to_string()))
}

pub fn commit_parent(repo: &Repository, oid: Oid) -> Option<Oid> {
    repo.find_commit(oid).ok().and_then(|c| c.parent_id(0).ok())
}

fn signature(repo: &Repository) -> Result<git2::Signature<'static>> {
    repo.signature().ctx(|| {
        "git has no author identity; set one with `git config user.name` and `git config user.email`".into()
    })
}

/// Stage `paths` (relative to the root) and commit them on HEAD.
pub fn commit_paths(repo: &Repository, paths: &[String], message: &str) -> Result<Oid> {
    let mut index = repo.index().ctx(|| "cannot open the git index".into())?;
    for p in paths {
        index
            .add_path(Path::new(p))
            .ctx(|| format!("cannot stage {p}"))?;
    }
    index.write().ctx(|| "cannot write the git index".into())?;
    let tree_id = index.write_tree().ctx(|| "cannot write the tree".into())?;
    let tree = repo
        .find_tree(tree_id)
        .ctx(|| "cannot read the tree just written".into())?;
    let sig = signature(repo)?;
    let parent = repo
        .find_commit(head_commit(repo)?)
        .ctx(|| "cannot read HEAD".into())?;
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &[&parent])
        .ctx(|| "cannot commit".into())
}

pub fn create_annotated_tag(
    repo: &Repository,
    tag: &str,
    target: Oid,
    message: &str,
) -> Result<Oid> {
    let obj = repo
        .find_object(target, Some(ObjectType::Commit))
        .ctx(|| format!("cannot find commit {target}"))?;
    let sig = signature(repo)?;
    repo.tag(tag, &obj, &sig, message, false)
        .ctx(|| format!("cannot create tag {tag}"))
}

pub fn delete_tag(repo: &Repository, tag: &str) -> Result<()> {
    repo.tag_delete(tag)
        .ctx(|| format!("cannot delete tag {tag}"))
}

pub fn reset_hard(repo: &Repository, to: Oid) -> Result<()> {
    let obj = repo
        .find_object(to, Some(ObjectType::Commit))
        .ctx(|| format!("cannot find commit {to}"))?;
    repo.reset(&obj, ResetType::Hard, None)
        .ctx(|| format!("cannot reset to {to}"))
}

/// What the remote said about one pushed ref.
#[derive(Debug)]
pub enum PushResult {
    Accepted,
    /// Refused before sending because the remote ref is not an ancestor of ours.
    NotFastForward(String),
    /// Refused by the remote, with its status text.
    Rejected(String),
}

/// Push one refspec to the remote's push URL (`remote.<name>.pushurl`, else its URL).
pub fn push(repo: &Repository, remote: &str, refspec: &str) -> Result<PushResult> {
    let mut r = repo
        .find_remote(remote)
        .ctx(|| format!("no remote named `{remote}`"))?;
    let mut rejection: Option<String> = None;
    let outcome = {
        let mut cb = callbacks(repo);
        cb.push_update_reference(|refname, status| {
            if let Some(msg) = status {
                rejection = Some(format!("{refname}: {msg}"));
            }
            Ok(())
        });
        let mut opts = PushOptions::new();
        opts.remote_callbacks(cb);
        r.push(&[refspec], Some(&mut opts))
    };
    match outcome {
        Ok(()) => Ok(match rejection {
            Some(msg) => PushResult::Rejected(msg),
            None => PushResult::Accepted,
        }),
        Err(e) if e.code() == git2::ErrorCode::NotFastForward => {
            Ok(PushResult::NotFastForward(e.message().to_string()))
        }
        Err(source) => Err(GitError::Git {
            what: format!("cannot push {refspec} to `{remote}`"),
            source,
        }),
    }
}

/// Write the tree of `commit` into `dest` (like `git archive | tar x`): a clean
/// export with nothing untracked, ignored or left over from earlier builds.
pub fn export_tree(repo: &Repository, commit: Oid, dest: &Path) -> Result<()> {
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .ctx(|| format!("cannot read the tree of {commit}"))?;
    let ioerr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GitError::Io { path, source }
    };
    std::fs::create_dir_all(dest).map_err(ioerr(dest))?;
    let mut failure: Option<GitError> = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        let Some(name) = entry.name() else {
            return git2::TreeWalkResult::Skip;
        };
        let path = dest.join(dir).join(name);
        let result = match entry.kind() {
            Some(ObjectType::Tree) => std::fs::create_dir_all(&path).map_err(ioerr(&path)),
            Some(ObjectType::Blob) => repo
                .find_blob(entry.id())
                .ctx(|| format!("cannot read blob {}", entry.id()))
                .and_then(|blob| write_blob(&path, blob.content(), entry.filemode())),
            _ => Ok(()),
        };
        match result {
            Ok(()) => git2::TreeWalkResult::Ok,
            Err(e) => {
                failure = Some(e);
                git2::TreeWalkResult::Abort
            }
        }
    })
    .ok();
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn write_blob(path: &Path, content: &[u8], mode: i32) -> Result<()> {
    let err = |source| GitError::Io {
        path: path.to_path_buf(),
        source,
    };
    #[cfg(unix)]
    if mode == 0o120000 {
        let target = String::from_utf8_lossy(content).into_owned();
        return std::os::unix::fs::symlink(target, path).map_err(err);
    }
    std::fs::write(path, content).map_err(err)?;
    #[cfg(unix)]
    if mode == 0o100755 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(err)?;
    }
    Ok(())
}
