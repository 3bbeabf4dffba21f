"""Guards used inside a submission's process (``_child.py``): time limits, capped output, a file guard.

Each request runs under a wall-clock alarm; the student's printing goes to a capped stream; an audit
hook refuses to delete, rename or write files outside the sandbox directory and to start processes.
The audit hook guards against accidents and careless code only: code that means harm can get around
it (ctypes, for one). The limits that hold against such code are the process's own: resource limits,
the seccomp filter (``_sandbox.py``), and the fact that verdicts are computed in another process.
"""
import contextlib
import io
import os
import signal
import sys
from pathlib import Path

MESSAGE_LIMIT = 1000  # characters of any one message sent back to the grader
PATH_EVENTS = {  # audit event -> indices of its path arguments that must stay inside the sandbox
    "os.remove": (0,), "os.rmdir": (0,), "os.rename": (0, 1), "shutil.rmtree": (0,), "os.truncate": (0,),
    "os.chmod": (0,), "os.chown": (0,), "os.mkdir": (0,), "os.symlink": (1,), "os.link": (0, 1),
    "os.utime": (0,), "os.setxattr": (0,), "os.removexattr": (0,), "shutil.move": (0, 1),
}
DIR_FD = {"os.remove": 1, "os.rmdir": 1, "shutil.rmtree": 1, "os.mkdir": 2, "os.chmod": 2, "os.chown": 3,
          "os.utime": 3, "os.symlink": 2}  # audit event -> index of its dir_fd argument
PROCESS_EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                  "os.forkpty", "pty.spawn"}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class TimeLimit(BaseException):
    """Raised by the alarm; a BaseException so that a student's ``except Exception`` cannot swallow it."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Interrupt the block with TimeLimit after ``seconds`` of wall-clock time."""
    def expire(signum, frame):
        raise TimeLimit(f"stopped after the {seconds:g} s time limit")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class CappedOutput(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters written to it and drops the rest."""

    def __init__(self, file, limit: int):
        self.file, self.left, self.dropped = file, limit, False

    def write(self, text: str) -> int:
        if self.left > 0:
            self.file.write(text[: self.left])
            self.left -= min(len(text), self.left)
        elif not self.dropped:
            self.dropped = True
            self.file.write("\n[output limit reached: the rest of the printed output was dropped]\n")
        return len(text)

    def flush(self) -> None:
        self.file.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False


def install_guard(sandbox: Path) -> None:
    """Refuse (PermissionError) file changes outside ``sandbox`` and new processes, from now on."""
    root = os.path.realpath(sandbox)

    def inside(path, dir_fd=None) -> bool:
        if isinstance(path, int):
            return True  # an already-open descriptor: its opening was checked
        path = os.fsdecode(path)
        if isinstance(dir_fd, int) and dir_fd >= 0 and not os.path.isabs(path):
            path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
        real = os.path.realpath(path)
        return real == root or real.startswith(root + os.sep) or real == os.devnull

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & WRITE_FLAGS)
            if writing and path is not None and not inside(path):
                raise PermissionError(f"grading sandbox: writing {path} is not allowed (only inside its own folder)")
        elif event in PATH_EVENTS:
            dir_fd = args[DIR_FD[event]] if event in DIR_FD and len(args) > DIR_FD[event] else None
            if event in ("os.rename", "os.link") and any(isinstance(fd, int) and fd >= 0 for fd in args[2:4]):
                raise PermissionError(f"grading sandbox: {event} relative to a directory descriptor is not allowed")
            for i in PATH_EVENTS[event]:
                if args[i] is not None and not inside(args[i], dir_fd):
                    raise PermissionError(f"grading sandbox: {event} on {args[i]} is not allowed")
        elif event in PROCESS_EVENTS:
            raise PermissionError(f"grading sandbox: starting processes ({event}) is not allowed")

    sys.addaudithook(hook)
