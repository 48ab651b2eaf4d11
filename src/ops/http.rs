//! HTTP plumbing shared by the index and announce clients: one client (one
//! keep-alive pool), one retry policy, one classifier of transient failures,
//! and the rule that plain `http://` is only for loopback hosts.
//!
//! HTTPS trusts what the Python tools trust: the bundled web roots, the
//! system's certificate store (`SSL_CERT_FILE` / `SSL_CERT_DIR` read in its
//! place, as OpenSSL does), plus the PEM bundles named by `REQUESTS_CA_BUNDLE`
//! and `[publish] ca_cert`, so an index behind a corporate CA can be reached.

use std::path::{Path, PathBuf};
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
    #[error("cannot use the CA certificates in {path} (from {from}): {message}")]
    Ca {
        path: PathBuf,
        from: String,
        message: String,
    },
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
        Ok(u) => SafeUrl::split(u).0.to_string(),
        Err(_) => match raw.split_once("://") {
            Some((scheme, rest)) => {
                let (authority, path) = match rest.find(['/', '?', '#']) {
                    Some(i) => rest.split_at(i),
                    None => (rest, ""),
                };
                let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
                format!("{scheme}://{host}{path}")
            }
            None => raw.to_string(),
        },
    }
}

/// A URL that holds no credentials: what is journaled, printed, announced and
/// requested. The userinfo of the URL it was made from is handed out once, by
/// [`SafeUrl::split`], percent-decoded, for the caller to bind to the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeUrl(url::Url);

impl SafeUrl {
    /// The URL without userinfo, and the (user, password) it held, decoded
    /// (`p%40ss` is the password `p@ss`).
    pub fn split(mut url: url::Url) -> (SafeUrl, Option<(String, String)>) {
        let user = percent_decode(url.username());
        let password = url.password().map(percent_decode);
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let userinfo = match (user.is_empty(), password) {
            (true, None) => None,
            (_, password) => Some((user, password.unwrap_or_default())),
        };
        (SafeUrl(url), userinfo)
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }

    /// Same scheme, host and port (the port a scheme implies included).
    pub fn same_origin(&self, other: &url::Url) -> bool {
        let origin = self.0.origin();
        origin.is_tuple() && origin == other.origin()
    }
}

impl std::fmt::Display for SafeUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl serde::Serialize for SafeUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

/// `%XX` escapes decoded; a stray `%` is kept as is, bytes that are not UTF-8
/// are replaced (a URL's userinfo is text).
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// `#[serde(with = "...")]` for a journaled `Option<String>` URL: written and
/// read back without userinfo, whatever a caller or an older journal put there.
pub mod redacted {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        match url {
            Some(u) => s.serialize_some(&super::redact(u)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(|u| super::redact(&u)))
    }
}

/// One blocking client: rustls, no redirects (a redirect is a finding, and
/// following one could send credentials elsewhere), bounded timeouts.
pub fn client(timeout: Duration) -> Result<reqwest::blocking::Client, HttpError> {
    client_trusting(timeout, None)
}

/// [`client`], also trusting the CA bundle `ca_cert` (`[publish] ca_cert`).
/// Every client is built here, so every request trusts the same roots.
pub fn client_trusting(
    timeout: Duration,
    ca_cert: Option<&Path>,
) -> Result<reqwest::blocking::Client, HttpError> {
    let mut builder = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .pool_max_idle_per_host(16)
        .user_agent(concat!("release/", env!("CARGO_PKG_VERSION")));
    for cert in extra_roots(ca_cert)? {
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build()
        .map_err(|e| HttpError::Client(e.to_string()))
}

/// The slowest upload bandwidth an upload's timeout allows for: an upload
/// may take the per-request timeout plus its size at this rate.
pub const SLOWEST_UPLOAD_BYTES_PER_SEC: u64 = 256 * 1024;

/// The whole-request timeout of an upload of `size` bytes: `timeout` for the
/// index to answer, plus the body's time at [`SLOWEST_UPLOAD_BYTES_PER_SEC`]
/// (a large wheel over a slow link is not a hung index).
pub fn upload_timeout(timeout: Duration, size: u64) -> Duration {
    timeout + Duration::from_secs(size / SLOWEST_UPLOAD_BYTES_PER_SEC)
}

/// The CA bundles trusted besides the built-in and system roots, with where
/// each was named: `SSL_CERT_FILE` (already the system store's stand-in, read
/// again so a bad file is an error rather than silently no roots),
/// `REQUESTS_CA_BUNDLE`, and the config's `ca_cert`.
pub fn ca_bundles(ca_cert: Option<&Path>) -> Vec<(String, PathBuf)> {
    let env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(|v| (name.to_string(), PathBuf::from(v)))
    };
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    let named = [env("SSL_CERT_FILE"), env("REQUESTS_CA_BUNDLE")]
        .into_iter()
        .flatten()
        .chain(ca_cert.map(|p| ("[publish] ca_cert".to_string(), p.to_path_buf())));
    for (from, path) in named {
        if !out.iter().any(|(_, p)| *p == path) {
            out.push((from, path));
        }
    }
    out
}

