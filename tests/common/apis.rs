//! A loopback stand-in for the two announce APIs: Slack (`auth.test`,
//! `chat.postMessage`, `conversations.list`, `conversations.history`) and
//! GitHub (repo, release-by-tag, create-release, and the pulls API: create,
//! get, list by head and state, close), each on its own port so a
//! token sent to the wrong service shows. It behaves as the real services do
//! where it matters (history wants a channel ID, lists come in pages, errors
//! come as `ok: false`), records every request, and takes faults per route.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub const SLACK_TOKEN: &str = "xoxb-test-slack-token-never-print";
pub const GITHUB_TOKEN: &str = "ghp_test_github_token_never_print";

/// `conversations.list` answers this many channels per page.
pub const PAGE: usize = 2;

/// Which stand-in a request reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Slack,
    Github,
}

#[derive(Debug, Clone)]
pub struct Req {
    pub origin: Origin,
    pub method: String,
    /// With the query string.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub auth: String,
    pub body: String,
}

impl Req {
    /// The value of query parameter `name`, percent-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        let q = self.path.split_once('?')?.1;
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// Everything the request carried, for secret scans.
    pub fn all_text(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        format!(
            "{} {}\n{}\n\n{}",
            self.method,
            self.path,
            headers.join("\n"),
            self.body
        )
    }
}

/// What a route does instead of its normal answer, once per request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status and JSON body, doing nothing.
    Refuse(u16, &'static str),
    /// Do the work, then answer 2xx with an HTML error page (a proxy's).
    HtmlAfter,
    /// Do the work, send the headers and part of the body, then close.
    DropAfter,
}

/// A Slack channel: (id, name, private, archived).
pub type SlackChannel = (&'static str, &'static str, bool, bool);

pub const GENERAL: &str = "C0GENERAL5";

/// More channels than one page holds; `#general` on the last page, behind
/// an archived channel of a similar name.
pub const CHANNELS: [SlackChannel; 6] = [
    ("C0RANDOM01", "random", false, false),
    ("C0ANNOUNCE", "announcements", false, false),
    ("C0OLDGENRL", "general", false, true),
    ("G0RELEASES", "releases", true, false),
    ("C0DEVS0001", "dev", false, false),
    (GENERAL, "general", false, false),
];

pub struct State {
    pub requests: Vec<Req>,
    pub channels: Vec<SlackChannel>,
    /// Slack messages posted: (channel id, ts, text).
    pub messages: Vec<(String, String, String)>,
    /// GitHub releases: (id, tag, name, body, prerelease).
    pub releases: Vec<(u64, String, String, String, bool)>,
    /// (route, fault, times left), the first match applies.
    pub faults: Vec<(String, Fault, usize)>,
    /// GitHub pull requests, numbered from 1.
    pub pulls: Vec<Pull>,
    /// The bare repository pull requests are opened on: a head branch
    /// must exist there, as on GitHub.
    pub origin: Option<std::path::PathBuf>,
}

/// A GitHub pull request as the stand-in keeps it.
#[derive(Debug, Clone)]
pub struct Pull {
    pub number: u64,
    pub head: String,
    pub head_sha: String,
    pub base: String,
    pub title: String,
    pub body: String,
    /// `open` or `closed`.
    pub state: String,
    pub merged: bool,
    pub merge_commit_sha: Option<String>,
}

impl Pull {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "number": self.number,
            "html_url": format!("https://github.com/acme/demo/pull/{}", self.number),
            "state": self.state,
            "merged": self.merged,
            "merge_commit_sha": self.merge_commit_sha,
            "title": self.title,
            "body": self.body,
            "head": {"ref": self.head, "sha": self.head_sha, "label": format!("acme:{}", self.head)},
            "base": {"ref": self.base},
        })
    }
}

#[derive(Clone)]
pub struct Apis {
    pub slack_port: u16,
    pub github_port: u16,
    pub state: Arc<Mutex<State>>,
}

