"""The submission's sandbox: its process runs inside bubblewrap (``bwrap``), Linux namespaces made for it.

Inside, the submission has its own PID namespace (it sees and can signal only its own processes), no
network (a network namespace with nothing in it), its own IPC, UTS and cgroup namespaces and, where the
kernel allows, its own user namespace; its own session (``--new-session``: no terminal to push keys
into); and it dies with the judge (``--die-with-parent``). Its file system is built from nothing: the
system's programs and libraries (``/usr`` and the links to it, a few files of ``/etc``), the Python
installation and its packages, the course datasets and the ``dlext`` package, all bound read-only, a
fresh ``/proc`` and a minimal ``/dev``, and a private, size-capped ``tmpfs`` at ``/tmp`` (holding its
working folder, ``HOME`` and ``TMPDIR``) that nothing else can read. Nothing else of the machine is there: not
the grader's folders, other submissions, instructor tests or the repository. The resource limits and
the seccomp filter (``_sandbox.py``) are still set by the process itself, inside.
"""
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE_MOUNT = "/opt/dlext-grading"  # where the sandbox sees the folder holding the dlext package
SCRATCH = "/tmp"  # the submission's private tmpfs
WORKDIR = "/tmp/grading/submission/work"  # in it: its working folder, HOME and TMPDIR
SHM_BYTES = 16 * 2**20  # the size of its /dev/shm
ETC = ["ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "passwd", "group",
       "nsswitch.conf", "fonts", "mime.types", "ssl/certs"]  # what programs read of /etc, no secrets


def _python_roots() -> list[str]:
    """The folders the Python interpreter and its packages live in (resolved), without repeats."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             str(Path(os.path.realpath(sys.executable)).parent.parent)}
    roots = sorted({os.path.realpath(r) for r in roots if r and os.path.isdir(r)})
    return [r for r in roots if not any(r != o and r.startswith(o + os.sep) for o in roots)]


def command(argv: list[str], package: Path, data_dir: str | None, scratch_bytes: int) -> list[str]:
    """The bwrap command line that runs ``argv`` (a program with paths as the sandbox sees them) in the
    sandbox; ``package`` is the folder of the ``dlext`` package, seen at ``PACKAGE_MOUNT/dlext``."""
    args = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    args += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = f"/{name}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    for device in sorted(glob.glob("/dev/nvidia*")):  # a GPU, where there is one
        args += ["--dev-bind-try", device, device]
    args += ["--size", str(int(scratch_bytes)), "--tmpfs", SCRATCH, "--dir", WORKDIR]
    # after the scratch tmpfs: bwrap mounts in order, so a Python or a data folder that lives under /tmp
    # (a CI clone in /tmp/..., a venv there) would otherwise be hidden by the tmpfs mounted over /tmp
    for root in _python_roots():
        if not root.startswith("/usr/"):
            args += ["--ro-bind", root, root]
    if data_dir and os.path.isdir(data_dir):
        real = os.path.realpath(data_dir)
        args += ["--ro-bind", real, real]
        if real != os.path.abspath(data_dir):
            args += ["--symlink", real, os.path.abspath(data_dir)]
    args += ["--ro-bind", str(package), f"{PACKAGE_MOUNT}/dlext"]
    args += ["--size", str(SHM_BYTES), "--tmpfs", "/dev/shm"]  # POSIX shared memory (semaphores), capped too
    # bwrap's own root and /dev are tmpfs without a size limit: read-only, only the capped scratch is writable
    args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", WORKDIR]
    return args + ["--", *argv]


def unavailable() -> str:
    """Why submissions cannot be sandboxed here ("" when they can): bwrap missing, or namespaces refused."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    probe = command([os.path.realpath(sys.executable), "-I", "-S", "-c", "pass"], Path(__file__).resolve().parents[1],
                    None, 1 << 20)
    try:
        run = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bwrap could not be started ({err})"
    if run.returncode != 0:
        return f"bwrap cannot create its namespaces here (user namespaces disabled?): {run.stderr.strip()[:300]}"
    return ""
