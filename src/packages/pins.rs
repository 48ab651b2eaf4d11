//! Pins between sibling packages (`dagster[aws] == 0.6.4; python_version
//! >= "3.8"`), rewritten wherever dependency lists are written: `pyproject.toml`
//! arrays (PEP 621, dependency groups, poetry tables), `setup.py` string
//! literals and `setup.cfg` options.
//!
//! An exact pin (`==`) to a sibling always moves. A range (`~= 1.45.0.dev`,
//! `>= 1.45.0.dev, < 2`, `==0.6.*`) is the maintainer's choice: left as
//! written and named, unless `[pins] ranges = "move"`, which moves each
//! clause at the sibling's current version and keeps its operator (an upper
//! bound `< 2` is not the current version, so it stays). A package that is
//! not a sibling is never touched. A pin a `setup.py` computes in code
//! (`f"dagster{pin}"`) cannot be rewritten as text; it is reported, once, so
//! nobody believes it was.

use std::collections::BTreeMap;

use super::normalize_name;
use crate::config::RangePins;

/// What a bump does to sibling pins: each sibling's normalised name to the
/// version its pins move to, the version it has now (which range clauses
/// are recognised by), and what becomes of ranges.
#[derive(Debug, Clone, Default)]
pub struct Pins {
    to: BTreeMap<String, String>,
    from: BTreeMap<String, String>,
    ranges: RangePins,
}

impl Pins {
    /// The sibling `name` (normalised) moves from `from` to `to`.
    pub fn insert(&mut self, name: String, from: String, to: String) {
        self.from.insert(name.clone(), from);
        self.to.insert(name, to);
    }

    /// The version `name` (normalised) moves to.
    pub fn get(&self, name: &str) -> Option<&String> {
        self.to.get(name)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.to.contains_key(name)
    }

    /// What ranges on siblings become (`[pins] ranges`).
    pub fn with_ranges(mut self, ranges: RangePins) -> Pins {
        self.ranges = ranges;
        self
    }

    /// The new version for a range clause at `version` on `name`, when
    /// ranges move and the clause is at the sibling's current version (as
    /// written or in normal form).
    fn moved_clause(&self, name: &str, version: &str) -> Option<&String> {
        if self.ranges != RangePins::Move || version.contains('*') {
            return None;
        }
        let from = self.from.get(name)?;
        let to = self.to.get(name)?;
        let same = version == from
            || crate::version::normalize(version) == crate::version::normalize(from);
        (same && version != to).then_some(to)
    }
}

fn static_regex(pattern: &str) -> regex::Regex {
    regex::Regex::new(pattern).unwrap_or_else(|_| unreachable!("static regex"))
}

const OP: &str = r"===|==|!=|~=|>=|<=|>|<";
const VER: &str = r"[A-Za-z0-9._+!*-]*[A-Za-z0-9*]";

/// A requirement with a specifier: name, optional extras, then one or more
/// `op version` clauses separated by commas (optionally in parentheses).
/// Compiled once: it runs on every dependency line of every package.
fn requirement_regex() -> &'static regex::Regex {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        static_regex(&format!(
            r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(?:[ \t]*\[[^\]\n]*\])?(?P<specs>[ \t]*\(?[ \t]*(?:{OP})[ \t]*(?:{VER})(?:[ \t]*,[ \t]*(?:{OP})[ \t]*(?:{VER}))*)"
        ))
    });
    &RE
}

fn clause_regex() -> &'static regex::Regex {
    static RE: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| static_regex(&format!(r"(?P<op>{OP})[ \t]*(?P<ver>{VER})")));
    &RE
}

