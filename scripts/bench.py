#!/usr/bin/env python3
"""Side-by-side benchmark of `release` against twine, uv publish and the
seed's sequential flow, on one machine in one run (issue 8).

Every contender gets a fresh pypiserver (threaded: `--server paste`) on a
loopback port. Prints a table of medians over REPS runs and the ratios.
Run it through scripts/bench.sh, which installs what it needs.
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ["BENCH_VENV"])
PY = str(VENV / "bin" / "python")
RELEASE = str(ROOT / "target" / "release" / "release")
N = int(os.environ.get("BENCH_PACKAGES", "80"))
REPS = int(os.environ.get("BENCH_REPS", "3"))
# BENCH_QUICK=1 skips the two slow contenders (twine per package, sequential flow).
QUICK = os.environ.get("BENCH_QUICK") == "1"
USER, PASSWORD = "bench", "bench-password"


def sh(*args, **kw):
    kw.setdefault("check", True)
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run([str(a) for a in args], **kw)


def timed(*args, **kw):
    t = time.perf_counter()
    sh(*args, **kw)
    return time.perf_counter() - t


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, work):
        self.dir = Path(tempfile.mkdtemp(dir=work, prefix="server-"))
        (self.dir / "packages").mkdir()
        sh(PY, "-c", "import sys\nfrom passlib.apache import HtpasswdFile\nh=HtpasswdFile(sys.argv[1], new=True)\nh.set_password(sys.argv[2], sys.argv[3])\nh.save()",
           self.dir / "htpasswd", USER, PASSWORD)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [str(VENV / "bin" / "pypi-server"), "run", "-p", str(self.port), "-i", "127.0.0.1",
             "-a", "update", "-P", str(self.dir / "htpasswd"), "--disable-fallback",
             "--server", "paste", "--backend", "simple-dir", str(self.dir / "packages")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        self.url = f"http://127.0.0.1:{self.port}/"

    def files(self):
        return len(list((self.dir / "packages").iterdir()))

    def stop(self):
        self.proc.kill()
        self.proc.wait()


FILLER = "\n".join(f"def f{i}(x):\n    return x * {i} + {i}\n" for i in range(400))


def make_monorepo(base):
    """N packages pinned to pkg 00, a bare origin, release.toml."""
    repo, origin = base / "mono", base / "origin.git"
    for i in range(N):
        name = f"bench-pkg-{i:02d}"
        mod = name.replace("-", "_")
        d = repo / "python_modules" / name
        (d / mod).mkdir(parents=True)
        deps = [] if i == 0 else ['"bench-pkg-00==0.1.0"']
        (d / "pyproject.toml").write_text(
            '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "{name}"\nversion = "0.1.0"\ndescription = "bench package {i}"\n'
            f'dependencies = [{", ".join(deps)}]\n\n[tool.setuptools]\npackages = ["{mod}"]\n')
        (d / mod / "__init__.py").write_text(f'"""{name}"""\n')
        (d / mod / "impl.py").write_text(FILLER)
    (repo / ".gitignore").write_text("dist/\nbuild/\n*.egg-info/\n__pycache__/\n")
    (repo / "release.toml").write_text(
        'branch = "master"\npackages = ["python_modules/*"]\n\n[build]\nisolation = false\n\n'
        '[publish]\nupload_url = "http://127.0.0.1:1/"\nbackoff_ms = 200\n'
        + os.environ.get("BENCH_PUBLISH_EXTRA", "").replace("\\n", "\n") + "\n")
    sh("git", "init", "-q", "-b", "master", repo)
    sh("git", "-C", repo, "config", "user.name", "Bench")
    sh("git", "-C", repo, "config", "user.email", "bench@example.invalid")
    sh("git", "-C", repo, "add", "-A")
    sh("git", "-C", repo, "commit", "-qm", "bench monorepo")
    sh("git", "init", "-q", "--bare", origin)
    sh("git", "-C", repo, "remote", "add", "origin", origin)
    sh("git", "-C", repo, "push", "-q", "origin", "master")
    return repo


def build_all(repo, dist):
    for d in sorted((repo / "python_modules").iterdir()):
        sh(PY, "-m", "build", "--sdist", "--wheel", "--no-isolation", "--outdir", dist / d.name, d)


def twine(files, url):
    return [str(VENV / "bin" / "twine"), "upload", "--disable-progress-bar", "--non-interactive",
            "--repository-url", url, "-u", USER, "-p", PASSWORD, *map(str, files)]


def run_rep(work, rep):
    base = Path(tempfile.mkdtemp(dir=work, prefix=f"rep{rep}-"))
    repo = make_monorepo(base)
    dist = base / "dist"
    clean = base / "clean"
    shutil.copytree(repo, clean, ignore=shutil.ignore_patterns(".git"))
    build_all(clean, dist)
    pkgs = sorted(dist.iterdir())
    files = sorted(f for p in pkgs for f in p.iterdir())
    out = {}

    if not QUICK:
        s = Server(work)
        out["twine per package"] = sum(timed(*twine(sorted(p.iterdir()), s.url)) for p in pkgs)
        assert s.files() == len(files), s.files()
        s.stop()

    if os.environ.get("BENCH_ONLY_RELEASE") != "1":
      s = Server(work)
      out["twine, one call"] = timed(*twine(files, s.url))
      s.stop()

    if os.environ.get("BENCH_ONLY_RELEASE") != "1":
      s = Server(work)
      out["uv publish"] = timed(VENV / "bin" / "uv", "publish", "--publish-url", s.url,
                              "--username", USER, "--password", PASSWORD, *files)
      assert s.files() == len(files), s.files()
      s.stop()

    # The seed's flow: build each package, then twine upload each.
    if not QUICK:
        s = Server(work)
        seq = base / "seq"
        shutil.copytree(clean, seq)
        t = time.perf_counter()
        for d in sorted((seq / "python_modules").iterdir()):
            sh(PY, "-m", "build", "--sdist", "--wheel", "--no-isolation", "--outdir", seq / "dist" / d.name, d)
        for p in sorted((seq / "dist").iterdir()):
            sh(*twine(sorted(p.iterdir()), s.url))
        out["sequential flow"] = time.perf_counter() - t
        s.stop()

    # release start: the whole thing, then its upload phase from the journal.
    s = Server(work)
    env = dict(os.environ, PYTHON=PY, TWINE_USERNAME=USER, TWINE_PASSWORD=PASSWORD,
               TWINE_REPOSITORY_URL=s.url, RELEASE_TIMINGS="1")
    t = time.perf_counter()
    r = sh(RELEASE, "--repo", repo, "start", "0.2.0.pre0", env=env)
    out["release start"] = time.perf_counter() - t
    assert s.files() == len(files), s.files()
    s.stop()
    timings = r.stderr.decode()
    journal_writes = int(timings.split("journal ")[1].split(" writes, ")[0])
    journal_ms = float(timings.split("journal ")[1].split(" writes, ")[1].split(" ms")[0])
    out["journal writes (count)"] = journal_writes
    hist = sorted((repo / ".release" / "history").iterdir())[-1]
    state = json.loads(hist.read_text())
    step = {st["name"]: st for st in state["steps"]}
    from datetime import datetime
    p = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
    took = lambda st: (p(st["finished_at"]) - p(st["started_at"])).total_seconds()
    # The build step (before the tag) and the publish step (uploads only).
    out["release upload phase"] = took(step["publish"])
    out["release build phase"] = took(step["build"])
    out["journal writes (whole run)"] = journal_ms / 1000

    # release status on the 80-package journal.
    shutil.copy(hist, repo / ".release" / "state.json")
    runs = []
    for _ in range(15):
        runs.append(timed(RELEASE, "--repo", repo, "status"))
    out["release status"] = statistics.median(runs)
    shutil.rmtree(base, ignore_errors=True)
    return out


def main():
    work = Path(tempfile.mkdtemp(prefix="release-bench-"))
    print(f"# {N} packages ({2 * N} files), {REPS} repetitions, medians; {os.cpu_count()} cores", flush=True)
    reps = []
    for rep in range(REPS):
        reps.append(run_rep(work, rep))
        print(f"  rep {rep + 1}: " + ", ".join(
            f"{k} {v:.0f}" if k.endswith("(count)") else f"{k} {v:.2f}s" for k, v in reps[-1].items()), flush=True)
    med = {k: statistics.median(r[k] for r in reps) for k in reps[0]}
    print()
    print(f"| {'what':32} | {'median':>9} |")
    print(f"|{'-' * 34}|{'-' * 11}|")
    for k, v in med.items():
        if k.endswith("(count)"):
            print(f"| {k:32} | {v:9.0f} |")
        else:
            print(f"| {k:32} | {v:8.3f}s |")
    up = med["release upload phase"]
    publish = up + med["release build phase"]
    print()
    ratios = [f"vs {k} {med[k] / up:.1f}x" for k in ("twine per package", "twine, one call", "uv publish") if k in med]
    print("upload: release " + ", ".join(ratios))
    if "sequential flow" in med:
        print(f"full release: release start vs sequential flow {med['sequential flow'] / med['release start']:.1f}x")
    print(f"journal writes (all of the run): {100 * med['journal writes (whole run)'] / publish:.1f}% of the publish step "
          f"(build + upload), {100 * med['journal writes (whole run)'] / up:.1f}% of the upload phase; "
          f"release status: {1000 * med['release status']:.0f} ms")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
