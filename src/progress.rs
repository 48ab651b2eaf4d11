//! Progress for long loops (builds, uploads, audits): a bar on a terminal, one
//! plain line per item otherwise (CI logs), so the core never decides how to
//! print.
//!
//! While something is slow (a request an index does not answer, a build
//! environment being made: see `ops::waiting`), it says so: on a terminal
//! the bar's message becomes "waiting for HOST (upload of X) 12 s"; in a log,
//! a line once the wait passes the threshold (`RELEASE_SLOW_MS`, default
//! 5 s), then one every six times the threshold. A hung index is never a
//! silent screen.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::ops::waiting;

pub struct Progress {
    bar: Option<ProgressBar>,
    by_bytes: bool,
    /// The last item's line, shown again once nothing is slow.
    last: Arc<Mutex<String>>,
    ticker: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Progress {
    /// `total_bytes` of 0 means count items only.
    pub fn new(label: &str, items: u64, total_bytes: u64) -> Self {
        let last = Arc::new(Mutex::new(String::new()));
        if items == 0 {
            return Progress {
                bar: None,
                by_bytes: false,
                last,
                ticker: None,
            };
        }
        if !std::io::stderr().is_terminal() {
            return Progress {
                bar: None,
                by_bytes: false,
                last: last.clone(),
                ticker: Some(ticker(None, last)),
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
            ticker: Some(ticker(Some(bar.clone()), last.clone())),
            bar: Some(bar),
            by_bytes: total_bytes > 0,
            last,
        }
    }

    /// One item finished: `line` is what a log gets, `bytes` what the bar moves.
    pub fn done(&self, line: &str, bytes: u64) {
        match &self.bar {
            Some(bar) => {
                *self.last.lock().unwrap_or_else(|p| p.into_inner()) = line.to_string();
                bar.set_message(line.to_string());
                bar.inc(if self.by_bytes { bytes } else { 1 });
            }
            None => say!("    {line}"),
        }
    }

    /// One item finished that a log need not hear about.
    pub fn advance(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Some((stop, handle)) = &self.ticker {
            stop.store(true, Ordering::SeqCst);
            handle.thread().unpark();
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.ticker.take() {
            stop.store(true, Ordering::SeqCst);
            handle.thread().unpark();
            let _ = handle.join();
        }
    }
}

/// The thread that shows slow waits: in the bar's message, or as log lines.
fn ticker(bar: Option<ProgressBar>, last: Arc<Mutex<String>>) -> (Arc<AtomicBool>, JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let after = waiting::slow_after();
    let every = (after / 4).clamp(Duration::from_millis(20), Duration::from_millis(500));
    let stopped = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut showing = false;
        let mut logged: HashMap<u64, Instant> = HashMap::new();
        while !stopped.load(Ordering::SeqCst) {
            // Unparked at once by `finish` or drop: ending costs no tick.
            std::thread::park_timeout(every);
            if stopped.load(Ordering::SeqCst) {
                break;
            }
            let slow = waiting::slow(after);
            match &bar {
                Some(bar) => match slow.first() {
                    Some((_, what, age)) => {
                        let more = match slow.len() {
                            1 => String::new(),
                            n => format!(" (and {} more)", n - 1),
                        };
                        bar.set_message(format!("waiting for {what} {} s{more}", age.as_secs()));
                        showing = true;
                    }
                    None if showing => {
                        bar.set_message(last.lock().unwrap_or_else(|p| p.into_inner()).clone());
                        showing = false;
                    }
                    None => {}
                },
                None => {
                    logged.retain(|id, _| slow.iter().any(|(i, _, _)| i == id));
                    for (id, what, age) in &slow {
                        let due = logged.get(id).is_none_or(|t| t.elapsed() >= after * 6);
                        if due && !stopped.load(Ordering::SeqCst) {
                            say!("    waiting for {what}: {} s so far", age.as_secs());
                            logged.insert(*id, Instant::now());
                        }
                    }
                }
            }
        }
    });
    (stop, handle)
}