/// Rewrite sibling pins inside one requirement text; `None` if nothing
/// changed. Each sibling range left as written is pushed to `left`, as
/// written (name to last clause).
pub fn rewrite_text(text: &str, pins: &Pins, left: &mut Vec<String>) -> Option<String> {
    let clause_re = clause_regex();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut changed = false;
    for c in requirement_regex().captures_iter(text) {
        let (Some(all), Some(name), Some(specs)) = (c.get(0), c.name("name"), c.name("specs"))
        else {
            continue;
        };
        // The name must start the requirement, not end another word
        // (`xdagster==1`), and the last version must be whole: `==0.6.{x}`
        // is code, not a version.
        let before = text[..all.start()].chars().next_back();
        let after = text[all.end()..].chars().next();
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, '.' | '_' | '-'))
            || after.is_some_and(|a| matches!(a, '*' | '.' | '{' | '+' | '!' | '-' | '_'))
        {
            continue;
        }
        let sibling = normalize_name(name.as_str());
        let Some(new) = pins.get(&sibling) else {
            continue;
        };
        let clauses: Vec<(&str, regex::Match)> = clause_re
            .captures_iter(specs.as_str())
            .filter_map(|k| Some((k.name("op")?.as_str(), k.name("ver")?)))
            .collect();
        let exact = matches!(clauses.as_slice(), [("==", v)] if !v.as_str().contains('*'));
        let mut moved = Vec::new();
        for (_, ver) in &clauses {
            let target = if exact {
                Some(new).filter(|n| ver.as_str() != n.as_str())
            } else {
                pins.moved_clause(&sibling, ver.as_str())
            };
            if let Some(to) = target {
                moved.push((specs.start() + ver.start(), specs.start() + ver.end(), to));
            }
        }
        if !exact && pins.ranges == RangePins::Leave {
            left.push(text[name.start()..all.end()].trim().to_string());
        }
        for (start, end, to) in moved {
            out.push_str(&text[last..start]);
            out.push_str(to);
            last = end;
            changed = true;
        }
    }
    changed.then(|| {
        out.push_str(&text[last..]);
        out
    })
}

fn rewrite_array(array: &mut toml_edit::Array, pins: &Pins, left: &mut Vec<String>) -> bool {
    let mut changed = false;
    for item in array.iter_mut() {
        if let Some(new) = item.as_str().and_then(|s| rewrite_text(s, pins, left)) {
            super::set_toml_str(item, &new);
            changed = true;
        }
    }
    changed
}

/// A version in a poetry constraint (`^1.45.0.dev`, `>=1.4,<2`, `1.*`).
fn poetry_version_regex() -> regex::Regex {
    static_regex(r"[0-9][A-Za-z0-9._+!*-]*")
}

/// Poetry writes an exact pin as `"0.6.4"` or `"==0.6.4"`, alone or as the
/// `version` of an inline table; anything else (`^0.6.4`, `~0.6.4`,
/// `>=0.6,<0.7`) is a range, whose versions at the sibling's current one
/// move when ranges do.
fn rewrite_poetry_value(
    value: &mut toml_edit::Value,
    name: &str,
    pins: &Pins,
    left: &mut Vec<String>,
) -> bool {
    let Some(new) = pins.get(name) else {
        return false;
    };
    let exact = |s: &str| {
        let t = s.trim();
        let v = t.strip_prefix("==").unwrap_or(t).trim();
        !v.is_empty()
            && v.chars().next().is_some_and(|c| c.is_ascii_digit())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '!' | '-' | '_'))
    };
    match value {
        toml_edit::Value::String(s) if exact(s.value()) => {
            let written = s.value().trim();
            if written.trim_start_matches("==").trim() == new {
                return false;
            }
            let prefix = if written.starts_with("==") { "==" } else { "" };
            super::set_toml_str(value, &format!("{prefix}{new}"));
            true
        }
        toml_edit::Value::String(s) => {
            let constraint = s.value().to_string();
            if !poetry_version_regex().is_match(&constraint) {
                // `*`: any version, no pin at all.
                return false;
            }
            if pins.ranges == RangePins::Leave {
                left.push(format!("{name} = \"{constraint}\""));
                return false;
            }
            let mut changed = false;
            let moved = poetry_version_regex().replace_all(&constraint, |m: &regex::Captures| {
                match pins.moved_clause(name, &m[0]) {
                    Some(to) => {
                        changed = true;
                        to.clone()
                    }
                    None => m[0].to_string(),
                }
            });
            if changed {
                super::set_toml_str(value, &moved);
            }
            changed
        }
        toml_edit::Value::InlineTable(t) => match t.get_mut("version") {
            Some(v) => rewrite_poetry_value(v, name, pins, left),
            None => false,
        },
        _ => false,
    }
}

