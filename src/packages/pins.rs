//! Exact pins between sibling packages (`dagster[aws] == 0.6.4; python_version
//! >= "3.8"`), rewritten wherever dependency lists are written: `pyproject.toml`
//! arrays (PEP 621, dependency groups, poetry tables), `setup.py` string
//! literals and `setup.cfg` options.
//!
//! Only `==` pins to a sibling move: a range (`>=`), a wildcard (`==0.6.*`) or
//! a package that is not a sibling is the user's choice and stays. A pin a
//! `setup.py` computes in code (`f"dagster{pin}"`) cannot be rewritten as
//! text; it is reported, once, so nobody believes it was.

use std::collections::BTreeMap;

use super::normalize_name;

/// Each sibling's normalised name to the version its pins move to.
pub type Pins = BTreeMap<String, String>;

fn static_regex(pattern: &str) -> regex::Regex {
    regex::Regex::new(pattern).unwrap_or_else(|_| unreachable!("static regex"))
}

/// A requirement pinned exactly: name, optional extras, `==`, version.
fn pin_regex() -> regex::Regex {
    static_regex(
        r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(?P<mid>[ \t]*(?:\[[^\]\n]*\])?[ \t]*==[ \t]*)(?P<ver>[A-Za-z0-9._+!-]*[A-Za-z0-9])",
    )
}

/// Rewrite sibling pins inside one requirement text; `None` if nothing changed.
pub fn rewrite_text(text: &str, pins: &Pins) -> Option<String> {
    let re = pin_regex();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut changed = false;
    for c in re.captures_iter(text) {
        let (Some(all), Some(ver)) = (c.get(0), c.name("ver")) else {
            continue;
        };
        // The name must start the requirement, not end another word
        // (`xdagster==1`), and the version must be whole (`==0.6.*` is a range).
        let before = text[..all.start()].chars().next_back();
        let after = text[all.end()..].chars().next();
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, '.' | '_' | '-'))
            || after.is_some_and(|a| matches!(a, '*' | '.' | '{'))
        {
            continue;
        }
        let Some(new) = pins.get(&normalize_name(&c["name"])) else {
            continue;
        };
        if ver.as_str() == new {
            continue;
        }
        out.push_str(&text[last..ver.start()]);
        out.push_str(new);
        last = ver.end();
        changed = true;
    }
    changed.then(|| {
        out.push_str(&text[last..]);
        out
    })
}

fn rewrite_array(array: &mut toml_edit::Array, pins: &Pins) -> bool {
    let mut changed = false;
    for item in array.iter_mut() {
        if let Some(new) = item.as_str().and_then(|s| rewrite_text(s, pins)) {
            super::set_toml_str(item, &new);
            changed = true;
        }
    }
    changed
}

/// Poetry writes an exact pin as `"0.6.4"` or `"==0.6.4"`, alone or as the
/// `version` of an inline table; `^0.6.4` and `~0.6.4` are ranges.
fn rewrite_poetry_value(value: &mut toml_edit::Value, new: &str) -> bool {
    let exact = |s: &str| {
        let t = s.trim();
        let v = t.strip_prefix("==").unwrap_or(t).trim();
        !v.is_empty()
            && v.chars().next().is_some_and(|c| c.is_ascii_digit())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '!' | '-' | '_'))
            && v != new
    };
    match value {
        toml_edit::Value::String(s) if exact(s.value()) => {
            let prefix = if s.value().trim().starts_with("==") {
                "=="
            } else {
                ""
            };
            super::set_toml_str(value, &format!("{prefix}{new}"));
            true
        }
        toml_edit::Value::InlineTable(t) => match t.get_mut("version") {
            Some(v) => rewrite_poetry_value(v, new),
            None => false,
        },
        _ => false,
    }
}

fn rewrite_poetry_table(table: &mut dyn toml_edit::TableLike, pins: &Pins) -> bool {
    let mut changed = false;
    for (name, item) in table.iter_mut() {
        let Some(new) = pins.get(&normalize_name(name.get())) else {
            continue;
        };
        if let Some(v) = item.as_value_mut() {
            changed |= rewrite_poetry_value(v, new);
        } else if let Some(t) = item.as_table_like_mut() {
            if let Some(v) = t.get_mut("version").and_then(|v| v.as_value_mut()) {
                changed |= rewrite_poetry_value(v, new);
            }
        }
    }
    changed
}

