//! Named crash points, compiled only with the `failpoints` cargo feature.
//!
//! Crash-safety is a promise about *every* side effect, so each one is followed by
//! a named failpoint, and [`ALL`] lists every name so a test can iterate over
//! all of them (`release debug failpoints`). `RELEASE_FAILPOINT=name` aborts the
//! process the first time `name` is reached; `name@N` on the N-th time;
//! `name@N:interrupt` instead raises SIGINT there, as if Ctrl-C came at that
//! exact moment; `name:sleep` holds the process there for 3 s. Several may be given, comma-separated. In a build without the feature every call is a
//! no-op that the compiler removes.

/// Every failpoint in the program, in the order a clean release reaches them.
pub const ALL: &[&str] = &[
    "journal.before_rename",
    "journal.after_write",
    "resume.without_journal",
    "bump.after_edit",
    "bump.in_hook",
    "bump.after_commit",
    "bump.after_next_dev_edit",
    "bump.after_next_dev_commit",
    "build.after_build",
    "tag.after_create",
    "push.after_branch",
    "push.after_tag",
    "pr.after_branch",
    "pr.after_open",
    "pr.after_landed",
    "pr.after_tag_push",
    "index.before_listing",
    "publish.after_upload",
    "announce.after_post",
    "recover.after_reset",
    "recover.after_tag_delete",
    "abort.after_reset",
];

#[cfg(feature = "failpoints")]
mod imp {
    use std::collections::HashMap;
    use std::sync::Mutex;

    static HITS: Mutex<Option<HashMap<&'static str, u64>>> = Mutex::new(None);

    /// The action of the item in `var` that matches this hit of `name`.
    fn matches(var: &str, name: &'static str) -> Option<String> {
        let spec = std::env::var(var).ok()?;
        let count = {
            let mut guard = match HITS.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            let map = guard.get_or_insert_with(HashMap::new);
            let c = map.entry(name).or_insert(0);
            *c += 1;
            *c
        };
        spec.split(',').map(str::trim).find_map(|item| {
            let (point, action) = item.split_once(':').unwrap_or((item, "abort"));
            let (n, at) = match point.split_once('@') {
                Some((n, at)) => (n, at.parse::<u64>().unwrap_or(1)),
                None => (point, 1),
            };
            (n == name && at == count).then(|| action.to_string())
        })
    }

    pub fn hit(name: &'static str) {
        debug_assert!(super::ALL.contains(&name), "unregistered failpoint {name}");
        match matches("RELEASE_FAILPOINT", name).as_deref() {
            None => {}
            Some("sleep") => {
                // Holds the process here for a moment, so a test can act
                // while it is at this exact point.
                tell!("failpoint {name}: sleeping");
                std::thread::sleep(std::time::Duration::from_secs(3));
            }
            Some("interrupt") => {
                tell!("failpoint {name}: raising SIGINT");
                let _ = signal_hook::low_level::raise(signal_hook::consts::SIGINT);
            }
            Some(_) => {
                tell!("failpoint {name}: aborting");
                std::process::abort();
            }
        }
    }

    pub fn io_error(name: &'static str) -> Option<std::io::Error> {
        if matches("RELEASE_FAILPOINT_IOERR", name).is_some() {
            return Some(std::io::Error::other(format!(
                "injected I/O error at failpoint {name}"
            )));
        }
        None
    }
}

#[cfg(not(feature = "failpoints"))]
mod imp {
    #[inline(always)]
    pub fn hit(_name: &'static str) {}
    #[inline(always)]
    pub fn io_error(_name: &'static str) -> Option<std::io::Error> {
        None
    }
}

/// Abort here if the test asked for it (no-op without the `failpoints` feature).
pub use imp::hit;
/// An injected I/O error (`RELEASE_FAILPOINT_IOERR=name`), for disk-full tests.
pub use imp::io_error;
