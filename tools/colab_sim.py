"""Run chapters as a student would on a fresh Google Colab, simulated on this machine.

What is simulated, and how:
- Colab's preinstalled packages: a separate virtual environment (``~/.cache/dlext-colab/venv``) holding the
  packages in ``PREINSTALLED`` at the versions of ``colab/colab-packages.txt`` (Colab's published
  pip-freeze.txt), every other line of that file acting as a constraint so that their dependencies
  also get Colab's versions. Deviations (see that file): Python 3.11 instead of 3.13, torch
  2.13.0+cpu from /opt/wheels instead of 2.11.0+cpu, and setuptools 77.0.3 (which that torch needs)
  instead of 75.2.0. The venv is reused while its package list is
  unchanged (a key file records the inputs; ``pip freeze`` must match the one recorded after the build).
- ``google.colab``: a stub package in the venv, imported at kernel start (as Colab does) by an IPython
  startup file, so each chapter's setup cell takes its Colab branch.
- The setup cell's ``git+https://github.com/...@main`` is rewritten to ``git+file://`` of a local clone
  whose ``main`` holds the checkout's tracked files as they are now (committed or not), so the cell
  really pip-installs dlext from a git repository.
- The internet: a loopback HTTP server serves the dataset folder in the cache layout and
  ``DLEXT_DATA_MIRROR`` points dlext.data at it; the data cache starts empty, so every file is
  downloaded, sha256-checked and cached.

Each chapter then executes top to bottom in an empty working directory (like Colab's /content).
A chapter fails if the setup cell changes the version of any package Colab preinstalls, installs
anything but dlext, or if the chapter imports a package that neither Colab's list nor the cell provides.

    python tools/colab_sim.py                 # the rotating chapter of this commit
    python tools/colab_sim.py --all           # every chapter of _toc.yml
    python tools/colab_sim.py book/07_vae.ipynb
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLAB_LIST = ROOT / "colab" / "colab-packages.txt"
# Kept in the per-user cache, not in the checkout: it takes minutes to build, is the same for every clone,
# and is rebuilt by itself when the Colab list or the chosen versions change (see _build_key). Its own folder,
# beside dlext's data cache (~/.cache/dlext) and not inside it: on a machine without ../shared the tests use
# that data cache and check that nothing in it changes during the run.
VENV_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dlext-colab" / "venv"
# What the simulation installs (Colab has ~630 more); every package the chapters or dlext import.
PREINSTALLED = ["pip", "setuptools", "torch", "numpy", "scipy", "scikit-learn", "matplotlib", "pandas",
                "ipywidgets", "ipykernel", "ipython", "nbformat", "nbclient", "tqdm", "pooch", "requests",
                "scikit-image", "smart-open"]
# Where the simulation cannot use Colab's exact build (reasons in colab/colab-packages.txt).
DEVIATIONS = {"torch": "2.13.0+cpu", "setuptools": "77.0.3",  # torch 2.13 needs setuptools>=77.0.3
              "tifffile": "2026.3.3"}  # Colab's 2026.8.16 needs Python >= 3.12; its last release for 3.11
# Installed here although Colab's list lacks them: ipython 7.34 requires jedi (Colab removes it after
# installing), and jupyter_server needs overrides on Python < 3.12 (Colab runs 3.13).
EXTRAS = {"jedi": "ipython 7.34 requires it; Colab removes it", "overrides": "jupyter_server needs it below Python 3.12"}
# A chapter's setup cell installs dlext (with the chapter's extra, e.g. dlext[word2vec]); it may add packages
# that Colab lacks (gensim, jupyterquiz), but must never change the version of one that Colab has.
CELL_INSTALLS = {"dlext"}
CELL_URL = re.compile(r"git\+https://[^@\"']+@main")
# Limits, so that a stuck step fails with its name instead of hanging until pytest's own timeout. Alone on
# this 2-core machine the slowest chapter runs in about 130 s and its slowest cell in about 95 s; under
# `make test -n 2` both take up to 1.7 times as long, and the simulation adds the setup cell's install.
CELL_TIMEOUT = 900  # seconds for one cell
CHAPTER_TIMEOUT = 1800  # seconds for a whole chapter, setup cell included
PIP_TIMEOUT = 1800  # seconds for one pip command (building the venv downloads torch)
KERNEL_GRACE = 30  # seconds a kernel may outlive the runner that started it before it is killed


def _run(cmd: list[str], what: str, timeout: float = PIP_TIMEOUT, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run`` with a time limit whose error says which step was stuck."""
    try:
        return subprocess.run(cmd, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{what} did not finish within {timeout:.0f} s (killed): {' '.join(map(str, cmd))}") from None


def canonical(name: str) -> str:
    """A distribution name as PEP 503 normalises it (``Scikit_Learn`` -> ``scikit-learn``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def colab_versions(path: Path = COLAB_LIST) -> dict[str, str]:
    """Colab's packages from a pip-freeze listing: canonical name -> version."""
    versions = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if not line:
            continue
        if "==" in line:
            name, version = line.split("==", 1)
        elif " @ " in line:  # "torch @ https://.../torch-2.11.0%2Bcpu-cp313-...whl": version from the file name
            name, url = line.split(" @ ", 1)
            match = re.search(r"/[^/]+?-(\d[^-/]*?)(?:-py|-cp|\.tar|\.zip)", url.replace("%2B", "+"))
            version = match.group(1) if match else ""  # a source build: no version to pin
        else:
            continue
        versions[canonical(name.strip())] = version.strip()
    return versions


def _venv_python(venv_dir: Path) -> Path:
    return venv_dir / "bin" / "python"


def installed(venv_dir: Path) -> dict[str, str]:
    """The venv's distributions: canonical name -> version."""
    out = _run([str(_venv_python(venv_dir)), "-m", "pip", "list", "--format=json"], "pip list in the simulated Colab",
               timeout=300, capture_output=True, text=True, check=True).stdout
    return {canonical(d["name"]): d["version"] for d in json.loads(out)}


def _build_key() -> str:
    h = hashlib.sha256()
    for part in (json.dumps([colab_versions(), PREINSTALLED, DEVIATIONS, sys.version], sort_keys=True).encode(),
                 _COLAB_STUB.encode(), _STARTUP.encode()):
        h.update(part)
    return h.hexdigest()


_COLAB_STUB = '''"""Stand-in for google.colab (tools/colab_sim.py): its presence is all the chapters look at."""
SIMULATED = True
'''
_STARTUP = "import google.colab  # Colab's kernel imports it at start; chapters test sys.modules for it\n"


def reset_venv(venv_dir: Path) -> None:
    """Uninstall whatever earlier setup cells added, so each chapter starts on Colab's own set."""
    freeze_file = venv_dir / "colab-sim-freeze.json"
    if not freeze_file.is_file():
        return
    base = json.loads(freeze_file.read_text())
    extra = sorted(set(installed(venv_dir)) - set(base))
    if extra:
        _run([str(_venv_python(venv_dir)), "-m", "pip", "uninstall", "-q", "-y", *extra],
             "uninstalling the last run's packages", timeout=600, capture_output=True, check=False)


def build_venv(venv_dir: Path = VENV_DIR, *, force: bool = False, log=print) -> Path:
    """Create (or reuse, when its inputs and package list are unchanged) the simulated Colab venv."""
    key_file, freeze_file = venv_dir / "colab-sim-key", venv_dir / "colab-sim-freeze.json"
    key = _build_key()
    if not force and key_file.is_file() and key_file.read_text() == key and freeze_file.is_file():
        reset_venv(venv_dir)  # what the last run's setup cells added
        if installed(venv_dir) == json.loads(freeze_file.read_text()):
            log(f"reusing {venv_dir}")
            return venv_dir
        log(f"{venv_dir} no longer matches its recorded package list: rebuilding")
    start = time.perf_counter()
    shutil.rmtree(venv_dir, ignore_errors=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    colab = colab_versions()
    pins = [f"{name}=={DEVIATIONS.get(name, colab[canonical(name)])}" for name in PREINSTALLED]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        for name, version in sorted(colab.items()):
            if version and "+" not in version and name not in DEVIATIONS and name not in map(canonical, PREINSTALLED):
                constraints.write(f"{name}=={version}\n")
    try:
        py = str(_venv_python(venv_dir))
        _run([py, "-m", "pip", "install", "-q", f"pip=={colab['pip']}"], "installing Colab's pip", check=True)
        _run([py, "-m", "pip", "install", "-q", "-c", constraints.name, *pins], "installing Colab's packages",
             check=True)
    finally:
        os.unlink(constraints.name)
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "google" / "colab").mkdir(parents=True, exist_ok=True)  # "google" stays a namespace package
    (site / "google" / "colab" / "__init__.py").write_text(_COLAB_STUB)
    have = installed(venv_dir)
    strays = {n: v for n, v in have.items() if n not in DEVIATIONS and n not in EXTRAS and colab.get(n) != v}
    if strays:
        raise RuntimeError(f"the simulated Colab holds packages Colab does not have at these versions: {strays}")
    freeze_file.write_text(json.dumps(have, indent=1, sort_keys=True))
    key_file.write_text(key)
    log(f"built {venv_dir} in {time.perf_counter() - start:.0f} s ({len(have)} packages)")
    return venv_dir


# --- The internet: a loopback server ---------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()


@contextlib.contextmanager
def serve_directory(directory: Path):
    """Serve ``directory`` on 127.0.0.1 (a free port); yields (base URL, list of request paths)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.requests
    finally:
        httpd.shutdown()
        httpd.server_close()


def shared_data_dir() -> Path:
    """The dataset folder the loopback server mirrors: ``$DLEXT_DATA_DIR``, else ``../shared/data``."""
    env = os.environ.get("DLEXT_DATA_DIR")
    path = Path(env) if env else ROOT.parent / "shared" / "data"
    if not (path / "mnist").is_dir():
        raise FileNotFoundError(f"no dataset folder at {path}: set DLEXT_DATA_DIR to one (see ../shared/data)")
    return path


# --- The repository the setup cell installs from ---------------------------------------------------

def clone_checkout(dest: Path) -> Path:
    """A git repository at ``dest`` whose ``main`` holds this checkout's files as they are now.

    That is the tracked files, edits included, and new files git does not ignore.
    """
    git = ["git", "-c", "user.name=colab-sim", "-c", "user.email=colab-sim@localhost"]
    subprocess.run([*git, "clone", "-q", "--no-hardlinks", str(ROOT), str(dest)], check=True)
    subprocess.run([*git, "-C", str(dest), "checkout", "-q", "-B", "main"], check=True)
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):  # carry uncommitted edits over, so the run tests the working tree
        src, dst = ROOT / rel, dest / rel
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        elif dst.exists():
            dst.unlink()
    subprocess.run([*git, "-C", str(dest), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(dest), "commit", "-q", "--allow-empty", "-m", "working tree"], check=True)
    return dest


# --- Chapters ----------------------------------------------------------------------------------------

def toc_chapters() -> list[Path]:
    """The chapter notebooks listed in _toc.yml, in order."""
    files = re.findall(r"^\s*-\s*file:\s*(\S+)\s*$", (ROOT / "_toc.yml").read_text(), flags=re.M)
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").is_file()]


def rotating_chapters(n: int = 1, commit_count: int | None = None) -> list[Path]:
    """``n`` consecutive chapters of _toc.yml, starting at (commits on HEAD, or ``commit_count``) mod (chapters)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    chapters = toc_chapters()
    count = commit_count if commit_count is not None else int(subprocess.run(
        ["git", "-C", str(ROOT), "rev-list", "--count", "HEAD"], capture_output=True, text=True, check=True).stdout)
    return [chapters[(count + i) % len(chapters)] for i in range(min(n, len(chapters)))]


def planned_changes(venv_dir: Path, requirement: str) -> dict[str, tuple[str | None, str]]:
    """What ``pip install requirement`` would do to the venv, without doing it: name -> (now, then)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        _run([str(_venv_python(venv_dir)), "-m", "pip", "install", "-q", "--dry-run", "--report", str(report),
              requirement], f"the dry run of pip install {requirement}", timeout=900, check=True, capture_output=True)
        plan = json.loads(report.read_text())["install"]
    now = installed(venv_dir)
    return {canonical(i["metadata"]["name"]): (now.get(canonical(i["metadata"]["name"])), i["metadata"]["version"])
            for i in plan}


def selected_chapters() -> list[Path]:
    """The chapters the test runs: ``$COLAB_SIM_CHAPTERS`` (paths, space-separated) if set, every chapter with
    ``DLEXT_ALL_CHAPTERS=1``, else the rotating one."""
    chosen = os.environ.get("COLAB_SIM_CHAPTERS", "").split()
    if chosen:
        return [(ROOT / c).resolve() for c in chosen]
    return toc_chapters() if os.environ.get("DLEXT_ALL_CHAPTERS") == "1" else rotating_chapters(1)


RUNNER = Path(__file__).with_name("colab_runner.py")  # runs in the simulated Colab


def run_chapter(notebook: Path, venv_dir: Path, clone: Path, mirror: str, log=print) -> dict:
    """Execute one chapter in the simulated Colab; return timings and what the setup cell changed."""
    reset_venv(venv_dir)  # each chapter starts on a fresh Colab
    before = installed(venv_dir)
    extra = re.search(r"dlext(\[[\w,]+\])? @ git\+https", notebook.read_text())
    requirement = f"dlext{extra.group(1) or '' if extra else ''} @ git+file://{clone}@main"
    plan = planned_changes(venv_dir, requirement)  # the cell's install, dry run
    with tempfile.TemporaryDirectory(prefix="colab-content-") as tmp:
        tmp = Path(tmp)
        startup = tmp / "ipython" / "profile_default" / "startup"
        startup.mkdir(parents=True)
        (startup / "00-google-colab.py").write_text(_STARTUP)
        (tmp / "content").mkdir()
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "DLEXT_DATA_DIR", "VIRTUAL_ENV", "MPLBACKEND", "PYTHONHOME",
                            "DLEXT_MODEL_CACHE", "DLEXT_NBVAL_OUT", "DLEXT_METRICS", "DLEXT_STATIC_DEMOS")}
        env.update(DLEXT_DATA_MIRROR=mirror, XDG_CACHE_HOME=str(tmp / "cache"), IPYTHONDIR=str(tmp / "ipython"),
                   PATH=f"{venv_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}")
        report = tmp / "imports.json"
        start = time.perf_counter()
        # Output goes to a file, not a pipe: a kernel that outlives the runner would hold a pipe open (and the
        # caller waiting) for ever.
        with open(tmp / "runner.log", "w+") as output:
            proc = subprocess.Popen([str(_venv_python(venv_dir)), str(RUNNER), str(notebook),
                                     f"git+file://{clone}", str(report), str(CELL_TIMEOUT)],
                                    cwd=tmp / "content", env=env, stdout=output, stderr=subprocess.STDOUT)
            try:
                returncode = proc.wait(timeout=CHAPTER_TIMEOUT)
                stuck = None
            except subprocess.TimeoutExpired:
                proc.kill()
                returncode = proc.wait()
                stuck = _where(Path(f"{report}.progress"))
            leftover = _stop_kernel(Path(f"{report}.pid"))
            seconds = time.perf_counter() - start
            output.seek(0)
            runner_output = output.read()
        imports = json.loads(report.read_text()) if report.is_file() else None
        cached = sorted(str(p.relative_to(tmp / "cache")) for p in (tmp / "cache").rglob("*")
                        if p.is_file() and "dlext" in p.parts)
    after = installed(venv_dir)
    colab = colab_versions()
    problems = []
    # Installing may add packages Colab lacks; it must not touch one Colab has (installed here or not).
    unwanted = {n: c for n, c in plan.items() if n not in CELL_INSTALLS and (n in before or n in colab)}
    if unwanted:
        problems.append(f"installing dlext would change Colab's packages (name: (now, then)): {unwanted}")
    if stuck is not None:
        problems.append(f"the chapter did not finish within {CHAPTER_TIMEOUT} s and was stopped: {stuck}")
    if leftover:
        log(f"{notebook.name}: {leftover}")
    if returncode != 0:
        tail = "\n".join(runner_output.strip().splitlines()[-40:])
        hint = " (a package the setup cell did not provide)" if "ModuleNotFoundError" in tail else ""
        problems.append(f"execution failed{hint}:\n{tail}")
    changed = {n: (v, after.get(n)) for n, v in before.items() if after.get(n) != v}
    if changed:
        problems.append(f"the setup cell changed Colab's packages (name: (before, after)): {changed}")
    added = {n: v for n, v in after.items() if n not in before}
    in_colab = {n: v for n, v in added.items() if n in colab and n not in CELL_INSTALLS}
    if in_colab:
        problems.append(f"the setup cell installed packages that Colab preinstalls, at its own versions: {in_colab} "
                        f"(add them to PREINSTALLED, so the simulation holds Colab's versions)")
    if imports is not None:
        if not imports["colab"]:
            problems.append("google.colab was not imported at kernel start: the setup cell took its local branch")
        if Path(imports["prefix"]).resolve() != venv_dir.resolve():
            problems.append(f"the kernel ran in {imports['prefix']}, not in the simulated Colab {venv_dir}")
        if "site-packages" not in imports["dlext"]:
            problems.append(f"dlext was imported from {imports['dlext']}, not from the cell's install")
        foreign = [d for d in imports["dists"] if canonical(d) not in colab and canonical(d) not in added]
        if foreign:
            problems.append(f"the chapter imported packages neither Colab nor the setup cell provides: {foreign}")
    result = {"chapter": notebook.name, "seconds": round(seconds, 1),
              "kernel_cpu_s": round(imports["kernel_cpu_s"], 1) if imports else None, "added": added, "changed": changed,
              "downloaded": cached, "problems": problems}
    log(f"{notebook.name}: {'ok' if not problems else 'FAILED'} in {seconds:.0f} s"
        f" ({result['kernel_cpu_s']} CPU s in the kernel); setup cell added {added}")
    return result


def _where(progress: Path) -> str:
    """Which cell a stopped run was in, from the runner's progress file."""
    if not progress.is_file():
        return "no cell had started (the kernel did not come up)"
    state = json.loads(progress.read_text())
    return f"{state['where']} had been running for {time.time() - state['at']:.0f} s"


def _stop_kernel(pid_file: Path) -> str | None:
    """Kill the chapter's kernel (and its process group) if it is still running; say so if it was."""
    if not pid_file.is_file():
        return None
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + KERNEL_GRACE
    while time.monotonic() < deadline:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None  # it has exited
        if b"ipykernel" not in cmdline:
            return None  # the number now belongs to another process
        time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:  # jupyter_client starts the kernel in a session of its own
            os.killpg(pid, 9)
        else:
            os.kill(pid, 9)
    return f"its kernel (pid {pid}) was still running {KERNEL_GRACE} s after the runner had exited: killed"


def simulate(notebooks: list[Path], *, data: Path | None = None, rebuild: bool = False, log=print) -> list[dict]:
    """Build or reuse the simulated Colab and run each notebook in it (data served from ``data``)."""
    results = []
    with venv_lock(), tempfile.TemporaryDirectory(prefix="colab-repo-") as repo, \
            serve_directory(data or shared_data_dir()) as (url, reqs):
        start = time.perf_counter()
        venv_dir = build_venv(force=rebuild, log=log)
        log(f"venv ready after {time.perf_counter() - start:.0f} s")
        clone = clone_checkout(Path(repo) / "deep-learning-extensions")
        for nb in notebooks:
            reqs.clear()
            result = run_chapter(nb, venv_dir, clone, url, log=log)
            result["mirror_requests"] = sorted(set(reqs))
            results.append(result)
    return results


@contextlib.contextmanager
def venv_lock():
    """One simulation at a time per checkout: each run installs into, and then cleans, the shared venv."""
    import fcntl

    VENV_DIR.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV_DIR.parent / "colab-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="chapters to run (default: the rotating one)")
    parser.add_argument("--all", action="store_true", help="run every chapter of _toc.yml")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the venv even if it looks current")
    args = parser.parse_args(argv)
    notebooks = toc_chapters() if args.all else [p.resolve() for p in args.notebooks] or rotating_chapters()
    results = simulate(notebooks, rebuild=args.rebuild)
    print(json.dumps(results, indent=1))
    for r in results:
        for p in r["problems"]:
            print(f"{r['chapter']}: {p}", file=sys.stderr)
    return 1 if any(r["problems"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
