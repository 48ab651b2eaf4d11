//! Effects on the world. Steps decide; ops act. Nothing here reads or writes
//! the journal: callers record before and after each call.

pub mod build;
pub mod git;
pub mod index;

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

