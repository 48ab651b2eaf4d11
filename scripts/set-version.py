#!/usr/bin/env python3
"""Give this checkout the version VERSION (PEP 440) before its wheels are built.

Usage: scripts/set-version.py VERSION

The wheel matrix of .github/workflows/release.yml builds the release's wheels
before `release start VERSION` makes the release commit, so each job writes
the version the release commit will carry: `[project] version` in
pyproject.toml (the wheel's name and metadata), and `[package] version` in
Cargo.toml with the `release` entry of Cargo.lock (what `release --version`
prints), in Cargo's SemVer form (`0.2.0rc1` is `0.2.0-rc.1`).
"""

import re
import sys


def semver(version):
    m = re.fullmatch(
        r"(\d+\.\d+\.\d+)(?:\.?(a|b|rc|pre|c)\.?(\d+))?(?:\.dev(\d+))?(?:\.post(\d+))?",
        version,
    )
    if not m:
        sys.exit(f"{version}: not a X.Y.Z[aN|bN|rcN][.devN][.postN] version")
    core, phase, n, dev, post = m.groups()
    pre = []
    if phase:
        pre.append({"a": "alpha", "b": "beta", "c": "rc", "pre": "rc"}.get(phase, phase) + f".{n}")
    if dev:
        pre.append(f"dev.{dev}")
    out = core + ("-" + ".".join(pre) if pre else "")
    return out + (f"+post.{post}" if post else "")


def replace_in_section(path, section, value, name=None):
    text = open(path).read()
    lines = text.split("\n")
    current, done = None, False
    for i, line in enumerate(lines):
        header = re.fullmatch(r"\s*\[\[?([^\]]+)\]\]?\s*", line)
        if header:
            current, seen_name = header.group(1).strip(), name is None
            continue
        if current != section or done:
            continue
        if name is not None and re.fullmatch(rf'name = "{re.escape(name)}"', line):
            seen_name = True
        if seen_name and re.match(r'version\s*=\s*"', line):
            lines[i] = f'version = "{value}"'
            done = True
    if not done:
        sys.exit(f"{path}: no version in [{section}]")
    open(path, "w").write("\n".join(lines))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    version = sys.argv[1]
    cargo = semver(version)
    replace_in_section("pyproject.toml", "project", version)
    replace_in_section("Cargo.toml", "package", cargo)
    replace_in_section("Cargo.lock", "package", cargo, name="release")
    print(f"pyproject.toml {version}, Cargo.toml and Cargo.lock {cargo}")


if __name__ == "__main__":
    main()
