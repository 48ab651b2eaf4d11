//! What the run is waiting on right now (a request to an index, the making
//! of a build environment), so the progress line can say it while it is slow.
//!
//! Effects register themselves for as long as they wait ([`track`]); the
//! progress display polls [`slow`]. A hung index then shows as "waiting for
//! pypi.example (upload of x.whl) 40 s", not as a frozen screen. Ops never
//! print: this is data, and `progress.rs` decides how it is shown.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static NEXT: AtomicU64 = AtomicU64::new(1);
static WAITS: Mutex<Vec<(u64, String, Instant)>> = Mutex::new(Vec::new());

/// Registered while alive.
#[must_use = "the wait is over when the guard is dropped"]
pub struct Guard(u64);

impl Drop for Guard {
    fn drop(&mut self) {
        let mut waits = WAITS.lock().unwrap_or_else(|p| p.into_inner());
        waits.retain(|(id, _, _)| *id != self.0);
    }
}

/// Register a wait, described as it should read after "waiting for".
pub fn track(what: String) -> Guard {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    WAITS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((id, what, Instant::now()));
    Guard(id)
}

/// The waits older than `after`, oldest first: (id, what, how long so far).
pub fn slow(after: Duration) -> Vec<(u64, String, Duration)> {
    let waits = WAITS.lock().unwrap_or_else(|p| p.into_inner());
    let mut out: Vec<_> = waits
        .iter()
        .map(|(id, what, since)| (*id, what.clone(), since.elapsed()))
        .filter(|(_, _, age)| *age >= after)
        .collect();
    out.sort_by_key(|w| std::cmp::Reverse(w.2));
    out
}

/// How long a wait lasts before it is shown: `RELEASE_SLOW_MS`, else 5 s.
pub fn slow_after() -> Duration {
    std::env::var("RELEASE_SLOW_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(5), Duration::from_millis)
}

/// `host[:port]` of a URL, for "waiting for ...".
pub fn host_of(url: &url::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_is_listed_while_its_guard_lives() {
        let g = track("example.org (upload of a.whl)".into());
        let listed = slow(Duration::ZERO);
        assert!(listed
            .iter()
            .any(|(id, w, _)| *id == g.0 && w == "example.org (upload of a.whl)"));
        assert!(!slow(Duration::from_secs(3600))
            .iter()
            .any(|(id, _, _)| *id == g.0));
        let id = g.0;
        drop(g);
        assert!(!slow(Duration::ZERO).iter().any(|(i, _, _)| *i == id));
    }
}
