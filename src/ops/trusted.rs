//! Trusted publishing: no stored password, but an OIDC token from the CI
//! provider (GitHub Actions: `ACTIONS_ID_TOKEN_REQUEST_URL` with the bearer
//! `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, for the audience the index names at
//! `/_/oidc/audience`) exchanged at the index's `/_/oidc/mint-token` for a
//! short-lived upload token, used as `__token__`.
//!
//! The exchange host is the upload URL's, as uv derives it
//! (`upload.pypi.org` exchanges at `pypi.org`). A minted token lives about 15
//! minutes, shorter than a long publish: it is minted again before it expires,
//! and at once when the index refuses it. The request token, the OIDC token and
//! the minted token live only here and in [`Credentials`]: never journaled,
//! printed or put into an error.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde::Deserialize;
use thiserror::Error;

use super::credentials::Credentials;
use super::http::{self, describe, RetryPolicy, SafeUrl};
use crate::config::PublishConfig;

pub const REQUEST_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
pub const REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";

/// What the index's tokens live at most (PyPI: 15 minutes).
const LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Minted again this long before the token would expire.
const MARGIN: Duration = Duration::from_secs(60);

#[derive(Debug, Error)]
pub enum TrustedError {
    #[error("trusted publishing needs {0}, which GitHub Actions sets only in a job with `permissions: id-token: write`; add it to the workflow, or set TWINE_USERNAME/TWINE_PASSWORD, or `trusted = false` in [publish]")]
    MissingEnv(&'static str),
    #[error("{what}: {message}")]
    Transient { what: String, message: String },
    #[error("{what}: {message}")]
    Failed { what: String, message: String },
    #[error("{url} refused to mint an upload token (HTTP {status}): {reasons}; check the trusted publisher the index has for this project (owner, repository, workflow file name, environment) against this job")]
    Refused {
        url: String,
        status: u16,
        reasons: String,
    },
}

impl TrustedError {
    pub fn is_transient(&self) -> bool {
        matches!(self, TrustedError::Transient { .. })
    }
}

/// Use trusted publishing? `[publish] trusted` says; unset, it is used on a
/// CI runner that offers OIDC tokens when no password is given.
pub fn wanted(publish: &PublishConfig, have_password: bool) -> bool {
    match publish.trusted {
        Some(t) => t,
        None => !have_password && std::env::var_os(REQUEST_URL).is_some_and(|v| !v.is_empty()),
    }
}

/// Where tokens are exchanged for an upload URL: its own origin, except
/// PyPI's upload host, whose OIDC endpoints are on `pypi.org`.
pub fn exchange_base(upload: &SafeUrl) -> url::Url {
    let mut u = upload.url().clone();
    if u.host_str() == Some("upload.pypi.org") {
        let _ = u.set_host(Some("pypi.org"));
    }
    u.set_path("/");
    u.set_query(None);
    u.set_fragment(None);
    u
}

struct Minted {
    credentials: Credentials,
    /// Mint again from here on.
    renew_at: SystemTime,
    /// Counts mints, so a refusal only forgets the token it was about.
    generation: u64,
}

/// The token provider an upload asks for its credentials on every attempt.
pub struct TrustedPublisher {
    exchange: url::Url,
    retry: RetryPolicy,
    current: Mutex<Option<Minted>>,
    mints: Mutex<u64>,
}

impl std::fmt::Debug for TrustedPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedPublisher")
            .field("exchange", &self.exchange.as_str())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Audience {
    audience: String,
}

#[derive(Deserialize)]
struct OidcToken {
    value: String,
}

#[derive(Deserialize)]
struct MintAnswer {
    token: String,
    /// Unix seconds.
    expires: Option<i64>,
}

#[derive(Deserialize, Default)]
struct MintRefusal {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    errors: Vec<MintError>,
}

#[derive(Deserialize)]
struct MintError {
    code: String,
    #[serde(default)]
    description: String,
}

fn env(name: &'static str) -> Result<String, TrustedError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or(TrustedError::MissingEnv(name))
}

impl TrustedPublisher {
    pub fn new(upload: &SafeUrl, retry: RetryPolicy) -> Self {
        TrustedPublisher {
            exchange: exchange_base(upload),
            retry,
            current: Mutex::new(None),
            mints: Mutex::new(0),
        }
    }

