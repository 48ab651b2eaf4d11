//! Paths made from outside input: a package name from a `pyproject.toml`, a
//! file name from an index page, the journal or a build. Each such name is one
//! path component, checked here, so nothing it names can land outside its
//! folder (`../../.ssh/x`, `/etc/x`, `a\b` on a share).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("refusing `{shown}` as a file or folder name inside {base}: {why}; it came from outside (a package name, an index page, the journal or a build): fix it there, then run the command again")]
pub struct UnsafeName {
    pub shown: String,
    pub base: String,
    pub why: &'static str,
}

/// `base/name`, when `name` is exactly one ordinary path component.
/// Refused: empty, `.`, `..`, anything holding `/`, `\` or NUL (absolute
/// paths included), and (see [`confined_os`]) names that are not UTF-8.
pub fn confined(base: &Path, name: &str) -> Result<PathBuf, UnsafeName> {
    let refuse = |why| {
        Err(UnsafeName {
            shown: name.escape_debug().to_string(),
            base: base.display().to_string(),
            why,
        })
    };
    if name.is_empty() {
        return refuse("it is empty");
    }
    if name == "." || name == ".." {
        return refuse("it names a folder, not an entry in it");
    }
    if name.contains('\0') {
        return refuse("it holds a NUL byte");
    }
    if name.contains('/') || name.contains('\\') {
        return refuse("it holds a path separator");
    }
    let path = base.join(name);
    // Belt and braces: exactly one normal component was added.
    let mut added = path.strip_prefix(base).map(Path::components).ok();
    match added.as_mut().map(|c| (c.next(), c.next())) {
        Some((Some(std::path::Component::Normal(_)), None)) => Ok(path),
        _ => refuse("it is not a plain name"),
    }
}

/// [`confined`] for a name read from the file system.
pub fn confined_os(base: &Path, name: &OsStr) -> Result<PathBuf, UnsafeName> {
    match name.to_str() {
        Some(n) => confined(base, n),
        None => Err(UnsafeName {
            shown: name.to_string_lossy().into_owned(),
            base: base.display().to_string(),
            why: "it is not UTF-8",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_only() {
        let base = Path::new("/srv/index/simple");
        assert_eq!(confined(base, "demo-core").unwrap(), base.join("demo-core"));
        assert_eq!(
            confined(base, "a-1.0.tar.gz").unwrap(),
            base.join("a-1.0.tar.gz")
        );
        assert_eq!(confined(base, "..x").unwrap(), base.join("..x"));
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/etc/passwd",
            "a\\b",
            "..\\x",
            "a\0b",
            "C:\\x",
        ] {
            assert!(confined(base, bad).is_err(), "{bad:?} accepted");
        }
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let e = confined_os(base, OsStr::from_bytes(b"a\xffb")).unwrap_err();
            assert_eq!(e.why, "it is not UTF-8");
        }
    }
}