fn rewrite_poetry_table(
    table: &mut dyn toml_edit::TableLike,
    pins: &Pins,
    left: &mut Vec<String>,
) -> bool {
    let mut changed = false;
    for (name, item) in table.iter_mut() {
        let name = normalize_name(name.get());
        if !pins.contains_key(&name) {
            continue;
        }
        if let Some(v) = item.as_value_mut() {
            changed |= rewrite_poetry_value(v, &name, pins, left);
        } else if let Some(t) = item.as_table_like_mut() {
            if let Some(v) = t.get_mut("version").and_then(|v| v.as_value_mut()) {
                changed |= rewrite_poetry_value(v, &name, pins, left);
            }
        }
    }
    changed
}

/// Rewrite sibling pins in a `pyproject.toml` document; true if any changed.
/// Sibling ranges left as written are pushed to `left`.
pub fn rewrite_pyproject(
    doc: &mut toml_edit::DocumentMut,
    pins: &Pins,
    left: &mut Vec<String>,
) -> bool {
    let mut changed = false;
    if let Some(project) = doc.get_mut("project").and_then(|p| p.as_table_like_mut()) {
        if let Some(deps) = project
            .get_mut("dependencies")
            .and_then(|d| d.as_array_mut())
        {
            changed |= rewrite_array(deps, pins, left);
        }
        if let Some(extras) = project
            .get_mut("optional-dependencies")
            .and_then(|d| d.as_table_like_mut())
        {
            for (_, item) in extras.iter_mut() {
                if let Some(arr) = item.as_array_mut() {
                    changed |= rewrite_array(arr, pins, left);
                }
            }
        }
    }
    if let Some(groups) = doc
        .get_mut("dependency-groups")
        .and_then(|d| d.as_table_like_mut())
    {
        for (_, item) in groups.iter_mut() {
            if let Some(arr) = item.as_array_mut() {
                changed |= rewrite_array(arr, pins, left);
            }
        }
    }
    let poetry = doc
        .get_mut("tool")
        .and_then(|t| t.as_table_like_mut())
        .and_then(|t| t.get_mut("poetry"))
        .and_then(|p| p.as_table_like_mut());
    if let Some(poetry) = poetry {
        for key in ["dependencies", "dev-dependencies"] {
            if let Some(t) = poetry.get_mut(key).and_then(|d| d.as_table_like_mut()) {
                changed |= rewrite_poetry_table(t, pins, left);
            }
        }
        if let Some(groups) = poetry.get_mut("group").and_then(|g| g.as_table_like_mut()) {
            for (_, group) in groups.iter_mut() {
                if let Some(t) = group
                    .as_table_like_mut()
                    .and_then(|g| g.get_mut("dependencies"))
                    .and_then(|d| d.as_table_like_mut())
                {
                    changed |= rewrite_poetry_table(t, pins, left);
                }
            }
        }
    }
    changed
}

fn literal_regex() -> regex::Regex {
    static_regex(
        r#"(?P<prefix>[rRbBfFuU]{0,2})(?P<lit>"[^"\n]*"|'[^'\n]*')(?P<next>[ \t]*(?:\+|%|\.format\b))?"#,
    )
}

