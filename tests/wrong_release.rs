//! No wrong release through the new doors (issue 20): the shrink check
//! measures against the previous version, every `[[track]]` and `--track`
//! counts, version files stay inside the repository (symlinks followed to
//! their target there), files keep their line endings and BOM, and no
//! number in `release.toml` makes the binary panic. Each test drives the
//! real binary on a sample with a bare origin and a file:// index.

mod common;

use std::path::Path;
use std::process::Command;

use common::{index_files, run_or_kill, Run, Sample};
use proptest::prelude::*;

fn write(s: &Sample, path: &str, bytes: &[u8]) {
    let p = s.repo.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

fn read(s: &Sample, path: &str) -> String {
    std::fs::read_to_string(s.repo.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Replace `from` (which must be there) by `to` in a file of the sample.
fn edit(s: &Sample, path: &str, from: &str, to: &str) {
    let text = read(s, path);
    assert!(text.contains(from), "{path} has no {from:?}:\n{text}");
    write(s, path, text.replacen(from, to, 1).as_bytes());
}

/// The bytes of `path` at `rev` (`git cat-file`, untrimmed).
fn blob(s: &Sample, rev: &str, path: &str) -> Vec<u8> {
    let out = Command::new("git")
        .arg("-C")
        .arg(&s.repo)
        .args(["cat-file", "blob", &format!("{rev}:{path}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{rev}:{path}");
    out.stdout
}

/// Refused with exit 1 (never a panic), saying each of `said`.
fn refused(r: &Run, said: &[&str]) {
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    for s in said {
        assert!(r.stderr.contains(s), "{s}:\n{}", r.stderr);
    }
}

fn head(s: &Sample) -> String {
    s.git(&["rev-parse", "HEAD"])
}

// ---- 4. the shrink check's previous release is the previous version ----

fn set_prebuild(s: &Sample, on: bool) {
    let text = read(s, "release.toml").replace("#prebuild = ", "prebuild = ");
    let text = if on {
        text
    } else {
        text.replace("prebuild = ", "#prebuild = ")
    };
    write(s, "release.toml", text.as_bytes());
    s.commit_and_push(if on { "prebuild on" } else { "prebuild off" });
}

fn start(s: &Sample, version: &str) -> Run {
    s.run(&["start", version, "--skip-prerelease-check"])
}

/// 0.9.0 had no web UI, 0.10.0 has it: 0.10.1 losing it is caught, measured
/// against 0.10.0 (file names sort 0.9.0 last, which has nothing to lose).
#[test]
fn a_loss_is_measured_against_the_previous_version_not_the_last_file_name() {
    let s = Sample::fixture("webui");
    set_prebuild(&s, false);
    assert!(start(&s, "0.9.0").ok());
    set_prebuild(&s, true);
    assert!(start(&s, "0.10.0").ok());
    set_prebuild(&s, false);
    let r = start(&s, "0.10.1");
    refused(
        &r,
        &[
            "dagit (against 0.10.0)",
            "dagit/webapp/build/* (2 file(s))",
            "nothing was tagged or pushed",
        ],
    );
    assert_eq!(s.git(&["tag", "-l", "0.10.1"]), "");
}

/// 0.9.0 had the web UI, 0.10.0 dropped it on purpose (`--allow-shrink`):
/// 0.10.1 without it is no loss against 0.10.0, its previous version.
#[test]
fn no_false_refusal_against_an_older_version_that_sorts_last_by_name() {
    let s = Sample::fixture("webui");
    assert!(start(&s, "0.9.0").ok());
    set_prebuild(&s, false);
    refused(&start(&s, "0.10.0"), &["dagit (against 0.9.0)"]);
    s.ok(&["resume", "--allow-shrink", "dagit"]);
    let r = start(&s, "0.10.1");
    assert!(r.ok(), "{}\n{}", r.stdout, r.stderr);
    assert_eq!(s.git(&["tag", "-l", "0.10.1"]), "0.10.1");
}

// ---- 5. every track counts ----

fn add_tracks(s: &Sample, tracks: &str) {
    let mut text = read(s, "release.toml");
    text.push('\n');
    text.push_str(tracks);
    write(s, "release.toml", text.as_bytes());
    s.commit_and_push("tracks");
}

/// Nothing changed in git: the same HEAD and no tag.
fn unchanged(s: &Sample, before: &str) {
    assert_eq!(head(s), before);
    assert_eq!(s.git(&["tag", "-l"]), "");
    assert_eq!(s.git(&["status", "--porcelain"]), "");
}

#[test]
fn a_primary_track_that_matches_nothing_is_a_finding() {
    let s = Sample::new();
    add_tracks(
        &s,
        "[[track]]\nname = \"core\"\npackages = [\"python_modules/demo-kore\"]\n\n\
         [[track]]\nname = \"libraries\"\npackages = [\"python_modules/*\", \"python_modules/libraries/*\"]\n",
    );
    let before = head(&s);
    let r = s.run(&["start", "0.2.0rc0"]);
    refused(
        &r,
        &[
            "primary track `core` has no package",
            "python_modules/demo-kore",
            "nothing was changed",
        ],
    );
    unchanged(&s, &before);
    let r = s.run(&["nightly", "--date", "20240101"]);
    refused(&r, &["primary track `core` has no package"]);
    unchanged(&s, &before);
    assert!(index_files(&s.index).is_empty());
}

#[test]
fn a_track_version_given_to_a_track_without_packages_is_a_finding() {
    let s = Sample::new();
    add_tracks(
        &s,
        "[[track]]\nname = \"core\"\npackages = [\"python_modules/*\", \"python_modules/libraries/*\"]\n\n\
         [[track]]\nname = \"libraries\"\npackages = [\"python_modules/libs/*\"]\n",
    );
    let before = head(&s);
    let r = s.run(&["start", "0.2.0rc0", "--track", "libraries=0.5.0"]);
    refused(
        &r,
        &[
            "--track libraries=0.5.0: track `libraries` has no package",
            "track `libraries` has no package: its globs [\"python_modules/libs/*\"] match no package folder",
            "nothing was changed",
        ],
    );
    unchanged(&s, &before);
}

// ---- 7, 8. version files inside the repository; symlinks ----

#[test]
fn a_version_file_named_by_an_absolute_path_is_refused_by_start_and_nightly() {
    let s = Sample::new();
    let outside = s.base.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let version_file = outside.join("VERSION");
    std::fs::write(&version_file, "0.1.0\n").unwrap();
    let abs = version_file.to_str().unwrap();
    edit(
        &s,
        "python_modules/libraries/demo-aws/pyproject.toml",
        "version = { attr = \"demo_aws.version.__version__\" }",
        &format!("version = {{ file = \"{abs}\" }}"),
    );
    s.commit_and_push("version file outside the repository");
    let before = head(&s);
    let said = [
        "package demo_aws: [tool.setuptools.dynamic] version file",
        abs,
        "an absolute path",
    ];
    let r = s.run(&["start", "0.2.0rc0"]);
    refused(&r, &said);
    assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);
    unchanged(&s, &before);
    let r = s.run(&["nightly", "--date", "20240101"]);
    refused(&r, &said);
    // Nothing to abort, and nothing outside was ever written.
    let r = s.run(&["abort"]);
    assert_ne!(r.code, Some(101));
    assert_eq!(std::fs::read_to_string(&version_file).unwrap(), "0.1.0\n");
    unchanged(&s, &before);
}

#[cfg(unix)]
#[test]
fn version_files_that_lead_outside_by_symlink_or_dotdot_are_refused() {
    let s = Sample::new();
    let outside = s.base.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("version.py"), "__version__ = \"0.1.0\"\n").unwrap();
    let link = "python_modules/demo-cli/demo_cli/version.py";
    std::fs::remove_file(s.repo.join(link)).unwrap();
    std::os::unix::fs::symlink(outside.join("version.py"), s.repo.join(link)).unwrap();
    s.commit_and_push("version.py is a symlink out of the repository");
    let before = head(&s);
    for args in [
        &["start", "0.2.0rc0"][..],
        &["nightly", "--date", "20240101"],
    ] {
        let r = s.run(args);
        refused(
            &r,
            &[
                "package demo-cli: its version module names `python_modules/demo-cli/demo_cli/version.py`",
                "outside the repository",
            ],
        );
    }
    unchanged(&s, &before);
    assert_eq!(
        std::fs::read_to_string(outside.join("version.py")).unwrap(),
        "__version__ = \"0.1.0\"\n"
    );

    // A hatch/pdm path through `..`.
    std::fs::remove_file(s.repo.join(link)).unwrap();
    write(&s, link, b"__version__ = \"0.1.0\"\n");
    edit(
        &s,
        "python_modules/demo-core/pyproject.toml",
        "version = \"0.1.0\"",
        "dynamic = [\"version\"]",
    );
    let mut core = read(&s, "python_modules/demo-core/pyproject.toml");
    core.push_str(
        "\n[tool.pdm.version]\nsource = \"file\"\npath = \"../../../outside/version.py\"\n",
    );
    write(
        &s,
        "python_modules/demo-core/pyproject.toml",
        core.as_bytes(),
    );
    s.commit_and_push("pdm path through ..");
    let before = head(&s);
    let r = s.run(&["start", "0.2.0rc0"]);
    refused(
        &r,
        &[
            "package demo-core: [tool.pdm.version] path names `../../../outside/version.py`, a path through `..`",
        ],
    );
    unchanged(&s, &before);
}

/// A version.py that is a symlink to a file inside the repository: the
/// release commit changes the target, and the symlink stays a symlink with
/// its target.
#[cfg(unix)]
#[test]
fn a_symlinked_version_file_is_written_through_to_its_target() {
    let s = Sample::new();
    let link = "python_modules/demo-cli/demo_cli/version.py";
    let target = "../../../shared/demo_cli_version.py";
    std::fs::remove_file(s.repo.join(link)).unwrap();
    write(
        &s,
        "shared/demo_cli_version.py",
        b"__version__ = \"0.1.0\"\n",
    );
    std::os::unix::fs::symlink(target, s.repo.join(link)).unwrap();
    s.commit_and_push("version.py is a symlink inside the repository");
    let r = s.run(&["start", "0.2.0rc0"]);
    assert!(r.ok(), "{}\n{}", r.stdout, r.stderr);
    let entry = s.git(&["ls-tree", "HEAD", link]);
    assert!(entry.starts_with("120000 blob "), "{entry}");
    assert_eq!(blob(&s, "HEAD", link), target.as_bytes());
    assert_eq!(
        blob(&s, "HEAD", "shared/demo_cli_version.py"),
        b"__version__ = \"0.2.0rc0\"\n"
    );
    assert!(std::fs::symlink_metadata(s.repo.join(link))
        .unwrap()
        .is_symlink());
    assert_eq!(s.git(&["status", "--porcelain"]), "");
    assert!(
        index_files(&s.index)
            .iter()
            .any(|f| f.starts_with("demo-cli/demo_cli-0.2.0rc0")),
        "{:?}",
        index_files(&s.index)
    );
}

// ---- 9. line endings and BOM ----

fn crlf(text: &str) -> String {
    text.replace('\n', "\r\n")
}

fn bom(text: &str) -> String {
    format!("\u{feff}{text}")
}

/// How a test writes a file: its text to the bytes on disk.
type Style = fn(&str) -> String;

/// Rewrite the sample's `files` in their style; return them (path, bytes).
fn restyle(s: &Sample, files: &[(&str, Style)]) -> Vec<(String, String)> {
    let out: Vec<(String, String)> = files
        .iter()
        .map(|(path, style)| {
            let text = style(&read(s, path));
            write(s, path, text.as_bytes());
            (path.to_string(), text)
        })
        .collect();
    s.commit_and_push("CRLF and BOM");
    out
}

fn bom_crlf(text: &str) -> String {
    bom(&crlf(text))
}

/// A whole release of CRLF files (and a BOM where Python accepts one):
/// the release commit has the same bytes but for the versions.
#[test]
fn crlf_and_bom_survive_a_release() {
    let s = Sample::new();
    let files = restyle(
        &s,
        &[
            ("python_modules/demo-core/pyproject.toml", crlf),
            ("python_modules/demo-cli/setup.py", bom_crlf),
            ("python_modules/demo-cli/demo_cli/version.py", crlf),
            ("python_modules/libraries/demo-aws/pyproject.toml", crlf),
            (
                "python_modules/libraries/demo-aws/demo_aws/version.py",
                bom_crlf,
            ),
        ],
    );
    let r = s.run(&["start", "0.2.0rc0"]);
    assert!(r.ok(), "{}\n{}", r.stdout, r.stderr);
    for (path, before) in &files {
        let after = String::from_utf8(blob(&s, "HEAD", path)).unwrap();
        assert_eq!(after, before.replace("0.1.0", "0.2.0rc0"), "{path}");
    }
}

/// BOM and CRLF in every kind of file a bump rewrites (pyproject.toml,
/// setup.cfg, setup.py, a VERSION file): the release commit keeps them, and
/// `abort` puts back the very bytes.
#[cfg(feature = "failpoints")]
#[test]
fn crlf_and_bom_survive_the_bump_and_its_abort() {
    let s = Sample::new();
    write(
        &s,
        "python_modules/demo-cli/setup.cfg",
        b"[metadata]\nname = demo-cli\nversion = 0.1.0\n",
    );
    write(&s, "python_modules/libraries/demo-aws/VERSION", b"0.1.0\n");
    edit(
        &s,
        "python_modules/libraries/demo-aws/pyproject.toml",
        "version = { attr = \"demo_aws.version.__version__\" }",
        "version = { file = \"VERSION\" }",
    );
    s.commit_and_push("setup.cfg and VERSION");
    let files = restyle(
        &s,
        &[
            ("python_modules/demo-core/pyproject.toml", bom_crlf),
            ("python_modules/demo-cli/setup.cfg", bom_crlf),
            ("python_modules/demo-cli/setup.py", bom_crlf),
            ("python_modules/libraries/demo-aws/pyproject.toml", bom_crlf),
            ("python_modules/libraries/demo-aws/VERSION", bom_crlf),
        ],
    );
    let base = head(&s);
    // Stopped after the build (if Python's build takes a BOM at all): the
    // release commit is made and journaled, nothing is tagged.
    let r = s.run_failing(&["start", "0.2.0rc0"], "build.after_build");
    assert_ne!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
    assert_ne!(r.code, Some(101), "{}\n{}", r.stdout, r.stderr);
    assert_ne!(head(&s), base, "the release commit was made");
    for (path, before) in &files {
        let after = String::from_utf8(blob(&s, "HEAD", path)).unwrap();
        assert_eq!(after, before.replace("0.1.0", "0.2.0rc0"), "{path}");
    }
    s.ok(&["abort"]);
    assert_eq!(head(&s), base);
    for (path, before) in &files {
        assert_eq!(&read(&s, path), before, "{path} restored");
    }
}

/// The bytes of the member of `sdist` whose path ends with `suffix`.
fn sdist_member(sdist: &Path, suffix: &str) -> Vec<u8> {
    let file = std::fs::File::open(sdist).unwrap_or_else(|e| panic!("{}: {e}", sdist.display()));
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        if path.ends_with(suffix) {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut out).unwrap();
            return out;
        }
    }
    panic!("no {suffix} in {}", sdist.display())
}

/// A nightly rewrites versions in its export by the same rules: the files
/// it builds keep their line endings (CRLF only here, with no BOM to stop
/// the code before this change finding the version at all).
#[test]
fn crlf_survives_a_nightly() {
    let s = Sample::new();
    let files = restyle(
        &s,
        &[
            ("python_modules/libraries/demo-aws/pyproject.toml", crlf),
            (
                "python_modules/libraries/demo-aws/demo_aws/version.py",
                crlf,
            ),
        ],
    );
    s.ok(&["nightly", "--date", "20240101"]);
    let version = "0.1.1.dev20240101";
    let sdist = s
        .index
        .join(format!("simple/demo-aws/demo_aws-{version}.tar.gz"));
    for (path, before) in &files {
        let member = path.trim_start_matches("python_modules/libraries/demo-aws/");
        let built = String::from_utf8(sdist_member(&sdist, member)).unwrap();
        assert_eq!(built, before.replace("0.1.0", version), "{path}");
    }
    // The working tree and git never see a nightly.
    for (path, before) in &files {
        assert_eq!(&read(&s, path), before, "{path}");
    }
}

// ---- 14. every number in release.toml is bounded ----

/// Each numeric setting: section, key, a value just out of range.
const NUMBERS: &[(&str, &str, &str)] = &[
    ("build", "jobs", "9223372036854775807"),
    ("build", "keep_releases", "9223372036854775807"),
    ("publish", "jobs", "9223372036854775807"),
    ("publish", "attempts", "4294967295"),
    ("publish", "attempts", "0"),
    ("publish", "backoff_ms", "9223372036854775807"),
    ("publish", "timeout_secs", "9223372036854775807"),
    ("publish", "timeout_secs", "0"),
    ("announce", "attempts", "4294967295"),
    ("announce", "backoff_ms", "9223372036854775807"),
];

/// `release.toml` of the sample with `key = value` in `[section]`, and
/// uploads to `upload_url`.
fn config_with(s: &Sample, upload_url: &str, section: &str, key: &str, value: &str) -> String {
    let mut text: String = read(s, "release.toml")
        .lines()
        .map(|l| match l.starts_with("upload_url") {
            true => format!("upload_url = \"{upload_url}\""),
            false => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    text.push('\n');
    let header = format!("[{section}]\n");
    match text.find(&header) {
        Some(i) => text.insert_str(i + header.len(), &format!("{key} = {value}\n")),
        None => text.push_str(&format!("\n{header}{key} = {value}\n")),
    }
    text
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn huge_numbers_in_every_setting_are_refused_naming_the_setting() {
    let s = Sample::new();
    // An HTTP index, so a timeout or backoff would be used (nothing listens:
    // the config must be refused before anything is asked).
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let original = read(&s, "release.toml");
    for (section, key, value) in NUMBERS {
        write(
            &s,
            "release.toml",
            config_with(&s, &url, section, key, value).as_bytes(),
        );
        s.commit_and_push(&format!("{key} = {value}"));
        let before = head(&s);
        let mut cmd = s.cmd(&["start", "0.2.0rc0"]);
        cmd.env("TWINE_USERNAME", "u")
            .env("TWINE_PASSWORD", "secret-pw");
        // A guard against the hang a huge backoff or attempts caused, not a
        // measure: a run killed has no exit code and fails below.
        let r = s.run_with(cmd, run_or_kill(Some(std::time::Duration::from_secs(120))));
        refused(
            &r,
            &[&format!(
                "`[{section}] {key} = {value}` is out of range: it must be from"
            )],
        );
        assert_eq!(head(&s), before);
        assert!(s.journal().is_none());
        write(&s, "release.toml", original.as_bytes());
        s.commit_and_push("back");
    }
}

/// A value for a numeric setting: anything TOML holds, with the edges.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (0i64..20).prop_map(|n| n.to_string()),
        Just(i64::MAX.to_string()),
        Just(u32::MAX.to_string()),
        Just((u32::MAX as i64 + 1).to_string()),
        Just("1e30".to_string()),
        Just("-0".to_string()),
        Just("\"7\"".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// Whatever the numbers, a config the parser accepts is one whose
    /// timeouts, backoffs and deadlines compute without overflow.
    #[test]
    fn accepted_numbers_never_overflow(
        values in proptest::collection::vec(number(), NUMBERS.len()),
    ) {
        let mut text = String::new();
        for section in ["build", "publish", "announce"] {
            text.push_str(&format!("[{section}]\n"));
            let mut seen = std::collections::BTreeSet::new();
            for ((s, key, _), value) in NUMBERS.iter().zip(&values) {
                if *s == section && seen.insert(*key) {
                    text.push_str(&format!("{key} = {value}\n"));
                }
            }
        }
        let parsed = release::config::Config::parse(&text, Path::new("release.toml"));
        if let Ok(c) = parsed {
            let p = &c.publish;
            let timeout = std::time::Duration::from_secs(p.timeout_secs.unwrap_or(60));
            // The largest upload there is, sent at the slowest rate allowed.
            let upload = release::ops::http::upload_timeout(timeout, u64::MAX);
            prop_assert!(std::time::Instant::now().checked_add(upload).is_some());
            let backoff = std::time::Duration::from_millis(p.backoff_ms.unwrap_or(500));
            let attempts = p.attempts.unwrap_or(5);
            prop_assert!(backoff.checked_mul(attempts).is_some());
            let retry = c.announce.retry();
            for n in 0..=retry.attempts.min(64) {
                let _ = retry.delay(n);
            }
            prop_assert!(c.build.jobs.unwrap_or(1) <= 1024);
            prop_assert!(p.jobs.unwrap_or(1) <= 1024);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// The binary given a mutated `release.toml` (a numeric setting set to
    /// anything, then a byte overwritten): a clear error or a run, never a
    /// panic (exit 101) and never a hang. The index is HTTP on a port nothing
    /// listens on, so preflight's check of it uses the timeout and retries
    /// (one try, no backoff, unless those are the setting fuzzed).
    #[test]
    fn the_binary_never_panics_on_a_mutated_config(
        which in 0..NUMBERS.len(),
        value in number(),
        flip in any::<Option<(usize, u8)>>(),
    ) {
        thread_local! {
            static SAMPLE: (Sample, String, String) = {
                let mut s = Sample::new();
                s.set_env("TWINE_USERNAME", "u");
                s.set_env("TWINE_PASSWORD", "secret-pw");
                let original = read(&s, "release.toml");
                let url = format!("http://127.0.0.1:{}/", closed_port());
                (s, original, url)
            };
        }
        SAMPLE.with(|(s, original, url)| {
            let (section, key, _) = NUMBERS[which];
            write(s, "release.toml", original.as_bytes());
            for (k, v) in [("attempts", "1"), ("backoff_ms", "0")] {
                if (section, key) != ("publish", k) {
                    let text = config_with(s, url, "publish", k, v);
                    write(s, "release.toml", text.as_bytes());
                }
            }
            let mut bytes = config_with(s, url, section, key, &value).into_bytes();
            if let Some((at, byte)) = flip {
                let i = at % bytes.len();
                bytes[i] = byte;
            }
            std::fs::write(s.repo.join("release.toml"), &bytes).unwrap();
            for args in [&["start", "0.2.0rc0", "--dry-run"][..], &["status"], &["version"]] {
                let r = s.run_with(s.cmd(args), run_or_kill(Some(std::time::Duration::from_secs(120))));
                prop_assert!(r.code.is_some() && r.code != Some(101), "{args:?} on\n{}\n{}\n{}", String::from_utf8_lossy(&bytes), r.stdout, r.stderr);
            }
            Ok(())
        })?;
    }
}
