//! Prebuilt wheels (`[package.NAME] prebuilt`): wheels a CI matrix built
//! elsewhere are collected instead of built, checked like the package's own
//! builds (names, metadata, version, the expected platforms), and ledgered;
//! the rest of the release is unchanged. Also this repository's own
//! release.toml, which releases the tool's Python distribution that way.

mod common;

use std::io::Write;
use std::path::Path;

use common::{git, Sample};

/// A wheel as a matrix job would make it: `name-version-py3-none-PLATFORM.whl`
/// with core metadata naming `metadata_name` at `metadata_version`.
fn wheel(dir: &Path, name: &str, version: &str, platform: &str, metadata_version: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let stem = name.replace('-', "_");
    let filename = format!("{stem}-{version}-py3-none-{platform}.whl");
    let file = std::fs::File::create(dir.join(&filename)).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default();
    let info = format!("{stem}-{version}.dist-info");
    zip.start_file(format!("{info}/METADATA"), opts).unwrap();
    write!(
        zip,
        "Metadata-Version: 2.1\nName: {name}\nVersion: {metadata_version}\n\n"
    )
    .unwrap();
    zip.start_file(format!("{info}/WHEEL"), opts).unwrap();
    write!(
        zip,
        "Wheel-Version: 1.0\nGenerator: matrix\nRoot-Is-Purelib: false\nTag: py3-none-{platform}\n"
    )
    .unwrap();
    zip.start_file(format!("{stem}/bin/tool"), opts).unwrap();
    zip.write_all(&[0u8; 4096]).unwrap();
    zip.finish().unwrap();
    filename
}

const PLATFORMS: &[&str] = &[
    "manylinux_2_17_x86_64.manylinux2014_x86_64",
    "manylinux_2_17_aarch64.manylinux2014_aarch64",
    "musllinux_1_2_x86_64",
    "musllinux_1_2_aarch64",
    "macosx_10_12_x86_64",
    "macosx_11_0_arm64",
    "win_amd64",
];

