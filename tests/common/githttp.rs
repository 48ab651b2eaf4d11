//! git's smart HTTP for tests: `git http-backend` run as a CGI program per
//! request, behind basic auth (401 with `WWW-Authenticate`, as a forge
//! answers), on a loopback port. Put `tls::Front` before it for HTTPS.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use super::pypi::{basic, read_request, request_line};

#[derive(Clone)]
pub struct GitHttp {
    pub port: u16,
    /// (method, path, authorized) of every request.
    pub seen: Arc<Mutex<Vec<(String, String, bool)>>>,
}

impl GitHttp {
    /// Serve the bare repositories under `root` to `user` with `password`.
    pub fn start(root: &Path, user: &str, password: &str) -> GitHttp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (root, auth, user) = (root.to_path_buf(), basic(user, password), user.to_string());
        let s = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (root, auth, user, s) = (root.clone(), auth.clone(), user.clone(), s.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &root, &auth, &user, &s);
                });
            }
        });
        GitHttp { port, seen }
    }

    /// Pushes (receive-pack POSTs) it accepted.
    pub fn pushes(&self) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, p, ok)| *ok && m == "POST" && p.ends_with("/git-receive-pack"))
            .count()
    }
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
}

type Seen = Mutex<Vec<(String, String, bool)>>;

fn serve(
    conn: TcpStream,
    root: &PathBuf,
    auth: &str,
    user: &str,
    seen: &Seen,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn);
    while let Some((head, body)) = read_request(&mut reader)? {
        let out = reader.get_mut();
        let (method, target) = request_line(&head);
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let authorized = header(&head, "authorization").as_deref() == Some(auth);
        seen.lock()
            .unwrap()
            .push((method.clone(), path.to_string(), authorized));
        if !authorized {
            let text = "authentication required";
            write!(
                out,
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            )?;
            continue;
        }
        let mut cgi = Command::new("git");
        cgi.arg("http-backend")
            .env("GIT_PROJECT_ROOT", root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("REQUEST_METHOD", &method)
            .env("PATH_INFO", path)
            .env("QUERY_STRING", query)
            .env("CONTENT_LENGTH", body.len().to_string())
            .env("REMOTE_USER", user)
            .env("REMOTE_ADDR", "127.0.0.1")
            .env("GATEWAY_INTERFACE", "CGI/1.1")
            .env("SERVER_PROTOCOL", "HTTP/1.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (h, var) in [
            ("content-type", "CONTENT_TYPE"),
            ("content-encoding", "HTTP_CONTENT_ENCODING"),
            ("git-protocol", "GIT_PROTOCOL"),
        ] {
            if let Some(v) = header(&head, h) {
                cgi.env(var, v);
            }
        }
        let mut child = cgi.spawn()?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        // Written from another thread: the backend may answer before it has
        // read everything.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&body);
        });
        let output = child.wait_with_output()?;
        let _ = writer.join();
        let raw = output.stdout;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| (i, i + 4))
            .or_else(|| {
                raw.windows(2)
                    .position(|w| w == b"\n\n")
                    .map(|i| (i, i + 2))
            })
            .unwrap_or((raw.len(), raw.len()));
        let cgi_head = String::from_utf8_lossy(&raw[..split.0]).into_owned();
        let cgi_body = &raw[split.1..];
        let mut status = "200 OK".to_string();
        let mut reply_headers = String::new();
        for line in cgi_head.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("status") {
                status = v.trim().to_string();
            } else {
                reply_headers.push_str(&format!("{}: {}\r\n", k.trim(), v.trim()));
            }
        }
        write!(
            out,
            "HTTP/1.1 {status}\r\n{reply_headers}Content-Length: {}\r\n\r\n",
            cgi_body.len()
        )?;
        out.write_all(cgi_body)?;
    }
    Ok(())
}