fn extra_roots(ca_cert: Option<&Path>) -> Result<Vec<reqwest::Certificate>, HttpError> {
    let mut roots = Vec::new();
    for (from, path) in ca_bundles(ca_cert) {
        let bad = |message: String| HttpError::Ca {
            path: path.clone(),
            from: from.clone(),
            message,
        };
        let pem = std::fs::read(&path).map_err(|e| bad(e.to_string()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(describe(&e)))?;
        if certs.is_empty() {
            return Err(bad("it holds no PEM certificate".into()));
        }
        roots.extend(certs);
    }
    Ok(roots)
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

/// The one retry loop: run `attempt`; on a failure `transient` says is worth
/// retrying, wait by the policy and go again, up to `policy.attempts` tries.
/// Before each new try `settle` asks the world whether the last one landed
/// after all (an upload the index now lists, a release found by its tag): an
/// answer ends the loop, so nothing whose outcome was unknown is sent twice.
pub fn with_retry<T, E>(
    policy: RetryPolicy,
    transient: impl Fn(&E) -> bool,
    mut attempt: impl FnMut() -> Result<T, E>,
    mut settle: impl FnMut() -> Option<Result<T, E>>,
) -> Result<T, E> {
    let mut tries = 1;
    loop {
        match attempt() {
            Err(e) if transient(&e) && tries < policy.attempts => {
                std::thread::sleep(policy.delay(tries));
                tries += 1;
                if let Some(done) = settle() {
                    return done;
                }
            }
            other => return other,
        }
    }
}

/// Is this failure worth retrying? Connection failures, timeouts, 5xx and 429.
pub fn is_transient_status(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS
}

/// A certificate the client does not trust is no passing fault: asking
/// again cannot help.
pub fn is_transient_error(e: &reqwest::Error) -> bool {
    (e.is_connect() || e.is_timeout() || e.is_request() || e.is_body()) && !is_certificate_error(e)
}

/// The TLS handshake failed on the server's certificate (unknown issuer,
/// wrong name, expired).
pub fn is_certificate_error(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        let text = inner.to_string();
        if text.contains("invalid peer certificate") || text.contains("certificate verify failed") {
            return true;
        }
        source = inner.source();
    }
    false
}

const CERTIFICATE_HINT: &str = "the server's certificate is not trusted: if the index uses a private CA, point SSL_CERT_FILE, REQUESTS_CA_BUNDLE or [publish] ca_cert at its PEM bundle";

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
    if is_certificate_error(e) {
        s.push_str("; ");
        s.push_str(CERTIFICATE_HINT);
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
        assert_eq!(
            redact("https://u:se@cret@h.example:99999/x@y"),
            "https://h.example:99999/x@y"
        );
    }

    #[test]
    fn userinfo_is_split_off_and_decoded() {
        let u = url::Url::parse("https://us%65r:p%40ss%3Aw%2Fd%25@h.example:8443/simple/").unwrap();
        let (safe, userinfo) = SafeUrl::split(u);
        assert_eq!(safe.to_string(), "https://h.example:8443/simple/");
        assert_eq!(
            userinfo,
            Some(("user".to_string(), "p@ss:w/d%".to_string()))
        );
        assert_eq!(
            serde_json::to_string(&safe).unwrap(),
            "\"https://h.example:8443/simple/\""
        );
        let (_, none) = SafeUrl::split(url::Url::parse("https://h.example/").unwrap());
        assert_eq!(none, None);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("a%20b"), "a b");
    }

    #[test]
    fn journaled_urls_lose_their_userinfo_both_ways() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct J {
            #[serde(default, with = "redacted")]
            u: Option<String>,
        }
        let written = serde_json::to_string(&J {
            u: Some("https://r:pw@h.example/simple/".into()),
        })
        .unwrap();
        assert_eq!(written, r#"{"u":"https://h.example/simple/"}"#);
        let read: J = serde_json::from_str(r#"{"u":"https://r:pw@h.example/"}"#).unwrap();
        assert_eq!(read.u.as_deref(), Some("https://h.example/"));
        let missing: J = serde_json::from_str("{}").unwrap();
        assert_eq!(missing.u, None);
    }

    #[test]
    fn origins() {
        let (safe, _) = SafeUrl::split(url::Url::parse("https://u:p@h.example/legacy/").unwrap());
        let same = |s: &str| safe.same_origin(&url::Url::parse(s).unwrap());
        assert!(same("https://h.example:443/simple/x/"));
        assert!(!same("http://h.example/simple/"));
        assert!(!same("https://h.example:444/"));
        assert!(!same("https://files.h.example/"));
        assert!(!same("https://other.example/"));
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