/// This repository as a clone would hold it (every file git tracks or
/// would track), with a bare origin on `main` and a file:// index.
fn this_repo() -> Sample {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let listed = git(
        root,
        &[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
    );
    let files: Vec<(String, String)> = listed
        .split('\0')
        .filter(|p| !p.is_empty())
        .filter_map(|p| Some((p.to_string(), std::fs::read_to_string(root.join(p)).ok()?)))
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let mut s = Sample::made_of(&files);
    s.git(&["branch", "-m", "master", "main"]);
    s.git(&["push", "-q", "origin", "main"]);
    std::fs::create_dir_all(&s.index).unwrap();
    let index = format!("file://{}", s.index.display());
    s.set_env("TWINE_REPOSITORY_URL", &index);
    s
}

#[test]
fn this_repo_plans_its_own_release_with_prebuilt_wheels() {
    let s = this_repo();
    // A developer's checkout: cargo's ignored target/ holds `build` folders,
    // which are no leftovers of the package at the root.
    std::fs::create_dir_all(s.repo.join("target/debug/build/x")).unwrap();
    let dist = s.repo.join("dist");
    for p in PLATFORMS {
        wheel(&dist, "release-runner", "0.2.0rc0", p, "0.2.0rc0");
    }
    let r = s.ok(&["start", "0.2.0rc0", "--dry-run"]);
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(out.contains("release-runner 0.1.0 -> 0.2.0rc0"), "{out}");
    assert!(
        out.contains("prebuilt  release-runner: 7 wheel(s) from dist/*.whl"),
        "{out}"
    );
    assert!(
        out.contains("release_runner-0.2.0rc0-py3-none-win_amd64.whl"),
        "{out}"
    );
    assert!(s.journal().is_none(), "a dry run writes no journal");

    // A platform the matrix did not deliver.
    std::fs::remove_file(dist.join("release_runner-0.2.0rc0-py3-none-win_amd64.whl")).unwrap();
    let r = s.run(&["start", "0.2.0rc0", "--dry-run"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stderr
            .contains("release-runner: no prebuilt wheel for the platform win_amd64"),
        "{}",
        r.stderr
    );

    // A wheel of another version (an old artefact downloaded with the rest),
    // and one whose name says the version but whose metadata does not.
    wheel(&dist, "release-runner", "0.1.9", "win_amd64", "0.1.9");
    std::fs::remove_file(dist.join("release_runner-0.2.0rc0-py3-none-macosx_11_0_arm64.whl"))
        .unwrap();
    wheel(
        &dist,
        "release-runner",
        "0.2.0rc0",
        "macosx_11_0_arm64",
        "0.1.9",
    );
    let r = s.run(&["start", "0.2.0rc0", "--dry-run"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stderr.contains(
            "prebuilt release_runner-0.1.9-py3-none-win_amd64.whl does not carry the version 0.2.0rc0"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("its metadata says version 0.1.9, not 0.2.0rc0"),
        "{}",
        r.stderr
    );
    assert_eq!(
        git(&s.repo, &["rev-list", "--count", "HEAD"]),
        "1",
        "refusals change nothing"
    );
}

#[test]
fn prebuilt_wheels_are_checked_ledgered_and_published_with_the_sdist_built_here() {
    let s = Sample::new();
    let config = s.repo.join("release.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        "\n[package.demo-core]\nprebuilt = \"wheelhouse/*.whl\"\nplatforms = [\"manylinux_2_17_x86_64\", \"win_amd64\"]\n",
    );
    std::fs::write(&config, text).unwrap();
    std::fs::write(s.repo.join(".gitignore"), "/wheelhouse\n").unwrap();
    s.commit_and_push("prebuilt wheels for demo-core");
    let house = s.repo.join("wheelhouse");
    let linux = wheel(
        &house,
        "demo-core",
        "0.2.0rc0",
        "manylinux_2_17_x86_64",
        "0.2.0rc0",
    );

    // The build step checks them too (a resume after a dry run that passed).
    let r = s.run(&["start", "0.2.0rc0"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stderr
            .contains("no prebuilt wheel for the platform win_amd64"),
        "{}",
        r.stderr
    );

    let windows = wheel(&house, "demo-core", "0.2.0rc0", "win_amd64", "0.2.0rc0");
    s.ok(&["start", "0.2.0rc0"]);
    let journal = s.journal().or_else(|| {
        s.history()
            .last()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
    });
    let journal = journal.expect("a journal in .release/history");
    let ledger = journal["publish"]["ledger"].as_array().unwrap();
    let core: Vec<&str> = ledger
        .iter()
        .filter(|f| f["package"] == "demo-core")
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    assert_eq!(
        core,
        [
            "demo_core-0.2.0rc0-py3-none-manylinux_2_17_x86_64.whl",
            "demo_core-0.2.0rc0-py3-none-win_amd64.whl",
            "demo_core-0.2.0rc0.tar.gz"
        ]
    );
    let sha = |f: &str| release::ops::sha256_file(&house.join(f)).unwrap();
    for name in [&linux, &windows] {
        let entry = ledger
            .iter()
            .find(|f| f["filename"] == name.as_str())
            .unwrap();
        assert_eq!(
            entry["sha256"],
            sha(name),
            "the ledger holds the prebuilt bytes"
        );
    }
    let served = common::index_files(&s.index);
    assert!(served.contains(&format!("demo-core/{linux}")), "{served:?}");
    assert!(
        served.contains(&format!("demo-core/{windows}")),
        "{served:?}"
    );
    assert!(
        served.contains(&"demo-core/demo_core-0.2.0rc0.tar.gz".to_string()),
        "{served:?}"
    );
    assert!(
        !served
            .iter()
            .any(|f| f.contains("demo_core-0.2.0rc0-py3-none-any")),
        "no wheel of demo-core was built here: {served:?}"
    );
    assert!(
        served
            .iter()
            .any(|f| f.contains("demo_cli-0.2.0rc0-py3-none-any")),
        "the other packages build as before: {served:?}"
    );
}

/// A compiled package as maturin builds it: a binary crate whose Python
/// distribution carries the binary (`bindings = "bin"`).
fn add_maturin_package(s: &Sample) {
    let dir = s.repo.join("python_modules/demo-tool");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("pyproject.toml"),
        "[build-system]\nrequires = [\"maturin>=1.5,<2\"]\nbuild-backend = \"maturin\"\n\n\
         [project]\nname = \"demo-tool\"\nversion = \"0.1.0\"\ndescription = \"A compiled tool\"\n\
         readme = \"README.md\"\n\n[tool.maturin]\nbindings = \"bin\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"demo-tool\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("Cargo.lock"),
        "# This file is automatically @generated by Cargo.\n# It is not intended for manual editing.\n\
         version = 4\n\n[[package]]\nname = \"demo-tool\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("README.md"), "# demo-tool\n").unwrap();
    std::fs::write(
        dir.join("src/main.rs"),
        "fn main() {\n    println!(\"{}\", env!(\"CARGO_PKG_VERSION\"));\n}\n",
    )
    .unwrap();
    std::fs::write(dir.join(".gitignore"), "/target\n").unwrap();
}

#[test]
fn a_maturin_package_releases_with_prebuilt_wheels_and_its_crate_moves_with_it() {
    let s = Sample::new();
    add_maturin_package(&s);
    let config = s.repo.join("release.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        "\n[package.demo-tool]\nprebuilt = \"wheelhouse/*.whl\"\nplatforms = [\"manylinux_2_17_x86_64\", \"macosx_11_0_arm64\"]\n",
    );
    std::fs::write(&config, text).unwrap();
    let ignore = s.repo.join(".gitignore");
    let mut text = std::fs::read_to_string(&ignore).unwrap_or_default();
    text.push_str("/wheelhouse\n");
    std::fs::write(&ignore, text).unwrap();
    s.commit_and_push("a compiled package");
    let base = s.git(&["rev-parse", "HEAD"]);
    let house = s.repo.join("wheelhouse");
    for p in ["manylinux_2_17_x86_64", "macosx_11_0_arm64"] {
        wheel(&house, "demo-tool", "0.2.0rc0", p, "0.2.0rc0");
    }

    s.ok(&["start", "0.2.0rc0"]);
    assert_eq!(s.git(&["rev-parse", "HEAD~1"]), base, "one release commit");
    s.assert_pushed("0.2.0rc0");
    let done = s.history().pop().expect("the finished journal");
    let journal: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(done).unwrap()).unwrap();
    assert_eq!(journal["phase"], "done");
    let ledger = journal["publish"]["ledger"].as_array().unwrap();
    assert_eq!(ledger.len(), 9, "{ledger:?}");
    assert!(
        ledger.iter().all(|f| f["state"] == "uploaded"),
        "{ledger:?}"
    );
    let show = |f: &str| s.git(&["show", &format!("0.2.0rc0:python_modules/demo-tool/{f}")]);
    assert!(
        show("pyproject.toml").contains("version = \"0.2.0rc0\""),
        "{}",
        show("pyproject.toml")
    );
    assert!(
        show("Cargo.toml").contains("version = \"0.2.0-rc.0\""),
        "the crate moves with its distribution: {}",
        show("Cargo.toml")
    );
    assert!(
        show("Cargo.lock").contains("name = \"demo-tool\"\nversion = \"0.2.0-rc.0\""),
        "{}",
        show("Cargo.lock")
    );
    let served = common::index_files(&s.index);
    for f in [
        "demo-tool/demo_tool-0.2.0rc0.tar.gz",
        "demo-tool/demo_tool-0.2.0rc0-py3-none-manylinux_2_17_x86_64.whl",
        "demo-tool/demo_tool-0.2.0rc0-py3-none-macosx_11_0_arm64.whl",
    ] {
        assert!(served.iter().any(|s| s == f), "{f} not in {served:?}");
    }
}
