//! The forge's pull requests (GitHub's pulls API), for releases through a
//! pull request when the branch is protected.
//!
//! The same [`Github`] client as the GitHub release: one token
//! (`GITHUB_TOKEN`, in the Authorization header only) and one API base.
//! Lookups are retried; opening a pull request is not: an answer lost on
//! the way is followed by a lookup by the release's marker before any
//! second POST, so a release never opens two.

use git2::Repository;
use serde_json::{json, Value};

use crate::config::Config;

use super::announce::{json_of, retry, send, short, AnnounceError, Github};

/// The hidden line in a release pull request's body that names its
/// version: how a pull request is found again after a crash, and how an
/// open one is told from others.
pub fn marker(version: &str) -> String {
    format!("<!-- release: pull request for {version} -->")
}

const MARKER_START: &str = "<!-- release: pull request for ";

/// The version a release pull request's body names, if it is one.
pub fn marked_version(body: &str) -> Option<&str> {
    let rest = &body[body.find(MARKER_START)? + MARKER_START.len()..];
    Some(rest[..rest.find(" -->")?].trim())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullState {
    Open,
    /// Closed without merging.
    Closed,
    Merged,
}

#[derive(Debug, Clone)]
pub struct Pull {
    pub number: u64,
    /// The page a person opens (`html_url`).
    pub url: String,
    pub state: PullState,
    /// Where it landed: the merge commit, the squash commit or the last
    /// rebased commit (GitHub's `merge_commit_sha` once merged).
    pub merge_commit: Option<String>,
    pub head_ref: String,
    pub head_sha: Option<String>,
    pub body: String,
}

impl Pull {
    fn from_json(what: &str, v: &Value) -> Result<Pull, AnnounceError> {
        let unreadable = |m: &str| AnnounceError::Unreadable {
            what: what.to_string(),
            status: 200,
            message: m.to_string(),
        };
        let number = v["number"]
            .as_u64()
            .ok_or_else(|| unreadable("a pull request without a number"))?;
        let merged = v["merged"].as_bool().unwrap_or(false) || v["merged_at"].is_string();
        let state = match (v["state"].as_str(), merged) {
            (_, true) => PullState::Merged,
            (Some("open"), _) => PullState::Open,
            _ => PullState::Closed,
        };
        Ok(Pull {
            number,
            url: v["html_url"].as_str().unwrap_or_default().to_string(),
            state,
            merge_commit: v["merge_commit_sha"]
                .as_str()
                .filter(|s| merged && !s.is_empty())
                .map(str::to_string),
            head_ref: v["head"]["ref"].as_str().unwrap_or_default().to_string(),
            head_sha: v["head"]["sha"].as_str().map(str::to_string),
            body: v["body"].as_str().unwrap_or_default().to_string(),
        })
    }

    /// Where a merged pull request landed (GitHub's `merge_commit_sha`: the
    /// merge commit, the squash commit, or the last commit of a rebase).
    pub fn landed(&self) -> anyhow::Result<git2::Oid> {
        let sha = self.merge_commit.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "pull request #{} is merged, but GitHub names no commit it landed as yet; run `release resume` again in a minute",
                self.number
            )
        })?;
        git2::Oid::from_str(sha).map_err(|_| {
            anyhow::anyhow!(
                "GitHub's merge_commit_sha `{sha}` of pull request #{} is not a commit id",
                self.number
            )
        })
    }

    /// Is this the pull request of `version` (its body carries the marker)?
    pub fn is_for(&self, version: &str) -> bool {
        marked_version(&self.body) == Some(version)
    }
}

/// owner/name from a remote URL on GitHub (https, ssh or scp-like).
pub fn repo_of_url(url: &str) -> Option<String> {
    let rest = url
        .split_once("github.com")
        .map(|(_, r)| r.trim_start_matches([':', '/']))?;
    let rest = rest.trim_end_matches('/').trim_end_matches(".git");
    let mut parts = rest.split('/');
    let (owner, name) = (parts.next()?, parts.next()?);
    (parts.next().is_none() && !owner.is_empty() && !name.is_empty())
        .then(|| format!("{owner}/{name}"))
}

/// owner/name on GitHub: `[pull_request] repo`, else `GITHUB_REPOSITORY`
/// (set in GitHub Actions), else read from the remote's URL.
pub fn repo_name(config: &Config, repo: &Repository) -> anyhow::Result<String> {
    if let Some(name) = config.pull_request.as_ref().and_then(|p| p.repo.clone()) {
        return Ok(name);
    }
    if let Some(name) = std::env::var("GITHUB_REPOSITORY")
        .ok()
        .filter(|n| n.contains('/'))
    {
        return Ok(name);
    }
    let url = super::git::push_url(repo, &config.remote)?;
    repo_of_url(&url).ok_or_else(|| {
        anyhow::anyhow!(
            "cannot tell the GitHub repository from `{}`'s URL; set `repo = \"owner/name\"` under `[pull_request]` in release.toml",
            config.remote
        )
    })
}

