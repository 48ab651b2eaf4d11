//! Test parts for publishing over HTTP: a real pypiserver on a free loopback
//! port (from the venv scripts/pyenv.sh makes), a small loopback proxy in
//! front of it that records every request and can inject faults (503s,
//! connections dropped before or after the server got the upload), the two
//! together as `Pypi` (what `Sample::with_pypi` publishes to), and `Standin`,
//! an index of our own for what pypiserver cannot show.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const USER: &str = "alice";
pub const PASSWORD: &str = "pw-Zq8vL3xK-never-print-me";

use super::python;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub struct PypiServer {
    pub port: u16,
    pub packages: PathBuf,
    child: Child,
}

impl PypiServer {
    /// Start pypiserver with an htpasswd file, uploads authenticated.
    pub fn start(dir: &Path) -> PypiServer {
        Self::start_with(dir, PASSWORD)
    }

    /// The same, `USER` with another password.
    pub fn start_with(dir: &Path, password: &str) -> PypiServer {
        let packages = dir.join("packages");
        std::fs::create_dir_all(&packages).unwrap();
        let htpasswd = dir.join("htpasswd");
        let status = Command::new(python())
            .args([
                "-c",
                "import sys\nfrom passlib.apache import HtpasswdFile\nh = HtpasswdFile(sys.argv[1], new=True)\nh.set_password(sys.argv[2], sys.argv[3])\nh.save()",
            ])
            .arg(&htpasswd)
            .arg(USER)
            .arg(password)
            .status()
            .expect("python runs");
        assert!(status.success(), "cannot write the htpasswd file");
        let port = free_port();
        let bin = python().parent().unwrap().join("pypi-server");
        let log = std::fs::File::create(dir.join("pypiserver.log")).unwrap();
        let child = Command::new(bin)
            .args([
                "run",
                "-p",
                &port.to_string(),
                "-i",
                "127.0.0.1",
                "-a",
                "update",
                "-P",
            ])
            .arg(&htpasswd)
            .args(["--disable-fallback", "--backend", "simple-dir"])
            .arg(&packages)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("pypi-server starts");
        let server = PypiServer {
            port,
            packages,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((status, _)) = get(port, "/simple/") {
                if status == 200 {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "pypiserver did not come up on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for PypiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real pypiserver behind the fault proxy: what a sample made
/// `with_pypi` publishes to. Cheap to clone; the server stops when the last
/// clone is dropped, so one can serve many samples (the crash matrix, soak).
#[derive(Clone)]
pub struct Pypi {
    pub server: Arc<PypiServer>,
    pub proxy: Proxy,
}

impl Pypi {
    /// pypiserver in `dir` (`USER` with `PASSWORD`), the proxy in front.
    pub fn start(dir: &Path) -> Pypi {
        Self::start_with(dir, PASSWORD)
    }

    /// The same, `USER` with another password.
    pub fn start_with(dir: &Path, password: &str) -> Pypi {
        let server = PypiServer::start_with(dir, password);
        let proxy = Proxy::start(server.port);
        Pypi {
            server: Arc::new(server),
            proxy,
        }
    }

    /// What the proxy saw and what it will do to the next uploads.
    pub fn log(&self) -> &Log {
        &self.proxy.log
    }

    /// The files the server stores, sorted.
    pub fn files_on_server(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.server.packages)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// Each of the six files of version `norm` (normalised, e.g. `0.2.0rc0`)
    /// reached the server exactly once; `what` names the case in a failure.
    pub fn assert_each_file_once(&self, norm: &str, what: &str) {
        let delivered = self.proxy.log.delivered_for(norm);
        let mut unique = delivered.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 6, "{what}uploads {delivered:?}");
        assert_eq!(
            delivered.len(),
            6,
            "{what}a file was uploaded twice: {delivered:?}"
        );
    }
}

/// A plain GET over a fresh connection: (status, body).
pub fn get(port: u16, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let (status, _, body) = split_response(&buf);
    Ok((status, body))
}

pub fn split_response(buf: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let end = find(buf, b"\r\n\r\n").map(|i| i + 4).unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, buf[end..].to_vec())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What the proxy does to the next upload (a POST carrying a file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer 503 without forwarding.
    Unavailable,
    /// Forward it (the server stores the file), then drop the connection
    /// without answering: the client cannot know it landed.
    DropAfterForward,
    /// Drop the connection before forwarding.
    DropBeforeForward,
    /// Answer this status and body without forwarding (a proxy's 413, an
    /// index's 400 for invalid metadata, a 404 from a wrong route).
    Status(u16, &'static str),
    /// Hold the request this long, then forward it (a slow index).
    Stall(Duration),
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The uploaded file's name, for an upload.
    pub upload: Option<String>,
    /// Whether the request reached the server.
    pub forwarded: bool,
    /// The raw request head and form fields (not the file bytes), for scans.
    pub text: String,
}

#[derive(Clone, Default)]
pub struct Log {
    pub requests: Arc<Mutex<Vec<Request>>>,
    pub faults: Arc<Mutex<VecDeque<Fault>>>,
    /// Answer every GET of a project page with a redirect.
    pub redirect: Arc<Mutex<bool>>,
}

impl Log {
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Uploads the server actually received, per filename.
    pub fn delivered(&self, filename: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.forwarded && r.upload.as_deref() == Some(filename))
            .count()
    }

    pub fn delivered_uploads(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.forwarded)
            .filter_map(|r| r.upload)
            .collect()
    }

    /// For a soak of `runs` releases whose files carry `norm_of(run)`: how
    /// many runs have `files` distinct files delivered, and how many
    /// deliveries were duplicates. Counted from the server's log alone.
    pub fn soak_counts(
        &self,
        runs: usize,
        files: usize,
        norm_of: impl Fn(usize) -> String,
    ) -> (usize, usize) {
        let all = self.delivered_uploads();
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        let complete = (0..runs)
            .filter(|i| {
                let norm = format!("-{}", norm_of(*i));
                unique.iter().filter(|f| f.contains(&norm)).count() == files
            })
            .count();
        (complete, all.len() - unique.len())
    }

    /// Uploads the server received of version `norm` (normalised), in order.
    pub fn delivered_for(&self, norm: &str) -> Vec<String> {
        self.delivered_uploads()
            .into_iter()
            .filter(|f| f.contains(&format!("-{norm}")))
            .collect()
    }

    pub fn redirect_gets(&self) {
        *self.redirect.lock().unwrap() = true;
    }

    pub fn inject(&self, faults: &[Fault]) {
        self.faults.lock().unwrap().extend(faults.iter().copied());
    }
}

#[derive(Clone)]
pub struct Proxy {
    pub port: u16,
    pub log: Log,
}

impl Proxy {
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Log::default();
        let l = log.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let l = l.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, upstream, &l);
                });
            }
        });
        Proxy { port, log }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