fn listen(origin: Origin, state: Arc<Mutex<State>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let st = state.clone();
            std::thread::spawn(move || {
                let _ = serve(origin, conn, &st);
            });
        }
    });
    port
}

impl Apis {
    pub fn start() -> Apis {
        let state = Arc::new(Mutex::new(State {
            requests: Vec::new(),
            channels: CHANNELS.to_vec(),
            messages: Vec::new(),
            releases: Vec::new(),
            faults: Vec::new(),
            pulls: Vec::new(),
            origin: None,
        }));
        Apis {
            slack_port: listen(Origin::Slack, state.clone()),
            github_port: listen(Origin::Github, state.clone()),
            state,
        }
    }

    /// The `[announce.*]` config for the sample's release.toml.
    pub fn config(&self) -> String {
        format!(
            "\n[announce]\nattempts = 3\nbackoff_ms = 10\n\n[announce.slack]\nchannel = \"#general\"\napi = \"http://127.0.0.1:{}/slack\"\n\n[announce.github]\nrepo = \"acme/demo\"\napi = \"http://127.0.0.1:{}/github\"\n",
            self.slack_port, self.github_port
        )
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// The next `times` requests to `route` (e.g. `/slack/chat.postMessage`,
    /// or with its method, `POST /github/repos/acme/demo/pulls`) meet `fault`.
    pub fn fault(&self, route: &str, fault: Fault, times: usize) {
        self.with(|s| s.faults.push((route.to_string(), fault, times)));
    }

    pub fn clear_faults(&self) {
        self.with(|s| s.faults.clear());
    }

    pub fn posts(&self) -> usize {
        self.with(|s| s.messages.len())
    }

    pub fn releases(&self) -> usize {
        self.with(|s| s.releases.len())
    }

    /// The requests to a route (path without the query).
    pub fn calls(&self, route: &str) -> Vec<Req> {
        self.with(|s| {
            s.requests
                .iter()
                .filter(|r| r.path.split('?').next() == Some(route))
                .cloned()
                .collect()
        })
    }

    /// GET `path` from one stand-in directly, as a client would; its JSON.
    pub fn get(&self, origin: Origin, path: &str, token: &str) -> serde_json::Value {
        let port = match origin {
            Origin::Slack => self.slack_port,
            Origin::Github => self.github_port,
        };
        let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            conn,
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        .unwrap();
        // The stand-in keeps the connection open: read the one answer.
        let mut reader = BufReader::new(conn);
        let mut len = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    /// No password reached either service, and each token only its own
    /// service, in the Authorization header only.
    pub fn assert_no_leaks(&self, passwords: &[&str], slack_token: &str, github_token: &str) {
        self.with(|s| {
            for r in &s.requests {
                let text = r.all_text();
                // (secret, where it must not be, what it is)
                let mut checks: Vec<(&str, String, &str)> = passwords
                    .iter()
                    .map(|p| (*p, text.clone(), "a password"))
                    .collect();
                for (token, own) in [(slack_token, Origin::Slack), (github_token, Origin::Github)] {
                    let outside_header = format!("{} {}\n\n{}", r.method, r.path, r.body);
                    let hay = if r.origin == own {
                        outside_header
                    } else {
                        text.clone()
                    };
                    checks.push((token, hay, "a token outside its header or service"));
                }
                for (secret, hay, what) in checks {
                    assert!(
                        secret.is_empty() || !hay.contains(secret),
                        "{what} was sent to the {:?} stand-in: {} {}",
                        r.origin,
                        r.method,
                        r.path
                    );
                }
            }
        });
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn ts_value(ts: &str) -> f64 {
    ts.parse().unwrap_or(0.0)
}

fn respond(out: &mut TcpStream, status: u16, kind: &str, body: &str) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn query(path: &str) -> Vec<(String, String)> {
    let q = path.split_once('?').map(|(_, q)| q).unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

/// Slack's own answer for `method`, given the query/JSON arguments.
fn slack(s: &mut State, route: &str, args: &serde_json::Value) -> (u16, String) {
    let arg = |k: &str| args[k].as_str().unwrap_or("").to_string();
    let by_id = |s: &State, id: &str| s.channels.iter().find(|c| c.0 == id).copied();
    match route {
        "/slack/auth.test" => (200, r#"{"ok":true,"user":"release-bot"}"#.into()),
        "/slack/chat.postMessage" => {
            // As Slack: an ID, a `#name` or a bare name.
            let want = arg("channel");
            let name = want.trim_start_matches('#');
            let found = by_id(s, &want)
                .or_else(|| s.channels.iter().find(|c| c.1 == name && !c.3).copied());
            match found {
                None => (200, r#"{"ok":false,"error":"channel_not_found"}"#.into()),
                Some(c) => {
                    let ts = format!("{}.{:06}", now_secs(), s.messages.len() + 1);
                    s.messages.push((c.0.to_string(), ts.clone(), arg("text")));
                    (
                        200,
                        serde_json::json!({"ok": true, "ts": ts, "channel": c.0}).to_string(),
                    )
                }
            }
        }
        "/slack/conversations.list" => {
            let types = arg("types");
            let types: Vec<&str> = match types.as_str() {
                "" => vec!["public_channel"],
                t => t.split(',').collect(),
            };
            let exclude_archived = arg("exclude_archived") == "true";
            let visible: Vec<SlackChannel> = s
                .channels
                .iter()
                .filter(|c| {
                    types.contains(&if c.2 {
                        "private_channel"
                    } else {
                        "public_channel"
                    })
                })
                .filter(|c| !(exclude_archived && c.3))
                .copied()
                .collect();
            let start = match arg("cursor").as_str() {
                "" => 0,
                c => match c.strip_prefix("next:").and_then(|n| n.parse().ok()) {
                    Some(n) => n,
                    None => return (200, r#"{"ok":false,"error":"invalid_cursor"}"#.into()),
                },
            };
            // Real Slack may answer fewer than `limit`: pages are ours.
            let page: Vec<serde_json::Value> = visible
                .iter()
                .skip(start)
                .take(PAGE)
                .map(|c| {
                    serde_json::json!({"id": c.0, "name": c.1, "is_private": c.2, "is_archived": c.3})
                })
                .collect();
            let next = if start + PAGE < visible.len() {
                format!("next:{}", start + PAGE)
            } else {
                String::new()
            };
            let v = serde_json::json!({"ok": true, "channels": page,
                "response_metadata": {"next_cursor": next}});
            (200, v.to_string())
        }
        "/slack/conversations.history" => {
            // As Slack: a channel ID only; `oldest` exclusive.
            let id = arg("channel");
            if by_id(s, &id).is_none() {
                return (200, r#"{"ok":false,"error":"channel_not_found"}"#.into());
            }
            let oldest = ts_value(&arg("oldest"));
            let mut msgs: Vec<serde_json::Value> = s
                .messages
                .iter()
                .filter(|(c, ts, _)| *c == id && ts_value(ts) > oldest)
                .map(|(_, ts, text)| serde_json::json!({"type": "message", "ts": ts, "text": text}))
                .collect();
            msgs.reverse();
            (
                200,
                serde_json::json!({"ok": true, "messages": msgs, "has_more": false,
                    "response_metadata": {"next_cursor": ""}})
                .to_string(),
            )
        }
        _ => (200, r#"{"ok":false,"error":"unknown_method"}"#.into()),
    }
}

/// The commit `branch` is at in the bare repository `origin`.
fn branch_sha(origin: &std::path::Path, branch: &str) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(origin)
        .args([
            "rev-parse",
            "--verify",
            "-q",
            &format!("refs/heads/{branch}"),
        ])
        .output()
        .ok()?;
    let sha = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !sha.is_empty()).then_some(sha)
}

/// The pulls API: list (by `head` = owner:branch and `state`), get, create
/// (the head branch must exist in the origin; one open pull request per
/// head), and update to `state: closed`.
fn pulls(s: &mut State, method: &str, path: &str, json: &serde_json::Value) -> (u16, String) {
    let route = path.split('?').next().unwrap_or("");
    let rest = route.trim_start_matches("/github/repos/acme/demo/pulls");
    let number: Option<u64> = rest.strip_prefix('/').and_then(|n| n.parse().ok());
    match (method, number) {
        ("GET", None) => {
            let q = query(path);
            let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let state = get("state").unwrap_or_else(|| "open".into());
            let page: usize = get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
            let head = get("head");
            let list: Vec<serde_json::Value> = s
                .pulls
                .iter()
                .filter(|p| state == "all" || p.state == state)
                .filter(|p| {
                    head.as_deref()
                        .is_none_or(|h| h == format!("acme:{}", p.head))
                })
                .filter(|_| page == 1)
                .map(Pull::json)
                .collect();
            (200, serde_json::Value::Array(list).to_string())
        }
        ("GET", Some(n)) => match s.pulls.iter().find(|p| p.number == n) {
            Some(p) => (200, p.json().to_string()),
            None => (404, r#"{"message":"Not Found"}"#.into()),
        },
        ("POST", None) => {
            let head = json["head"].as_str().unwrap_or("").to_string();
            let Some(sha) = s.origin.as_deref().and_then(|o| branch_sha(o, &head)) else {
                return (422, r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","field":"head","code":"invalid"}]}"#.into());
            };
            if s.pulls.iter().any(|p| p.head == head && p.state == "open") {
                return (
                    422,
                    format!(
                        r#"{{"message":"Validation Failed","errors":[{{"resource":"PullRequest","code":"custom","message":"A pull request already exists for acme:{head}."}}]}}"#
                    ),
                );
            }
            let pull = Pull {
                number: s.pulls.len() as u64 + 1,
                head,
                head_sha: sha,
                base: json["base"].as_str().unwrap_or("").to_string(),
                title: json["title"].as_str().unwrap_or("").to_string(),
                body: json["body"].as_str().unwrap_or("").to_string(),
                state: "open".into(),
                merged: false,
                merge_commit_sha: None,
            };
            let answer = pull.json().to_string();
            s.pulls.push(pull);
            (201, answer)
        }
        ("PATCH", Some(n)) => match s.pulls.iter_mut().find(|p| p.number == n) {
            Some(p) => {
                if json["state"] == "closed" && !p.merged {
                    p.state = "closed".into();
                }
                (200, p.json().to_string())
            }
            None => (404, r#"{"message":"Not Found"}"#.into()),
        },
        _ => (404, r#"{"message":"Not Found"}"#.into()),
    }
}

fn github(s: &mut State, method: &str, path: &str, json: &serde_json::Value) -> (u16, String) {
    let route = path.split('?').next().unwrap_or("");
    if route.starts_with("/github/repos/acme/demo/pulls") {
        return pulls(s, method, path, json);
    }
    match (method, route) {
        ("GET", "/github/repos/acme/demo") => (200, r#"{"full_name":"acme/demo"}"#.into()),
        ("GET", p) if p.starts_with("/github/repos/acme/demo/releases/tags/") => {
            let tag = p.rsplit('/').next().unwrap_or("");
            match s.releases.iter().find(|r| r.1 == tag) {
                Some(r) => (200, format!(r#"{{"id":{},"tag_name":"{}"}}"#, r.0, r.1)),
                None => (404, r#"{"message":"Not Found"}"#.into()),
            }
        }
        ("POST", "/github/repos/acme/demo/releases") => {
            let tag = json["tag_name"].as_str().unwrap_or("").to_string();
            if s.releases.iter().any(|r| r.1 == tag) {
                (422, r#"{"message":"Validation Failed","errors":[{"resource":"Release","code":"already_exists","field":"tag_name"}]}"#.into())
            } else {
                let id = 1000 + s.releases.len() as u64;
                s.releases.push((
                    id,
                    tag.clone(),
                    json["name"].as_str().unwrap_or("").to_string(),
                    json["body"].as_str().unwrap_or("").to_string(),
                    json["prerelease"].as_bool().unwrap_or(false),
                ));
                (201, format!(r#"{{"id":{id},"tag_name":"{tag}"}}"#))
            }
        }
        _ => (404, r#"{"message":"Not Found"}"#.into()),
    }
}

fn refusal(fault: &Option<Fault>) -> Option<(u16, String)> {
    match fault {
        Some(Fault::Refuse(status, body)) => Some((*status, body.to_string())),
        _ => None,
    }
}

fn serve(origin: Origin, conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
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
        let (mut len, mut auth, mut kind) = (0usize, String::new(), String::new());
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            if line.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
                match k.as_str() {
                    "content-length" => len = v.parse().unwrap_or(0),
                    "authorization" => auth = v.clone(),
                    "content-type" => kind = v.clone(),
                    _ => {}
                }
                headers.push((k, v));
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        let body = String::from_utf8_lossy(&body).into_owned();
        let mut s = state.lock().unwrap();
        s.requests.push(Req {
            origin,
            method: method.clone(),
            path: path.clone(),
            headers,
            auth: auth.clone(),
            body: body.clone(),
        });
        let route = path.split('?').next().unwrap_or("").to_string();
        let fault = s
            .faults
            .iter()
            .position(|(r, _, n)| (*r == route || *r == format!("{method} {route}")) && *n > 0)
            .map(|i| {
                s.faults[i].2 -= 1;
                s.faults[i].1.clone()
            });
        let (status, reply) = match (refusal(&fault), origin, route.as_str()) {
            (Some(answer), _, _) => answer,
            (None, Origin::Slack, p) if p.starts_with("/slack/") => {
                if auth != format!("Bearer {SLACK_TOKEN}") {
                    (200, r#"{"ok":false,"error":"invalid_auth"}"#.to_string())
                } else {
                    // Slack takes arguments as a query, a form or JSON.
                    let mut args: serde_json::Map<String, serde_json::Value> = query(&path)
                        .into_iter()
                        .map(|(k, v)| (k, v.into()))
                        .collect();
                    if kind.starts_with("application/json") {
                        if let Ok(serde_json::Value::Object(m)) = serde_json::from_str(&body) {
                            args.extend(m);
                        }
                    } else if kind.starts_with("application/x-www-form-urlencoded") {
                        args.extend(
                            query(&format!("?{body}"))
                                .into_iter()
                                .map(|(k, v)| (k, v.into())),
                        );
                    }
                    slack(&mut s, p, &serde_json::Value::Object(args))
                }
            }
            (None, Origin::Github, p) if p.starts_with("/github/") => {
                if auth != format!("Bearer {GITHUB_TOKEN}") {
                    (401, r#"{"message":"Bad credentials"}"#.into())
                } else {
                    let json = serde_json::from_str(&body).unwrap_or_default();
                    github(&mut s, &method, &path, &json)
                }
            }
            _ => (404, r#"{"message":"Not Found"}"#.into()),
        };
        drop(s);
        match fault {
            Some(Fault::HtmlAfter) => {
                let page = "<html><head><title>502 Bad Gateway</title></head><body>upstream timed out</body></html>";
                respond(&mut out, status.clamp(200, 299), "text/html", page)?;
            }
            Some(Fault::DropAfter) => {
                write!(
                    out,
                    "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
                    status.clamp(200, 299),
                    reply.len() + 100,
                    &reply[..reply.len() / 2]
                )?;
                out.flush()?;
                return out.shutdown(Shutdown::Both);
            }
            _ => respond(&mut out, status, "application/json", &reply)?,
        }
    }
}
