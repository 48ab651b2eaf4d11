//! Signing tags and commits the way git does (`git tag -s`, `commit.gpgSign`),
//! so that `git tag -v` and `git verify-commit` accept what release made.
//!
//! libgit2 does not sign, so the signature is made by the same programs git
//! runs, read from the same git config: `gpg.format` (`openpgp`, `x509` or
//! `ssh`), `user.signingKey`, and `gpg.program` / `gpg.<format>.program`. The
//! payload is the object's text; for a tag the armoured signature is appended
//! to it, for a commit it goes in the `gpgsig` header (see `ops::git`).
//! Preflight makes a trial signature, so a missing key or agent is found
//! before anything changes, not after the bump.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use git2::Repository;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SignError {
    #[error("{0}")]
    Config(String),
    #[error("cannot run `{program}` to sign ({source}); install it, or set `{setting}` to the program to use")]
    Spawn {
        program: String,
        setting: &'static str,
        source: std::io::Error,
    },
    #[error("`{program}` could not sign with {key}: {detail}")]
    Failed {
        program: String,
        key: String,
        detail: String,
    },
    #[error("signing needs a temporary file: {0}")]
    Io(#[from] std::io::Error),
}

/// `gpg.format`: which kind of signature git makes and verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Openpgp,
    X509,
    Ssh,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Openpgp => "openpgp",
            Format::X509 => "x509",
            Format::Ssh => "ssh",
        }
    }
}

/// An ssh signing key as `user.signingKey` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SshKey {
    /// A private key file, or a public one whose private half is in the agent.
    File(PathBuf),
    /// A public key given literally (`key::ssh-ed25519 AAAA…`): the agent signs.
    Literal(String),
}

/// Who signs, with which key, using which program: read once from git's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    format: Format,
    program: String,
    /// The gpg key id (or user id), or the ssh key.
    gpg_key: String,
    ssh_key: Option<SshKey>,
}

fn bool_setting(cfg: &git2::Config, name: &str) -> bool {
    cfg.get_bool(name).unwrap_or(false)
}

fn string_setting(cfg: &git2::Config, name: &str) -> Option<String> {
    cfg.get_string(name).ok().filter(|s| !s.trim().is_empty())
}

/// The signer for release tags: when `tag.gpgSign` (or
/// `tag.forceSignAnnotated`) is set, or `force` (`release start --sign`);
/// `None` when tags are not to be signed.
pub fn for_tags(repo: &Repository, force: bool) -> Result<Option<Signer>, SignError> {
    let cfg = config(repo)?;
    let wanted =
        force || bool_setting(&cfg, "tag.gpgSign") || bool_setting(&cfg, "tag.forceSignAnnotated");
    wanted.then(|| Signer::from_config(repo, &cfg)).transpose()
}

/// The signer for the release commit: when `commit.gpgSign` is set.
pub fn for_commits(repo: &Repository) -> Result<Option<Signer>, SignError> {
    let cfg = config(repo)?;
    bool_setting(&cfg, "commit.gpgSign")
        .then(|| Signer::from_config(repo, &cfg))
        .transpose()
}

fn config(repo: &Repository) -> Result<git2::Config, SignError> {
    repo.config()
        .and_then(|mut c| c.snapshot())
        .map_err(|e| SignError::Config(format!("its config cannot be read: {e}")))
}

/// `~/…` as git expands it; any other path as given.
fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

impl Signer {
    fn from_config(repo: &Repository, cfg: &git2::Config) -> Result<Signer, SignError> {
        let format = match string_setting(cfg, "gpg.format").as_deref() {
            None | Some("openpgp") => Format::Openpgp,
            Some("x509") => Format::X509,
            Some("ssh") => Format::Ssh,
            Some(other) => {
                return Err(SignError::Config(format!(
                    "`gpg.format` is `{other}`, which git does not know; use openpgp, x509 or ssh"
                )))
            }
        };
        let fmt = format.as_str();
        let program = string_setting(cfg, &format!("gpg.{fmt}.program"))
            .or_else(|| {
                // `gpg.program` is the older name of `gpg.openpgp.program`.
                (format == Format::Openpgp)
                    .then(|| string_setting(cfg, "gpg.program"))
                    .flatten()
            })
            .unwrap_or_else(|| {
                match format {
                    Format::Openpgp => "gpg",
                    Format::X509 => "gpgsm",
                    Format::Ssh => "ssh-keygen",
                }
                .to_string()
            });
        let key = string_setting(cfg, "user.signingKey");
        if format == Format::Ssh {
            let Some(key) = key else {
                return Err(SignError::Config(
                    "`gpg.format` is ssh and no `user.signingKey` is set: set it to your key file (`git config user.signingKey ~/.ssh/id_ed25519`)".into(),
                ));
            };
            let ssh_key = match key.strip_prefix("key::") {
                Some(literal) => SshKey::Literal(literal.trim().to_string()),
                // git still takes a bare `ssh-…` public key, as deprecated.
                None if key.starts_with("ssh-") => SshKey::Literal(key.trim().to_string()),
                None => SshKey::File(expand_home(key.trim())),
            };
            return Ok(Signer {
                format,
                program,
                gpg_key: String::new(),
                ssh_key: Some(ssh_key),
            });
        }
        // Without a key, git signs as the committer ("Name <email>").
        let gpg_key = match key {
            Some(k) => k,
            None => {
                let who = repo.signature().map_err(|_| {
                    SignError::Config(
                        "no `user.signingKey` is set and git has no identity to sign as: set `user.signingKey`".into(),
                    )
                })?;
                format!(
                    "{} <{}>",
                    String::from_utf8_lossy(who.name_bytes()),
                    String::from_utf8_lossy(who.email_bytes())
                )
            }
        };
        Ok(Signer {
            format,
            program,
            gpg_key,
            ssh_key: None,
        })
    }

