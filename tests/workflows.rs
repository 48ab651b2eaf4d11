//! The project's GitHub workflows (`.github/workflows/`), the example
//! workflow users copy, and the action they call (`uses: ./` checks its
//! inputs against action.yml), all clean under actionlint, installed by
//! scripts/pyenv.sh from its PyPI wheel.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn workflows(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files.push(root.join("examples/github-release.yml"));
    files
}

fn actionlint(dir: &Path, files: &[PathBuf]) -> common::Run {
    let tool = common::wheel::tool("actionlint");
    common::Run::from(
        Command::new(tool)
            .args(["-no-color"])
            .args(files)
            .current_dir(dir)
            .output()
            .unwrap(),
    )
}

#[test]
fn every_workflow_is_clean_under_actionlint() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = workflows(root);
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in ["ci.yml", "release.yml", "github-release.yml"] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    let r = actionlint(root, &files);
    assert!(
        r.ok() && r.stdout.is_empty(),
        "actionlint ({:?}):\n{}{}",
        r.code,
        r.stdout,
        r.stderr
    );
}

#[test]
fn actionlint_finds_what_it_should() {
    // The check above proves something only if actionlint reads the files:
    // an input the action does not declare, and a job that needs nothing.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join(".github/workflows")).unwrap();
    // actionlint finds local actions from the repository's root.
    common::git(tmp.path(), &["init", "-q"]);
    std::fs::copy(root.join("action.yml"), tmp.path().join("action.yml")).unwrap();
    let bad = tmp.path().join(".github/workflows/bad.yml");
    std::fs::write(
        &bad,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: nothing\n    steps:\n      \
         - uses: actions/checkout@v5\n      - uses: ./\n        with:\n          verison: 1.0\n",
    )
    .unwrap();
    let r = actionlint(tmp.path(), &[bad]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stdout.contains("verison"), "{}", r.stdout);
    assert!(r.stdout.contains("nothing"), "{}", r.stdout);
}
