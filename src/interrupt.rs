//! Ctrl-C (SIGINT) and SIGTERM: finish the journal write in progress, record
//! the running step as interrupted, say how to resume, exit 130.
//!
//! The handler only sets a flag; the runner looks at it between side effects,
//! so an interruption never lands between an effect and its journal record.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use thiserror::Error;

static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();

#[derive(Debug, Error)]
#[error("interrupted: the journal is intact; run `release resume` to continue")]
pub struct Interrupted;

/// Install the handlers (once). Failure to install leaves the default
/// behaviour (die at once), which the journal also survives.
pub fn install() {
    let flag = FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, Arc::clone(flag));
    }
}

pub fn requested() -> bool {
    FLAG.get().is_some_and(|f| f.load(Ordering::SeqCst))
}

/// `Err(Interrupted)` if an interruption was asked for.
pub fn check() -> Result<(), Interrupted> {
    if requested() {
        Err(Interrupted)
    } else {
        Ok(())
    }
}
