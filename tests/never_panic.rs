//! Bad input everywhere gets `Ok` or a clear error, never a panic (issue 7):
//! property tests over every parser of outside input.

use std::path::Path;

use proptest::prelude::*;
use release::config::Config;
use release::journal;
use release::ops::index::simple;
use release::ops::metadata;
use release::packages;
use release::version::ReleaseVersion;

const VALID_JOURNAL: &str = include_str!("data/state.json");

/// Discover whatever is in `root` and bump it: `Ok` or an error, never a panic.
fn discover_and_bump(root: &Path) {
    let config = Config::parse("", Path::new("release.toml")).unwrap();
    if let Ok(found) = packages::discover(root, &config) {
        let pins = packages::release_pins(&found, "9.9.9");
        let mut edits = packages::Edits::new();
        for p in &found {
            let _ = packages::bump_package(root, p, &pins, &mut edits);
        }
        let _ = packages::write_edits(root, &edits);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn journal_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let path = Path::new("/x/.release/state.json");
        if let Err(e) = journal::parse(path, &bytes) {
            prop_assert!(e.to_string().contains("/x/.release/state.json"));
        }
    }

    #[test]
    fn truncated_or_flipped_journals_are_clear_errors(cut in 0usize..20000, flip in 0usize..20000, byte in any::<u8>()) {
        let path = Path::new("state.json");
        let mut bytes = VALID_JOURNAL.as_bytes().to_vec();
        // The sample is a valid journal of this schema version, so a cut one
        // is refused for being cut, not for being old.
        prop_assert!(journal::parse(path, &bytes).is_ok());
        let content = VALID_JOURNAL.trim_end().len();
        let cut = cut.min(bytes.len());
        let truncated = &bytes[..cut];
        if cut < content {
            prop_assert!(journal::parse(path, truncated).is_err());
        }
        if !bytes.is_empty() {
            let i = flip % bytes.len();
            bytes[i] = byte;
            let _ = journal::parse(path, &bytes);
        }
    }

    #[test]
    fn config_parser_never_panics(text in "\\PC{0,300}") {
        let _ = Config::parse(&text, Path::new("release.toml"));
    }

    #[test]
    fn config_like_toml_never_panics(
        branch in "[a-z./~^ -]{0,12}",
        glob in "[a-z*/\\[\\]{}.-]{0,20}",
        tag in "[a-z{}-]{0,16}",
        jobs in 0i64..5,
    ) {
        let text = format!("branch = \"{branch}\"\npackages = [\"{glob}\"]\ntag = \"{tag}\"\n[build]\njobs = {jobs}\n");
        let _ = Config::parse(&text, Path::new("release.toml"));
    }

    #[test]
    fn version_parser_never_panics(text in "\\PC{0,40}") {
        if let Ok(v) = ReleaseVersion::parse(&text) {
            let _ = v.normalized();
            let _ = v.base_release();
            if let Ok(next) = v.roll_forward() {
                prop_assert!(next.parsed > v.parsed);
            }
        }
    }

    #[test]
    fn version_like_strings_never_panic(text in "[0-9.a-z!+_-]{0,24}") {
        if let Ok(v) = ReleaseVersion::parse(&text) {
            if let Ok(next) = v.roll_forward() {
                prop_assert!(next.parsed > v.parsed);
            }
        }
    }

    #[test]
    fn package_files_never_panic(pyproject in "\\PC{0,200}", version_py in "\\PC{0,80}") {
        let tmp = tempfile::tempdir().unwrap();
        let pkg = tmp.path().join("python_modules/p");
        std::fs::create_dir_all(pkg.join("p")).unwrap();
        std::fs::write(pkg.join("pyproject.toml"), &pyproject).unwrap();
        std::fs::write(pkg.join("p/version.py"), &version_py).unwrap();
        discover_and_bump(tmp.path());
    }

    #[test]
    fn pyproject_like_files_never_panic(
        name in "[a-zA-Z0-9_.-]{0,12}",
        version in "[0-9a-z.\"']{0,10}",
        dep in "[a-zA-Z0-9_.=\\[\\];<> -]{0,30}",
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let pkg = tmp.path().join("python_modules/p");
        std::fs::create_dir_all(&pkg).unwrap();
        let text = format!("[project]\nname = \"{name}\"\nversion = \"{version}\"\ndependencies = [\"{dep}\"]\n");
        std::fs::write(pkg.join("pyproject.toml"), text).unwrap();
        discover_and_bump(tmp.path());
    }

    #[test]
    fn index_pages_never_panic(html in "\\PC{0,300}", json in "\\PC{0,200}") {
        let _ = simple::parse_anchors(&html);
        let url = url::Url::parse("http://127.0.0.1:1/simple/p/").unwrap();
        let _ = simple::parse_page(&url, false, &html);
        let _ = simple::parse_page(&url, true, &json);
    }

    #[test]
    fn anchor_like_html_never_panics(href in "[a-z0-9./#=:%-]{0,40}", text in "[a-z<>&;]{0,10}") {
        let html = format!("<a href=\"{href}\">{text}</a>");
        let url = url::Url::parse("http://127.0.0.1:1/simple/p/").unwrap();
        let _ = simple::parse_page(&url, false, &html);
        for (h, _) in simple::parse_anchors(&html) {
            let _ = simple::split_fragment(&h);
        }
    }

    #[test]
    fn metadata_and_archives_never_panic(text in "\\PC{0,300}", bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = metadata::parse(&text).form_fields();
        let tmp = tempfile::tempdir().unwrap();
        for name in ["x-1.0-py3-none-any.whl", "x-1.0.tar.gz", "x-1.0.zip"] {
            let p = tmp.path().join(name);
            std::fs::write(&p, &bytes).unwrap();
            prop_assert!(metadata::read(&p).is_err());
        }
    }
}
