//! A loopback stand-in for trusted publishing: GitHub Actions' OIDC token
//! endpoint (what `ACTIONS_ID_TOKEN_REQUEST_URL` points at) and an index's
//! `/_/oidc/audience` and `/_/oidc/mint-token`, in front of a real
//! pypiserver (through the fault proxy). pypiserver knows only its user and
//! password, so the stand-in checks the minted token itself and forwards the
//! upload with the real credentials. It behaves as PyPI does where it matters
//! (each OIDC token is exchanged once; refusals come as `errors` with a
//! `code`), records everything, and can make a token expire after N uploads.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use super::pypi::{basic, forward, read_request, relay, request_line, PASSWORD, USER};

pub const REQUEST_TOKEN: &str = "ci-request-token-never-print-42";
pub const AUDIENCE: &str = "release-test-audience";

#[derive(Default)]
pub struct OidcState {
    /// Requests to the CI token endpoint: (Authorization, audience asked for).
    pub ci_requests: Vec<(String, String)>,
    /// OIDC tokens issued, and whether each was exchanged already.
    pub jwts: Vec<(String, bool)>,
    /// Upload tokens minted, with the uploads each carried.
    pub minted: Vec<(String, usize)>,
    /// Uploads refused because their token had expired.
    pub expired: usize,
    /// A token expires after carrying this many uploads.
    pub uploads_per_token: Option<usize>,
    /// Every mint is refused with this error code.
    pub refuse_mint: Option<&'static str>,
}

#[derive(Clone)]
pub struct Oidc {
    pub port: u16,
    pub state: Arc<Mutex<OidcState>>,
}

impl Oidc {
    /// In front of `upstream` (the fault proxy's port).
    pub fn start(upstream: u16) -> Oidc {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(OidcState::default()));
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let st = st.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, upstream, &st);
                });
            }
        });
        Oidc { port, state }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut OidcState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// The index's upload URL (pypiserver-style: uploads at `/`).
    pub fn upload_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// What GitHub sets `ACTIONS_ID_TOKEN_REQUEST_URL` to (with a query).
    pub fn request_url(&self) -> String {
        format!("http://127.0.0.1:{}/ci/token?api-version=2.0", self.port)
    }

    /// Every OIDC and upload token handed out, for secret scans.
    pub fn secrets(&self) -> Vec<String> {
        self.with(|s| {
            s.jwts
                .iter()
                .map(|(j, _)| j.clone())
                .chain(s.minted.iter().map(|(t, _)| t.clone()))
                .collect()
        })
    }
}

fn respond(out: &mut impl Write, status: u16, body: &str) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn header(head: &str, name: &str) -> String {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

fn unique() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}")
}

fn serve(conn: TcpStream, upstream: u16, state: &Mutex<OidcState>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn);
    while let Some((head, body)) = read_request(&mut reader)? {
        let out = reader.get_mut();
        let (method, path) = request_line(&head);
        let route = path.split('?').next().unwrap_or("").to_string();
        match (method.as_str(), route.as_str()) {
            ("GET", "/ci/token") => {
                let auth = header(&head, "authorization");
                let audience = url::form_urlencoded::parse(
                    path.split_once('?')
                        .map(|(_, q)| q)
                        .unwrap_or("")
                        .as_bytes(),
                )
                .find(|(k, _)| k == "audience")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
                let mut st = state.lock().unwrap();
                st.ci_requests.push((auth.clone(), audience.clone()));
                // As GitHub: the request token as a bearer, else 401.
                let scheme_ok = auth
                    .split_once(' ')
                    .is_some_and(|(s, t)| s.eq_ignore_ascii_case("bearer") && t == REQUEST_TOKEN);
                if !scheme_ok {
                    drop(st);
                    respond(out, 401, r#"{"message":"bad request token"}"#)?;
                    continue;
                }
                let jwt = format!("eyJhbGciOiJSUzI1NiJ9.{audience}-{}.c2ln", unique());
                st.jwts.push((jwt.clone(), false));
                drop(st);
                respond(
                    out,
                    200,
                    &serde_json::json!({"count": 1, "value": jwt}).to_string(),
                )?;
            }
            ("GET", "/_/oidc/audience") => {
                respond(
                    out,
                    200,
                    &serde_json::json!({"audience": AUDIENCE}).to_string(),
                )?;
            }
            ("POST", "/_/oidc/mint-token") => {
                let token = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["token"].as_str().map(str::to_string))
                    .unwrap_or_default();
                let mut st = state.lock().unwrap();
                let refusal = |code: &str, description: &str| {
                    serde_json::json!({"message": "Token request failed",
                        "errors": [{"code": code, "description": description}]})
                    .to_string()
                };
                if let Some(code) = st.refuse_mint {
                    drop(st);
                    let body = refusal(
                        code,
                        "valid token, but no corresponding publisher (All lookup strategies exhausted)",
                    );
                    respond(out, 422, &body)?;
                    continue;
                }
                // Ours, for our audience, and not exchanged before.
                let fresh = st.jwts.iter_mut().find(|(j, used)| {
                    *j == token && !*used && j.contains(&format!(".{AUDIENCE}-"))
                });
                let Some(entry) = fresh else {
                    drop(st);
                    respond(
                        out,
                        422,
                        &refusal("invalid-token", "unknown or replayed token"),
                    )?;
                    continue;
                };
                entry.1 = true;
                let minted = format!("pypi-minted-{}-{}", st.minted.len() + 1, unique());
                st.minted.push((minted.clone(), 0));
                drop(st);
                let expires = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs() + 900)
                    .unwrap_or(0);
                let answer =
                    serde_json::json!({"success": true, "token": minted, "expires": expires});
                respond(out, 200, &answer.to_string())?;
            }
            ("POST", _) => {
                let auth = header(&head, "authorization");
                let is_upload = body.windows(16).any(|w| w == b"name=\"content\"; ");
                let mut st = state.lock().unwrap();
                let limit = st.uploads_per_token;
                let Some(i) = st
                    .minted
                    .iter()
                    .position(|(t, _)| auth == basic("__token__", t))
                else {
                    drop(st);
                    respond(out, 403, r#"{"message":"Invalid API Token: not ours"}"#)?;
                    continue;
                };
                if is_upload {
                    if limit.is_some_and(|n| st.minted[i].1 >= n) {
                        st.expired += 1;
                        drop(st);
                        respond(
                            out,
                            403,
                            r#"{"message":"Invalid API Token: token expired"}"#,
                        )?;
                        continue;
                    }
                    st.minted[i].1 += 1;
                }
                drop(st);
                // pypiserver takes its own user and password, not our token.
                let real = head.replace(&auth, &basic(USER, PASSWORD));
                let resp = forward(upstream, &real, &body)?;
                relay(out, &resp)?;
            }
            _ => {
                let resp = forward(upstream, &head, &body)?;
                relay(out, &resp)?;
            }
        }
    }
    Ok(())
}
