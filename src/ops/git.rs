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
    RemoteCallbacks, Repository, StatusOptions,
};
use thiserror::Error;

use super::sign::{SignError, Signer};

#[derive(Debug, Error)]
pub enum GitError {
    // libgit2's message only (its class and code say nothing to a user),
    // and not as a source: the error chain would print it twice.
    #[error("{what}: {}{}", said(.error), hint(.error))]
    Git { what: String, error: git2::Error },
    #[error("{0}")]
    Other(String),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error("{what} would overwrite local work in {}: commit, stash or move it away, then run the command again", .files.join(", "))]
    WouldLoseWork { what: String, files: Vec<String> },
}

pub type Result<T> = std::result::Result<T, GitError>;

/// How libgit2 says a ref's `.lock` file was in its way (`failed to lock
/// file 'PATH' for writing`).
const LOCK_FAILED: &str = "failed to lock file '";

/// Did libgit2 find a ref's `.lock` file in its way?
fn is_ref_lock(e: &git2::Error) -> bool {
    e.message().contains(LOCK_FAILED)
}

/// The `.lock` file a libgit2 message or a push refusal names.
pub fn lock_file_named(why: &str) -> Option<PathBuf> {
    let rest = why.split(LOCK_FAILED).nth(1)?;
    let path = PathBuf::from(rest.split('\'').next()?);
    path.extension()
        .is_some_and(|e| e == "lock")
        .then_some(path)
}

/// A libgit2 message without the `: ` some end with (`failed to lock
/// file '…' for writing: `).
fn trimmed(message: &str) -> &str {
    message.trim_end().trim_end_matches(':')
}

/// libgit2's message, [`trimmed`].
fn said(e: &git2::Error) -> &str {
    trimmed(e.message())
}

/// What to do about the failures a user can fix from the environment.
fn hint(e: &git2::Error) -> &'static str {
    match (e.class(), e.code()) {
        (git2::ErrorClass::Ssl, git2::ErrorCode::Certificate) => {
            "; the remote's certificate is not trusted: if it uses a private CA, point SSL_CERT_FILE at a PEM bundle holding it"
        }
        _ if e.message().contains("username/password") => {
            "; no credentials for it: configure a git credential helper, or set GITHUB_TOKEN (offered to github.com, or to the GitHub server GITHUB_SERVER_URL names)"
        }
        // Another git command running in that repository now, or a `.lock`
        // file left by one that was killed: git itself never removes those,
        // and this tool only those it can show are dead ([`clearing_local`],
        // [`push_checked`]), so the rest are the user's to judge.
        (git2::ErrorClass::Index, git2::ErrorCode::Locked) => {
            " (.git/index.lock is there, holding an index): if no git command is running in this repository now, delete that file (a git process killed while writing the index leaves it), then run this command again"
        }
        _ if e.code() == git2::ErrorCode::Locked || is_ref_lock(e) => {
            ": if no git command is running in that repository now, delete that `.lock` file (a git process killed while writing that ref leaves it), then run this command again"
        }
        _ => "",
    }
}

trait Ctx<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Ctx<T> for std::result::Result<T, git2::Error> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|error| GitError::Git {
            what: what(),
            error,
        })
    }
}

pub fn open(dir: &Path) -> Result<Repository> {
    let repo = Repository::discover(dir).map_err(|e| match e.code() {
        git2::ErrorCode::NotFound => GitError::Other(format!(
            "{} is not inside a git repository: run release in your monorepo's checkout, or pass --repo DIR",
            dir.display()
        )),
        _ => GitError::Git {
            what: format!("cannot open the git repository at {}", dir.display()),
            error: e,
        },
    })?;
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
            let github = parsed.as_ref().is_some_and(is_github);
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

/// Is `url` on GitHub: github.com, or the GitHub Enterprise server a GitHub
/// Actions job runs for (`GITHUB_SERVER_URL`, same scheme, host and port)?
fn is_github(url: &url::Url) -> bool {
    let on_github_com = url
        .host_str()
        .is_some_and(|h| h == "github.com" || h.ends_with(".github.com"));
    let server = std::env::var("GITHUB_SERVER_URL")
        .ok()
        .and_then(|s| url::Url::parse(s.trim()).ok());
    on_github_com || server.is_some_and(|s| s.scheme() == "https" && s.origin() == url.origin())
}

/// The remote as the release sees it: its push URL (git's rule,
/// `remote.<name>.pushurl`, else its URL). Every read of the remote's branch
/// and tags goes there too, because that is where the release lands: a fetch
/// URL that lags behind (a read-only mirror) would hide drift, and make
/// recover fast-forward to a stale commit.
fn target<'r>(repo: &'r Repository, remote: &str) -> Result<git2::Remote<'r>> {
    let url = push_url(repo, remote)?;
    repo.remote_anonymous(&url)
        .ctx(|| format!("cannot use the push URL of `{remote}`"))
}

/// Fetch the release branch from the push target into its remote-tracking
/// ref only: no local tags.
pub fn fetch_branch(repo: &Repository, remote: &str, branch: &str) -> Result<Option<Oid>> {
    let refspec = format!("+refs/heads/{branch}:refs/remotes/{remote}/{branch}");
    fetch_one(repo, remote, &refspec, || {
        format!("cannot fetch `{branch}` from `{remote}`")
    })?;
    Ok(remote_tracking(repo, remote, branch))
}

/// Fetch `refspec` from the push target without following tags; a ref
/// lock a killed fetch left empty is dealt with as [`clearing_local`] says.
fn fetch_one(
    repo: &Repository,
    remote: &str,
    refspec: &str,
    what: impl FnOnce() -> String,
) -> Result<()> {
    let mut r = target(repo, remote)?;
    clearing_local(repo, &|_| false, || {
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(callbacks(repo))
            .download_tags(AutotagOption::None);
        r.fetch(&[refspec], Some(&mut opts), None)
    })
    .ctx(what)
}

