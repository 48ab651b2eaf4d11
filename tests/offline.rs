//! Builds with no reachable index (issue 21, item 6): with isolated builds,
//! an air-gapped runner or a dead proxy is refused by preflight, once, naming
//! the index and the ways on, before anything changes; a warm cache builds
//! with no index at all; unisolated builds never ask the index.

mod common;
use common::{pypi, Sample};

/// An index URL on a loopback port nothing listens on (bound, then dropped).
fn dead_index() -> String {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    format!("http://127.0.0.1:{port}/simple/")
}

/// The demo sample with isolated builds, its build environments and uv's
/// cache in folders of its own (empty until a build fills them).
fn isolated() -> Sample {
    let mut s = Sample::new();
    let toml = s.repo.join("release.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(text.contains("isolation = false"), "{text}");
    std::fs::write(&toml, text.replace("isolation = false", "isolation = true")).unwrap();
    s.commit_and_push("isolated builds");
    let (cache, uv_cache) = (s.base.join("cache"), s.base.join("uv-cache"));
    s.set_env("RELEASE_CACHE_DIR", cache.to_str().unwrap());
    s.set_env("UV_CACHE_DIR", uv_cache.to_str().unwrap());
    s
}

/// Every index uv and pip would ask is `index`, and pip's local find-links
/// (which this machine's environment may set) an empty folder.
fn index_is(s: &mut Sample, index: &str) {
    for var in ["UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"] {
        s.set_env(var, index);
    }
    let links = s.base.join("no-wheels");
    std::fs::create_dir_all(&links).unwrap();
    s.set_env("PIP_FIND_LINKS", links.to_str().unwrap());
}

fn envs_in(s: &Sample) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(s.base.join("cache/build-envs")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("release-env.json").is_file())
        .collect()
}

fn assert_refused_offline(s: &Sample, args: &[&str], index: &str) {
    let before = s.snapshot();
    let r = s.run(args);
    assert_eq!(r.code, Some(1), "{args:?}:\n{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("preflight refused") && r.stderr.contains("(1 finding)"),
        "one finding:\n{}",
        r.stderr
    );
    assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);
    // Named once, with the ways on; no per-package repeats, no pip retries.
    assert_eq!(r.stderr.matches(index).count(), 1, "{}", r.stderr);
    for way in ["isolation = false", "UV_INDEX_URL", "warm the cache"] {
        assert!(r.stderr.contains(way), "`{way}` in:\n{}", r.stderr);
    }
    assert!(
        r.stderr.contains("setuptools>=61, wheel") && r.stderr.contains("setuptools>=40.8.0"),
        "both requirement sets in the one finding:\n{}",
        r.stderr
    );
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(!all.contains("Retrying"), "{all}");
    assert!(!all.contains("python -m build"), "{all}");
    assert_eq!(s.snapshot(), before, "{args:?} changed something");
    assert!(s.journal().is_none(), "no journal");
    assert!(envs_in(s).is_empty(), "preflight makes no environment");
}

/// An air-gapped runner with an empty cache: `--dry-run` and `start` are
/// both refused by preflight, nothing changed. The first way on the finding
/// names, `isolation = false`, then releases with the index still dead.
#[test]
fn isolated_builds_with_no_index_and_an_empty_cache_are_refused_before_anything_changes() {
    let mut s = isolated();
    let index = dead_index();
    index_is(&mut s, &index);
    assert_refused_offline(&s, &["start", "0.2.0.pre0", "--dry-run"], &index);
    assert_refused_offline(&s, &["start", "0.2.0.pre0"], &index);

    // Without warm builds each package is a `python -m build`, whose pip
    // asks `PIP_INDEX_URL`: refused alike, naming pip's ways.
    let toml = s.repo.join("release.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        text.replace("isolation = true", "isolation = true\nwarm = false"),
    )
    .unwrap();
    s.commit_and_push("cold builds");
    let before = s.snapshot();
    let r = s.run(&["start", "0.2.0.pre0", "--dry-run"]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("(1 finding)"), "{}", r.stderr);
    for said in [
        index.as_str(),
        "PIP_INDEX_URL",
        "PIP_FIND_LINKS",
        "isolation = false",
    ] {
        assert!(r.stderr.contains(said), "`{said}` in:\n{}", r.stderr);
    }
    assert_eq!(s.snapshot(), before);

    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, text.replace("isolation = true", "isolation = false")).unwrap();
    s.commit_and_push("build in the current environment");
    let r = s.ok(&["start", "0.2.0.pre0"]);
    assert!(!r.stdout.contains("build environment for"), "{}", r.stdout);
    assert!(envs_in(&s).is_empty());
}

fn age_markers(s: &Sample) {
    for env in envs_in(s) {
        let marker = env.join("release-env.json");
        let mut m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&marker).unwrap()).unwrap();
        m["created"] = serde_json::json!(0);
        std::fs::write(&marker, serde_json::to_vec(&m).unwrap()).unwrap();
    }
}

