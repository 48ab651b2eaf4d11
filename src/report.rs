//! The outcome of `start` and `resume` for machines: one JSON document on
//! stdout with `--json` (everything else then goes to stderr), and on GitHub
//! Actions a Markdown table in `$GITHUB_STEP_SUMMARY` and the `version`, `tag`
//! and `released` outputs in `$GITHUB_OUTPUT`.
//!
//! It is read from the journal the command left behind (the live one, or the
//! archive of a finished release) rather than threaded through the steps, so
//! it says exactly what the journal says, however the command ended. The
//! schema is `journal-schema/result.schema.json`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use serde::Serialize;

use crate::commands::Global;
use crate::journal::{self, FileState, Paths, Phase, State};
use crate::ops::{self, Target};

/// Bumped when a field changes meaning or goes away.
pub const RESULT_SCHEMA_VERSION: u32 = 1;

static STDOUT_RESERVED: AtomicBool = AtomicBool::new(false);

/// Is stdout kept for the one JSON result? Then `say!` writes to stderr.
pub fn stdout_reserved() -> bool {
    STDOUT_RESERVED.load(Ordering::Relaxed)
}

fn reserve_stdout() {
    STDOUT_RESERVED.store(true, Ordering::Relaxed);
}

/// Which command the outcome is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Start,
    Resume,
}