/// Fetch one refspec (e.g. `+refs/tags/1.0:refs/tags/1.0`) from the push
/// target, without following tags.
pub fn fetch_refspec(repo: &Repository, remote: &str, refspec: &str) -> Result<()> {
    fetch_one(repo, remote, refspec, || {
        format!("cannot fetch {refspec} from `{remote}`")
    })
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
    let mut r = target(repo, remote)?;
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

/// The bytes of `path` in `commit`, if it holds that file.
pub fn read_bytes_at(repo: &Repository, commit: Oid, path: &str) -> Option<Vec<u8>> {
    let tree = repo.find_commit(commit).ok()?.tree().ok()?;
    let entry = tree.get_path(Path::new(path)).ok()?;
    let blob = repo.find_blob(entry.id()).ok()?;
    Some(blob.content().to_vec())
}

/// Every path (`/`-separated, from the root) whose entry differs between the
/// trees of two commits: added, removed, changed or given another mode.
pub fn changed_paths(repo: &Repository, from: Oid, to: Oid) -> Result<Vec<String>> {
    let tree = |oid: Oid| {
        repo.find_commit(oid)
            .and_then(|c| c.tree())
            .ctx(|| format!("cannot read the tree of {oid}"))
    };
    let (a, b) = (tree(from)?, tree(to)?);
    let diff = repo
        .diff_tree_to_tree(Some(&a), Some(&b), None)
        .ctx(|| format!("cannot compare {from} with {to}"))?;
    let mut paths = Vec::new();
    for d in diff.deltas() {
        for file in [d.old_file(), d.new_file()] {
            if let Some(p) = file.path() {
                let p = p.to_string_lossy().replace('\\', "/");
                if !paths.contains(&p) {
                    paths.push(p);
                }
            }
        }
    }
    Ok(paths)
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

/// Commit `paths` (relative to the root) on HEAD: the commit's tree is HEAD's
/// tree with exactly these files as they are on disk, so whatever else the user
/// has staged is neither committed nor unstaged.
/// Signed when `signer` is given (`commit.gpgSign`).
pub fn commit_paths(
    repo: &Repository,
    paths: &[String],
    message: &str,
    signer: Option<&Signer>,
) -> Result<Oid> {
    let parent = repo
        .find_commit(head_commit(repo)?)
        .ctx(|| "cannot read HEAD".into())?;
    let parent_tree = parent.tree().ctx(|| "cannot read HEAD's tree".into())?;
    let mut scratch = git2::Index::new().ctx(|| "cannot make an index".into())?;
    scratch
        .read_tree(&parent_tree)
        .ctx(|| "cannot read HEAD's tree".into())?;
    let root = workdir(repo)?;
    let mut real = repo.index().ctx(|| "cannot open the git index".into())?;
    for p in paths {
        let meta = match std::fs::symlink_metadata(root.join(p)) {
            // Deleted (by a bump hook: towncrier removes the fragments it used).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                scratch
                    .remove_path(Path::new(p))
                    .ctx(|| format!("cannot unstage {p}"))?;
                real.remove_path(Path::new(p))
                    .ctx(|| format!("cannot unstage {p}"))?;
                continue;
            }
            other => other.map_err(|source| GitError::Io {
                path: root.join(p),
                source,
            })?,
        };
        if !meta.is_file() {
            return Err(GitError::Other(format!(
                "{p} is not a plain file; the release commit takes plain files only"
            )));
        }
        let content = std::fs::read(root.join(p)).map_err(|source| GitError::Io {
            path: root.join(p),
            source,
        })?;
        // A file new at HEAD was made by a bump hook (`uv lock` writing a
        // first `uv.lock`).
        let mut entry = scratch
            .get_path(Path::new(p), 0)
            .unwrap_or_else(|| new_entry(p, &meta));
        entry.id = repo.blob(&content).ctx(|| format!("cannot store {p}"))?;
        entry.file_size = u32::try_from(content.len()).unwrap_or(u32::MAX);
        scratch.add(&entry).ctx(|| format!("cannot stage {p}"))?;
        real.add_path(Path::new(p))
            .ctx(|| format!("cannot stage {p}"))?;
    }
    let tree_id = scratch
        .write_tree_to(repo)
        .ctx(|| "cannot write the tree".into())?;
    let tree = repo
        .find_tree(tree_id)
        .ctx(|| "cannot read the tree just written".into())?;
    let sig = signature(repo)?;
    // A lock on HEAD's branch left by a run killed while moving it to a
    // commit like this one (same tree, parent and message) is that run's.
    let like_this = |oid: Oid| {
        repo.find_commit(oid).is_ok_and(|c| {
            c.tree_id() == tree_id
                && c.message() == Some(message)
                && c.parent_ids().eq([parent.id()])
        })
    };
    let commit = match signer {
        None => clearing_local(repo, &like_this, || {
            repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &[&parent])
        })
        .ctx(|| "cannot commit".into())?,
        Some(signer) => commit_signed(repo, signer, &sig, message, &tree, &parent, &like_this)?,
    };
    clearing_local(repo, &|_| false, || real.write())
        .ctx(|| "cannot write the git index".into())?;
    Ok(commit)
}

/// An index entry for a file new to the index (its mode from the disk).
fn new_entry(path: &str, meta: &std::fs::Metadata) -> git2::IndexEntry {
    #[cfg(unix)]
    let executable = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0;
    #[cfg(not(unix))]
    let executable = {
        let _ = meta;
        false
    };
    let time = git2::IndexTime::new(0, 0);
    git2::IndexEntry {
        ctime: time,
        mtime: time,
        dev: 0,
        ino: 0,
        mode: if executable { 0o100755 } else { 0o100644 },
        uid: 0,
        gid: 0,
        file_size: 0,
        id: Oid::zero(),
        flags: 0,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    }
}

