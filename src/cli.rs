//! Command-line parsing and dispatch, nothing else.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands;
use crate::report;

#[derive(Debug, Parser)]
#[command(
    name = "release",
    version = env!("RELEASE_DIST_VERSION"),
    about = "Resumable, journaled releases of Python monorepos: preflight, bump, build, tag, push, publish, audit, announce"
)]
pub struct Cli {
    /// The git repository (default: the one containing the current directory).
    #[arg(long, global = true, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// The config file (default: release.toml at the repository root).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every package with its version, by track; exit 1 naming the
    /// packages out of step within their track.
    Version,
    /// Begin a release of VERSION and run every step.
    Start {
        /// The new version, PEP 440 (e.g. 0.6.5.pre0).
        version: String,
        /// Print the plan and every preflight finding; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Allow a final release without a completed pre-release of it.
        #[arg(long)]
        skip_prerelease_check: bool,
        /// Give a track its version instead of moving it by the primary's step.
        #[arg(long = "track", value_name = "NAME=VERSION")]
        tracks: Vec<String>,
        /// Let PACKAGE's files lose members or more than half their size
        /// against the previous release.
        #[arg(long, value_name = "PACKAGE")]
        allow_shrink: Vec<String>,
        /// Sign the tag (as `git tag -s`) even if git's config (`tag.gpgSign`) does not ask for it.
        #[arg(long)]
        sign: bool,
        /// Print one JSON result on stdout at the end (all else to stderr).
        #[arg(long, conflicts_with = "dry_run")]
        json: bool,
    },
    /// Continue the release in the journal from where it stopped. With
    /// VERSION and no journal (a fresh clone, a new CI runner): rebuild the
    /// journal from the remote's tag, the index and the announcements, and finish.
    Resume {
        /// The release to finish (required in a clone without its journal).
        version: Option<String>,
        /// An interrupted announcement did reach CHANNEL (slack, github): do not post again.
        #[arg(long, value_name = "CHANNEL")]
        announced: Vec<String>,
        /// An interrupted announcement did not reach CHANNEL: post it again.
        #[arg(long, value_name = "CHANNEL")]
        announce_again: Vec<String>,
        /// Let PACKAGE's files lose members or more than half their size
        /// against the previous release (the build step checks it).
        #[arg(long, value_name = "PACKAGE")]
        allow_shrink: Vec<String>,
        /// Print one JSON result on stdout at the end (all else to stderr).
        #[arg(long)]
        json: bool,
    },
    /// After remote drift: reset, delete the tag, fast-forward. After a burned
    /// publish: roll forward to the next version. Then run `release resume`.
    Recover {
        /// The version to roll forward to (burned releases only).
        #[arg(long, value_name = "VERSION")]
        to: Option<String>,
    },
    /// Show the journal: version, each step's state, what to do next.
    Status {
        /// Print the journal as JSON.
        #[arg(long)]
        json: bool,
        /// Show the nightly's journal (.release/nightly.json) instead.
        #[arg(long)]
        nightly: bool,
    },
    /// Publish every package at the next version's dev release
    /// (X.Y.Z.devYYYYMMDD) from the tip of the release branch, with no
    /// commit and no tag; once per date (run again, it resumes or finds it done).
    Nightly {
        /// The date the dev release carries (default: today, UTC).
        #[arg(long, value_name = "YYYYMMDD", value_parser = nightly_date)]
        date: Option<u64>,
        /// Print the plan and every preflight finding; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// An interrupted announcement did reach CHANNEL: do not post again.
        #[arg(long, value_name = "CHANNEL")]
        announced: Vec<String>,
        /// An interrupted announcement did not reach CHANNEL: post it again.
        #[arg(long, value_name = "CHANNEL")]
        announce_again: Vec<String>,
        /// Let PACKAGE's files lose members or more than half their size
        /// against the last release (the build step checks it).
        #[arg(long, value_name = "PACKAGE")]
        allow_shrink: Vec<String>,
    },
    /// Check the index serves every package's files for VERSION.
    Audit { version: String },
    /// Give up a release that has not been pushed (through a pull request:
    /// that was not merged).
    Abort {
        /// In a clone without the journal, through a pull request: close the
        /// release pull request of VERSION and delete its branch.
        version: Option<String>,
    },
    /// Remove the remote release lock (`refs/release/lock`) left by a runner
    /// that died, saying whose it was.
    Unlock,
    /// Release a generated sample monorepo to a file:// index, end to end.
    Demo {
        /// Where to create the sample (default: a new temporary folder, kept).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
    /// Test-only helpers (built with the `failpoints` feature).
    #[cfg(feature = "failpoints")]
    #[command(subcommand, hide = true)]
    Debug(DebugCommand),
}

#[cfg(feature = "failpoints")]
#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// List every failpoint, one per line.
    Failpoints,
}