pub fn read_request(r: &mut impl BufRead) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        head.push_str(&line);
    }
    let lower = head.to_ascii_lowercase();
    let mut body = Vec::new();
    if lower.contains("transfer-encoding: chunked") {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        body = vec![0; len];
        r.read_exact(&mut body)?;
    }
    Ok(Some((head, body)))
}

/// One response, whole: by its Content-Length when it has one (the upstream
/// may keep the connection open), else to the end of the connection.
pub fn read_response(r: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut resp = Vec::new();
    let mut len = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(resp);
        }
        resp.extend_from_slice(line.as_bytes());
        if line == "\r\n" || line == "\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse::<usize>().ok();
        }
    }
    match len {
        Some(n) => {
            let mut body = vec![0; n];
            r.read_exact(&mut body)?;
            resp.extend_from_slice(&body);
        }
        None => {
            r.read_to_end(&mut resp)?;
        }
    }
    Ok(resp)
}

/// (method, path) of a request head.
pub fn request_line(head: &str) -> (String, String) {
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let mut next = || words.next().unwrap_or("").to_string();
    (next(), next())
}

/// Serve one client connection (plain, or TLS from `tls::Front`): each
/// request recorded, faults applied, the rest forwarded to `upstream`.
pub fn serve(conn: impl Read + Write, upstream: u16, log: &Log) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn);
    while let Some((head, body)) = read_request(&mut reader)? {
        let out = reader.get_mut();
        let (method, path) = request_line(&head);
        let upload = find(&body, b"name=\"content\"").and_then(|i| {
            let rest = String::from_utf8_lossy(&body[i..(i + 400).min(body.len())]).into_owned();
            rest.split("filename=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(str::to_string)
        });
        let text = format!(
            "{head}\n{}",
            String::from_utf8_lossy(
                &body[..find(&body, b"name=\"content\"").unwrap_or(body.len())]
            )
        );
        let fault = if upload.is_some() {
            log.faults.lock().unwrap().pop_front()
        } else {
            None
        };
        let mut record = Request {
            method: method.clone(),
            path: path.clone(),
            upload,
            forwarded: false,
            text,
        };
        if method == "GET" && path.starts_with("/simple/") && *log.redirect.lock().unwrap() {
            out.write_all(b"HTTP/1.1 302 Found\r\nLocation: https://elsewhere.example/simple/\r\nContent-Length: 0\r\n\r\n")?;
            continue;
        }
        match fault {
            Some(Fault::Unavailable) => {
                log.requests.lock().unwrap().push(record);
                out.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 11\r\nConnection: close\r\n\r\nunavailable")?;
                return Ok(());
            }
            Some(Fault::DropBeforeForward) => {
                log.requests.lock().unwrap().push(record);
                return Ok(());
            }
            Some(Fault::Stall(d)) => std::thread::sleep(d),
            Some(Fault::Status(code, text)) => {
                log.requests.lock().unwrap().push(record);
                out.write_all(
                    format!(
                        "HTTP/1.1 {code} {text}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    )
                    .as_bytes(),
                )?;
                return Ok(());
            }
            _ => {}
        }
        let resp = forward(upstream, &head, &body)?;
        record.forwarded = true;
        log.requests.lock().unwrap().push(record);
        if fault == Some(Fault::DropAfterForward) {
            return Ok(());
        }
        relay(out, &resp)?;
    }
    Ok(())
}

/// Send a request to `upstream` over a fresh connection, as HTTP/1.0 with an
/// exact length; its whole response.
pub fn forward(upstream: u16, head: &str, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    let mut fwd_head = String::new();
    for (i, line) in head.lines().enumerate() {
        let l = line.to_ascii_lowercase();
        if i > 0
            && (l.starts_with("connection:")
                || l.starts_with("content-length:")
                || l.starts_with("transfer-encoding:"))
        {
            continue;
        }
        fwd_head.push_str(line.trim_end());
        fwd_head.push_str("\r\n");
    }
    fwd_head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    up.write_all(fwd_head.as_bytes())?;
    up.write_all(body)?;
    read_response(&mut BufReader::new(up))
}

/// Answer the client with an upstream's response, on a connection kept open.
pub fn relay(out: &mut impl Write, resp: &[u8]) -> std::io::Result<()> {
    let (status, headers, body) = split_response(resp);
    let mut reply = format!("HTTP/1.1 {status} X\r\n");
    for (k, v) in headers {
        if k != "content-length" && k != "connection" && k != "transfer-encoding" {
            reply.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    reply.push_str(&format!(
        "Content-Length: {}\r\nConnection: keep-alive\r\n\r\n",
        body.len()
    ));
    out.write_all(reply.as_bytes())?;
    out.write_all(&body)
}

/// `Authorization: Basic ...` for `user:password`, as a client sends it.
pub fn basic(user: &str, password: &str) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{user}:{password}").into_bytes();
    let mut out = String::from("Basic ");
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Which of the stand-in's origins a request reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The upload API, and the simple API too (PyPI-style one host).
    Upload,
    /// A second simple API, for an `index_url` on its own origin.
    Index,
    /// Where the pages link the files (PyPI's files.pythonhosted.org).
    Files,
}

#[derive(Debug, Clone)]
pub struct Seen {
    pub origin: Origin,
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    /// The form fields of an upload, file bytes left out: (name, value).
    pub fields: Vec<(String, String)>,
}

#[derive(Default)]
pub struct StandinState {
    pub seen: Vec<Seen>,
    /// Uploaded files: (normalised project, filename, bytes).
    pub files: Vec<(String, String, Vec<u8>)>,
    /// Serve PEP 503 HTML instead of PEP 691 JSON.
    pub html: bool,
}

/// A stand-in index over loopback: uploads (credentials required) and simple
/// pages on one origin, the same pages on a second origin (credentials
/// required when `reader` is set), the files on a third. Records everything.
pub struct Standin {
    pub upload_port: u16,
    pub index_port: u16,
    pub files_port: u16,
    pub state: Arc<Mutex<StandinState>>,
}

struct Rules {
    uploader: String,
    reader: Option<String>,
    files_port: u16,
}

impl Standin {
    /// `uploader` and `reader` are (user, password) pairs.
    pub fn start(uploader: (&str, &str), reader: Option<(&str, &str)>) -> Standin {
        let state = Arc::new(Mutex::new(StandinState::default()));
        let listeners: Vec<TcpListener> = (0..3)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        let rules = Arc::new(Rules {
            uploader: basic(uploader.0, uploader.1),
            reader: reader.map(|(u, p)| basic(u, p)),
            files_port: ports[2],
        });
        for (listener, origin) in
            listeners
                .into_iter()
                .zip([Origin::Upload, Origin::Index, Origin::Files])
        {
            let (state, rules) = (state.clone(), rules.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming().flatten() {
                    let (state, rules) = (state.clone(), rules.clone());
                    std::thread::spawn(move || {
                        let _ = standin_serve(conn, origin, &rules, &state);
                    });
                }
            });
        }
        Standin {
            upload_port: ports[0],
            index_port: ports[1],
            files_port: ports[2],
            state,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn html(&self, on: bool) {
        self.state.lock().unwrap().html = on;
    }

    pub fn files(&self) -> Vec<(String, String, Vec<u8>)> {
        self.state.lock().unwrap().files.clone()
    }
}

fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.to_ascii_lowercase().chars() {
        let c = if matches!(c, '_' | '.') { '-' } else { c };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out
}

/// The parts of a multipart/form-data body: (name, filename, bytes).
fn multipart(head: &str, body: &[u8]) -> Vec<(String, Option<String>, Vec<u8>)> {
    let Some(boundary) = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("content-type:"))
        .and_then(|l| l.split("boundary=").nth(1))
        .map(|b| format!("--{}", b.trim().trim_matches('"')))
    else {
        return Vec::new();
    };
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(i) = find(rest, boundary.as_bytes()) {
        rest = &rest[i + boundary.len()..];
        let Some(end_of_head) = find(rest, b"\r\n\r\n") else {
            break;
        };
        let part_head = String::from_utf8_lossy(&rest[..end_of_head]).into_owned();
        let content = &rest[end_of_head + 4..];
        let len = find(content, boundary.as_bytes()).unwrap_or(content.len());
        let value = content[..len.saturating_sub(2)].to_vec();
        let attr = |key: &str| {
            part_head
                .split(&format!("{key}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(str::to_string)
        };
        if let Some(name) = attr("name") {
            parts.push((name, attr("filename"), value));
        }
        rest = &content[len..];
    }
    parts
}

fn respond(out: &mut TcpStream, status: &str, ctype: &str, body: &[u8]) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    out.write_all(body)
}

fn standin_serve(
    conn: TcpStream,
    origin: Origin,
    rules: &Rules,
    state: &Mutex<StandinState>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    while let Some((head, body)) = read_request(&mut reader)? {
        let (method, path) = request_line(&head);
        let authorization = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
            .map(|l| l["authorization:".len()..].trim().to_string());
        let parts = multipart(&head, &body);
        let fields = parts
            .iter()
            .filter(|(_, filename, _)| filename.is_none())
            .map(|(n, _, v)| (n.clone(), String::from_utf8_lossy(v).into_owned()))
            .collect();
        state.lock().unwrap().seen.push(Seen {
            origin,
            method: method.clone(),
            path: path.clone(),
            authorization: authorization.clone(),
            fields,
        });
        let authorized =
            |expected: Option<&String>| expected.is_none_or(|e| authorization.as_ref() == Some(e));
        match (origin, method.as_str()) {
            (Origin::Files, "GET") => {
                let name = path.trim_start_matches("/files/");
                let bytes = state
                    .lock()
                    .unwrap()
                    .files
                    .iter()
                    .find(|(_, f, _)| f == name)
                    .map(|(_, _, b)| b.clone());
                match bytes {
                    Some(b) => respond(&mut out, "200 OK", "application/octet-stream", &b)?,
                    None => respond(&mut out, "404 Not Found", "text/plain", b"no such file")?,
                }
            }
            (Origin::Upload, "POST") => {
                if !authorized(Some(&rules.uploader)) {
                    respond(&mut out, "401 Unauthorized", "text/plain", b"who are you")?;
                    continue;
                }
                let name = parts
                    .iter()
                    .find(|(n, _, _)| n == "name")
                    .map(|(_, _, v)| normalize(&String::from_utf8_lossy(v)));
                let file = parts.iter().find(|(n, f, _)| n == "content" && f.is_some());
                let (Some(project), Some((_, Some(filename), bytes))) = (name, file) else {
                    respond(&mut out, "400 Bad Request", "text/plain", b"no file")?;
                    continue;
                };
                let mut st = state.lock().unwrap();
                if st.files.iter().any(|(_, f, _)| f == filename) {
                    drop(st);
                    respond(&mut out, "409 Conflict", "text/plain", b"already exists")?;
                    continue;
                }
                st.files.push((project, filename.clone(), bytes.clone()));
                drop(st);
                respond(&mut out, "200 OK", "text/plain", b"ok")?;
            }
            (Origin::Upload | Origin::Index, "GET") if path.starts_with("/simple/") => {
                let reader = if origin == Origin::Index {
                    rules.reader.as_ref()
                } else {
                    None
                };
                if !authorized(reader) {
                    respond(&mut out, "401 Unauthorized", "text/plain", b"who are you")?;
                    continue;
                }
                let project = path.trim_start_matches("/simple/").trim_end_matches('/');
                let st = state.lock().unwrap();
                let files: Vec<(String, String)> = st
                    .files
                    .iter()
                    .filter(|(p, _, _)| p == project)
                    .map(|(_, f, b)| (f.clone(), release::ops::sha256_bytes(b)))
                    .collect();
                let html = st.html;
                drop(st);
                if files.is_empty() {
                    respond(&mut out, "404 Not Found", "text/plain", b"no such project")?;
                    continue;
                }
                let link = |f: &str| format!("http://127.0.0.1:{}/files/{f}", rules.files_port);
                if html {
                    let anchors: String = files
                        .iter()
                        .map(|(f, h)| format!("<a href=\"{}#sha256={h}\">{f}</a><br/>\n", link(f)))
                        .collect();
                    let page = format!("<!DOCTYPE html><html><body>\n{anchors}</body></html>\n");
                    respond(&mut out, "200 OK", "text/html", page.as_bytes())?;
                } else {
                    let files: Vec<serde_json::Value> = files
                        .iter()
                        .map(|(f, h)| {
                            serde_json::json!({"filename": f, "url": link(f), "hashes": {"sha256": h}})
                        })
                        .collect();
                    let page = serde_json::json!({"meta": {"api-version": "1.0"}, "name": project, "files": files});
                    respond(
                        &mut out,
                        "200 OK",
                        "application/vnd.pypi.simple.v1+json",
                        page.to_string().as_bytes(),
                    )?;
                }
            }
            _ => respond(&mut out, "404 Not Found", "text/plain", b"not here")?,
        }
    }
    Ok(())
}
