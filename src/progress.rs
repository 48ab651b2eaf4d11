//! Progress for long loops (builds, uploads): a bar on a terminal, one plain
//! line per item otherwise (CI logs), so the core never decides how to print.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    by_bytes: bool,
}

impl Progress {
    /// `total_bytes` of 0 means count items only.
    pub fn new(label: &str, items: u64, total_bytes: u64) -> Self {
        if !std::io::stderr().is_terminal() || items == 0 {
            return Progress {
                bar: None,
                by_bytes: false,
            };
        }
        let (len, template) = if total_bytes > 0 {
            (
                total_bytes,
                "    {prefix} [{bar:30}] {bytes}/{total_bytes} {msg}",
            )
        } else {
            (items, "    {prefix} [{bar:30}] {pos}/{len} {msg}")
        };
        let bar = ProgressBar::new(len);
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(label.to_string());
        Progress {
            bar: Some(bar),
            by_bytes: total_bytes > 0,
        }
    }

    /// One item finished: `line` is what a log gets, `bytes` what the bar moves.
    pub fn done(&self, line: &str, bytes: u64) {
        match &self.bar {
            Some(bar) => {
                bar.set_message(line.to_string());
                bar.inc(if self.by_bytes { bytes } else { 1 });
            }
            None => say!("    {line}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