/// Rewrite sibling pins in a `pyproject.toml` document; true if any changed.
pub fn rewrite_pyproject(doc: &mut toml_edit::DocumentMut, pins: &Pins) -> bool {
    let mut changed = false;
    if let Some(project) = doc.get_mut("project").and_then(|p| p.as_table_like_mut()) {
        if let Some(deps) = project
            .get_mut("dependencies")
            .and_then(|d| d.as_array_mut())
        {
            changed |= rewrite_array(deps, pins);
        }
        if let Some(extras) = project
            .get_mut("optional-dependencies")
            .and_then(|d| d.as_table_like_mut())
        {
            for (_, item) in extras.iter_mut() {
                if let Some(arr) = item.as_array_mut() {
                    changed |= rewrite_array(arr, pins);
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
                changed |= rewrite_array(arr, pins);
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
                changed |= rewrite_poetry_table(t, pins);
            }
        }
        if let Some(groups) = poetry.get_mut("group").and_then(|g| g.as_table_like_mut()) {
            for (_, group) in groups.iter_mut() {
                if let Some(t) = group
                    .as_table_like_mut()
                    .and_then(|g| g.get_mut("dependencies"))
                    .and_then(|d| d.as_table_like_mut())
                {
                    changed |= rewrite_poetry_table(t, pins);
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
pub fn rewrite_setup_py(text: &str, pins: &Pins) -> (Option<String>, Vec<String>) {
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
        match rewrite_text(lit, pins) {
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
/// extras_require, tests_require), one requirement per line.
pub fn rewrite_setup_cfg(text: &str, pins: &Pins) -> Option<String> {
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
        match rewrite_text(line, pins) {
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
        [
            ("dagster".to_string(), "1.9.4".to_string()),
            ("dagster-aws".to_string(), "0.25.4".to_string()),
        ]
        .into()
    }

    #[test]
    fn any_spacing_extras_and_markers() {
        let p = pins();
        assert_eq!(
            rewrite_text("dagster==1.9.3", &p).unwrap(),
            "dagster==1.9.4"
        );
        assert_eq!(
            rewrite_text("dagster[aws] == 1.9.3; python_version >= \"3.8\"", &p).unwrap(),
            "dagster[aws] == 1.9.4; python_version >= \"3.8\""
        );
        assert_eq!(
            rewrite_text("Dagster_AWS  ==  0.25.3", &p).unwrap(),
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
            assert_eq!(rewrite_text(left, &p), None, "{left}");
        }
    }

    #[test]
    fn setup_py_literals_and_computed_pins() {
        let p = pins();
        let s = "pin = f'=={ver}'\ninstall_requires=[f\"dagster{pin}\", \"dagster-aws==0.25.3\", \"requests==2\"]\n";
        let (out, computed) = rewrite_setup_py(s, &p);
        let out = out.unwrap();
        assert!(out.contains("\"dagster-aws==0.25.4\""));
        assert!(out.contains("f\"dagster{pin}\""));
        assert!(out.contains("\"requests==2\""));
        assert_eq!(computed, vec!["f\"dagster{pin}\"".to_string()]);
        let (_, computed) = rewrite_setup_py(
            "deps = ['dagster==' + ver, 'dagster==%s' % ver, f'dagster=={v}', 'dagster=={}'.format(v)]",
            &p,
        );
        assert_eq!(computed.len(), 4, "{computed:?}");
        let (out, computed) = rewrite_setup_py("x = 'requests==1'", &p);
        assert!(out.is_none() && computed.is_empty());
    }

    #[test]
    fn setup_cfg_options_not_metadata() {
        let p = pins();
        let cfg = "[metadata]\nname = dagster-aws\nversion = 0.25.3\n\n[options]\ninstall_requires =\n    dagster == 1.9.3\n    requests>=2\n[options.extras_require]\ntest = dagster-aws[test]==0.25.3\n";
        let out = rewrite_setup_cfg(cfg, &p).unwrap();
        assert!(out.contains("    dagster == 1.9.4\n"));
        assert!(out.contains("dagster-aws[test]==0.25.4"));
        assert!(out.contains("version = 0.25.3"));
    }

    #[test]
    fn poetry_tables() {
        let p = pins();
        let text = "[tool.poetry.dependencies]\npython = \"^3.8\"\ndagster = \"1.9.3\"\ndagster-aws = { version = \"==0.25.3\", extras = [\"s3\"] }\n\n[tool.poetry.group.dev.dependencies]\ndagster = \"^1.9\"\n";
        let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
        assert!(rewrite_pyproject(&mut doc, &p));
        let out = doc.to_string();
        assert!(out.contains("dagster = \"1.9.4\""));
        assert!(out.contains("version = \"==0.25.4\""));
        assert!(out.contains("dagster = \"^1.9\""));
        assert!(out.contains("python = \"^3.8\""));
    }
}
