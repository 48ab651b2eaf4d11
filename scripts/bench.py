#!/usr/bin/env python3
"""Side-by-side benchmark of `release` against twine, uv publish and the
sequential flow, on one machine in one run (issues 8 and 15).

Every contender gets a fresh pypiserver (threaded: `--server paste`) on a
loopback port. Four parts, each side by side:

  loopback   uploads and full releases against pypiserver directly;
  isolation  the full release with `isolation = true` (cache empty, then
             warm) against `isolation = false` and against the sequential
             flow with isolated `python -m build`;
  latency    the 160 uploads through a proxy that adds 50 ms to every
             request, as an index across the Internet does: `release`,
             one `twine upload` process, `uv publish`;
  memory     peak resident memory (`/usr/bin/time -v`) of `release`
             publishing a package with a large data file (BENCH_BIG_MB,
             default 500), against `twine upload` of the same files.

Prints medians over REPS runs and the ratios. Run it through
scripts/bench.sh, which installs what it needs.
"""

import http.client
import http.server
import json
import os
import re
import shutil
import socket
import socketserver
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ["BENCH_VENV"])
PY = str(VENV / "bin" / "python")
RELEASE = str(ROOT / "target" / "release" / "release")
N = int(os.environ.get("BENCH_PACKAGES", "80"))
REPS = int(os.environ.get("BENCH_REPS", "3"))
# BENCH_QUICK=1 skips the slow contenders (twine per package, the sequential flows).
QUICK = os.environ.get("BENCH_QUICK") == "1"
# Which parts to run (comma-separated), default all.
PARTS = os.environ.get("BENCH_PARTS", "loopback,isolation,latency,memory").split(",")
DELAY = float(os.environ.get("BENCH_DELAY_MS", "50")) / 1000
BIG_MB = int(os.environ.get("BENCH_BIG_MB", "500"))
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


def wait_port(port):
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


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
        wait_port(self.port)
        self.url = f"http://127.0.0.1:{self.port}/"

    def files(self):
        return len(list((self.dir / "packages").iterdir()))

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


