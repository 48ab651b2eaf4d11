//! Announcements: Slack's `chat.postMessage` and a GitHub release. The
//! GitHub client is also the forge's (`ops::forge`: pull requests): one
//! place for the token and the API base.
//!
//! Each call that creates something is paired with a way to ask whether it
//! already exists (Slack's `conversations.history` for the release marker,
//! GitHub's release-by-tag), so a resumed announce never posts twice. The
//! history takes a channel ID, so a `#name` is resolved through
//! `conversations.list`. Errors say whether a post may have landed
//! ([`AnnounceError::is_transient`]): only a definite refusal means it did
//! not. Tokens go into the Authorization header only: never into a message
//! or an error.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use thiserror::Error;

use super::http::{self, checked_url, describe, HttpError, RetryPolicy};

pub const SLACK_TOKEN: &str = "SLACK_RELEASE_BOT_TOKEN";
pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";

#[derive(Debug, Error)]
pub enum AnnounceError {
    #[error("{0} is not set: the announce token is needed before anything changes")]
    NoToken(&'static str),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{service} refused the token from {var} ({detail})")]
    Refused {
        service: &'static str,
        var: &'static str,
        detail: String,
    },
    #[error("Slack answered `{0}`")]
    Slack(String),
    #[error("{what}: {message}")]
    Transient { what: String, message: String },
    #[error("{what}: HTTP {status}: {message}")]
    Status {
        what: String,
        status: u16,
        message: String,
    },
    /// A 2xx whose answer cannot be read: the service most likely did it.
    #[error("{what}: HTTP {status}, but the answer could not be read ({message})")]
    Unreadable {
        what: String,
        status: u16,
        message: String,
    },
    #[error("Slack shows no channel named `{0}` to the bot (conversations.list, archived channels left out)")]
    NoChannel(String),
}

impl AnnounceError {
    /// Connection errors, timeouts, 5xx and unreadable 2xx answers: worth
    /// asking again when the request changes nothing, and, for a request that
    /// creates something, an outcome unknown (it may have landed).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AnnounceError::Transient { .. } | AnnounceError::Unreadable { .. }
        )
    }
}

/// Slack's pages are walked at most this far (200 items each).
const MAX_PAGES: usize = 500;

fn token(var: &'static str) -> Result<String, AnnounceError> {
    std::env::var(var)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or(AnnounceError::NoToken(var))
}

fn client() -> Result<reqwest::blocking::Client, AnnounceError> {
    Ok(http::client(Duration::from_secs(30))?)
}

pub(super) fn short(body: &str) -> String {
    body.trim()
        .chars()
        .take(300)
        .collect::<String>()
        .replace('\n', " ")
}

/// Send, turning connection failures, timeouts and 5xx into `Transient`.
pub(super) fn send(
    what: &str,
    req: reqwest::blocking::RequestBuilder,
) -> Result<(StatusCode, String), AnnounceError> {
    let resp = req.send().map_err(|e| AnnounceError::Transient {
        what: what.to_string(),
        message: describe(&e),
    })?;
    let status = resp.status();
    let body = match resp.text() {
        Ok(body) => body,
        Err(e) if status.is_success() => {
            return Err(AnnounceError::Unreadable {
                what: what.to_string(),
                status: status.as_u16(),
                message: describe(&e),
            })
        }
        // The status alone says what happened.
        Err(_) => String::new(),
    };
    if http::is_transient_status(status) {
        return Err(AnnounceError::Transient {
            what: what.to_string(),
            message: format!("HTTP {status}: {}", short(&body)),
        });
    }
    Ok((status, body))
}

/// Retry transient failures of an idempotent request.
pub(super) fn retry<T>(
    policy: RetryPolicy,
    f: impl FnMut() -> Result<T, AnnounceError>,
) -> Result<T, AnnounceError> {
    http::with_retry(policy, AnnounceError::is_transient, f, || None)
}

/// The JSON of a 2xx answer, or `Unreadable`.
pub(super) fn json_of(what: &str, status: StatusCode, body: &str) -> Result<Value, AnnounceError> {
    serde_json::from_str(body).map_err(|e| AnnounceError::Unreadable {
        what: what.to_string(),
        status: status.as_u16(),
        message: format!("not JSON ({e}): {}", short(body)),
    })
}

/// A GitHub release's id from its JSON, or `Unreadable`.
fn release_id(what: &str, status: StatusCode, body: &str) -> Result<String, AnnounceError> {
    json_of(what, status, body)?["id"]
        .as_u64()
        .map(|id| id.to_string())
        .ok_or_else(|| AnnounceError::Unreadable {
            what: what.to_string(),
            status: status.as_u16(),
            message: format!("no release id in {}", short(body)),
        })
}

