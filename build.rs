//! `release --version` prints the Python distribution's version, PEP 440 as
//! pyproject.toml declares it (`0.2.0rc1`), which Cargo's SemVer form of the
//! same version (`0.2.0-rc.1`, in Cargo.toml) is not. Without pyproject.toml
//! (a crate built on its own), Cargo's.

fn main() {
    println!("cargo:rerun-if-changed=pyproject.toml");
    let text = std::fs::read_to_string("pyproject.toml").unwrap_or_default();
    let mut in_project = false;
    let mut version = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_project = line == "[project]";
        } else if let Some(rest) = line.strip_prefix("version").filter(|_| in_project) {
            version = rest
                .trim_start()
                .strip_prefix('=')
                .map(|v| v.trim().trim_matches('"').to_string());
            break;
        }
    }
    let version = version.unwrap_or_else(|| std::env::var("CARGO_PKG_VERSION").unwrap_or_default());
    println!("cargo:rustc-env=RELEASE_DIST_VERSION={version}");
}