    /// What messages say the credentials came from.
    pub fn source(&self) -> String {
        format!(
            "trusted publishing (a token minted at {}_/oidc/mint-token)",
            self.exchange
        )
    }

    /// The upload credentials and their generation: the token minted last,
    /// or a new one when there is none or it is about to expire.
    pub fn credentials(&self, client: &Client) -> Result<(Credentials, u64), TrustedError> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = current.as_ref() {
            if SystemTime::now() < m.renew_at {
                return Ok((m.credentials.clone(), m.generation));
            }
        }
        // Minted under the lock: parallel uploads wait for one new token
        // instead of each minting its own.
        let minted = self.mint(client)?;
        let out = (minted.credentials.clone(), minted.generation);
        *current = Some(minted);
        Ok(out)
    }

    /// The index refused the token of `generation` (expired, revoked):
    /// forget it, so the next [`TrustedPublisher::credentials`] mints anew.
    pub fn refused(&self, generation: u64) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.as_ref().is_some_and(|m| m.generation == generation) {
            *current = None;
        }
    }

    fn mint(&self, client: &Client) -> Result<Minted, TrustedError> {
        let request_url = env(REQUEST_URL)?;
        let request_token = env(REQUEST_TOKEN)?;
        let audience = self.audience(client)?;
        let jwt = self.oidc_token(client, &request_url, &request_token, &audience)?;
        let mint_url = self.endpoint("_/oidc/mint-token")?;
        let what = format!("cannot mint an upload token at {mint_url}");
        let body = serde_json::json!({ "token": jwt });
        let (status, text) = self.send(&what, || client.post(mint_url.clone()).json(&body))?;
        if !status.is_success() {
            let refusal: MintRefusal = serde_json::from_str(&text).unwrap_or_default();
            let mut reasons: Vec<String> = refusal
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.code, e.description))
                .collect();
            if reasons.is_empty() {
                reasons.push(
                    refusal
                        .message
                        .unwrap_or_else(|| text.chars().take(300).collect()),
                );
            }
            return Err(TrustedError::Refused {
                url: mint_url.to_string(),
                status: status.as_u16(),
                reasons: reasons.join("; "),
            });
        }
        let answer: MintAnswer = serde_json::from_str(&text).map_err(|e| TrustedError::Failed {
            what: what.clone(),
            message: format!("the answer is not a minted token ({e})"),
        })?;
        let now = SystemTime::now();
        let generation = {
            let mut mints = self.mints.lock().unwrap_or_else(|p| p.into_inner());
            *mints += 1;
            *mints
        };
        Ok(Minted {
            credentials: Credentials::new("__token__".into(), answer.token, self.source()),
            renew_at: renew_at(now, answer.expires),
            generation,
        })
    }

    fn endpoint(&self, path: &str) -> Result<url::Url, TrustedError> {
        self.exchange.join(path).map_err(|e| TrustedError::Failed {
            what: format!("cannot make the {path} URL from {}", self.exchange),
            message: e.to_string(),
        })
    }

    /// The audience the index wants the OIDC token for (PyPI: `pypi`).
    fn audience(&self, client: &Client) -> Result<String, TrustedError> {
        let url = self.endpoint("_/oidc/audience")?;
        let what = format!("cannot ask {url} for the trusted publishing audience");
        let (status, text) = self.send(&what, || client.get(url.clone()))?;
        let answer: Audience = answer(
            &what,
            status,
            &text,
            "the index does not offer trusted publishing (or not at this host)",
        )?;
        Ok(answer.audience)
    }

    /// The CI provider's OIDC token for `audience`.
    fn oidc_token(
        &self,
        client: &Client,
        request_url: &str,
        request_token: &str,
        audience: &str,
    ) -> Result<String, TrustedError> {
        let shown = http::redact(request_url);
        let mut url = http::checked_url(request_url).map_err(|e| TrustedError::Failed {
            what: format!("{REQUEST_URL} is not usable"),
            message: e.to_string(),
        })?;
        url.query_pairs_mut().append_pair("audience", audience);
        let what = format!("cannot get an OIDC token from the CI provider ({shown})");
        let (status, text) = self.send(&what, || {
            client.get(url.clone()).header(
                reqwest::header::AUTHORIZATION,
                format!("bearer {request_token}"),
            )
        })?;
        let answer: OidcToken = answer(
            &what,
            status,
            &text,
            "is `permissions: id-token: write` set for this job?",
        )?;
        Ok(answer.value)
    }

    /// Send under the retry policy (connection failures, timeouts, 5xx and
    /// 429 are asked again: nothing here changes anything on the index);
    /// returns the final status and body.
    fn send(
        &self,
        what: &str,
        request: impl Fn() -> reqwest::blocking::RequestBuilder,
    ) -> Result<(StatusCode, String), TrustedError> {
        http::with_retry(
            self.retry,
            TrustedError::is_transient,
            || {
                let fail = |e: reqwest::Error| {
                    let (what, message) = (what.to_string(), describe(&e));
                    if http::is_transient_error(&e) {
                        TrustedError::Transient { what, message }
                    } else {
                        TrustedError::Failed { what, message }
                    }
                };
                let resp = request().send().map_err(fail)?;
                let status = resp.status();
                if status.is_redirection() {
                    return Err(TrustedError::Failed {
                        what: what.to_string(),
                        message: format!("HTTP {status}: redirects are not followed"),
                    });
                }
                let text = resp.text().map_err(fail)?;
                if http::is_transient_status(status) {
                    return Err(TrustedError::Transient {
                        what: what.to_string(),
                        message: format!("HTTP {status}"),
                    });
                }
                Ok((status, text))
            },
            || None,
        )
    }
}