class DelayProxy:
    """HTTP/1.1 proxy to `upstream` that holds every request `delay` seconds
    before forwarding it: the round trip of an index across the Internet.
    With `refuse_big` set, a POST over 1 MB is answered 413 unread."""

    def __init__(self, upstream, delay):
        proxy = self
        self.delay = delay
        self.refuse_big = False

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return bytes(out)
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                if proxy.refuse_big and self.command == "POST" and length > 1 << 20:
                    self.send_response(413, "Request Entity Too Large")
                    self.send_header("Content-Length", "0")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.close_connection = True
                    return
                body = self.body()
                time.sleep(proxy.delay)
                up = http.client.HTTPConnection("127.0.0.1", upstream, timeout=600)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                headers["Content-Length"] = str(len(body))
                up.request(self.command, self.path, body=body, headers=headers)
                resp = up.getresponse()
                data = resp.read()
                up.close()
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_HEAD = do_PUT = forward

        class Threaded(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Threaded(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


FILLER = "\n".join(f"def f{i}(x):\n    return x * {i} + {i}\n" for i in range(400))


def make_monorepo(base, name="mono", isolation=False, n=None, publish_extra="", big_mb=0):
    """n packages pinned to pkg 00, a bare origin, release.toml."""
    n = N if n is None else n
    repo, origin = base / name, base / f"{name}-origin.git"
    for i in range(n):
        pkg = f"bench-pkg-{i:02d}"
        mod = pkg.replace("-", "_")
        d = repo / "python_modules" / pkg
        (d / mod).mkdir(parents=True)
        deps = [] if i == 0 else ['"bench-pkg-00==0.1.0"']
        data = ""
        if big_mb:
            data = f'\n[tool.setuptools.package-data]\n{mod} = ["*.bin"]\n'
            with open(d / mod / "data.bin", "wb") as f:
                for _ in range(big_mb):
                    f.write(os.urandom(1 << 20))
        (d / "pyproject.toml").write_text(
            '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "{pkg}"\nversion = "0.1.0"\ndescription = "bench package {i}"\n'
            f'dependencies = [{", ".join(deps)}]\n\n[tool.setuptools]\npackages = ["{mod}"]\n{data}')
        (d / mod / "__init__.py").write_text(f'"""{pkg}"""\n')
        (d / mod / "impl.py").write_text(FILLER)
    (repo / ".gitignore").write_text("dist/\nbuild/\n*.egg-info/\n__pycache__/\n")
    (repo / "release.toml").write_text(
        f'branch = "master"\npackages = ["python_modules/*"]\n\n[build]\nisolation = {str(isolation).lower()}\n\n'
        '[publish]\nupload_url = "http://127.0.0.1:1/"\nbackoff_ms = 200\n' + publish_extra
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


def build_all(repo, dist, isolated=False):
    for d in sorted((repo / "python_modules").iterdir()):
        iso = [] if isolated else ["--no-isolation"]
        sh(PY, "-m", "build", "--sdist", "--wheel", *iso, "--outdir", dist / d.name, d)


def twine(files, url):
    return [str(VENV / "bin" / "twine"), "upload", "--disable-progress-bar", "--non-interactive",
            "--repository-url", url, "-u", USER, "-p", PASSWORD, *map(str, files)]


def uv_publish(files, url):
    return [VENV / "bin" / "uv", "publish", "--publish-url", url,
            "--username", USER, "--password", PASSWORD, *files]


def release_env(url, cache):
    return dict(os.environ, PYTHON=PY, TWINE_USERNAME=USER, TWINE_PASSWORD=PASSWORD,
                TWINE_REPOSITORY_URL=url, RELEASE_TIMINGS="1", RELEASE_CACHE_DIR=str(cache))


def step_seconds(repo):
    """(build, publish) step durations from the last archived journal."""
    hist = sorted((repo / ".release" / "history").iterdir(), key=lambda p: p.stat().st_mtime)[-1]
    state = json.loads(hist.read_text())
    step = {st["name"]: st for st in state["steps"]}
    p = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
    took = lambda st: (p(st["finished_at"]) - p(st["started_at"])).total_seconds()
    return took(step["build"]), took(step["publish"]), hist


def sequential(work, clean, isolated):
    """The original flow: build each package, then twine upload each."""
    s = Server(work)
    seq = Path(tempfile.mkdtemp(dir=work, prefix="seq-")) / "tree"
    shutil.copytree(clean, seq)
    t = time.perf_counter()
    build_all(seq, seq / "dist", isolated=isolated)
    for p in sorted((seq / "dist").iterdir()):
        sh(*twine(sorted(p.iterdir()), s.url))
    took = time.perf_counter() - t
    assert s.files() == 2 * N, s.files()
    s.stop()
    shutil.rmtree(seq.parent, ignore_errors=True)
    return took


def run_rep(work, rep, cache):
    base = Path(tempfile.mkdtemp(dir=work, prefix=f"rep{rep}-"))
    repo = make_monorepo(base)
    dist = base / "dist"
    clean = base / "clean"
    shutil.copytree(repo, clean, ignore=shutil.ignore_patterns(".git"))
    build_all(clean, dist)
    pkgs = sorted(dist.iterdir())
    files = sorted(f for p in pkgs for f in p.iterdir())
    out = {}

    if "loopback" in PARTS:
        if not QUICK:
            s = Server(work)
            out["twine per package"] = sum(timed(*twine(sorted(p.iterdir()), s.url)) for p in pkgs)
            assert s.files() == len(files), s.files()
            s.stop()

        s = Server(work)
        out["twine, one call"] = timed(*twine(files, s.url))
        s.stop()

        s = Server(work)
        out["uv publish"] = timed(*uv_publish(files, s.url))
        assert s.files() == len(files), s.files()
        s.stop()

        if not QUICK:
            out["sequential flow"] = sequential(work, clean, isolated=False)

        # release start: the whole thing, then its upload phase from the journal.
        s = Server(work)
        t = time.perf_counter()
        r = sh(RELEASE, "--repo", repo, "start", "0.2.0.pre0", env=release_env(s.url, cache))
        out["release start"] = time.perf_counter() - t
        assert s.files() == len(files), s.files()
        s.stop()
        timings = r.stderr.decode()
        journal = timings.split("journal ")[1]
        out["journal writes (count)"] = int(journal.split(" writes, ")[0])
        journal_ms = float(journal.split(" writes, ")[1].split(" ms")[0])
        out["release build phase"], out["release upload phase"], hist = step_seconds(repo)
        out["journal writes (whole run)"] = journal_ms / 1000

        # release status on the 80-package journal.
        shutil.copy(hist, repo / ".release" / "state.json")
        runs = [timed(RELEASE, "--repo", repo, "status") for _ in range(15)]
        out["release status"] = statistics.median(runs)
        (repo / ".release" / "state.json").unlink()

    if "isolation" in PARTS:
        # Isolated builds share an environment per build requirements,
        # cached across releases: the first release of rep 0 makes it.
        if rep == 0:
            empty = base / "cache-empty"
            iso0 = make_monorepo(base, "iso0", isolation=True)
            s = Server(work)
            t = time.perf_counter()
            sh(RELEASE, "--repo", iso0, "start", "0.2.0.pre0", env=release_env(s.url, empty))
            out["release, isolation on, cache empty"] = time.perf_counter() - t
            s.stop()
            shutil.copytree(empty, cache, dirs_exist_ok=True)
        for iso, key in ((True, "release, isolation on, cache warm"), (False, "release, isolation off")):
            mono = make_monorepo(base, f"iso-{iso}", isolation=iso)
            s = Server(work)
            t = time.perf_counter()
            sh(RELEASE, "--repo", mono, "start", "0.2.0.pre0", env=release_env(s.url, cache))
            out[key] = time.perf_counter() - t
            assert s.files() == len(files), s.files()
            s.stop()
        if not QUICK and rep == 0:
            out["sequential flow, isolated builds"] = sequential(work, clean, isolated=True)

    if "latency" in PARTS:
        s = Server(work)
        p = DelayProxy(s.port, DELAY)
        out["latency: twine, one call"] = timed(*twine(files, p.url))
        p.stop()
        s.stop()

        s = Server(work)
        p = DelayProxy(s.port, DELAY)
        out["latency: uv publish"] = timed(*uv_publish(files, p.url))
        assert s.files() == len(files), s.files()
        p.stop()
        s.stop()

        s = Server(work)
        p = DelayProxy(s.port, DELAY)
        lat = make_monorepo(base, "latency")
        sh(RELEASE, "--repo", lat, "start", "0.2.0.pre0", env=release_env(p.url, cache))
        assert s.files() == len(files), s.files()
        _, out["latency: release upload phase"], _ = step_seconds(lat)
        p.stop()
        s.stop()

    shutil.rmtree(base, ignore_errors=True)
    return out


def max_rss_kb(stderr):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    return int(m.group(1)) if m else None


def memory(work, cache):
    """Peak memory publishing one package whose data file is BIG_MB."""
    if not Path("/usr/bin/time").exists():
        print("memory: /usr/bin/time is missing (apt-get install time); skipped")
        return {}
    base = Path(tempfile.mkdtemp(dir=work, prefix="memory-"))
    repo = make_monorepo(base, "big", n=1, big_mb=BIG_MB, publish_extra="attempts = 1\n")
    s = Server(work)
    p = DelayProxy(s.port, 0)
    # First run: built, tagged, pushed; the index refuses the large uploads,
    # so publish stops there. Then `release resume` does only the publishing
    # (and the audit, which downloads and hashes the files), measured alone:
    # no build workers in its process tree.
    p.refuse_big = True
    env = release_env(p.url, cache)
    r = sh(RELEASE, "--repo", repo, "start", "0.2.0.pre0", env=env, check=False)
    assert r.returncode == 1, r.stderr.decode()
    p.refuse_big = False
    files = sorted((repo / ".release" / "dist" / "0.2.0rc0" / "bench-pkg-00").iterdir())
    size = sum(f.stat().st_size for f in files)
    t = time.perf_counter()
    r = sh("/usr/bin/time", "-v", RELEASE, "--repo", repo, "resume", env=env)
    took = time.perf_counter() - t
    err = r.stderr.decode()
    hwm = re.search(r"peak memory (\d+) kB", err)
    out = {
        "size": size,
        "release": max_rss_kb(err),
        "release VmHWM": int(hwm.group(1)) if hwm else None,
        "release time": took,
    }
    assert s.files() == 2, s.files()
    p.stop()
    s.stop()
    for name, command in (("twine", twine), ("uv publish", uv_publish)):
        s = Server(work)
        t = time.perf_counter()
        r = sh("/usr/bin/time", "-v", *command(files, s.url))
        out[f"{name} time"] = time.perf_counter() - t
        out[name] = max_rss_kb(r.stderr.decode())
        s.stop()
    shutil.rmtree(base, ignore_errors=True)
    return out


def main():
    work = Path(tempfile.mkdtemp(prefix="release-bench-"))
    cache = work / "cache"
    load = os.getloadavg()
    print(f"# {N} packages ({2 * N} files), {REPS} repetitions, medians; {os.cpu_count()} cores; "
          f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; parts {','.join(PARTS)}", flush=True)
    reps = []
    for rep in range(REPS):
        reps.append(run_rep(work, rep, cache))
        print(f"  rep {rep + 1}: " + ", ".join(
            f"{k} {v:.0f}" if k.endswith("(count)") else f"{k} {v:.2f}s" for k, v in reps[-1].items()), flush=True)
    keys = list(dict.fromkeys(k for r in reps for k in r))
    med = {k: statistics.median(r[k] for r in reps if k in r) for k in keys}
    print()
    print(f"| {'what':40} | {'median':>9} |")
    print(f"|{'-' * 42}|{'-' * 11}|")
    for k, v in med.items():
        if k.endswith("(count)"):
            print(f"| {k:40} | {v:9.0f} |")
        else:
            print(f"| {k:40} | {v:8.3f}s |")
    print()
    if "release upload phase" in med:
        up = med["release upload phase"]
        publish = up + med["release build phase"]
        ratios = [f"vs {k} {med[k] / up:.1f}x" for k in ("twine per package", "twine, one call", "uv publish") if k in med]
        print("loopback upload: release " + ", ".join(ratios))
        if "sequential flow" in med:
            print(f"full release: release start vs sequential flow {med['sequential flow'] / med['release start']:.1f}x")
        print(f"journal writes (all of the run): {100 * med['journal writes (whole run)'] / med['release start']:.1f}% of the release, "
              f"{100 * med['journal writes (whole run)'] / publish:.1f}% of build + upload; "
              f"release status: {1000 * med['release status']:.0f} ms")
    if "release, isolation on, cache warm" in med:
        on, off = med["release, isolation on, cache warm"], med["release, isolation off"]
        line = f"(a) isolation on (cache warm) / off: {on / off:.2f}x"
        if "release, isolation on, cache empty" in med:
            line += f"; cache empty / off: {med['release, isolation on, cache empty'] / off:.2f}x"
        if "sequential flow, isolated builds" in med:
            line += f"; isolated sequential flow / isolated release: {med['sequential flow, isolated builds'] / on:.1f}x"
        print(line)
    if "latency: release upload phase" in med:
        up = med["latency: release upload phase"]
        print(f"(b) {DELAY * 1000:.0f} ms per request: release upload phase vs uv publish "
              f"{med['latency: uv publish'] / up:.1f}x, vs one twine process {med['latency: twine, one call'] / up:.1f}x")
    if "memory" in PARTS:
        m = memory(work, cache)
        if m:
            print(f"(c) peak RSS publishing {m['size'] / 1e6:.0f} MB (sdist + wheel, {BIG_MB} MB data file): "
                  f"release {m['release'] / 1024:.1f} MiB (/usr/bin/time -v; its own VmHWM {m['release VmHWM'] / 1024:.1f} MiB, "
                  f"{m['release time']:.1f} s incl. audit), twine {m['twine'] / 1024:.1f} MiB ({m['twine time']:.1f} s), "
                  f"uv publish {m['uv publish'] / 1024:.1f} MiB ({m['uv publish time']:.1f} s)")
    load = os.getloadavg()
    print(f"load average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