/// The GitHub client for `repo` (owner/name), on `[pull_request] api`.
pub fn client(config: &Config, repo: &str) -> anyhow::Result<Github> {
    let api = config.pull_request.as_ref().and_then(|p| p.api.as_deref());
    Ok(Github::new(api, repo, config.announce.retry())?)
}

impl Github {
    fn owner(&self) -> &str {
        self.repo.split('/').next().unwrap_or_default()
    }

    fn get_json(&self, path: &str, what: &str) -> Result<Value, AnnounceError> {
        let url = self.url(path)?;
        retry(self.retry, || {
            let (status, body) = send(what, self.request(reqwest::Method::GET, url.clone()))?;
            match status.as_u16() {
                200 => json_of(what, status, &body),
                s => Err(AnnounceError::Status {
                    what: what.to_string(),
                    status: s,
                    message: short(&body),
                }),
            }
        })
    }

    fn pulls(&self, query: &str, what: &str) -> Result<Vec<Pull>, AnnounceError> {
        let mut all = Vec::new();
        for page in 1..=10 {
            let v = self.get_json(&format!("pulls?{query}&per_page=100&page={page}"), what)?;
            let items = v.as_array().cloned().unwrap_or_default();
            let n = items.len();
            for item in &items {
                all.push(Pull::from_json(what, item)?);
            }
            if n < 100 {
                break;
            }
        }
        Ok(all)
    }

    /// Every pull request, open or closed, whose head is `branch` of this
    /// repository.
    pub fn pulls_from(&self, branch: &str) -> Result<Vec<Pull>, AnnounceError> {
        let head: String =
            url::form_urlencoded::byte_serialize(format!("{}:{branch}", self.owner()).as_bytes())
                .collect();
        self.pulls(
            &format!("head={head}&state=all"),
            &format!("GitHub pull requests from {branch}"),
        )
    }

    /// The open pull requests a release opened (their bodies carry a marker).
    pub fn open_release_pulls(&self) -> Result<Vec<Pull>, AnnounceError> {
        Ok(self
            .pulls("state=open", "GitHub open pull requests")?
            .into_iter()
            .filter(|p| marked_version(&p.body).is_some())
            .collect())
    }

    /// The pull request of `version` from `branch`, if one was opened.
    pub fn release_pull(&self, branch: &str, version: &str) -> Result<Option<Pull>, AnnounceError> {
        Ok(self
            .pulls_from(branch)?
            .into_iter()
            .filter(|p| p.is_for(version))
            .max_by_key(|p| p.number))
    }

    pub fn pull(&self, number: u64) -> Result<Pull, AnnounceError> {
        let what = format!("GitHub pull request #{number}");
        let v = self.get_json(&format!("pulls/{number}"), &what)?;
        Pull::from_json(&what, &v)
    }

    /// Open a pull request from `head` into `base`. One POST: an outcome
    /// that is unknown (a lost answer) is looked up by marker first, and the
    /// caller does that before any second try.
    pub fn open_pull(
        &self,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<Pull, AnnounceError> {
        let url = self.url("pulls")?;
        let what = format!("GitHub pull request from {head} into {base}");
        let payload = json!({ "title": title, "head": head, "base": base, "body": body });
        let (status, text) = send(
            &what,
            self.request(reqwest::Method::POST, url).json(&payload),
        )?;
        match status.as_u16() {
            200 | 201 => Pull::from_json(&what, &json_of(&what, status, &text)?),
            s => Err(AnnounceError::Status {
                what,
                status: s,
                message: short(&text),
            }),
        }
    }

    /// Close pull request `number` without merging it.
    pub fn close_pull(&self, number: u64) -> Result<(), AnnounceError> {
        let url = self.url(&format!("pulls/{number}"))?;
        let what = format!("closing GitHub pull request #{number}");
        retry(self.retry, || {
            let (status, text) = send(
                &what,
                self.request(reqwest::Method::PATCH, url.clone())
                    .json(&json!({ "state": "closed" })),
            )?;
            match status.as_u16() {
                200 => Ok(()),
                s => Err(AnnounceError::Status {
                    what: what.clone(),
                    status: s,
                    message: short(&text),
                }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_names_its_version() {
        let body = format!("notes\n\n{}\n", marker("1.2.0rc1"));
        assert_eq!(marked_version(&body), Some("1.2.0rc1"));
        assert_eq!(marked_version("no marker"), None);
    }

    #[test]
    fn the_repo_is_read_from_github_urls() {
        for url in [
            "https://github.com/acme/demo.git",
            "git@github.com:acme/demo.git",
            "ssh://git@github.com/acme/demo",
        ] {
            assert_eq!(repo_of_url(url).as_deref(), Some("acme/demo"), "{url}");
        }
        assert_eq!(repo_of_url("git://127.0.0.1:9/origin.git"), None);
    }
}