    /// For messages and the plan: `openpgp key ABCD (gpg)`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.key_text(), self.program)
    }

    /// `openpgp key ABCD`, `ssh key /home/me/.ssh/id_ed25519`.
    fn key_text(&self) -> String {
        let key = match &self.ssh_key {
            Some(SshKey::File(p)) => p.display().to_string(),
            Some(SshKey::Literal(k)) => {
                let mut parts = k.split_whitespace();
                let kind = parts.next().unwrap_or("");
                let tail: String = parts.next().unwrap_or("").chars().rev().take(8).collect();
                format!(
                    "{kind} …{} from the agent",
                    tail.chars().rev().collect::<String>()
                )
            }
            None => self.gpg_key.clone(),
        };
        format!("{} key {key}", self.format.as_str())
    }

    fn setting(&self) -> &'static str {
        match self.format {
            Format::Openpgp => "gpg.program",
            Format::X509 => "gpg.x509.program",
            Format::Ssh => "gpg.ssh.program",
        }
    }

    /// Sign `payload`; returns the armoured signature, ending in a newline.
    pub fn sign(&self, payload: &[u8]) -> Result<String, SignError> {
        let sig = match &self.ssh_key {
            Some(key) => self.sign_ssh(key, payload)?,
            None => self.sign_gpg(payload)?,
        };
        // As git does: no carriage returns, and a final newline.
        let mut sig = sig.replace('\r', "");
        if !sig.ends_with('\n') {
            sig.push('\n');
        }
        Ok(sig)
    }

    /// Sign a fixed text and throw the signature away: proves the program
    /// runs, the key is there and the agent answers. Changes nothing.
    pub fn check(&self) -> Result<(), SignError> {
        self.sign(b"release preflight: can this key sign?\n")
            .map(|_| ())
    }

    fn spawn_error(&self, source: std::io::Error) -> SignError {
        SignError::Spawn {
            program: self.program.clone(),
            setting: self.setting(),
            source,
        }
    }

    /// The program's own words, on one line (they become one finding).
    fn failed(&self, detail: String) -> SignError {
        let lines: Vec<&str> = detail
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        SignError::Failed {
            program: self.program.clone(),
            key: self.key_text(),
            detail: if lines.is_empty() {
                "no output".into()
            } else {
                lines.join("; ")
            },
        }
    }

    /// `gpg --status-fd=2 -bsau KEY`, payload on stdin, as git runs it; only
    /// a `SIG_CREATED` status line counts as a signature.
    fn sign_gpg(&self, payload: &[u8]) -> Result<String, SignError> {
        let mut child = Command::new(&self.program)
            .args(["--status-fd=2", "-bsau", &self.gpg_key])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.spawn_error(e))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A gpg that exits early closes the pipe: its stderr says why.
            let _ = stdin.write_all(payload);
        }
        let out = child.wait_with_output().map_err(|e| self.spawn_error(e))?;
        let status = String::from_utf8_lossy(&out.stderr);
        let created = status
            .lines()
            .any(|l| l.starts_with("[GNUPG:] SIG_CREATED "));
        if !out.status.success() || !created {
            // The human lines, not the status ones, say what went wrong.
            let why: Vec<&str> = status
                .lines()
                .filter(|l| !l.starts_with("[GNUPG:]"))
                .collect();
            return Err(self.failed(why.join("\n")));
        }
        String::from_utf8(out.stdout).map_err(|_| self.failed("the signature is not text".into()))
    }

    /// `ssh-keygen -Y sign -n git -f KEY FILE`, as git runs it: the payload
    /// in a temporary file, the signature read from `FILE.sig`; a literal
    /// public key (written to a file too) signs through the agent (`-U`).
    fn sign_ssh(&self, key: &SshKey, payload: &[u8]) -> Result<String, SignError> {
        let dir = tempfile::Builder::new().prefix("release-sign").tempdir()?;
        let buffer = dir.path().join("payload");
        std::fs::write(&buffer, payload)?;
        let mut cmd = Command::new(&self.program);
        cmd.args(["-Y", "sign", "-n", "git", "-f"]);
        match key {
            SshKey::File(path) => {
                if !path.is_file() {
                    return Err(self.failed(format!(
                        "the key file {} does not exist; set `user.signingKey` to your key file",
                        path.display()
                    )));
                }
                cmd.arg(path);
            }
            SshKey::Literal(public) => {
                let file = dir.path().join("key.pub");
                std::fs::write(&file, format!("{public}\n"))?;
                cmd.arg(&file).arg("-U");
            }
        }
        let out = cmd
            .arg(&buffer)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| self.spawn_error(e))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("usage:") {
            return Err(self.failed(
                "this ssh-keygen cannot sign (`-Y sign` needs OpenSSH 8.2p1 or newer)".into(),
            ));
        }
        if !out.status.success() {
            return Err(self.failed(stderr.into_owned()));
        }
        std::fs::read_to_string(dir.path().join("payload.sig"))
            .map_err(|e| self.failed(format!("it wrote no signature ({e})")))
    }
}
