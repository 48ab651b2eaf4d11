//! Effects on the world. Steps decide; ops act. Nothing here reads or writes
//! the journal: callers record before and after each call.

pub mod announce;
pub mod artefacts;
pub mod build;
pub mod buildenv;
pub mod credentials;
pub mod forge;
pub mod git;
pub mod hooks;
pub mod http;
pub mod index;
pub mod metadata;
pub mod offline;
pub mod paths;
pub mod prebuilt;
pub mod remote_lock;
pub mod sign;
pub mod trusted;
pub mod waiting;

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

pub use index::{publish_target, Target};

/// Hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Number of parallel jobs: the configured value, else the machine's cores.
pub fn jobs(configured: Option<usize>) -> usize {
    configured
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .max(1)
}

/// Run `f` on every item on at most `jobs` threads; results in input order.
pub fn parallel<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                let mut all = results.lock().unwrap_or_else(|p| p.into_inner());
                all[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect()
}
