//! A loopback stand-in for the two announce APIs (Slack's `auth.test`,
//! `chat.postMessage`, `conversations.history`; GitHub's repo, release-by-tag
//! and create-release), recording every request, with switches to fail.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

pub const SLACK_TOKEN: &str = "xoxb-test-slack-token-never-print";
pub const GITHUB_TOKEN: &str = "ghp_test_github_token_never_print";

#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub auth: String,
    pub body: String,
}

#[derive(Default)]
pub struct State {
    pub requests: Vec<Req>,
    /// Slack messages posted: (ts, text).
    pub messages: Vec<(String, String)>,
    /// GitHub releases: (id, tag, name, body, prerelease).
    pub releases: Vec<(u64, String, String, String, bool)>,
    /// The next N `chat.postMessage` answer ok:false.
    pub slack_fail: usize,
    /// `conversations.history` answers missing_scope.
    pub history_denied: bool,
    /// The next N release creations answer 502.
    pub github_fail: usize,
}

#[derive(Clone)]
pub struct Apis {
    pub port: u16,
    pub state: Arc<Mutex<State>>,
}

impl Apis {
    pub fn start() -> Apis {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let st = st.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &st);
                });
            }
        });
        Apis { port, state }
    }

    /// The `[announce.*]` config for the sample's release.toml.
    pub fn config(&self) -> String {
        format!(
            "\n[announce]\nattempts = 3\nbackoff_ms = 10\n\n[announce.slack]\nchannel = \"#general\"\napi = \"http://127.0.0.1:{0}/slack\"\n\n[announce.github]\nrepo = \"acme/demo\"\napi = \"http://127.0.0.1:{0}/github\"\n",
            self.port
        )
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub fn posts(&self) -> usize {
        self.with(|s| s.messages.len())
    }

    pub fn releases(&self) -> usize {
        self.with(|s| s.releases.len())
    }
}

fn respond(out: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn serve(conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    loop {
        let mut first = String::new();
        if reader.read_line(&mut first)? == 0 {
            return Ok(());
        }
        let mut parts = first.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let (mut len, mut auth) = (0usize, String::new());
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            if line.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "authorization" => auth = v.trim().to_string(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        let body = String::from_utf8_lossy(&body).into_owned();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let mut s = state.lock().unwrap();
        s.requests.push(Req {
            method: method.clone(),
            path: path.clone(),
            auth: auth.clone(),
            body: body.clone(),
        });
        let slack_ok = auth == format!("Bearer {SLACK_TOKEN}");
        let github_ok = auth == format!("Bearer {GITHUB_TOKEN}");
        let route = path.split('?').next().unwrap_or("").to_string();
        let (status, reply) = match (method.as_str(), route.as_str()) {
            (_, p) if p.starts_with("/slack/") && !slack_ok => {
                (200, r#"{"ok":false,"error":"invalid_auth"}"#.to_string())
            }
            ("POST", "/slack/auth.test") => (200, r#"{"ok":true,"user":"release-bot"}"#.into()),
            ("POST", "/slack/chat.postMessage") => {
                if s.slack_fail > 0 {
                    s.slack_fail -= 1;
                    (200, r#"{"ok":false,"error":"channel_not_found"}"#.into())
                } else {
                    let ts = format!("1700000000.{:06}", s.messages.len() + 1);
                    let text = json["text"].as_str().unwrap_or("").to_string();
                    s.messages.push((ts.clone(), text));
                    (200, format!(r#"{{"ok":true,"ts":"{ts}","channel":"C1"}}"#))
                }
            }
            ("GET", "/slack/conversations.history") => {
                if s.history_denied {
                    (200, r#"{"ok":false,"error":"missing_scope"}"#.into())
                } else {
                    let msgs: Vec<serde_json::Value> = s
                        .messages
                        .iter()
                        .map(|(ts, text)| serde_json::json!({"ts": ts, "text": text}))
                        .collect();
                    (
                        200,
                        serde_json::json!({"ok": true, "messages": msgs}).to_string(),
                    )
                }
            }
            (_, p) if p.starts_with("/github/") && !github_ok => {
                (401, r#"{"message":"Bad credentials"}"#.into())
            }
            ("GET", "/github/repos/acme/demo") => (200, r#"{"full_name":"acme/demo"}"#.into()),
            ("GET", p) if p.starts_with("/github/repos/acme/demo/releases/tags/") => {
                let tag = p.rsplit('/').next().unwrap_or("");
                match s.releases.iter().find(|r| r.1 == tag) {
                    Some(r) => (200, format!(r#"{{"id":{}}}"#, r.0)),
                    None => (404, r#"{"message":"Not Found"}"#.into()),
                }
            }
            ("POST", "/github/repos/acme/demo/releases") => {
                let tag = json["tag_name"].as_str().unwrap_or("").to_string();
                if s.github_fail > 0 {
                    s.github_fail -= 1;
                    (502, r#"{"message":"Bad Gateway"}"#.into())
                } else if s.releases.iter().any(|r| r.1 == tag) {
                    (422, r#"{"message":"Validation Failed","errors":[{"resource":"Release","code":"already_exists","field":"tag_name"}]}"#.into())
                } else {
                    let id = 1000 + s.releases.len() as u64;
                    s.releases.push((
                        id,
                        tag,
                        json["name"].as_str().unwrap_or("").to_string(),
                        json["body"].as_str().unwrap_or("").to_string(),
                        json["prerelease"].as_bool().unwrap_or(false),
                    ));
                    (201, format!(r#"{{"id":{id}}}"#))
                }
            }
            _ => (404, r#"{"message":"Not Found"}"#.into()),
        };
        drop(s);
        respond(&mut out, status, &reply)?;
    }
}
