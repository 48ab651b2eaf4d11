//! `.release/` stays small (issue 15): a clean export is gone once its
//! build is recorded, and only the last `keep_releases` (default 2) finished
//! releases keep their built files. Nothing this tool did not make is touched.

mod common;

use std::path::Path;

use common::Sample;

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn exports_go_once_recorded_and_only_the_last_releases_keep_their_files() {
    let s = Sample::new();
    let release = s.repo.join(".release");
    // A folder of the user's own in dist/: never ours to remove.
    std::fs::create_dir_all(release.join("dist/mine")).unwrap();
    std::fs::write(release.join("dist/mine/keep.txt"), "mine").unwrap();

    s.ok(&["start", "0.2.0.pre0"]);
    assert!(!release.join("build").exists(), "the export is gone");
    assert_eq!(listing(&release.join("dist")), ["0.2.0rc0", "mine"]);
    assert_eq!(listing(&release.join("dist/0.2.0rc0")).len(), 3);

    s.ok(&["start", "0.2.0.pre1"]);
    let r = s.ok(&["start", "0.2.0.pre2"]);
    assert!(
        r.stdout.contains("removed the built files of 0.2.0rc0"),
        "{}",
        r.stdout
    );
    assert_eq!(
        listing(&release.join("dist")),
        ["0.2.0rc1", "0.2.0rc2", "mine"]
    );
    assert_eq!(s.history().len(), 3, "the journals are all kept");

    // A release that fails in its build and is aborted keeps nothing.
    let toml = s.repo.join("release.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str("\n[package.demo-cli]\nprebuild = \"exit 3\"\n");
    std::fs::write(&toml, text).unwrap();
    s.commit_and_push("a package whose prebuild fails");
    let r = s.run(&["start", "0.2.0.pre3"]);
    assert!(!r.ok(), "{}", r.stdout);
    assert!(release.join("build/0.2.0rc3").exists(), "kept to look at");
    std::fs::create_dir_all(release.join("dist/0.2.0rc3/demo-core")).unwrap();
    s.ok(&["abort"]);
    assert!(!release.join("build").exists());
    assert_eq!(
        listing(&release.join("dist")),
        ["0.2.0rc1", "0.2.0rc2", "mine"]
    );
    assert_eq!(
        std::fs::read_to_string(release.join("dist/mine/keep.txt")).unwrap(),
        "mine"
    );
    assert_eq!(s.history().len(), 4);
}
