//! Warm build workers (issue 8) make what `python -m build` makes: the same
//! file names, the same archive members with the same contents (metadata
//! included); only archive timestamps may differ. And they step aside for
//! backends they should not host.

mod common;
use common::python;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use release::config::Config;
use release::ops::{build, git};

fn config() -> Config {
    let text = format!(
        "[build]\nisolation = false\npython = \"{}\"\n",
        python().display()
    );
    Config::parse(&text, Path::new("release.toml")).unwrap()
}

/// Archive members and their bytes.
fn members(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let file = std::fs::File::open(path).unwrap();
    if path.extension().is_some_and(|e| e == "whl") {
        let mut zip = zip::ZipArchive::new(file).unwrap();
        for i in 0..zip.len() {
            let mut e = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            out.insert(e.name().to_string(), bytes);
        }
    } else {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        for e in tar.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            out.insert(name, bytes);
        }
    }
    out
}

fn export(repo: &Path, dest: &Path) {
    let r = git2::Repository::open(repo).unwrap();
    let head = r.head().unwrap().peel_to_commit().unwrap().id();
    git::export_tree(&r, head, dest).unwrap();
}

#[test]
fn warm_workers_make_what_python_m_build_makes() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = release::demo::make_sample(tmp.path()).unwrap();
    let (warm_src, cold_src) = (tmp.path().join("warm"), tmp.path().join("cold"));
    export(&repo, &warm_src);
    export(&repo, &cold_src);
    let config = config();
    let builder = build::Builder::new(&config);
    for pkg in [
        "python_modules/demo-core",
        "python_modules/demo-cli",
        "python_modules/libraries/demo-aws",
    ] {
        let name = pkg.rsplit('/').next().unwrap();
        let warm = builder
            .build(
                &warm_src.join(pkg),
                &tmp.path().join("out-warm").join(name),
                name,
            )
            .unwrap();
        let cold = build::build(
            &config,
            &cold_src.join(pkg),
            &tmp.path().join("out-cold").join(name),
            name,
        )
        .unwrap();
        let names = |v: &[PathBuf]| -> Vec<String> {
            v.iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(&warm), names(&cold), "{pkg}");
        assert_eq!(warm.len(), 2, "{pkg}: an sdist and a wheel");
        for (w, c) in warm.iter().zip(&cold) {
            assert_eq!(
                members(w),
                members(c),
                "{} differs from python -m build's",
                w.display()
            );
        }
    }
    assert_eq!(builder.counts(), (3, 0), "every package built warm");
}

#[test]
fn in_tree_backends_and_failures_fall_back_to_python_m_build() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("intree");
    std::fs::create_dir_all(src.join("_backend")).unwrap();
    std::fs::create_dir_all(src.join("intree")).unwrap();
    std::fs::write(
        src.join("pyproject.toml"),
        "[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\"_backend\"]\n\n[project]\nname = \"intree\"\nversion = \"1.0\"\n",
    )
    .unwrap();
    std::fs::write(
        src.join("_backend/backend.py"),
        "from setuptools.build_meta import *\n",
    )
    .unwrap();
    std::fs::write(src.join("intree/__init__.py"), "").unwrap();
    let config = config();
    let builder = build::Builder::new(&config);
    let files = builder
        .build(&src, &tmp.path().join("out"), "intree")
        .unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(
        builder.counts(),
        (0, 1),
        "declined by the worker, built by python -m build"
    );

    // A broken package fails in both, with python -m build's output.
    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("setup.py"),
        "raise SystemExit('this package cannot build')\n",
    )
    .unwrap();
    let err = builder
        .build(&bad, &tmp.path().join("out-bad"), "bad")
        .unwrap_err()
        .to_string();
    assert!(err.contains("this package cannot build"), "{err}");
    // The worker survived the failure and builds the next package warm.
    let ok = tmp.path().join("ok");
    std::fs::create_dir_all(ok.join("ok")).unwrap();
    std::fs::write(ok.join("ok/__init__.py"), "").unwrap();
    std::fs::write(
        ok.join("pyproject.toml"),
        "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"ok\"\nversion = \"2.0\"\n",
    )
    .unwrap();
    builder
        .build(&ok, &tmp.path().join("out-ok"), "ok")
        .unwrap();
    assert_eq!(builder.counts(), (1, 2));
}