#[derive(Debug, Serialize)]
pub struct Outcome {
    pub schema_version: u32,
    pub command: Kind,
    /// The command succeeded (exit code 0).
    pub ok: bool,
    /// The release is done: tagged, pushed, published, audited, announced.
    pub released: bool,
    pub version: Option<String>,
    pub normalized_version: Option<String>,
    pub tag: Option<String>,
    pub phase: Option<Phase>,
    pub upload_url: Option<String>,
    pub index_url: Option<String>,
    pub packages: Vec<PackageOutcome>,
    pub steps: Vec<StepOutcome>,
    /// The error, with its causes, as printed.
    pub error: Option<String>,
    pub next: NextOutcome,
    /// A release through a pull request: its branch, number, URL and the
    /// commit it landed as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<journal::PullRequest>,
    /// The journal this was read from (live, or archived).
    pub journal: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PackageOutcome {
    pub name: String,
    pub version: String,
    pub path: String,
    /// The project's page on the index (PEP 503).
    pub page_url: Option<String>,
    pub files: Vec<FileOutcome>,
}

#[derive(Debug, Serialize)]
pub struct FileOutcome {
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub state: FileState,
    /// Where the index serves it (once released), else `null`.
    pub url: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct StepOutcome {
    pub name: journal::StepName,
    pub state: journal::StepState,
    pub attempts: u32,
    pub note: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct NextOutcome {
    /// The command to run next, if any.
    pub command: Option<String>,
    pub says: String,
}

/// Run `run` (a `start` or `resume`), then report its outcome as asked:
/// `--json` on stdout, and GitHub's step summary and outputs when their files
/// are set. `version` is the version the command is about, when it names one.
pub fn around(
    global: &Global,
    kind: Kind,
    version: Option<&str>,
    json: bool,
    run: impl FnOnce() -> Result<()>,
) -> Result<()> {
    if json {
        reserve_stdout();
    }
    let github = Github::from_env();
    if !json && github.is_none() {
        return run();
    }
    let located = crate::commands::locate(global).ok();
    // Resume names no version: the one in the journal before it runs.
    let version = version.map(str::to_string).or_else(|| {
        located
            .as_ref()
            .and_then(|(paths, _)| journal::read(&paths.state()).ok().flatten())
            .map(|s| s.release.version)
    });
    let result = run();
    let outcome = gather(kind, version.as_deref(), located.as_ref(), &result);
    if json {
        let text = serde_json::to_string_pretty(&outcome)
            .unwrap_or_else(|e| format!("{{\"error\": \"cannot write the result: {e}\"}}"));
        let _ = writeln!(std::io::stdout().lock(), "{text}");
    }
    if let Some(github) = github {
        if let Err(e) = github.write(&outcome) {
            tell!("warning: cannot write the GitHub Actions outputs: {e}");
        }
    }
    result
}

/// The outcome read from the journal the command left: the live one if it is
/// of this version, else the newest finished one of this version (the run
/// that just archived it).
fn gather(
    kind: Kind,
    version: Option<&str>,
    located: Option<&(Paths, crate::config::Config)>,
    result: &Result<()>,
) -> Outcome {
    let same = |s: &State| {
        version.is_some_and(|v| {
            s.release.version == v || s.release.normalized_version == crate::version::normalize(v)
        })
    };
    let found: Option<(State, PathBuf)> = located.and_then(|(paths, _)| {
        let live = journal::read(&paths.state()).ok().flatten().filter(same);
        match live {
            Some(s) => Some((s, paths.state())),
            None if result.is_ok() => newest_done(paths, &same),
            None => None,
        }
    });
    let error = result.as_ref().err().map(|e| format!("{e:#}"));
    let mut outcome = Outcome {
        schema_version: RESULT_SCHEMA_VERSION,
        command: kind,
        ok: result.is_ok(),
        released: false,
        version: version.map(str::to_string),
        normalized_version: version.map(crate::version::normalize),
        tag: None,
        phase: None,
        upload_url: None,
        index_url: None,
        packages: Vec::new(),
        steps: Vec::new(),
        error,
        next: NextOutcome {
            command: None,
            says: String::new(),
        },
        pull_request: None,
        journal: None,
    };
    let Some((state, path)) = found else {
        outcome.next = match (&outcome.error, kind, version) {
            (None, _, _) => NextOutcome {
                command: None,
                says: "nothing to do".into(),
            },
            (Some(_), Kind::Start, Some(v)) => NextOutcome {
                command: Some(format!("release start {v}")),
                says: "nothing was changed: fix what the error names, then run the command again"
                    .into(),
            },
            (Some(_), _, _) => NextOutcome {
                command: None,
                says: "see the error".into(),
            },
        };
        return outcome;
    };
    let released = state.phase == Phase::Done && result.is_ok();
    let next = crate::recovery::next(&state, false);
    let target = located.and_then(|(_, config)| ops::publish_target(config).ok());
    let urls = if released {
        served_urls(target.as_ref(), &state)
    } else {
        BTreeMap::new()
    };
    let r = &state.release;
    let ledger = state.publish.ledger.clone().unwrap_or_default();
    outcome.packages = r
        .packages
        .iter()
        .map(|p| PackageOutcome {
            name: p.name.clone(),
            version: p.release_version(&r.version).to_string(),
            path: p.path.clone(),
            page_url: state
                .publish
                .index_url
                .as_deref()
                .map(|i| format!("{}/{}/", i.trim_end_matches('/'), p.normalized_name)),
            files: ledger
                .iter()
                .filter(|f| f.package == p.normalized_name)
                .map(|f| FileOutcome {
                    filename: f.filename.clone(),
                    size: f.size,
                    sha256: f.sha256.clone(),
                    state: f.state,
                    url: urls.get(&f.filename).cloned(),
                })
                .collect(),
        })
        .collect();
    outcome.steps = state
        .steps
        .iter()
        .map(|s| StepOutcome {
            name: s.name,
            state: s.state,
            attempts: s.attempts,
            note: s.note.clone(),
            error: s.error.clone(),
        })
        .collect();
    outcome.released = released;
    outcome.version = Some(r.version.clone());
    outcome.normalized_version = Some(r.normalized_version.clone());
    outcome.tag = Some(r.tag.clone());
    outcome.phase = Some(state.phase);
    outcome.upload_url = state.publish.upload_url.clone();
    outcome.index_url = state.publish.index_url.clone();
    outcome.pull_request = r.pull_request.clone();
    outcome.next = NextOutcome {
        command: next.command().map(str::to_string),
        says: next.says().to_string(),
    };
    outcome.journal = Some(path.display().to_string());
    outcome
}

/// The newest archived journal of this version that finished, and its path.
fn newest_done(paths: &Paths, same: &dyn Fn(&State) -> bool) -> Option<(State, PathBuf)> {
    let entries = std::fs::read_dir(paths.history()).ok()?;
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter_map(|p| journal::read(&p).ok().flatten().map(|s| (s, p)))
        .filter(|(s, _)| s.phase == Phase::Done && same(s))
        .max_by_key(|(s, _)| s.updated_at)
}

/// Where the index serves each file of a finished release, by filename: a
/// folder index's path, or what the index's project pages link. Best effort:
/// a page that cannot be read leaves its files without a URL.
fn served_urls(target: Option<&Target>, state: &State) -> BTreeMap<String, String> {
    let Some(ledger) = &state.publish.ledger else {
        return BTreeMap::new();
    };
    match target {
        Some(Target::File { root }) => ledger
            .iter()
            .map(|f| {
                let path = root.join("simple").join(&f.package).join(&f.filename);
                (f.filename.clone(), format!("file://{}", path.display()))
            })
            .collect(),
        Some(target @ Target::Http(_)) => {
            let Ok(index) = target.open() else {
                return BTreeMap::new();
            };
            let mut packages: Vec<&str> = ledger.iter().map(|f| f.package.as_str()).collect();
            packages.dedup();
            let pages = ops::parallel(&packages, 4, |p| index.list(p).unwrap_or_default());
            pages
                .into_iter()
                .flatten()
                .filter(|s| ledger.iter().any(|f| f.filename == s.filename))
                .map(|s| (s.filename, s.location))
                .collect()
        }
        None => BTreeMap::new(),
    }
}

/// GitHub Actions' files for a step's outputs and its summary.
struct Github {
    output: Option<PathBuf>,
    summary: Option<PathBuf>,
}

impl Github {
    fn from_env() -> Option<Github> {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let g = Github {
            output: var("GITHUB_OUTPUT"),
            summary: var("GITHUB_STEP_SUMMARY"),
        };
        (g.output.is_some() || g.summary.is_some()).then_some(g)
    }

    fn write(&self, outcome: &Outcome) -> std::io::Result<()> {
        if let Some(path) = &self.output {
            append(path, &outputs(outcome))?;
        }
        if let Some(path) = &self.summary {
            append(path, &summary(outcome))?;
        }
        Ok(())
    }
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// `name=value` lines for `$GITHUB_OUTPUT` (each value one line).
pub fn outputs(o: &Outcome) -> String {
    let one_line = |s: &Option<String>| s.as_deref().unwrap_or("").replace(['\r', '\n'], " ");
    format!(
        "version={}\ntag={}\nreleased={}\n",
        one_line(&o.version),
        one_line(&o.tag),
        o.released
    )
}

/// A table cell: no pipe or line break can break the table.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// The Markdown for `$GITHUB_STEP_SUMMARY`: what was released, file by file.
pub fn summary(o: &Outcome) -> String {
    let version = o.version.as_deref().unwrap_or("?");
    let waiting = o.phase == Some(Phase::Waiting);
    let mut md = if o.released {
        format!("## Released {}\n\n", cell(version))
    } else if waiting {
        format!(
            "## Release of {} waits for its pull request\n\n",
            cell(version)
        )
    } else {
        let at = o
            .steps
            .iter()
            .find(|s| s.state != journal::StepState::Done)
            .map(|s| format!(" at {}", s.name.as_str()))
            .unwrap_or_default();
        format!("## Release of {} stopped{at}\n\n", cell(version))
    };
    if let Some(url) = o.pull_request.as_ref().and_then(|p| p.url.as_deref()) {
        md.push_str(&format!("Pull request: {}\n\n", cell(url)));
    }
    if let Some(tag) = &o.tag {
        md.push_str(&format!("Tag `{}`", cell(tag)));
        if let Some(u) = &o.upload_url {
            md.push_str(&format!(", published to {}", cell(u)));
        }
        md.push_str("\n\n");
    }
    if !o.packages.is_empty() {
        md.push_str("| package | version | files |\n|---|---|---|\n");
        for p in &o.packages {
            let files: Vec<String> = p
                .files
                .iter()
                .map(|f| match &f.url {
                    Some(url) => format!("[{}]({})", cell(&f.filename), cell(url)),
                    None => format!("{} ({})", cell(&f.filename), f.state.as_str()),
                })
                .collect();
            md.push_str(&format!(
                "| {} | {} | {} |\n",
                cell(&p.name),
                cell(&p.version),
                files.join("<br>")
            ));
        }
        md.push('\n');
    }
    if let Some(e) = &o.error {
        md.push_str(&format!(
            "**Error:**\n\n```\n{}\n```\n\n",
            e.replace("```", "'''")
        ));
    }
    if !o.released {
        md.push_str(&format!("**Next:** {}\n\n", o.next.says));
    }
    md
}