/// Pins in `setup.py` live inside string literals (`install_requires`,
/// `extras_require`): only text inside quotes is rewritten, so code is never
/// touched. Also returns the sibling pins computed in code, as written.
/// Sibling ranges left as written are pushed to `left`.
pub fn rewrite_setup_py(
    text: &str,
    pins: &Pins,
    left: &mut Vec<String>,
) -> (Option<String>, Vec<String>) {
    let name_re = static_regex(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?");
    let mut computed = Vec::new();
    let mut changed = false;
    let out = literal_regex().replace_all(text, |c: &regex::Captures| {
        let lit = &c["lit"];
        let inner = &lit[1..lit.len() - 1];
        let formatted = c["prefix"].to_ascii_lowercase().contains('f');
        if let Some(m) = name_re.find(inner) {
            let rest = &inner[m.end()..];
            let sibling = pins.contains_key(&normalize_name(m.as_str()));
            let rest_trim = rest.trim_start();
            let op = rest_trim.trim_start_matches(|ch: char| "=<>!~ ".contains(ch));
            let has_op = rest_trim.len() != op.len();
            let placeholder = op.starts_with('{') || op.starts_with("%s");
            let in_code = (formatted && (rest_trim.starts_with('{') || (has_op && placeholder)))
                || (c.name("next").is_some()
                    && (rest_trim.is_empty() || op.is_empty() || placeholder))
                || (has_op && op.starts_with("%s"));
            if sibling && in_code {
                let shown = format!(
                    "{}{}{}",
                    &c["prefix"],
                    lit,
                    c.name("next").map_or("", |n| n.as_str())
                );
                computed.push(shown.trim_end().to_string());
            }
        }
        match rewrite_text(lit, pins, left) {
            Some(new) if !formatted || !new.contains('{') || new == lit => {
                changed = true;
                format!(
                    "{}{new}{}",
                    &c["prefix"],
                    c.name("next").map_or("", |n| n.as_str())
                )
            }
            _ => c[0].to_string(),
        }
    });
    (changed.then(|| out.into_owned()), computed)
}

/// Pins in `setup.cfg`: every option outside `[metadata]` (install_requires,
/// extras_require, tests_require), one requirement per line. Sibling
/// ranges left as written are pushed to `left`.
pub fn rewrite_setup_cfg(text: &str, pins: &Pins, left: &mut Vec<String>) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut in_metadata = false;
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if let Some(section) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            in_metadata = section.trim() == "metadata";
            out.push_str(line);
            continue;
        }
        if in_metadata || t.starts_with('#') || t.starts_with(';') {
            out.push_str(line);
            continue;
        }
        match rewrite_text(line, pins, left) {
            Some(new) => {
                changed = true;
                out.push_str(&new);
            }
            None => out.push_str(line),
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pins() -> Pins {
        let mut p = Pins::default();
        p.insert("dagster".into(), "1.9.3".into(), "1.9.4".into());
        p.insert("dagster-aws".into(), "0.25.3".into(), "0.25.4".into());
        p
    }

    /// OpenTelemetry's main: two tracks at dev versions.
    fn otel(ranges: RangePins) -> Pins {
        let mut p = Pins::default();
        p.insert(
            "opentelemetry-api".into(),
            "1.45.0.dev".into(),
            "1.45.0rc0".into(),
        );
        p.insert(
            "opentelemetry-sdk".into(),
            "1.45.0.dev".into(),
            "1.45.0rc0".into(),
        );
        p.insert(
            "opentelemetry-semantic-conventions".into(),
            "0.66b0.dev".into(),
            "0.66b0".into(),
        );
        p.with_ranges(ranges)
    }

    fn rewrite(text: &str, p: &Pins) -> (Option<String>, Vec<String>) {
        let mut left = Vec::new();
        let out = rewrite_text(text, p, &mut left);
        (out, left)
    }

    #[test]
    fn any_spacing_extras_and_markers() {
        let p = pins();
        assert_eq!(rewrite("dagster==1.9.3", &p).0.unwrap(), "dagster==1.9.4");
        assert_eq!(
            rewrite("dagster[aws] == 1.9.3; python_version >= \"3.8\"", &p)
                .0
                .unwrap(),
            "dagster[aws] == 1.9.4; python_version >= \"3.8\""
        );
        assert_eq!(
            rewrite("Dagster_AWS  ==  0.25.3", &p).0.unwrap(),
            "Dagster_AWS  ==  0.25.4"
        );
        for left in [
            "dagster>=1.9.3",
            "dagster~=1.9.3",
            "dagster==1.9.*",
            "requests==2.0",
            "xdagster==1.9.3",
            "dagster===1.9.3",
            "dagster==1.9.4",
        ] {
            assert_eq!(rewrite(left, &p).0, None, "{left}");
        }
    }

    #[test]
    fn moved_ranges_keep_operator_and_spacing() {
        let p = otel(RangePins::Move);
        for (op, spaced) in [
            ("~=", true),
            (">=", false),
            ("<=", true),
            (">", false),
            ("<", true),
            ("!=", false),
            ("===", true),
            ("==", true),
        ] {
            let sp = if spaced { " " } else { "" };
            let text = format!("opentelemetry-api{sp}{op}{sp}1.45.0.dev");
            let (out, left) = rewrite(&text, &p);
            assert_eq!(
                out.unwrap(),
                format!("opentelemetry-api{sp}{op}{sp}1.45.0rc0"),
                "{text}"
            );
            assert!(left.is_empty(), "{text}: {left:?}");
        }
        // Each clause of a list at the current version moves; a bound that
        // is not the current version (`< 2`) is the maintainer's.
        assert_eq!(
            rewrite("opentelemetry-api >= 1.45.0.dev, < 2", &p)
                .0
                .unwrap(),
            "opentelemetry-api >= 1.45.0rc0, < 2"
        );
        assert_eq!(
            rewrite("opentelemetry-api>=1.44,!=1.45.0.dev,<2", &p)
                .0
                .unwrap(),
            "opentelemetry-api>=1.44,!=1.45.0rc0,<2"
        );
        assert_eq!(
            rewrite("opentelemetry-api (>=1.45.0.dev)", &p).0.unwrap(),
            "opentelemetry-api (>=1.45.0rc0)"
        );
        // The normal form of the current version is the current version.
        assert_eq!(
            rewrite("opentelemetry-api ~= 1.45.0.dev0", &p).0.unwrap(),
            "opentelemetry-api ~= 1.45.0rc0"
        );
        assert_eq!(
            rewrite(
                "opentelemetry-sdk[grpc] ~= 1.45.0.dev ; python_version >= \"3.9\"",
                &p
            )
            .0
            .unwrap(),
            "opentelemetry-sdk[grpc] ~= 1.45.0rc0 ; python_version >= \"3.9\""
        );
        assert_eq!(
            rewrite("opentelemetry_api ~= 1.45.0.dev", &p).0.unwrap(),
            "opentelemetry_api ~= 1.45.0rc0"
        );
        assert_eq!(
            rewrite("OpenTelemetry.Semantic_Conventions>=0.66b0.dev", &p)
                .0
                .unwrap(),
            "OpenTelemetry.Semantic_Conventions>=0.66b0"
        );
        // Not at the current version, or a wildcard: as written.
        for kept in [
            "opentelemetry-api >= 1.44.0",
            "opentelemetry-api < 2",
            "opentelemetry-api ==1.45.*",
            "opentelemetry-api ~= 1.45.0",
        ] {
            assert_eq!(rewrite(kept, &p).0, None, "{kept}");
        }
    }

    #[test]
    fn other_packages_are_never_touched() {
        for ranges in [RangePins::Move, RangePins::Leave] {
            let p = otel(ranges);
            for other in [
                "requests ~= 1.45.0.dev",
                "opentelemetry-exporter == 1.45.0.dev",
                "xopentelemetry-api ~= 1.45.0.dev",
                "my.opentelemetry-api>=1.45.0.dev",
                "importlib-metadata >= 6.0, <= 8.4.0",
                "python_version >= \"1.45.0.dev\"",
            ] {
                assert_eq!(rewrite(other, &p), (None, vec![]), "{other}");
            }
        }
    }

    #[test]
    fn left_ranges_are_named_and_exact_pins_still_move() {
        let p = otel(RangePins::Leave);
        let (out, left) = rewrite(
            "opentelemetry-sdk[grpc] ~= 1.45.0.dev ; python_version >= \"3.9\"",
            &p,
        );
        assert_eq!(out, None);
        assert_eq!(
            left,
            vec!["opentelemetry-sdk[grpc] ~= 1.45.0.dev".to_string()]
        );
        let (out, left) = rewrite("opentelemetry-api == 1.45.0.dev", &p);
        assert_eq!(out.unwrap(), "opentelemetry-api == 1.45.0rc0");
        assert!(left.is_empty());
        let (_, left) = rewrite("opentelemetry_api >= 1.0, < 2", &p);
        assert_eq!(left, vec!["opentelemetry_api >= 1.0, < 2".to_string()]);
    }

    #[test]
    fn every_file_kind_moves_or_names_ranges() {
        let cfg =
            "[options]\ninstall_requires =\n    opentelemetry-api ~= 1.45.0.dev\n    requests>=2\n";
        let mut left = Vec::new();
        let out = rewrite_setup_cfg(cfg, &otel(RangePins::Move), &mut left).unwrap();
        assert!(
            out.contains("    opentelemetry-api ~= 1.45.0rc0\n"),
            "{out}"
        );
        assert!(rewrite_setup_cfg(cfg, &otel(RangePins::Leave), &mut left).is_none());
        assert_eq!(left, vec!["opentelemetry-api ~= 1.45.0.dev".to_string()]);

        let py =
            "install_requires=['opentelemetry-api >= 1.45.0.dev, < 2', 'requests~=1.45.0.dev']";
        let mut left = Vec::new();
        let (out, _) = rewrite_setup_py(py, &otel(RangePins::Move), &mut left);
        assert_eq!(
            out.unwrap(),
            "install_requires=['opentelemetry-api >= 1.45.0rc0, < 2', 'requests~=1.45.0.dev']"
        );
        let (out, _) = rewrite_setup_py(py, &otel(RangePins::Leave), &mut left);
        assert!(out.is_none());
        assert_eq!(
            left,
            vec!["opentelemetry-api >= 1.45.0.dev, < 2".to_string()]
        );

        let text = "[tool.poetry.dependencies]\nopentelemetry-api = \"^1.45.0.dev\"\nopentelemetry_sdk = { version = \">=1.45.0.dev,<2\", extras = [\"grpc\"] }\nrequests = \"^1.45.0.dev\"\nopentelemetry-semantic-conventions = \"*\"\n";
        let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
        let mut left = Vec::new();
        assert!(rewrite_pyproject(
            &mut doc,
            &otel(RangePins::Move),
            &mut left
        ));
        let out = doc.to_string();
        assert!(out.contains("opentelemetry-api = \"^1.45.0rc0\""), "{out}");
        assert!(out.contains("version = \">=1.45.0rc0,<2\""), "{out}");
        assert!(out.contains("requests = \"^1.45.0.dev\""), "{out}");
        let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
        assert!(!rewrite_pyproject(
            &mut doc,
            &otel(RangePins::Leave),
            &mut left
        ));
        assert_eq!(
            left,
            vec![
                "opentelemetry-api = \"^1.45.0.dev\"".to_string(),
                "opentelemetry-sdk = \">=1.45.0.dev,<2\"".to_string()
            ]
        );
    }

    #[test]
    fn setup_py_literals_and_computed_pins() {
        let p = pins();
        let mut left = Vec::new();
        let s = "pin = f'=={ver}'\ninstall_requires=[f\"dagster{pin}\", \"dagster-aws==0.25.3\", \"requests==2\"]\n";
        let (out, computed) = rewrite_setup_py(s, &p, &mut left);
        let out = out.unwrap();
        assert!(out.contains("\"dagster-aws==0.25.4\""));
        assert!(out.contains("f\"dagster{pin}\""));
        assert!(out.contains("\"requests==2\""));
        assert_eq!(computed, vec!["f\"dagster{pin}\"".to_string()]);
        let (_, computed) = rewrite_setup_py(
            "deps = ['dagster==' + ver, 'dagster==%s' % ver, f'dagster=={v}', 'dagster=={}'.format(v)]",
            &p,
            &mut left,
        );
        assert_eq!(computed.len(), 4, "{computed:?}");
        let (out, computed) = rewrite_setup_py("x = 'requests==1'", &p, &mut left);
        assert!(out.is_none() && computed.is_empty() && left.is_empty());
    }

    #[test]
    fn setup_cfg_options_not_metadata() {
        let p = pins();
        let cfg = "[metadata]\nname = dagster-aws\nversion = 0.25.3\n\n[options]\ninstall_requires =\n    dagster == 1.9.3\n    requests>=2\n[options.extras_require]\ntest = dagster-aws[test]==0.25.3\n";
        let out = rewrite_setup_cfg(cfg, &p, &mut Vec::new()).unwrap();
        assert!(out.contains("    dagster == 1.9.4\n"));
        assert!(out.contains("dagster-aws[test]==0.25.4"));
        assert!(out.contains("version = 0.25.3"));
    }

    #[test]
    fn poetry_tables() {
        let p = pins();
        let text = "[tool.poetry.dependencies]\npython = \"^3.8\"\ndagster = \"1.9.3\"\ndagster-aws = { version = \"==0.25.3\", extras = [\"s3\"] }\n\n[tool.poetry.group.dev.dependencies]\ndagster = \"^1.9\"\n";
        let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
        let mut left = Vec::new();
        assert!(rewrite_pyproject(&mut doc, &p, &mut left));
        let out = doc.to_string();
        assert!(out.contains("dagster = \"1.9.4\""));
        assert!(out.contains("version = \"==0.25.4\""));
        assert!(out.contains("dagster = \"^1.9\""));
        assert!(out.contains("python = \"^3.8\""));
        assert_eq!(left, vec!["dagster = \"^1.9\"".to_string()]);
    }
}
