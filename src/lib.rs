//! `release`: a resumable, journaled release runner for Python monorepos that
//! release many packages in lockstep.
//!
//! Where things live: a step in `steps/<step>.rs`, an effect in `ops/`, and the
//! one place that writes the journal in `journal/`.

/// `println!` that never panics: output to a closed pipe (`release status |
/// head -1`) is dropped quietly and the work goes on. With `--json` stdout is
/// kept for the result, and this goes to stderr.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if $crate::report::stdout_reserved() {
            let _ = writeln!(std::io::stderr().lock(), $($arg)*);
        } else {
            let _ = writeln!(std::io::stdout().lock(), $($arg)*);
        }
    }};
}

/// `eprintln!` that never panics, for the same reason as [`say!`].
macro_rules! tell {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod failpoint;
pub mod interrupt;
pub mod journal;
pub mod nightly;
pub mod notes;
pub mod ops;
pub mod packages;
pub mod progress;
pub mod rebuild;
pub mod recovery;
pub mod report;
pub mod steps;
pub mod version;

/// The first `max` of `items`, joined with `, `, and how many more there
/// are: long lists in messages stay readable.
pub fn first_few(items: &[String], max: usize) -> String {
    let mut s = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        s.push_str(&format!(" and {} more", items.len() - max));
    }
    s
}