/// `--date`: checked while parsing, so a bad one is a usage error (exit 2).
fn nightly_date(text: &str) -> Result<u64, String> {
    crate::nightly::parse_date(text).map_err(|e| e.to_string())
}

/// Parse the command line and run it; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    crate::interrupt::install();
    let global = commands::Global {
        repo: cli.repo,
        config: cli.config,
    };
    let result = match cli.command {
        Command::Version => commands::version(&global),
        Command::Start {
            version,
            dry_run,
            skip_prerelease_check,
            tracks,
            allow_shrink,
            sign,
            json,
        } => report::around(&global, report::Kind::Start, Some(&version), json, || {
            commands::start(
                &global,
                &version,
                &commands::StartOptions {
                    dry_run,
                    skip_prerelease_check,
                    tracks,
                    allow_shrink,
                    sign,
                },
            )
        }),
        Command::Resume {
            version,
            announced,
            announce_again,
            allow_shrink,
            json,
        } => report::around(
            &global,
            report::Kind::Resume,
            version.as_deref(),
            json,
            || {
                commands::resume(
                    &global,
                    version.as_deref(),
                    &announced,
                    &announce_again,
                    &allow_shrink,
                )
            },
        ),
        Command::Recover { to } => commands::recover(&global, to.as_deref()),
        Command::Status { json, nightly } => commands::status(&global, json, nightly),
        Command::Nightly {
            date,
            dry_run,
            announced,
            announce_again,
            allow_shrink,
        } => commands::nightly(
            &global,
            &crate::nightly::Args {
                date,
                dry_run,
                announced: &announced,
                announce_again: &announce_again,
                allow_shrink: &allow_shrink,
            },
        ),
        Command::Audit { version } => commands::audit(&global, &version),
        Command::Abort { version } => commands::abort(&global, version.as_deref()),
        Command::Unlock => commands::unlock(&global),
        Command::Demo { dir } => crate::demo::run(dir),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            // Into a buffer first: clap_complete panics on a write error,
            // and stdout may be a closed pipe.
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "release", &mut buf);
            use std::io::Write as _;
            let _ = std::io::stdout().lock().write_all(&buf);
            Ok(())
        }
        #[cfg(feature = "failpoints")]
        Command::Debug(DebugCommand::Failpoints) => {
            for f in crate::failpoint::ALL {
                say!("{f}");
            }
            Ok(())
        }
    };
    if std::env::var_os("RELEASE_TIMINGS").is_some() {
        let (writes, took) = crate::journal::stats::get();
        // The peak resident memory of this process alone (not its build
        // workers), from the kernel: what the benchmark compares with twine.
        let peak = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        tell!(
            "timings: journal {writes} writes, {:.1} ms; peak memory {peak}",
            took.as_secs_f64() * 1000.0
        );
    }
    match result {
        Ok(()) => 0,
        Err(e) if e.downcast_ref::<crate::interrupt::Interrupted>().is_some() => {
            tell!("{e:#}");
            130
        }
        Err(e) => {
            tell!("error: {e:#}");
            1
        }
    }
}