/// Put `paths` back as `commit` holds them: a file it lacks is removed,
/// the rest checked out over whatever is there. For undoing what release
/// itself changed (the bump hooks' edits); the caller decides that the
/// files are its own.
pub fn restore_paths(repo: &Repository, commit: Oid, paths: &[String]) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let root = workdir(repo)?;
    let commit = repo
        .find_commit(commit)
        .ctx(|| format!("cannot find commit {commit}"))?;
    let tree = commit
        .tree()
        .ctx(|| format!("cannot read the tree of {}", commit.id()))?;
    let mut checkout = Vec::new();
    for p in paths {
        if tree.get_path(Path::new(p)).is_ok() {
            checkout.push(p);
        } else {
            match std::fs::remove_file(root.join(p)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(GitError::Io {
                        path: root.join(p),
                        source: e,
                    })
                }
                _ => {}
            }
        }
    }
    if !checkout.is_empty() {
        let mut cb = git2::build::CheckoutBuilder::new();
        cb.force().disable_pathspec_match(true);
        for p in checkout {
            cb.path(p.as_str());
        }
        clearing_local(repo, &|_| false, || {
            repo.checkout_tree(commit.as_object(), Some(&mut cb))
        })
        .ctx(|| format!("cannot check out the files of {}", commit.id()))?;
    }
    // The index too: a path staged by an interrupted commit goes back.
    let mut index = repo.index().ctx(|| "cannot open the git index".into())?;
    for p in paths {
        match tree.get_path(Path::new(p)) {
            Ok(_) => index
                .add_path(Path::new(p))
                .ctx(|| format!("cannot stage {p}"))?,
            Err(_) => {
                let _ = index.remove_path(Path::new(p));
            }
        }
    }
    clearing_local(repo, &|_| false, || index.write())
        .ctx(|| "cannot write the git index".into())?;
    Ok(())
}

/// Write a ref or the index of this repository (a checkout writes the
/// index) with `write`; when libgit2 finds a `.lock` file in its way (a git
/// process killed while writing leaves it) and `ours` says what the file
/// holds is what this release writes there, or it is empty and stays
/// untouched (see [`Verdict`]), the file is removed and the write made once
/// more. The caller holds `.release/lock`, so no runner of this checkout is
/// alive; any other value in the file may be a git command's at work, and
/// is left. So is an `index.lock` holding an index: a git command at work,
/// `git commit -a` waiting for its editor included, has written it there.
fn clearing_local<T>(
    repo: &Repository,
    ours: &dyn Fn(Oid) -> bool,
    mut write: impl FnMut() -> std::result::Result<T, git2::Error>,
) -> std::result::Result<T, git2::Error> {
    let left = match write() {
        Err(e) if e.code() == git2::ErrorCode::Locked && e.class() == git2::ErrorClass::Index => {
            let left = read_left(repo.path().join("index.lock"), repo.path().to_path_buf());
            (e, left)
        }
        // (A fetch says so with another code.)
        Err(e) if e.code() == git2::ErrorCode::Locked || is_ref_lock(&e) => {
            let left = left_lock(&repo.commondir().to_string_lossy(), e.message());
            (e, left)
        }
        done => return done,
    };
    match left {
        (_, Some(left)) if left.clear(left.verdict(left.holds.is_some_and(ours))) => write(),
        (e, _) => Err(e),
    }
}

/// A commit signed as `git commit -S` signs it (the signature in its
/// `gpgsig` header), then HEAD's branch moved to it from `parent` only.
fn commit_signed(
    repo: &Repository,
    signer: &Signer,
    sig: &git2::Signature,
    message: &str,
    tree: &git2::Tree,
    parent: &git2::Commit,
    like_this: &dyn Fn(Oid) -> bool,
) -> Result<Oid> {
    let buffer = repo
        .commit_create_buffer(sig, sig, message, tree, &[parent])
        .ctx(|| "cannot write the commit".into())?;
    let text = buffer.as_str().ok_or_else(|| {
        GitError::Other("the commit is not UTF-8 text; it cannot be signed".into())
    })?;
    let signature = signer.sign(text.as_bytes())?;
    let commit = repo
        .commit_signed(text, &signature, Some("gpgsig"))
        .ctx(|| "cannot write the signed commit".into())?;
    let head = repo
        .head()
        .ctx(|| "HEAD does not point at a commit".into())?;
    let name = head.name().unwrap_or("HEAD").to_string();
    let summary = message.lines().next().unwrap_or("");
    clearing_local(repo, like_this, || {
        repo.reference_matching(
            &name,
            commit,
            true,
            parent.id(),
            &format!("commit: {summary}"),
        )
    })
    .ctx(|| format!("cannot move {name} to the signed commit {commit}"))?;
    Ok(commit)
}

/// An annotated tag on `target`; signed, as `git tag -s` signs it, when
/// `signer` is given.
pub fn create_annotated_tag(
    repo: &Repository,
    tag: &str,
    target: Oid,
    message: &str,
    signer: Option<&Signer>,
) -> Result<Oid> {
    let obj = repo
        .find_object(target, Some(ObjectType::Commit))
        .ctx(|| format!("cannot find commit {target}"))?;
    let sig = signature(repo)?;
    // A lock on the tag left by a run killed while writing this tag (its
    // name, on this commit) is that run's.
    let like_this = |oid: Oid| {
        repo.find_tag(oid)
            .is_ok_and(|t| t.name_bytes() == tag.as_bytes() && t.target_id() == target)
    };
    let Some(signer) = signer else {
        return clearing_local(repo, &like_this, || {
            repo.tag(tag, &obj, &sig, message, false)
        })
        .ctx(|| format!("cannot create tag {tag}"));
    };
    // The tag object's text, as git writes it; the signature is appended to
    // it, so the message must end its line for `git tag -v` to find where
    // the signature starts.
    let mut text = format!(
        "object {target}\ntype commit\ntag {tag}\ntagger {}\n\n{}\n",
        raw_signature(&sig),
        message.trim_end_matches('\n')
    );
    text.push_str(&signer.sign(text.as_bytes())?);
    let odb = repo
        .odb()
        .ctx(|| "cannot open the object database".into())?;
    let id = odb
        .write(ObjectType::Tag, text.as_bytes())
        .ctx(|| format!("cannot write the signed tag {tag}"))?;
    clearing_local(repo, &like_this, || {
        repo.reference(&format!("refs/tags/{tag}"), id, false, "tag: signed")
    })
    .ctx(|| format!("cannot create tag {tag}"))?;
    Ok(id)
}

