//! Paths made from outside input stay inside their folder (issue 12): a name
//! from a package, an index page, the journal or a build is either refused or
//! exactly one entry of its folder.

use std::path::{Component, Path};

use proptest::prelude::*;
use release::ops::paths::confined;

/// Either an error, or `base/<one plain component>` that names `name`.
fn check(name: &str) -> Result<(), TestCaseError> {
    let base = Path::new("/srv/index/simple");
    if let Ok(p) = confined(base, name) {
        let rest = p
            .strip_prefix(base)
            .map_err(|_| TestCaseError::fail("outside base"))?;
        let parts: Vec<Component> = rest.components().collect();
        prop_assert!(
            matches!(parts.as_slice(), [Component::Normal(n)] if *n == name),
            "{name:?} made {}",
            p.display()
        );
        prop_assert_eq!(p.parent(), Some(base));
        prop_assert!(!name.contains(['/', '\\', '\0']) && name != "." && name != "..");
    }
    Ok(())
}

/// Names built from the pieces that escape a folder.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("..".to_string()),
        Just(".".to_string()),
        Just("/".to_string()),
        Just("\\".to_string()),
        Just("\0".to_string()),
        Just("/etc/passwd".to_string()),
        Just("C:\\".to_string()),
        "[a-z0-9_.-]{0,8}",
    ];
    proptest::collection::vec(piece, 0..5).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn hostile_names_are_refused_or_stay_inside(name in hostile()) {
        check(&name)?;
    }

    #[test]
    fn arbitrary_names_are_refused_or_stay_inside(name in any::<String>()) {
        check(&name)?;
    }
}

#[test]
fn escapes_are_refused() {
    let base = Path::new("/srv/index/simple");
    for name in [
        "", ".", "..", "../x", "x/..", "/abs", "a\\..\\b", "nul\0", "a/b",
    ] {
        assert!(confined(base, name).is_err(), "{name:?} accepted");
    }
    assert!(confined(base, "demo_core-0.2.0rc0.tar.gz").is_ok());
}
