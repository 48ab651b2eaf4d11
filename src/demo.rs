//! `release demo`: the sample monorepo in `examples/monorepo`, released end to end.
//!
//! Makes a real git repository with a bare `origin` and a `file://` index in a
//! new folder, then runs the same `start`, `status` and `audit` a user would, so
//! a newcomer sees every step without any server.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::commands::{self, Global};
use crate::ops::git;

/// The sample monorepo, embedded so the demo runs from any directory.
pub const SAMPLE: &[(&str, &str)] = &[
    (
        ".gitignore",
        include_str!("../examples/monorepo/.gitignore"),
    ),
    (
        "CHANGES.md",
        include_str!("../examples/monorepo/CHANGES.md"),
    ),
    (
        "release.toml",
        include_str!("../examples/monorepo/release.toml"),
    ),
    (
        "python_modules/demo-core/README.md",
        include_str!("../examples/monorepo/python_modules/demo-core/README.md"),
    ),
    (
        "python_modules/demo-core/pyproject.toml",
        include_str!("../examples/monorepo/python_modules/demo-core/pyproject.toml"),
    ),
    (
        "python_modules/demo-core/demo_core/__init__.py",
        include_str!("../examples/monorepo/python_modules/demo-core/demo_core/__init__.py"),
    ),
    (
        "python_modules/demo-cli/README.md",
        include_str!("../examples/monorepo/python_modules/demo-cli/README.md"),
    ),
    (
        "python_modules/demo-cli/setup.py",
        include_str!("../examples/monorepo/python_modules/demo-cli/setup.py"),
    ),
    (
        "python_modules/demo-cli/demo_cli/__init__.py",
        include_str!("../examples/monorepo/python_modules/demo-cli/demo_cli/__init__.py"),
    ),
    (
        "python_modules/demo-cli/demo_cli/version.py",
        include_str!("../examples/monorepo/python_modules/demo-cli/demo_cli/version.py"),
    ),
    (
        "python_modules/libraries/demo-aws/README.md",
        include_str!("../examples/monorepo/python_modules/libraries/demo-aws/README.md"),
    ),
    (
        "python_modules/libraries/demo-aws/pyproject.toml",
        include_str!("../examples/monorepo/python_modules/libraries/demo-aws/pyproject.toml"),
    ),
    (
        "python_modules/libraries/demo-aws/demo_aws/__init__.py",
        include_str!("../examples/monorepo/python_modules/libraries/demo-aws/demo_aws/__init__.py"),
    ),
    (
        "python_modules/libraries/demo-aws/demo_aws/version.py",
        include_str!("../examples/monorepo/python_modules/libraries/demo-aws/demo_aws/version.py"),
    ),
];

/// Write the sample into `work` (a git repository with a bare `origin.git`
/// beside it and `index/` as the file:// index). Returns the repository path.
pub fn make_sample(base: &Path) -> Result<PathBuf> {
    make_repo(base, SAMPLE)
}

/// Write `files` (path, text) into `base/monorepo` as the first commit of a
/// repository whose `origin` is the bare `base/origin.git`; the upload URL
/// `file:///tmp/release-demo-index` in `release.toml` becomes `base/index`.
pub fn make_repo(base: &Path, files: &[(&str, &str)]) -> Result<PathBuf> {
    let work = base.join("monorepo");
    let origin = base.join("origin.git");
    let index = base.join("index");
    for (path, text) in files {
        let dest = work.join(path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let text = if *path == "release.toml" {
            text.replace(
                "file:///tmp/release-demo-index",
                &format!("file://{}", index.display()),
            )
        } else {
            text.to_string()
        };
        std::fs::write(&dest, text).with_context(|| format!("cannot write {}", dest.display()))?;
    }
    let mut opts = git2::RepositoryInitOptions::new();
    opts.initial_head("master");
    let repo = git2::Repository::init_opts(&work, &opts)
        .with_context(|| format!("cannot create a repository in {}", work.display()))?;
    {
        let mut cfg = repo.config()?;
        cfg.set_str("user.name", "Release Demo")?;
        cfg.set_str("user.email", "demo@example.invalid")?;
    }
    let mut index_file = repo.index()?;
    index_file.add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)?;
    index_file.write()?;
    let tree = repo.find_tree(index_file.write_tree()?)?;
    let sig = repo.signature()?;
    repo.commit(
        Some("HEAD"),
        &sig,
        &sig,
        "sample monorepo at 0.1.0",
        &tree,
        &[],
    )?;
    git2::Repository::init_bare(&origin)
        .with_context(|| format!("cannot create {}", origin.display()))?;
    repo.remote("origin", &origin.to_string_lossy())?;
    match git::push(&repo, "origin", "refs/heads/master:refs/heads/master")? {
        git::PushResult::Accepted => {}
        other => anyhow::bail!("cannot push the sample to its origin: {other:?}"),
    }
    let mut cfg = repo.config()?;
    cfg.set_str("branch.master.remote", "origin")?;
    cfg.set_str("branch.master.merge", "refs/heads/master")?;
    Ok(work)
}

pub fn run(dir: Option<PathBuf>) -> Result<()> {
    let base = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d)
                .with_context(|| format!("cannot create {}", d.display()))?;
            d
        }
        None => tempfile::Builder::new()
            .prefix("release-demo-")
            .tempdir()
            .context("cannot create a temporary folder")?
            .keep(),
    };
    say!("# release demo in {}", base.display());
    let work = make_sample(&base)?;
    say!(
        "# sample monorepo: {} (origin: {}, index: {})",
        work.display(),
        base.join("origin.git").display(),
        base.join("index").display()
    );
    let global = Global {
        repo: Some(work.clone()),
        config: None,
    };
    say!("\n$ release version");
    commands::version(&global)?;
    say!("\n$ release start 0.2.0.pre0");
    commands::start(&global, "0.2.0.pre0", &commands::StartOptions::default())?;
    say!("\n$ release status");
    commands::status(&global, false, false)?;
    say!("\n$ release audit 0.2.0.pre0");
    commands::audit(&global, "0.2.0.pre0")?;
    say!("\n$ release version");
    commands::version(&global)?;
    say!(
        "\n# done: browse {}/simple/index.html, or `cd {}` and try `release status`",
        base.join("index").display(),
        work.display()
    );
    Ok(())
}
