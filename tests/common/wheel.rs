//! The wheel of this repository's own distribution, built as the release
//! workflow builds it (maturin, manylinux2014 through zig), for the tests
//! that install it. Compiled in this repository's `target/` under the
//! `wheel` profile (quick to compile), so a second build is incremental.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{python, Run};

/// `[project] version` of pyproject.toml.
pub fn pyproject_version() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("pyproject.toml")).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    doc["project"]["version"].as_str().unwrap().to_string()
}

/// The tool venv's own command (`maturin`, `uv`), put there by scripts/pyenv.sh.
pub fn tool(name: &str) -> PathBuf {
    let p = python().parent().unwrap().join(name);
    assert!(
        p.exists(),
        "no {name} next to the test Python: run ./scripts/pyenv.sh (./scripts/test.sh does)"
    );
    p
}

/// `PATH` with the tool venv's commands first.
pub fn tool_path() -> std::ffi::OsString {
    let bin = python().parent().unwrap().to_path_buf();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&rest))).unwrap()
}

/// Run to the end; panic with its output if it failed.
pub fn run(cmd: &mut Command) -> Run {
    let r = Run::from(cmd.output().unwrap());
    assert!(
        r.ok(),
        "{cmd:?} failed ({:?}):\n{}\n{}",
        r.code,
        r.stdout,
        r.stderr
    );
    r
}

/// Build the wheel into `out` and return it. `--auditwheel check`: a wheel
/// that needs a library outside the manylinux_2_17 allow-list, or a glibc
/// symbol newer than 2.17, fails here instead of being repaired.
pub fn build(out: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    run(Command::new(tool("maturin"))
        .args(["build", "--profile", "wheel", "--zig"])
        .args(["--compatibility", "manylinux2014", "--auditwheel", "check"])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .arg("--out")
        .arg(out)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .env("PATH", tool_path()));
    let wheels: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(wheels.len(), 1, "{wheels:?}");
    wheels.into_iter().next().unwrap()
}
