//! HTTP plumbing shared by the index and announce clients: one client (one
//! keep-alive pool), one retry policy, one classifier of transient failures,
//! and the rule that plain `http://` is only for loopback hosts.

use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum HttpError {
    #[error("`{0}` is not a valid URL: {1}")]
    BadUrl(String, String),
    #[error("refusing plain http:// to {0}: credentials and packages would cross the network unencrypted; use https:// (http:// is allowed only for loopback hosts)")]
    Insecure(String),
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

/// Parse `url` and refuse plain http to anything but loopback.
pub fn checked_url(raw: &str) -> Result<url::Url, HttpError> {
    let url =
        url::Url::parse(raw.trim()).map_err(|e| HttpError::BadUrl(redact(raw), e.to_string()))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(HttpError::Insecure(
            url.host_str().unwrap_or("").to_string(),
        )),
        other => Err(HttpError::BadUrl(
            redact(raw),
            format!("scheme `{other}` is not http(s)"),
        )),
    }
}

pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// A URL without its userinfo, for messages and the journal.
pub fn redact(raw: &str) -> String {
    match url::Url::parse(raw.trim()) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => match raw.split_once("://") {
            Some((scheme, rest)) => {
                let rest = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
                format!("{scheme}://{rest}")
            }
            None => raw.to_string(),
        },
    }
}

/// One blocking client: rustls, no redirects (a redirect is a finding, and
/// following one could send credentials elsewhere), bounded timeouts.
pub fn client(timeout: Duration) -> Result<reqwest::blocking::Client, HttpError> {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .pool_max_idle_per_host(16)
        .user_agent(concat!("release/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| HttpError::Client(e.to_string()))
}

/// Exponential backoff with jitter, bounded attempts.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(500),
            max: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `n` (1-based): base·2^(n-1), capped, with
    /// jitter in [half, full] so parallel uploads do not retry in lockstep.
    pub fn delay(&self, n: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX));
        let capped = exp.min(self.max);
        let half = capped / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// Is this failure worth retrying? Connection failures, timeouts, 5xx and 429.
pub fn is_transient_status(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS
}

pub fn is_transient_error(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout() || e.is_request() || e.is_body()
}

/// A reqwest error with its causes. Request URLs never carry userinfo here
/// (it is moved into basic auth first), so nothing secret can appear.
pub fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only_for_http() {
        assert!(checked_url("http://127.0.0.1:8080/").is_ok());
        assert!(checked_url("http://localhost/").is_ok());
        assert!(checked_url("http://[::1]:1/").is_ok());
        assert!(checked_url("https://pypi.org/").is_ok());
        assert!(matches!(
            checked_url("http://pypi.org/"),
            Err(HttpError::Insecure(_))
        ));
        assert!(checked_url("ftp://x/").is_err());
        assert!(checked_url("not a url").is_err());
        assert_eq!(
            redact("https://u:secret@h.example/x"),
            "https://h.example/x"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        assert!(p.delay(1) <= Duration::from_millis(100));
        assert!(p.delay(3) >= Duration::from_millis(200));
        assert!(p.delay(30) <= Duration::from_millis(1000));
    }
}
