//! Signed tags and commits (issue 16, part 2): the tag signed as `git tag -s`
//! signs it, with a throwaway GnuPG home or an ssh key made here, verified by
//! git itself (`git tag -v`, `git verify-commit`); a key that cannot sign is
//! a preflight finding, with nothing changed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_released, Sample};

/// A GnuPG home of the test's own; its agent is stopped when dropped, so no
/// gpg-agent outlives the test.
struct GnupgHome(PathBuf);

impl GnupgHome {
    fn new(s: &Sample) -> GnupgHome {
        let dir = s.base.join("gnupg");
        std::fs::create_dir_all(&dir).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        GnupgHome(dir)
    }

    fn gpg(&self, args: &[&str]) -> String {
        let out = Command::new("gpg")
            .env("GNUPGHOME", &self.0)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .expect("gpg runs");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A key without a passphrase for the sample's identity; its fingerprint.
    fn make_key(&self) -> String {
        self.gpg(&[
            "--quick-gen-key",
            "Release Demo <demo@example.invalid>",
            "ed25519",
            "sign",
            "never",
        ]);
        let listing = self.gpg(&["--with-colons", "--list-secret-keys"]);
        listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|rest| rest.trim_matches(':').to_string())
            .expect("a fingerprint")
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.0)
            .args(["--kill", "all"])
            .output();
    }
}

/// `git` in the sample with `env`; (success, stdout + stderr).
fn git_with(s: &Sample, env: &[(&str, &Path)], args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(&s.repo).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("git runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn a_gpg_signed_tag_and_commit_verify_with_git_even_after_a_kill() {
    let mut s = Sample::new();
    let home = GnupgHome::new(&s);
    let fpr = home.make_key();
    s.git(&["config", "user.signingKey", &fpr]);
    s.git(&["config", "tag.gpgSign", "true"]);
    s.git(&["config", "commit.gpgSign", "true"]);
    s.set_env("GNUPGHOME", home.0.to_str().unwrap());
    let base = s.git(&["rev-parse", "HEAD"]);

    // Killed right after the signed tag is made: resume finds it and goes on.
    let r = s.run_failing(&["start", "0.2.0.pre0"], "tag.after_create");
    assert_ne!(r.code, Some(0));
    let r = s.ok(&["resume"]);
    assert!(
        r.stdout.contains("signed tag 0.2.0.pre0 already on"),
        "{}",
        r.stdout
    );
    assert_released(&s, "0.2.0.pre0", &base);

    let env = [("GNUPGHOME", home.0.as_path())];
    let (ok, out) = git_with(&s, &env, &["tag", "-v", "0.2.0.pre0"]);
    assert!(ok, "git tag -v: {out}");
    assert!(out.contains("Good signature"), "{out}");
    assert!(out.contains("tag 0.2.0.pre0"), "{out}");
    let (ok, out) = git_with(&s, &env, &["verify-commit", "HEAD"]);
    assert!(ok, "git verify-commit: {out}");
    assert!(out.contains("Good signature"), "{out}");
    // What origin holds is the signed tag itself.
    assert_eq!(
        common::git_bare(&s.origin, &["rev-parse", "refs/tags/0.2.0.pre0"]).unwrap(),
        s.git(&["rev-parse", "refs/tags/0.2.0.pre0"])
    );
}

#[test]
fn start_sign_signs_the_tag_with_an_ssh_key_and_git_verifies_it() {
    let s = Sample::new();
    let (key, allowed) = s.ssh_key();
    s.git(&["config", "gpg.format", "ssh"]);
    s.git(&["config", "user.signingKey", key.to_str().unwrap()]);
    s.git(&["config", "commit.gpgSign", "true"]);
    s.git(&[
        "config",
        "gpg.ssh.allowedSignersFile",
        allowed.to_str().unwrap(),
    ]);
    let base = s.git(&["rev-parse", "HEAD"]);

    // No `tag.gpgSign`: the flag asks for it, and the dry run says so.
    let plan = s.ok(&["start", "0.2.0.pre0", "--sign", "--dry-run"]);
    assert!(
        plan.stdout.contains("annotated, signed with ssh key"),
        "{}",
        plan.stdout
    );
    let r = s.ok(&["start", "0.2.0.pre0", "--sign"]);
    assert!(r.stdout.contains("signed with ssh key"), "{}", r.stdout);
    assert_released(&s, "0.2.0.pre0", &base);

    let (ok, out) = git_with(&s, &[], &["tag", "-v", "0.2.0.pre0"]);
    assert!(ok, "git tag -v: {out}");
    assert!(
        out.contains("Good \"git\" signature for demo@example.invalid"),
        "{out}"
    );
    let (ok, out) = git_with(&s, &[], &["verify-commit", "HEAD"]);
    assert!(ok, "git verify-commit: {out}");

    // Without `--sign` and without `tag.gpgSign`, the next tag is not signed.
    s.ok(&["start", "0.2.0.pre1"]);
    let (ok, out) = git_with(&s, &[], &["tag", "-v", "0.2.0.pre1"]);
    assert!(!ok, "an unsigned tag does not verify: {out}");
}

/// Start refused in preflight, naming the signing problem; nothing changed.
fn assert_refused_for_signing(s: &Sample, args: &[&str], expect: &str) {
    let before = s.snapshot();
    let r = s.run(args);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("preflight refused"), "{}", r.stderr);
    assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);
    assert!(
        r.stderr.contains(expect),
        "expected `{expect}`: {}",
        r.stderr
    );
    assert!(!r.stdout.contains("==> bump"), "{}", r.stdout);
    assert_eq!(s.snapshot(), before, "a refused start changed something");
    assert!(s.journal().is_none(), "no journal: nothing was bumped");
    assert!(s.history().is_empty());
    assert_eq!(s.git(&["tag", "--list"]), "", "no tag");
}

#[test]
fn a_missing_signing_key_is_refused_in_preflight_with_nothing_changed() {
    let mut s = Sample::new();
    // A GnuPG home with no secret key at all.
    let home = GnupgHome::new(&s);
    s.set_env("GNUPGHOME", home.0.to_str().unwrap());
    s.git(&["config", "tag.gpgSign", "true"]);
    s.git(&[
        "config",
        "user.signingKey",
        "0123456789ABCDEF0123456789ABCDEF01234567",
    ]);
    assert_refused_for_signing(
        &s,
        &["start", "0.2.0.pre0"],
        "the tag is to be signed, but a trial signature failed",
    );

    // An ssh key file that is not there, asked for by --sign only; and the
    // commit signed by `commit.gpgSign` with the same key is reported once.
    s.git(&["config", "--unset", "tag.gpgSign"]);
    s.git(&["config", "commit.gpgSign", "true"]);
    s.git(&["config", "gpg.format", "ssh"]);
    let missing = s.base.join("no_such_key");
    s.git(&["config", "user.signingKey", missing.to_str().unwrap()]);
    assert_refused_for_signing(&s, &["start", "0.2.0.pre0", "--sign"], "does not exist");
    let r = s.run(&["start", "0.2.0.pre0", "--sign"]);
    assert_eq!(
        r.stderr.matches("does not exist").count(),
        1,
        "{}",
        r.stderr
    );

    // ssh format without any key configured.
    s.git(&["config", "--unset", "user.signingKey"]);
    assert_refused_for_signing(&s, &["start", "0.2.0.pre0"], "no `user.signingKey` is set");

    // With signing off again, the same release goes through.
    s.git(&["config", "--unset", "commit.gpgSign"]);
    s.ok(&["start", "0.2.0.pre0"]);
}