/// Whether `channel` is a Slack conversation ID (`C…`, `G…`, `D…`) rather
/// than a name: names are lower case, IDs upper case.
pub fn is_channel_id(channel: &str) -> bool {
    channel.len() >= 2
        && channel.starts_with(['C', 'G', 'D'])
        && channel
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

pub struct Slack {
    api: url::Url,
    channel: String,
    token: String,
    client: reqwest::blocking::Client,
    pub retry: RetryPolicy,
}

/// What `conversations.history` could tell.
pub enum Found {
    Yes(String),
    No,
    /// The history cannot be read (scope, channel name...): Slack's code.
    Unknown(String),
}

impl Slack {
    pub fn new(
        api: Option<&str>,
        channel: &str,
        retry: RetryPolicy,
    ) -> Result<Slack, AnnounceError> {
        let api = api.unwrap_or("https://slack.com/api");
        Ok(Slack {
            api: checked_url(&format!("{}/", api.trim_end_matches('/')))?,
            channel: channel.to_string(),
            token: token(SLACK_TOKEN)?,
            client: client()?,
            retry,
        })
    }

    fn url(&self, method: &str) -> Result<url::Url, AnnounceError> {
        self.api
            .join(method)
            .map_err(|e| AnnounceError::Http(HttpError::BadUrl(method.into(), e.to_string())))
    }

    fn call(
        &self,
        method: &str,
        req: reqwest::blocking::RequestBuilder,
    ) -> Result<Value, AnnounceError> {
        let what = format!("Slack {method}");
        let (status, body) = send(&what, req.bearer_auth(&self.token))?;
        if !status.is_success() {
            return Err(AnnounceError::Status {
                what,
                status: status.as_u16(),
                message: short(&body),
            });
        }
        let v = json_of(&what, status, &body)?;
        match v["ok"].as_bool() {
            Some(true) => Ok(v),
            Some(false) => Err(AnnounceError::Slack(
                v["error"].as_str().unwrap_or("unknown_error").to_string(),
            )),
            None => Err(AnnounceError::Unreadable {
                what,
                status: status.as_u16(),
                message: format!("no `ok` in {}", short(&body)),
            }),
        }
    }

    /// Call a paginated read-only `method` page by page (`cursor`,
    /// `response_metadata.next_cursor`) until `pick` finds something.
    fn pages<T>(
        &self,
        method: &str,
        params: &[(&str, &str)],
        mut pick: impl FnMut(&Value) -> Option<T>,
    ) -> Result<Option<T>, AnnounceError> {
        let url = self.url(method)?;
        let mut cursor = String::new();
        for _ in 0..MAX_PAGES {
            let req = || {
                let mut query = params.to_vec();
                if !cursor.is_empty() {
                    query.push(("cursor", cursor.as_str()));
                }
                self.client.get(url.clone()).query(&query)
            };
            let v = retry(self.retry, || self.call(method, req()))?;
            if let Some(found) = pick(&v) {
                return Ok(Some(found));
            }
            match v["response_metadata"]["next_cursor"].as_str() {
                Some(next) if !next.is_empty() && next != cursor => cursor = next.to_string(),
                _ => return Ok(None),
            }
        }
        // Not found is not proven: let the caller treat it as unreadable.
        Err(AnnounceError::Slack(format!(
            "{method} did not end within {MAX_PAGES} pages"
        )))
    }

    /// The channel as configured (`#name`, name or ID).
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The configured channel's ID: itself when it is one, else the
    /// unarchived public or private channel of that name.
    pub fn resolve(&self) -> Result<String, AnnounceError> {
        if is_channel_id(&self.channel) {
            return Ok(self.channel.clone());
        }
        let name = self.channel.trim_start_matches('#');
        let params = [
            ("types", "public_channel,private_channel"),
            ("exclude_archived", "true"),
            ("limit", "200"),
        ];
        self.pages("conversations.list", &params, |v| {
            v["channels"]
                .as_array()?
                .iter()
                .find(|c| c["name"].as_str() == Some(name))?["id"]
                .as_str()
                .map(str::to_string)
        })?
        .ok_or_else(|| AnnounceError::NoChannel(self.channel.clone()))
    }

    /// Preflight: the token is accepted.
    pub fn check(&self) -> Result<(), AnnounceError> {
        let url = self.url("auth.test")?;
        match retry(self.retry, || {
            self.call("auth.test", self.client.post(url.clone()))
        }) {
            Ok(_) => Ok(()),
            Err(AnnounceError::Slack(code)) => Err(AnnounceError::Refused {
                service: "Slack",
                var: SLACK_TOKEN,
                detail: code,
            }),
            Err(e) => Err(e),
        }
    }

    /// Post once to `channel` (an ID, or the configured name) with no retry:
    /// a retried post could be a second post. Returns `ts`.
    pub fn post(&self, channel: &str, text: &str) -> Result<String, AnnounceError> {
        let url = self.url("chat.postMessage")?;
        let body = json!({ "channel": channel, "text": text, "unfurl_links": false });
        let v = self.call("chat.postMessage", self.client.post(url).json(&body))?;
        Ok(v["ts"].as_str().unwrap_or_default().to_string())
    }

    /// Look for a message carrying `marker` in the history of channel
    /// `id` since `oldest` (a Slack timestamp, seconds since the epoch).
    pub fn find(&self, id: &str, marker: &str, oldest: &str) -> Result<Found, AnnounceError> {
        let params = [("channel", id), ("oldest", oldest), ("limit", "200")];
        let found = self.pages("conversations.history", &params, |v| {
            v["messages"]
                .as_array()?
                .iter()
                .find(|m| m["text"].as_str().is_some_and(|t| t.contains(marker)))
                .map(|m| m["ts"].as_str().unwrap_or_default().to_string())
        });
        match found {
            Ok(Some(ts)) => Ok(Found::Yes(ts)),
            Ok(None) => Ok(Found::No),
            Err(AnnounceError::Slack(code)) => Ok(Found::Unknown(code)),
            Err(e) => Err(e),
        }
    }
}

pub struct Github {
    api: url::Url,
    pub(super) repo: String,
    token: String,
    client: reqwest::blocking::Client,
    pub retry: RetryPolicy,
}

impl Github {
    pub fn new(api: Option<&str>, repo: &str, retry: RetryPolicy) -> Result<Github, AnnounceError> {
        let api = api.unwrap_or("https://api.github.com");
        Ok(Github {
            api: checked_url(&format!("{}/", api.trim_end_matches('/')))?,
            repo: repo.trim_matches('/').to_string(),
            token: token(GITHUB_TOKEN)?,
            client: client()?,
            retry,
        })
    }

    pub(super) fn url(&self, path: &str) -> Result<url::Url, AnnounceError> {
        self.api
            .join(&format!("repos/{}/{path}", self.repo))
            .map_err(|e| AnnounceError::Http(HttpError::BadUrl(path.into(), e.to_string())))
    }

    pub(super) fn request(
        &self,
        method: reqwest::Method,
        url: url::Url,
    ) -> reqwest::blocking::RequestBuilder {
        self.client
            .request(method, url)
            .bearer_auth(&self.token)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
    }

    /// Preflight: the token can see the repository.
    pub fn check(&self) -> Result<(), AnnounceError> {
        let url = self.url("")?;
        let url = url::Url::parse(url.as_str().trim_end_matches('/'))
            .map_err(|e| AnnounceError::Http(HttpError::BadUrl(url.to_string(), e.to_string())))?;
        let what = format!("GitHub GET repos/{}", self.repo);
        let (status, body) = retry(self.retry, || {
            send(&what, self.request(reqwest::Method::GET, url.clone()))
        })?;
        match status.as_u16() {
            200 => Ok(()),
            401 | 403 | 404 => Err(AnnounceError::Refused {
                service: "GitHub",
                var: GITHUB_TOKEN,
                detail: format!("HTTP {status} for {}", self.repo),
            }),
            s => Err(AnnounceError::Status {
                what,
                status: s,
                message: short(&body),
            }),
        }
    }

    /// The id of the release for `tag`, if there is one.
    pub fn release_for(&self, tag: &str) -> Result<Option<String>, AnnounceError> {
        let url = self.url(&format!("releases/tags/{tag}"))?;
        let what = format!("GitHub release lookup for {tag}");
        retry(self.retry, || {
            let (status, body) = send(&what, self.request(reqwest::Method::GET, url.clone()))?;
            match status.as_u16() {
                200 => release_id(&what, status, &body).map(Some),
                404 => Ok(None),
                s => Err(AnnounceError::Status {
                    what: what.clone(),
                    status: s,
                    message: short(&body),
                }),
            }
        })
    }

    /// Create the release for `tag`; an existing one (422 already_exists)
    /// counts as created. Returns its id.
    pub fn create(
        &self,
        tag: &str,
        name: &str,
        body: &str,
        prerelease: bool,
    ) -> Result<String, AnnounceError> {
        let url = self.url("releases")?;
        let payload =
            json!({ "tag_name": tag, "name": name, "body": body, "prerelease": prerelease });
        let what = format!("GitHub release for {tag}");
        let (status, text) = send(
            &what,
            self.request(reqwest::Method::POST, url).json(&payload),
        )?;
        match status.as_u16() {
            200 | 201 => release_id(&what, status, &text),
            422 if text.contains("already_exists") => {
                self.release_for(tag)?.ok_or_else(|| AnnounceError::Status {
                    what,
                    status: 422,
                    message: "GitHub says the release exists but does not show it".into(),
                })
            }
            s => Err(AnnounceError::Status {
                what,
                status: s,
                message: short(&text),
            }),
        }
    }
}