/// `Name <email> 1700000000 +0100`, as an object header carries a person.
fn raw_signature(sig: &git2::Signature) -> String {
    let when = sig.when();
    let offset = when.offset_minutes();
    format!(
        "{} <{}> {} {}{:02}{:02}",
        String::from_utf8_lossy(sig.name_bytes()),
        String::from_utf8_lossy(sig.email_bytes()),
        when.seconds(),
        if offset < 0 { '-' } else { '+' },
        offset.abs() / 60,
        offset.abs() % 60
    )
}

/// Does the local tag carry a signature (an annotated tag whose message
/// ends in a PGP, SSH or X.509 signature block, as git appends them)?
pub fn is_signed_tag(repo: &Repository, tag: &str) -> bool {
    let Some(oid) = repo
        .find_reference(&format!("refs/tags/{tag}"))
        .ok()
        .and_then(|r| r.target())
    else {
        return false;
    };
    let Ok(odb) = repo.odb() else { return false };
    let Ok(object) = odb.read(oid) else {
        return false;
    };
    object.kind() == ObjectType::Tag
        && String::from_utf8_lossy(object.data()).lines().any(|l| {
            matches!(
                l,
                "-----BEGIN PGP SIGNATURE-----"
                    | "-----BEGIN SSH SIGNATURE-----"
                    | "-----BEGIN SIGNED MESSAGE-----"
            )
        })
}

pub fn delete_tag(repo: &Repository, tag: &str) -> Result<()> {
    clearing_local(repo, &|_| false, || repo.tag_delete(tag))
        .ctx(|| format!("cannot delete tag {tag}"))
}

/// Create branch `name` at HEAD (or keep it, when it is there already) and
/// point HEAD at it. The tree is HEAD's, so nothing is checked out: what
/// the next commit adds goes to `name`, and the branch HEAD was on stays.
pub fn start_branch(repo: &Repository, name: &str) -> Result<()> {
    let head = head_commit(repo)?;
    let refname = format!("refs/heads/{name}");
    match repo.refname_to_id(&refname) {
        Ok(at) if at == head => {}
        Ok(at) => {
            return Err(GitError::Other(format!(
                "a local branch `{name}` exists at {at}, not at HEAD ({head}); delete it if it is stale (`git branch -D {name}`)"
            )))
        }
        Err(_) => {
            let commit = repo
                .find_commit(head)
                .ctx(|| format!("cannot read {head}"))?;
            repo.branch(name, &commit, false)
                .ctx(|| format!("cannot create branch `{name}`"))?;
        }
    }
    repo.set_head(&refname)
        .ctx(|| format!("cannot switch to `{name}`"))
}

/// Switch to the local branch `name` as `git switch` does: files that differ
/// are updated, and local changes are kept or, where they would be
/// overwritten, the switch is refused (nothing changes).
pub fn switch_to(repo: &Repository, name: &str) -> Result<()> {
    let refname = format!("refs/heads/{name}");
    let target = repo
        .refname_to_id(&refname)
        .and_then(|id| repo.find_commit(id))
        .ctx(|| format!("there is no local branch `{name}`"))?;
    let mut opts = git2::build::CheckoutBuilder::new();
    opts.safe();
    clearing_local(repo, &|_| false, || repo.checkout_tree(target.as_object(), Some(&mut opts)))
        .ctx(|| format!("cannot switch to `{name}` without overwriting local changes; commit or stash them, then `git switch {name}`"))?;
    repo.set_head(&refname)
        .ctx(|| format!("cannot switch to `{name}`"))
}

/// Delete the local branch `name` if it points at one of `at`; true if deleted.
pub fn delete_branch_at(repo: &Repository, name: &str, at: &[Oid]) -> Result<bool> {
    let Ok(mut branch) = repo.find_branch(name, git2::BranchType::Local) else {
        return Ok(false);
    };
    if !branch.get().target().is_some_and(|t| at.contains(&t)) || branch.is_head() {
        return Ok(false);
    }
    branch
        .delete()
        .ctx(|| format!("cannot delete branch `{name}`"))?;
    Ok(true)
}

/// The id of the tree or blob at `path` in `commit` (`None`: not there).
pub fn tree_at(repo: &Repository, commit: Oid, path: &str) -> Option<Oid> {
    let tree = repo.find_commit(commit).ok()?.tree().ok()?;
    match path.trim_matches('/') {
        "" | "." => Some(tree.id()),
        p => tree.get_path(Path::new(p)).ok().map(|e| e.id()),
    }
}