/// A 2xx answer's JSON; any other status fails with `otherwise`, naming it.
fn answer<T: serde::de::DeserializeOwned>(
    what: &str,
    status: StatusCode,
    text: &str,
    otherwise: &str,
) -> Result<T, TrustedError> {
    let failed = |message: String| TrustedError::Failed {
        what: what.to_string(),
        message,
    };
    if !status.is_success() {
        return Err(failed(format!("HTTP {status}: {otherwise}")));
    }
    serde_json::from_str(text).map_err(|e| failed(format!("the answer cannot be read ({e})")))
}

/// When to mint again: before the index's `expires` (Unix seconds), by a
/// margin, never later than the longest lifetime an index gives; a clock
/// that disagrees with the index's cannot make it mint for every request.
fn renew_at(now: SystemTime, expires: Option<i64>) -> SystemTime {
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let lifetime = expires
        .map(|e| Duration::from_secs(e.saturating_sub(now_secs).max(0) as u64))
        .unwrap_or(LIFETIME)
        .clamp(MARGIN * 2, LIFETIME);
    now + (lifetime - MARGIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safe(u: &str) -> SafeUrl {
        SafeUrl::split(url::Url::parse(u).unwrap()).0
    }

    #[test]
    fn exchange_host_as_uv_derives_it() {
        let base = |u: &str| exchange_base(&safe(u)).to_string();
        assert_eq!(base("https://upload.pypi.org/legacy/"), "https://pypi.org/");
        assert_eq!(
            base("https://test.pypi.org/legacy/"),
            "https://test.pypi.org/"
        );
        assert_eq!(
            base("https://nexus.example:8443/repository/pypi/"),
            "https://nexus.example:8443/"
        );
        assert_eq!(base("http://127.0.0.1:9/x?y=1"), "http://127.0.0.1:9/");
    }

    #[test]
    fn renewed_before_expiry_within_bounds() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let in_secs = |t: SystemTime| t.duration_since(now).unwrap().as_secs();
        assert_eq!(in_secs(renew_at(now, Some(1_000_900))), 840);
        assert_eq!(in_secs(renew_at(now, None)), 840);
        // A far expiry is capped; one already past (a skewed clock) still
        // leaves a minute's use.
        assert_eq!(in_secs(renew_at(now, Some(9_999_999))), 840);
        assert_eq!(in_secs(renew_at(now, Some(10))), 60);
    }

    #[test]
    fn debug_shows_no_token() {
        let t = TrustedPublisher::new(
            &safe("https://upload.pypi.org/legacy/"),
            RetryPolicy::default(),
        );
        *t.current.lock().unwrap() = Some(Minted {
            credentials: Credentials::new("__token__".into(), "pypi-SECRET".into(), "x".into()),
            renew_at: SystemTime::now() + LIFETIME,
            generation: 1,
        });
        assert!(!format!("{t:?}").contains("SECRET"));
        t.refused(2);
        assert!(
            t.current.lock().unwrap().is_some(),
            "another token's refusal"
        );
        t.refused(1);
        assert!(t.current.lock().unwrap().is_none());
    }
}
