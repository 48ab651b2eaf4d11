//! The tool as Python users get it: the wheel maturin builds from this
//! repository (`bindings = "bin"`), proved manylinux_2_17 by maturin's own
//! audit (no shared library outside the allow-list, no glibc symbol newer
//! than 2.17), then installed with `uv tool install` into an empty tool
//! folder with no network, and run from the installed command.
//!
//! The wheel is compiled in this repository's `target/` under its own
//! `wheel` profile (quick to compile, see Cargo.toml), so a second run
//! rebuilds only what changed.

mod common;

use std::process::Command;

use common::wheel::{pyproject_version, run, tool};

#[test]
fn cargo_and_pyproject_share_the_version() {
    // The same version, Cargo's SemVer form of pyproject's PEP 440 one
    // (`release` moves both); `--version` says the distribution's.
    let version = pyproject_version();
    assert_eq!(
        release::packages::cargo::semver(&version).as_deref(),
        Some(env!("CARGO_PKG_VERSION")),
        "Cargo.toml and pyproject.toml must declare the same version"
    );
    let r = common::Run::from(common::release_cmd(&["--version"]).output().unwrap());
    assert_eq!(r.stdout.trim(), format!("release {version}"));
}

#[test]
fn the_manylinux_wheel_installs_with_uv_offline_and_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let wheel = &common::wheel::build(&tmp.path().join("wheels"));
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    let version = pyproject_version();
    assert!(
        name.starts_with(&format!("release_runner-{version}-py3-none-")),
        "{name}"
    );
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        assert!(name.contains("manylinux_2_17_x86_64"), "{name}");
    }

    // An empty tool folder, an empty cache, no index: the wheel alone.
    let tools = tmp.path().join("tools");
    let bin = tmp.path().join("bin");
    let uv_env = |cmd: &mut Command| {
        cmd.env("UV_TOOL_DIR", &tools)
            .env("UV_TOOL_BIN_DIR", &bin)
            .env("UV_CACHE_DIR", tmp.path().join("uv-cache"))
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env("UV_NO_CONFIG", "1")
            .env_remove("UV_INDEX_URL")
            .env_remove("UV_EXTRA_INDEX_URL");
    };
    let mut install = Command::new(tool("uv"));
    install
        .args(["tool", "install", "--offline", "--no-index", "--python"])
        .arg(common::python())
        .arg(wheel);
    uv_env(&mut install);
    run(&mut install);
    let release = bin.join("release");
    assert!(release.exists(), "uv installed no `release` command");

    let r = run(Command::new(&release).arg("--version"));
    assert_eq!(r.stdout.trim(), format!("release {version}"));

    // The newcomer's first run, from the installed command: every step of
    // a release, and no warning the tool or its environment caused.
    let r = run(Command::new(&release)
        .args(["demo", "--dir"])
        .arg(tmp.path().join("demo"))
        .env("PYTHON", common::python())
        .env("HOME", tmp.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("TWINE_REPOSITORY_URL")
        .env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_STEP_SUMMARY"));
    let text = format!("{}{}", r.stdout, r.stderr);
    assert!(text.contains("publish done: 6 of 6 file(s)"), "{text}");
    assert!(text.contains("audit done"), "{text}");
    assert!(
        !text.to_ascii_lowercase().contains("warning"),
        "the demo shows a warning:\n{text}"
    );
}