fn path_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Move the checked-out branch to `to` the way `git reset --keep` does: the
/// files that differ between HEAD and `to` are updated, and every other local
/// change (edited, staged or untracked) is left as it is. If any file to be
/// updated holds local work, nothing happens and the error names the files.
///
/// `ours` lists files a crashed bump may have written (path, sha256 of what it
/// writes): a file holding exactly that content is ours to undo, so it is
/// restored to `to` even when HEAD does not move.
pub fn reset_keep(repo: &Repository, to: Oid, ours: &[(String, String)], what: &str) -> Result<()> {
    let head_ref = repo
        .head()
        .ctx(|| "HEAD does not point at a commit".into())?;
    let head_ref = head_ref
        .name()
        .filter(|_| head_ref.is_branch())
        .map(str::to_string);
    let head = head_commit(repo)?;
    if head != to && head_ref.is_none() {
        return Err(GitError::Other(format!(
            "{what}: HEAD is not on a branch; refusing to move anything. Switch back to the release branch first"
        )));
    }
    let head_tree = repo
        .find_commit(head)
        .and_then(|c| c.tree())
        .ctx(|| format!("cannot read the tree of {head}"))?;
    let target = repo
        .find_commit(to)
        .ctx(|| format!("cannot find commit {to}"))?;
    let target_tree = target
        .tree()
        .ctx(|| format!("cannot read the tree of {to}"))?;
    let diff = repo
        .diff_tree_to_tree(Some(&head_tree), Some(&target_tree), None)
        .ctx(|| format!("cannot compare {head} with {to}"))?;
    let mut touched: std::collections::BTreeSet<Vec<u8>> = Default::default();
    for delta in diff.deltas() {
        for f in [delta.old_file(), delta.new_file()] {
            if let Some(p) = f.path_bytes() {
                touched.insert(p.to_vec());
            }
        }
    }
    let workdir = workdir(repo)?;
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let statuses = repo
        .statuses(Some(&mut opts))
        .ctx(|| "cannot read the working tree status".into())?;
    let mut restore = touched.clone();
    let mut conflicts = Vec::new();
    for entry in statuses.iter() {
        let path = entry.path_bytes().to_vec();
        let on_disk = std::fs::read(workdir.join(bytes_path(&path))).ok();
        let text = path_text(&path);
        let ours_here = ours.iter().any(|(p, sha)| {
            *p == text && on_disk.as_deref().map(super::sha256_bytes).as_deref() == Some(sha)
        });
        if ours_here {
            restore.insert(path);
            continue;
        }
        if !touched.contains(&path) {
            continue;
        }
        // Already what `to` holds (a reset interrupted half-way): nothing to lose.
        let wanted = target_tree
            .get_path(&bytes_path(&path))
            .ok()
            .and_then(|e| repo.find_blob(e.id()).ok())
            .map(|b| b.content().to_vec());
        if on_disk.is_some() && on_disk == wanted {
            continue;
        }
        conflicts.push(text);
    }
    if !conflicts.is_empty() {
        return Err(GitError::WouldLoseWork {
            what: what.to_string(),
            files: conflicts,
        });
    }
    if !restore.is_empty() {
        let mut cb = git2::build::CheckoutBuilder::new();
        cb.force().disable_pathspec_match(true);
        for p in &restore {
            cb.path(p.as_slice());
        }
        clearing_local(repo, &|_| false, || {
            repo.checkout_tree(target.as_object(), Some(&mut cb))
        })
        .ctx(|| format!("cannot check out the files of {to}"))?;
    }
    if let Some(head_ref) = head_ref.filter(|_| head != to) {
        clearing_local(repo, &|oid| oid == to, || {
            repo.reference(&head_ref, to, true, what)
        })
        .ctx(|| format!("cannot move {head_ref} to {to}"))?;
    }
    Ok(())
}

