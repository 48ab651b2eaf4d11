"""A warm PEP 517 build worker for `release`.

`python -m build` starts a fresh interpreter and imports the build backend
twice per package (sdist, wheel); for 80 small packages that start-up is most
of the build time. This worker is started once per build job, imports each
backend once, and calls the same hooks `python -m build --sdist --wheel`
calls (`build_sdist`, then `build_wheel`, both from the source tree).

Protocol: one JSON object per line on stdin, {"src": DIR, "outdir": DIR,
"check": BOOL}; one JSON object per line on the reply channel (the original
stdout), {"ok": true, "files": [...]} or {"ok": false, "error": TEXT}, with the
build's own output (both file descriptors 1 and 2, subprocesses included)
captured in a log returned as "log". Anything unusual (an in-tree backend, no
tomllib) is answered {"ok": false, "fallback": true} so that the caller runs
`python -m build` instead.

With "check" (the worker runs in a shared isolated environment), the backend
is first asked what else it needs (`get_requires_for_build_sdist/wheel`, as
`python -m build` asks before installing it); if any of that is not installed
here, nothing is built and the answer is {"ok": false, "needs": [...]}, every
requirement the backend named, for the caller to find an environment that
has them.
"""

import importlib
import json
import os
import sys
import tempfile
import traceback

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

REPLY = os.fdopen(os.dup(1), "w", buffering=1)
BACKENDS = {}


def die_with_parent():
    """On Linux, be killed when `release` dies: a runner killed mid-build
    must not leave workers writing into its .release/ afterwards."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)
    except Exception:
        pass


die_with_parent()


def reply(**obj):
    REPLY.write(json.dumps(obj) + "\n")
    REPLY.flush()


def backend_for(src):
    path = os.path.join(src, "pyproject.toml")
    name = "setuptools.build_meta:__legacy__"
    if os.path.exists(path):
        if tomllib is None:
            raise LookupError("no tomllib on this Python")
        with open(path, "rb") as f:
            system = tomllib.load(f).get("build-system", {})
        if "backend-path" in system:
            raise LookupError("in-tree backend (backend-path)")
        name = system.get("build-backend", "setuptools.build_meta:__legacy__")
    if name not in BACKENDS:
        module, _, attrs = name.partition(":")
        obj = importlib.import_module(module)
        for attr in filter(None, attrs.split(".")):
            obj = getattr(obj, attr)
        BACKENDS[name] = obj
    return BACKENDS[name]


def unmet(requirements):
    """The requirements not installed in this environment's site-packages,
    as pip would see them (all of them if there is no `packaging` to tell).
    Not what the running interpreter can import: setuptools puts the packages
    it vendors on sys.path, and pip would install the real ones."""
    try:
        from packaging.requirements import Requirement
    except ImportError:
        try:
            from pip._vendor.packaging.requirements import Requirement
        except ImportError:
            return list(requirements)
    import importlib.metadata
    import sysconfig

    paths = sysconfig.get_paths()
    site = list(dict.fromkeys([paths["purelib"], paths["platlib"]]))
    missing = []
    for text in requirements:
        try:
            req = Requirement(text)
            if req.marker and not req.marker.evaluate({"extra": ""}):
                continue
            found = list(importlib.metadata.distributions(name=req.name, path=site))
            if not found:
                missing.append(text)
                continue
            version = found[0].version
            if req.specifier and not req.specifier.contains(version, prereleases=True):
                missing.append(text)
        except Exception:
            missing.append(text)
    return missing


def build(src, outdir, check):
    backend = backend_for(src)
    if check:
        extra = []
        for hook in ("get_requires_for_build_sdist", "get_requires_for_build_wheel"):
            for req in getattr(backend, hook, lambda _settings: [])({}):
                if req not in extra:
                    extra.append(req)
        if unmet(extra):
            return {"ok": False, "needs": extra}
    files = []
    for hook in ("build_sdist", "build_wheel"):
        files.append(getattr(backend, hook)(outdir, {}))
    return {"ok": True, "files": files}


def main():
    base_path = list(sys.path)
    base_modules = set(sys.modules)
    base_env = dict(os.environ)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        src, outdir = req["src"], req["outdir"]
        log = tempfile.TemporaryFile()
        saved = os.dup(1), os.dup(2)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        cwd = os.getcwd()
        answer = {}
        try:
            os.chdir(src)
            sys.path[:] = [src] + base_path
            answer = build(src, outdir, req.get("check", False))
        except LookupError as e:
            answer = {"ok": False, "fallback": True, "error": str(e)}
        except BaseException:  # a backend may sys.exit(); stay alive
            answer = {"ok": False, "error": traceback.format_exc()}
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            os.chdir(cwd)
            # Forget what this package's build imported from its own tree, so
            # the next package cannot see stale modules of the same name.
            for name in set(sys.modules) - base_modules:
                mod = sys.modules.get(name)
                f = getattr(mod, "__file__", None) or ""
                if f.startswith(src):
                    del sys.modules[name]
            sys.path[:] = base_path
            os.environ.clear()
            os.environ.update(base_env)
        log.seek(0)
        answer["log"] = log.read().decode("utf-8", "replace")[-20000:]
        log.close()
        reply(**answer)


if __name__ == "__main__":
    main()
