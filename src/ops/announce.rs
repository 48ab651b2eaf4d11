//! Announcements: Slack's `chat.postMessage` and a GitHub release.
//!
//! Each call that creates something is paired with a way to ask whether it
//! already exists (Slack's `conversations.history` for the release marker,
//! GitHub's release-by-tag), so a resumed announce never posts twice. Tokens
//! go into the Authorization header only: never into a message or an error.

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
}

impl AnnounceError {
    fn is_transient(&self) -> bool {
        matches!(self, AnnounceError::Transient { .. })
    }
}

fn token(var: &'static str) -> Result<String, AnnounceError> {
    std::env::var(var)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or(AnnounceError::NoToken(var))
}

fn client() -> Result<reqwest::blocking::Client, AnnounceError> {
    Ok(http::client(Duration::from_secs(30))?)
}

fn short(body: &str) -> String {
    body.trim()
        .chars()
        .take(300)
        .collect::<String>()
        .replace('\n', " ")
}

/// Send, turning connection failures, timeouts and 5xx into `Transient`.
fn send(
    what: &str,
    req: reqwest::blocking::RequestBuilder,
) -> Result<(StatusCode, String), AnnounceError> {
    let resp = req.send().map_err(|e| AnnounceError::Transient {
        what: what.to_string(),
        message: describe(&e),
    })?;
    let status = resp.status();
    let body = resp.text().unwrap_or_default();
    if http::is_transient_status(status) {
        return Err(AnnounceError::Transient {
            what: what.to_string(),
            message: format!("HTTP {status}: {}", short(&body)),
        });
    }
    Ok((status, body))
}

/// Retry transient failures of an idempotent request.
fn retry<T>(
    policy: RetryPolicy,
    mut f: impl FnMut() -> Result<T, AnnounceError>,
) -> Result<T, AnnounceError> {
    let mut attempt = 1;
    loop {
        match f() {
            Err(e) if e.is_transient() && attempt < policy.attempts => {
                std::thread::sleep(policy.delay(attempt));
                attempt += 1;
            }
            other => return other,
        }
    }
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
        let v: Value = serde_json::from_str(&body).map_err(|e| AnnounceError::Status {
            what: what.clone(),
            status: status.as_u16(),
            message: format!("not JSON: {e}"),
        })?;
        if v["ok"] != Value::Bool(true) {
            return Err(AnnounceError::Slack(
                v["error"].as_str().unwrap_or("unknown_error").to_string(),
            ));
        }
        Ok(v)
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

    /// Post once (no retry: a retried post could be a second post). Returns `ts`.
    pub fn post(&self, text: &str) -> Result<String, AnnounceError> {
        let url = self.url("chat.postMessage")?;
        let body = json!({ "channel": self.channel, "text": text, "unfurl_links": false });
        let v = self.call("chat.postMessage", self.client.post(url).json(&body))?;
        Ok(v["ts"].as_str().unwrap_or_default().to_string())
    }

    /// Look for a message carrying `marker` in the channel's recent history.
    pub fn find(&self, marker: &str) -> Result<Found, AnnounceError> {
        let url = self.url("conversations.history")?;
        let req = || {
            self.client
                .get(url.clone())
                .query(&[("channel", self.channel.as_str()), ("limit", "200")])
        };
        match retry(self.retry, || self.call("conversations.history", req())) {
            Ok(v) => Ok(v["messages"]
                .as_array()
                .and_then(|msgs| {
                    msgs.iter()
                        .find(|m| m["text"].as_str().is_some_and(|t| t.contains(marker)))
                })
                .map(|m| Found::Yes(m["ts"].as_str().unwrap_or_default().to_string()))
                .unwrap_or(Found::No)),
            Err(AnnounceError::Slack(code)) => Ok(Found::Unknown(code)),
            Err(e) => Err(e),
        }
    }
}

pub struct Github {
    api: url::Url,
    repo: String,
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

    fn url(&self, path: &str) -> Result<url::Url, AnnounceError> {
        self.api
            .join(&format!("repos/{}/{path}", self.repo))
            .map_err(|e| AnnounceError::Http(HttpError::BadUrl(path.into(), e.to_string())))
    }

    fn request(&self, method: reqwest::Method, url: url::Url) -> reqwest::blocking::RequestBuilder {
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
        let (status, body) = retry(self.retry, || {
            send(&what, self.request(reqwest::Method::GET, url.clone()))
        })?;
        match status.as_u16() {
            200 => {
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                Ok(Some(v["id"].to_string()))
            }
            404 => Ok(None),
            s => Err(AnnounceError::Status {
                what,
                status: s,
                message: short(&body),
            }),
        }
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
            200 | 201 => {
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                Ok(v["id"].to_string())
            }
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