#[cfg(unix)]
fn bytes_path(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
fn bytes_path(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

/// The URL a push goes to: git's rule, `remote.<name>.pushurl`, else its URL.
pub fn push_url(repo: &Repository, remote: &str) -> Result<String> {
    let r = repo
        .find_remote(remote)
        .ctx(|| format!("no remote named `{remote}`"))?;
    r.pushurl()
        .or(r.url())
        .map(str::to_string)
        .ok_or_else(|| GitError::Other(format!("the remote `{remote}` has no URL")))
}

/// Is `commit` on the push target, i.e. reachable from `branch` there, or is
/// `tag` there (when given)? Fetches the branch when its objects are needed.
pub fn reached_push_target(
    repo: &Repository,
    remote: &str,
    branch: &str,
    tag: Option<&str>,
    commit: Oid,
) -> Result<bool> {
    let refs = ls_remote(repo, remote)?;
    if tag.is_some_and(|t| refs.tag_commit(t) == Some(commit)) {
        return Ok(true);
    }
    let Some(tip) = refs.branch(branch) else {
        return Ok(false);
    };
    if tip != commit && repo.find_commit(tip).is_err() {
        fetch_branch(repo, remote, branch)?;
    }
    Ok(is_ancestor(repo, commit, tip))
}

/// What the remote said about one pushed ref.
#[derive(Debug)]
pub enum PushResult {
    Accepted,
    /// Refused before sending because the remote ref is not an ancestor of
    /// ours, or (for [`push_if`]) is no longer what the caller expected.
    NotFastForward(String),
    /// Refused by the remote, with its status text and the lines its hooks
    /// printed (the `remote:` lines of `git push`).
    Rejected(String),
}

/// How a remote's refusal of a pushed ref reads.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The remote holds commits we lack ("non-fast-forward", "fetch first").
    NotFastForward,
    Other,
}

/// Classify the status text a remote gave for a refused ref.
pub fn push_rejection_kind(status: &str) -> Rejection {
    let s = status.to_ascii_lowercase();
    if s.contains("non-fast-forward")
        || s.contains("fetch first")
        || s.contains("not present locally")
    {
        Rejection::NotFastForward
    } else {
        Rejection::Other
    }
}

/// Push one refspec to the remote's push URL (`remote.<name>.pushurl`, else its URL).
pub fn push(repo: &Repository, remote: &str, refspec: &str) -> Result<PushResult> {
    push_checked(repo, remote, refspec, None, &|_| false)
}

/// [`push`], only if the remote ref is still `expected` (`None`: it must not
/// exist), like `git push --force-with-lease=REF:EXPECTED`: checked against
/// what the remote advertised, and over ssh, https and git:// the remote
/// checks it again as it updates the ref. (To a local path libgit2 writes
/// the ref itself: a create still fails if the ref appeared meanwhile, an
/// update is not checked again.) Anything else is a
/// [`PushResult::NotFastForward`] naming what was found.
pub fn push_if(
    repo: &Repository,
    remote: &str,
    refspec: &str,
    expected: Option<Oid>,
) -> Result<PushResult> {
    push_checked(repo, remote, refspec, Some(expected), &|_| false)
}

/// [`push_if`], where a ref lock file left on a remote reached by path is
/// also cleared when `also` says whose it is (see [`LeftLock`]), beyond
/// one holding the very value pushed.
pub fn push_if_clearing(
    repo: &Repository,
    remote: &str,
    refspec: &str,
    expected: Option<Oid>,
    also: &dyn Fn(&LeftLock) -> bool,
) -> Result<PushResult> {
    push_checked(repo, remote, refspec, Some(expected), also)
}

/// A ref's lock file (`refs/heads/main.lock`) left in a repository reached
/// by path (a remote, or this checkout). libgit2 writes such a ref from
/// this process: it creates `REF.lock`, writes the new value into it as it
/// renames it over the ref. A process killed in between leaves the file,
/// mostly empty, and every later write of that ref fails until someone
/// deletes it (git never does).
#[derive(Debug)]
pub struct LeftLock {
    pub path: PathBuf,
    /// The value it holds; `None` when empty (killed before writing it, or
    /// during a delete, which writes none).
    pub holds: Option<Oid>,
    /// When it was last written.
    pub modified: Option<std::time::SystemTime>,
    /// The repository it is in.
    pub repo_dir: PathBuf,
}

/// How long an empty ref lock must stay untouched to be nobody's: a git
/// process holds a ref's lock for the milliseconds of one ref transaction.
const QUIET: std::time::Duration = std::time::Duration::from_secs(10);

/// What is to be done with a [`LeftLock`].
enum Verdict {
    /// It holds what this release writes there: its own, from a killed run.
    Ours,
    /// Empty, and untouched for [`QUIET`]: no live writer's, and holding
    /// nothing, removing it loses nothing.
    Abandoned,
    /// Gone while we waited: a live git process's, done now.
    Gone,
    /// Anybody's: left where it is.
    Keep,
}

impl LeftLock {
    /// Is it `ours` (by what it holds), abandoned or gone (waiting for an
    /// empty one to be [`QUIET`] first), or to be kept?
    fn verdict(&self, ours: bool) -> Verdict {
        if ours {
            return Verdict::Ours;
        }
        if self.holds.is_some() {
            return Verdict::Keep;
        }
        let Some(modified) = self.modified else {
            return Verdict::Keep;
        };
        // Its age by its time stamp (none when that is ahead of our clock),
        // and the rest of QUIET watched here: never longer than QUIET.
        let age = modified.elapsed().unwrap_or_default();
        let until = std::time::Instant::now() + QUIET.saturating_sub(age);
        if age < QUIET {
            say!(
                "waiting for {} (an empty ref lock) to be gone or {}s old",
                self.path.display(),
                QUIET.as_secs()
            );
        }
        loop {
            match std::fs::symlink_metadata(&self.path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Verdict::Gone,
                Ok(m) if m.len() == 0 && m.modified().ok() == Some(modified) => {
                    if std::time::Instant::now() >= until {
                        return Verdict::Abandoned;
                    }
                }
                _ => return Verdict::Keep,
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Remove it when `verdict` says so (saying why); true when the write
    /// that met it can be made again.
    fn clear(&self, verdict: Verdict) -> bool {
        let why = match verdict {
            Verdict::Gone => return true,
            Verdict::Keep => return false,
            Verdict::Ours => "left by a run of this release killed while writing that ref",
            Verdict::Abandoned => "empty and untouched for a while: left by a git process killed while writing that ref",
        };
        match std::fs::remove_file(&self.path) {
            Ok(()) => {
                say!("removed {}, {why}", self.path.display());
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(_) => false,
        }
    }
}

/// The lock file a push refusal names (`failed to lock file 'PATH' for
/// writing`), if the remote is a repository reached by path and the file
/// is there, with what it holds.
fn left_lock(url: &str, why: &str) -> Option<LeftLock> {
    let path = lock_file_named(why)?;
    // Only a ref's lock inside the repository's own refs.
    let repo_dir = local_path(url)?.canonicalize().ok()?;
    let parent = path.parent()?.canonicalize().ok()?;
    if !parent.starts_with(repo_dir.join("refs")) {
        return None;
    }
    read_left(path, repo_dir)
}

/// The lock file at `path` in the repository `dir`, if it is a small file
/// that is empty or holds an object id.
fn read_left(path: PathBuf, dir: PathBuf) -> Option<LeftLock> {
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > 100 {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let holds = match text.trim() {
        "" => None,
        t => Some(Oid::from_str(t).ok()?),
    };
    Some(LeftLock {
        path,
        holds,
        modified: meta.modified().ok(),
        repo_dir: dir,
    })
}

/// The directory a remote URL names when it is reached by path (a plain
/// path or `file://`), not over a transport.
fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(p) = url.strip_prefix("file://") {
        return Some(PathBuf::from(p));
    }
    if url.contains("://") || is_scp_like(url) {
        return None;
    }
    Some(PathBuf::from(url))
}

/// `host:path` (git's scp-like ssh syntax), not a path with a colon after a
/// slash.
fn is_scp_like(url: &str) -> bool {
    match url.find(':') {
        Some(colon) => !url[..colon].contains('/'),
        None => false,
    }
}

/// The commit or tag `refspec` pushes (`None` for a delete).
fn pushed_oid(repo: &Repository, refspec: &str) -> Option<Oid> {
    let src = refspec.trim_start_matches('+').split(':').next()?;
    if src.is_empty() {
        return None;
    }
    repo.revparse_single(src).ok().map(|o| o.id())
}

fn push_checked(
    repo: &Repository,
    remote: &str,
    refspec: &str,
    expected: Option<Option<Oid>>,
    also: &dyn Fn(&LeftLock) -> bool,
) -> Result<PushResult> {
    let pushed = push_once(repo, remote, refspec, expected)?;
    let PushResult::Rejected(why) = &pushed else {
        return Ok(pushed);
    };
    // A lock file a killed push of the same value left (this release's own
    // push, killed and now resumed: nobody else writes this very commit
    // there), one `also` owns, or an abandoned empty one: removed, and the
    // push tried once more.
    let url = push_url(repo, remote)?;
    let Some(left) = left_lock(&url, why) else {
        return Ok(pushed);
    };
    let same = left.holds.is_some() && left.holds == pushed_oid(repo, refspec);
    if left.clear(left.verdict(same || also(&left))) {
        return push_once(repo, remote, refspec, expected);
    }
    let holds = left.holds.map_or("nothing".into(), |o| o.to_string());
    Ok(PushResult::Rejected(format!(
        "{}; the lock file {} is left there holding {holds}, not a value this release pushes (a git process killed while writing that ref leaves it): if no git process is working on that repository now, delete that file",
        trimmed(why),
        left.path.display()
    )))
}

fn push_once(
    repo: &Repository,
    remote: &str,
    refspec: &str,
    expected: Option<Option<Oid>>,
) -> Result<PushResult> {
    // Through an anonymous remote on the push URL: libgit2 was seen pushing
    // a named remote to its fetch URL when a separate push URL is set.
    let mut r = target(repo, remote)?;
    let mut rejection: Option<String> = None;
    let mut stale: Option<String> = None;
    let mut said: Vec<u8> = Vec::new();
    let outcome = {
        let mut cb = callbacks(repo);
        cb.push_update_reference(|refname, status| {
            if let Some(msg) = status {
                rejection = Some(format!("{refname}: {msg}"));
            }
            Ok(())
        });
        // What the remote's hooks print (a protected branch's reason, a
        // forge's policy) comes on the progress side-band.
        cb.sideband_progress(|data| {
            said.extend_from_slice(data);
            true
        });
        if let Some(expected) = expected {
            let stale_ref = &mut stale;
            cb.push_negotiation(move |updates| {
                let want = expected.unwrap_or_else(Oid::zero);
                for u in updates {
                    if u.src() != want {
                        let found = match u.src().is_zero() {
                            true => "nothing".to_string(),
                            false => u.src().to_string(),
                        };
                        let dst = u.dst_refname().unwrap_or("the ref");
                        *stale_ref = Some(format!(
                            "{dst} on the remote is {found}, not {}",
                            expected.map_or("absent".into(), |o| o.to_string())
                        ));
                        return Err(git2::Error::from_str("the remote ref moved"));
                    }
                }
                Ok(())
            });
        }
        let mut opts = PushOptions::new();
        opts.remote_callbacks(cb);
        r.push(&[refspec], Some(&mut opts))
    };
    let lines = remote_lines(&said);
    if let Some(why) = stale {
        return Ok(PushResult::NotFastForward(why));
    }
    match outcome {
        Ok(()) => Ok(match rejection {
            Some(msg) => PushResult::Rejected(with_remote_lines(msg, &lines)),
            None => PushResult::Accepted,
        }),
        Err(e) if e.code() == git2::ErrorCode::NotFastForward => {
            Ok(PushResult::NotFastForward(e.message().to_string()))
        }
        Err(error) => Err(GitError::Git {
            what: with_remote_lines(format!("cannot push {refspec} to `{remote}`"), &lines),
            error,
        }),
    }
}

/// The lines a remote sent on the side-band, as `git push` shows them after
/// `remote:`: split on newlines and carriage returns (progress counters
/// rewrite their line), blank ones and progress counters left out.
fn remote_lines(raw: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(raw)
        .split(['\n', '\r'])
        .map(|l| l.trim_end().trim_start_matches("remote:").trim())
        .filter(|l| !l.is_empty())
        .filter(|l| !is_progress(l))
        .map(|l| l.chars().filter(|c| !c.is_control()).collect())
        .collect()
}

/// `Resolving deltas: 100% (3/3)`, `Counting objects: 5, done.`: progress, not a reason.
fn is_progress(line: &str) -> bool {
    [
        "Resolving deltas",
        "Counting objects",
        "Compressing objects",
        "Writing objects",
    ]
    .iter()
    .any(|p| line.starts_with(p))
}

fn with_remote_lines(what: String, lines: &[String]) -> String {
    match lines.is_empty() {
        true => what,
        false => format!(
            "{what}; the remote said: {}",
            lines
                .iter()
                .map(|l| format!("remote: {l}"))
                .collect::<Vec<_>>()
                .join(" | ")
        ),
    }
}

/// Write the tree of `commit` into `dest` (like `git archive | tar x`): a clean
/// export with nothing untracked, ignored or left over from earlier builds.
/// Names are taken as bytes, so a file or folder whose name is not UTF-8 is
/// exported like any other; a name that could leave `dest` is refused.
pub fn export_tree(repo: &Repository, commit: Oid, dest: &Path) -> Result<()> {
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .ctx(|| format!("cannot read the tree of {commit}"))?;
    std::fs::create_dir_all(dest).map_err(|source| GitError::Io {
        path: dest.to_path_buf(),
        source,
    })?;
    export_dir(repo, &tree, dest)
}

fn export_dir(repo: &Repository, tree: &git2::Tree, dest: &Path) -> Result<()> {
    for entry in tree.iter() {
        let name = entry.name_bytes();
        if name.is_empty()
            || name == b"."
            || name == b".."
            || name.contains(&b'/')
            || name.contains(&0)
        {
            return Err(GitError::Other(format!(
                "the commit holds an entry named {:?}, which is not a plain file name; refusing to export it",
                path_text(name)
            )));
        }
        let path = dest.join(bytes_path(name));
        match entry.kind() {
            Some(ObjectType::Tree) => {
                std::fs::create_dir_all(&path).map_err(|source| GitError::Io {
                    path: path.clone(),
                    source,
                })?;
                let sub = repo
                    .find_tree(entry.id())
                    .ctx(|| format!("cannot read tree {}", entry.id()))?;
                export_dir(repo, &sub, &path)?;
            }
            Some(ObjectType::Blob) => {
                let blob = repo
                    .find_blob(entry.id())
                    .ctx(|| format!("cannot read blob {}", entry.id()))?;
                write_blob(&path, blob.content(), entry.filemode())?;
            }
            // Submodules (commits) are not part of the export, as with `git archive`.
            _ => {}
        }
    }
    Ok(())
}

fn write_blob(path: &Path, content: &[u8], mode: i32) -> Result<()> {
    let err = |source| GitError::Io {
        path: path.to_path_buf(),
        source,
    };
    #[cfg(unix)]
    if mode == 0o120000 {
        return std::os::unix::fs::symlink(bytes_path(content), path).map_err(err);
    }
    std::fs::write(path, content).map_err(err)?;
    #[cfg(unix)]
    if mode == 0o100755 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_remote_reached_by_path_has_its_lock_files_read() {
        assert_eq!(local_path("/srv/o.git"), Some(PathBuf::from("/srv/o.git")));
        assert_eq!(local_path("../o.git"), Some(PathBuf::from("../o.git")));
        assert_eq!(
            local_path("file:///srv/o.git"),
            Some(PathBuf::from("/srv/o.git"))
        );
        assert_eq!(local_path("git@github.com:acme/o.git"), None);
        assert_eq!(local_path("ssh://git@host/o.git"), None);
        assert_eq!(local_path("https://host/o.git"), None);
        assert_eq!(
            local_path("./a:b/o.git"),
            Some(PathBuf::from("./a:b/o.git"))
        );
    }

    #[test]
    fn a_left_lock_is_only_a_ref_s_inside_the_remote() {
        let tmp = tempfile::tempdir().unwrap();
        let origin = tmp.path().join("o.git");
        Repository::init_bare(&origin).unwrap();
        let oid = "0123456789abcdef0123456789abcdef01234567";
        let inside = origin.join("refs/heads/main.lock");
        std::fs::write(&inside, format!("{oid}\n")).unwrap();
        let outside = tmp.path().join("main.lock");
        std::fs::write(&outside, format!("{oid}\n")).unwrap();
        let config = origin.join("config.lock");
        std::fs::write(&config, "").unwrap();
        let url = origin.to_str().unwrap();
        let why = |p: &Path| format!("x: failed to lock file '{}' for writing: ", p.display());
        let left = left_lock(url, &why(&inside)).unwrap();
        assert_eq!(left.holds, Some(Oid::from_str(oid).unwrap()));
        assert_eq!(left_lock(url, &why(&outside)).map(|l| l.path), None);
        assert_eq!(left_lock(url, &why(&config)).map(|l| l.path), None);
        assert_eq!(
            left_lock("ssh://h/o.git", &why(&inside)).map(|l| l.path),
            None
        );
        std::fs::write(&inside, "not an id\n").unwrap();
        assert_eq!(left_lock(url, &why(&inside)).map(|l| l.path), None);
        std::fs::write(&inside, "").unwrap();
        assert_eq!(left_lock(url, &why(&inside)).unwrap().holds, None);
    }

    #[test]
    fn a_fetch_removes_an_abandoned_empty_ref_lock_and_keeps_a_full_one() {
        let tmp = tempfile::tempdir().unwrap();
        let origin = Repository::init_bare(tmp.path().join("o.git")).unwrap();
        let sig = git2::Signature::now("a", "a@x").unwrap();
        let tree = origin
            .find_tree(origin.treebuilder(None).unwrap().write().unwrap())
            .unwrap();
        let tip = origin
            .commit(Some("refs/heads/main"), &sig, &sig, "one", &tree, &[])
            .unwrap();
        let repo = Repository::init(tmp.path().join("work")).unwrap();
        repo.remote("origin", tmp.path().join("o.git").to_str().unwrap())
            .unwrap();
        let lock = repo.path().join("refs/remotes/origin/main.lock");
        std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
        // Holding a value: somebody's; left, and the fetch fails naming it.
        std::fs::write(&lock, format!("{tip}\n")).unwrap();
        let e = fetch_branch(&repo, "origin", "main")
            .unwrap_err()
            .to_string();
        assert!(e.contains("main.lock"), "{e}");
        assert!(e.contains("delete that `.lock` file"), "{e}");
        assert!(lock.exists());
        // Empty and untouched for longer than QUIET: removed at once.
        std::fs::write(&lock, "").unwrap();
        let old = std::time::SystemTime::now() - QUIET * 2;
        std::fs::File::options()
            .write(true)
            .open(&lock)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(fetch_branch(&repo, "origin", "main").unwrap(), Some(tip));
        assert!(!lock.exists());
    }

    #[test]
    fn a_person_is_written_as_git_writes_it() {
        let east = git2::Signature::new("A B", "a@x", &git2::Time::new(1_700_000_000, 90)).unwrap();
        assert_eq!(raw_signature(&east), "A B <a@x> 1700000000 +0130");
        let west = git2::Signature::new("C", "c@x", &git2::Time::new(5, -300)).unwrap();
        assert_eq!(raw_signature(&west), "C <c@x> 5 -0500");
    }

    #[test]
    fn remote_lines_are_the_hook_s_words() {
        let raw = b"Resolving deltas:  50% (1/2)\rResolving deltas: 100% (2/2), done.\nremote: x\nGH006: Protected branch update failed for refs/heads/master.\n\nerror: must go through a pull request\n";
        assert_eq!(
            remote_lines(raw),
            [
                "x",
                "GH006: Protected branch update failed for refs/heads/master.",
                "error: must go through a pull request"
            ]
        );
        assert_eq!(
            with_remote_lines(
                "a: pre-receive hook declined".into(),
                &remote_lines(b"no\n")
            ),
            "a: pre-receive hook declined; the remote said: remote: no"
        );
    }
}