/// A loopback index serving the wheels the demo's build requirements need
/// (pip downloads them from the index the tests reach): the index the
/// cache is warmed from, until it is stopped.
fn mirror(s: &Sample) -> pypi::PypiServer {
    let dir = s.base.join("mirror");
    let out = std::process::Command::new(common::python())
        .args(["-m", "pip", "download", "-q", "-d"])
        .arg(dir.join("packages"))
        .args(["setuptools>=61", "wheel"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    pypi::PypiServer::start(&dir)
}

/// Where the index answered once, the cache carries the runner through an
/// outage of that index: environments ready in it are used, environments
/// past their age are used as they are rather than made again, and
/// environments gone from it are made offline from uv's cache.
#[test]
fn a_warm_cache_builds_with_no_index() {
    let mut s = isolated();
    let server = mirror(&s);
    let index = format!("{}simple/", server.url());
    index_is(&mut s, &index);
    s.ok(&["start", "0.2.0.pre0"]);
    assert_eq!(envs_in(&s).len(), 2);
    drop(server);

    let r = s.ok(&["start", "0.2.0.pre1", "--dry-run"]);
    assert!(r.stdout.contains("nothing to refuse"), "{}", r.stdout);
    let r = s.ok(&["start", "0.2.0.pre1"]);
    assert_eq!(r.stdout.matches("reused from").count(), 2, "{}", r.stdout);

    age_markers(&s);
    let r = s.ok(&["start", "0.2.0.pre2"]);
    assert_eq!(
        r.stdout.matches("past its 7 days").count(),
        2,
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(&index), "{}", r.stdout);

    std::fs::remove_dir_all(s.base.join("cache/build-envs")).unwrap();
    let r = s.ok(&["start", "0.2.0.pre3"]);
    assert_eq!(
        r.stdout.matches("offline from its cache").count(),
        2,
        "{}",
        r.stdout
    );
    assert_eq!(envs_in(&s).len(), 2);
}

/// The index goes down between preflight and the build (here: a release
/// killed after its bump commit, resumed once the index is gone), the cache
/// empty: the build fails once per environment, naming the index and the
/// ways on, with no `python -m build` (and pip's retries) per package;
/// nothing is tagged.
#[test]
fn an_index_lost_after_preflight_fails_the_build_once_per_environment() {
    let mut s = isolated();
    let server = mirror(&s);
    let index = format!("{}simple/", server.url());
    index_is(&mut s, &index);
    let r = s.run_failing(&["start", "0.2.0.pre0"], "bump.after_commit");
    assert_ne!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
    drop(server);

    let r = s.run(&["resume"]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("the build of 3 package(s) failed"),
        "{}",
        r.stderr
    );
    // demo-core and demo-aws share `setuptools>=61, wheel`; demo-cli has
    // `setuptools>=40.8.0`: two errors, each told once.
    assert_eq!(
        r.stderr
            .matches("cannot make the build environment for")
            .count(),
        2,
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("(the same for 2 packages)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("isolation = false"), "{}", r.stderr);
    assert!(!all.contains("Retrying"), "{all}");
    assert!(!all.contains("python -m build failed"), "{all}");
    assert!(s.git(&["tag", "--list"]).is_empty(), "nothing tagged");
}

/// A build requirement no index has, with the index up: preflight lets it
/// through (the index answers; only the build can tell), the shared
/// environment cannot be made, and each package falls back to `python -m
/// build`, which fails alike for each: the failure is told once, not once
/// per package with only its temporary folders' names differing.
#[test]
fn one_cause_failing_every_package_is_told_once() {
    let mut s = isolated();
    let server = mirror(&s);
    index_is(&mut s, &format!("{}simple/", server.url()));
    for pkg in [
        "python_modules/demo-core",
        "python_modules/libraries/demo-aws",
    ] {
        let toml = s.repo.join(pkg).join("pyproject.toml");
        let text = std::fs::read_to_string(&toml).unwrap();
        let text = text.replace(
            "requires = [\"setuptools>=61\", \"wheel\"]",
            "requires = [\"setuptools>=61\", \"wheel\", \"no-such-backend-anywhere\"]",
        );
        assert!(text.contains("no-such-backend"), "{text}");
        std::fs::write(&toml, text).unwrap();
    }
    s.commit_and_push("a build requirement no index has");
    let r = s.run(&["start", "0.2.0.pre0"]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("the build of 2 package(s) failed"),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.stderr.matches("python -m build failed for").count(),
        1,
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("(the same for 2 packages)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("no-such-backend-anywhere"),
        "{}",
        r.stderr
    );
}

/// A nightly is refused alike, by its own preflight: it builds the tip of
/// the remote branch, whose packages' build requirements are read from git.
#[test]
fn a_nightly_with_no_index_and_an_empty_cache_is_refused_before_anything_changes() {
    let mut s = isolated();
    let index = dead_index();
    index_is(&mut s, &index);
    let before = s.snapshot();
    let r = s.run(&["nightly"]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("(1 finding)"), "{}", r.stderr);
    assert_eq!(r.stderr.matches(index.as_str()).count(), 1, "{}", r.stderr);
    for way in ["isolation = false", "UV_INDEX_URL", "warm the cache"] {
        assert!(r.stderr.contains(way), "`{way}` in:\n{}", r.stderr);
    }
    assert_eq!(s.snapshot(), before, "the nightly changed something");
    assert!(
        !s.repo.join(".release/nightly.json").exists(),
        "no nightly journal"
    );
    assert!(envs_in(&s).is_empty(), "preflight makes no environment");
}
