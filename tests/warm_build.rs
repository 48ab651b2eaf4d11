//! Warm build workers (issue 8) make what `python -m build` makes: the same
//! file names, the same archive members with the same contents (metadata
//! included); only archive timestamps may differ. And they step aside for
//! backends they should not host. With isolation (issue 15) they run in
//! shared build environments made once per set of build requirements, from
//! PyPI, and cached: the same files as an isolated `python -m build`.

mod common;
use common::{python, Sample};

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use release::config::Config;
use release::ops::buildenv::{Envs, Tool};
use release::ops::{build, git};

fn config() -> Config {
    config_isolated(false)
}

fn config_isolated(isolation: bool) -> Config {
    let text = format!(
        "[build]\nisolation = {isolation}\npython = \"{}\"\n",
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

const DEMO: [&str; 3] = [
    "python_modules/demo-core",
    "python_modules/demo-cli",
    "python_modules/libraries/demo-aws",
];

/// Build every demo package warm with `builder` and with `python -m build`
/// (isolated as `config` says); the files must be the same.
fn same_as_python_m_build(tmp: &Path, config: &Config, builder: &build::Builder) {
    let repo = release::demo::make_sample(tmp).unwrap();
    let (warm_src, cold_src) = (tmp.join("warm"), tmp.join("cold"));
    export(&repo, &warm_src);
    export(&repo, &cold_src);
    for pkg in DEMO {
        let name = pkg.rsplit('/').next().unwrap();
        let warm = builder
            .build(&warm_src.join(pkg), &tmp.join("out-warm").join(name), name)
            .unwrap();
        let cold = build::build(
            config,
            &cold_src.join(pkg),
            &tmp.join("out-cold").join(name),
            name,
        )
        .unwrap();
        assert_same_files(pkg, &warm, &cold);
    }
}

fn assert_same_files(pkg: &str, warm: &[PathBuf], cold: &[PathBuf]) {
    let names = |v: &[PathBuf]| -> Vec<String> {
        v.iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(warm), names(cold), "{pkg}");
    assert_eq!(warm.len(), 2, "{pkg}: an sdist and a wheel");
    for (w, c) in warm.iter().zip(cold) {
        assert_eq!(
            members(w),
            members(c),
            "{} differs from python -m build's",
            w.display()
        );
    }
}

/// A package folder `dir/name` with an empty module and `pyproject`.
fn package(dir: &Path, name: &str, pyproject: &str) -> PathBuf {
    let src = dir.join(name);
    let module = src.join(name.replace('-', "_"));
    std::fs::create_dir_all(&module).unwrap();
    std::fs::write(module.join("__init__.py"), "").unwrap();
    std::fs::write(src.join("pyproject.toml"), pyproject).unwrap();
    src
}

/// The environments in a cache folder (their folder names).
fn envs_in(cache: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(cache.join("build-envs")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn isolated_builds_share_cached_environments_and_make_what_python_m_build_makes() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let config = config_isolated(true);
    let builder = build::Builder::with_cache(&config, Some(&cache));
    same_as_python_m_build(tmp.path(), &config, &builder);
    assert_eq!(builder.counts(), (3, 0), "every package built warm");
    // demo-core and demo-aws ask for `setuptools>=61, wheel`, demo-cli has
    // no pyproject.toml (`setuptools >= 40.8.0`): two environments.
    assert_eq!(envs_in(&cache).len(), 2, "{:?}", envs_in(&cache));
    let notes = builder.env_notes().join("\n");
    assert_eq!(builder.env_notes().len(), 2, "{notes}");
    // With uv where it is found (scripts/pyenv.sh installs it next to python).
    let tool = match release::ops::buildenv::find_uv(&python().to_string_lossy()) {
        Some(_) => "made with uv",
        None => "made with venv and pip",
    };
    assert!(notes.contains(tool), "{notes}");
    assert!(notes.contains("setuptools>=61, wheel"), "{notes}");

    // The next release finds them in the cache.
    let again = build::Builder::with_cache(&config, Some(&cache));
    let src = tmp.path().join("warm").join(DEMO[0]);
    again
        .build(&src, &tmp.path().join("again"), "demo-core")
        .unwrap();
    assert_eq!(again.counts(), (1, 0));
    let notes = again.env_notes().join("\n");
    assert!(notes.contains("reused from"), "{notes}");
    assert_eq!(envs_in(&cache).len(), 2);
}

#[test]
fn a_release_with_isolation_builds_in_shared_environments_in_the_cache() {
    let mut s = Sample::new();
    let toml = s.repo.join("release.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, text.replace("isolation = false", "isolation = true")).unwrap();
    s.commit_and_push("isolated builds");
    let cache = s.base.join("cache");
    s.set_env("RELEASE_CACHE_DIR", cache.to_str().unwrap());
    let r = s.ok(&["start", "0.2.0.pre0"]);
    assert!(
        r.stdout
            .contains("build environment for setuptools>=61, wheel: made with"),
        "{}",
        r.stdout
    );
    assert_eq!(envs_in(&cache).len(), 2, "{}", r.stdout);
}

#[test]
fn a_backend_that_needs_more_gets_an_environment_of_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let src = package(
        tmp.path(),
        "needs-wheel",
        "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n",
    );
    // setup_requires is what setuptools' get_requires_for_build_* return.
    std::fs::write(
        src.join("setup.py"),
        "from setuptools import setup\nsetup(name='needs-wheel', version='1.0', packages=['needs_wheel'], setup_requires=['wheel'])\n",
    )
    .unwrap();
    let config = config_isolated(true);
    let builder = build::Builder::with_cache(&config, Some(&cache));
    let files = builder
        .build(&src, &tmp.path().join("out"), "needs-wheel")
        .unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(builder.counts(), (1, 0), "built warm");
    assert_eq!(
        envs_in(&cache).len(),
        2,
        "setuptools, then setuptools and wheel"
    );
    let notes = builder.env_notes().join("\n");
    assert!(notes.contains("setuptools>=61, wheel"), "{notes}");
}

#[test]
fn two_releases_making_one_environment_at_once_share_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let python = python().to_string_lossy().into_owned();
    // Without uv, as two processes would (each its own Envs): venv and pip.
    let made: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    Envs::with_tool(&cache, &python, Tool::Pip)
                        .get(&["wheel".to_string()])
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(made[0].dir, made[1].dir);
    assert_eq!(envs_in(&cache).len(), 1, "one environment, no leftovers");
    let hows: Vec<&str> = made.iter().map(|e| e.how.as_str()).collect();
    assert!(
        hows.iter().any(|h| h.contains("made with venv and pip")),
        "{hows:?}"
    );
    // Exactly what was asked: wheel, and not the setuptools venv seeds.
    let run = |code: &str| {
        std::process::Command::new(&made[0].python)
            .args(["-c", code])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    assert!(run("import wheel"));
    assert!(!run("import setuptools"), "setuptools was not asked for");
}

#[test]
fn warm_workers_make_what_python_m_build_makes() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config();
    let builder = build::Builder::new(&config);
    same_as_python_m_build(tmp.path(), &config, &builder);
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
    let ok = package(
        tmp.path(),
        "ok",
        "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"ok\"\nversion = \"2.0\"\n",
    );
    builder
        .build(&ok, &tmp.path().join("out-ok"), "ok")
        .unwrap();
    assert_eq!(builder.counts(), (1, 2));
}

/// A console script installed into a cached environment runs: its shebang
/// names the environment's own interpreter where the environment stays, not
/// a temporary folder it was made in (a backend running `cmake` or `ninja`
/// from its requirements would fail).
#[test]
fn console_scripts_in_a_cached_environment_run() {
    let tmp = tempfile::tempdir().unwrap();
    let python = python().to_string_lossy().into_owned();
    let mut tools = vec![Tool::Pip];
    if let Some(uv) = release::ops::buildenv::find_uv(&python) {
        tools.push(Tool::Uv(uv));
    }
    for (i, tool) in tools.into_iter().enumerate() {
        let cache = tmp.path().join(format!("cache-{i}"));
        let env = Envs::with_tool(&cache, &python, tool)
            .get(&["wheel".to_string()])
            .unwrap();
        let script = env.dir.join("bin").join("wheel");
        let text = std::fs::read_to_string(&script).unwrap();
        let shebang = text.lines().next().unwrap();
        assert!(
            shebang.contains(&env.dir.to_string_lossy().into_owned()) || !shebang.contains('/'),
            "{shebang} names {}",
            env.dir.display()
        );
        let out = std::process::Command::new(&script)
            .arg("version")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
