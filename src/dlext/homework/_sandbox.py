"""Operating-system limits for a submission's process (Linux): resource limits and a seccomp filter.

The seccomp filter (x86-64 Linux only; elsewhere :func:`restrict` reports it as missing) refuses,
with EPERM, the system calls a submission needs only to escape: signalling any process but itself
(``kill``, ``tgkill``, ``pidfd_*``), starting processes or programs (``fork``, ``vfork``, ``clone``
without ``CLONE_THREAD``, ``execve``), opening sockets, tracing or writing other processes' memory,
raising its own resource limits, and administrative calls (mount, reboot, modules, BPF, io_uring).
Threads still work (``clone3`` answers ENOSYS so the C library falls back to ``clone``).
"""
import ctypes
import errno
import os
import platform
import resource
import struct

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_SET_DUMPABLE = 38, 22, 4
SECCOMP_MODE_FILTER = 2
AUDIT_ARCH_X86_64 = 0xC000003E
ALLOW, KILL = 0x7FFF0000, 0x80000000
CLONE_THREAD = 0x00010000


def _errno(code: int) -> int:
    return 0x00050000 | code


# x86-64 system call numbers
SIGNAL_SELF = {62: "kill", 234: "tgkill", 129: "rt_sigqueueinfo", 297: "rt_tgsigqueueinfo"}
DENY = {
    200: "tkill", 424: "pidfd_send_signal", 434: "pidfd_open", 438: "pidfd_getfd", 101: "ptrace",
    310: "process_vm_readv", 311: "process_vm_writev", 312: "kcmp", 57: "fork", 58: "vfork", 59: "execve",
    322: "execveat", 41: "socket", 425: "io_uring_setup", 160: "setrlimit", 272: "unshare", 308: "setns",
    165: "mount", 166: "umount2", 161: "chroot", 155: "pivot_root", 169: "reboot", 246: "kexec_load",
    320: "kexec_file_load", 175: "init_module", 313: "finit_module", 176: "delete_module", 167: "swapon",
    168: "swapoff", 164: "settimeofday", 227: "clock_settime", 170: "sethostname", 171: "setdomainname",
    163: "acct", 179: "quotactl", 321: "bpf", 298: "perf_event_open", 250: "keyctl", 248: "add_key",
    249: "request_key", 323: "userfaultfd", 172: "iopl", 173: "ioperm", 105: "setuid", 106: "setgid",
    113: "setreuid", 114: "setregid", 117: "setresuid", 119: "setresgid", 122: "setfsuid", 123: "setfsgid",
    116: "setgroups", 126: "capset",
}
CLONE, CLONE3, PRLIMIT64 = 56, 435, 302


class _Program:
    """A tiny classic-BPF assembler: instructions with symbolic jump targets."""

    def __init__(self):
        self.code, self.labels = [], {}

    def op(self, code: int, k: int = 0, jt=0, jf=0):
        self.code.append([code, jt, jf, k & 0xFFFFFFFF])

    def load(self, offset: int):
        self.op(0x20, offset)  # BPF_LD | BPF_W | BPF_ABS

    def jeq(self, k: int, jt, jf):
        self.op(0x15, k, jt, jf)  # BPF_JMP | BPF_JEQ | BPF_K

    def jset(self, k: int, jt, jf):
        self.op(0x45, k, jt, jf)  # BPF_JMP | BPF_JSET | BPF_K

    def jge(self, k: int, jt, jf):
        self.op(0x35, k, jt, jf)  # BPF_JMP | BPF_JGE | BPF_K

    def ret(self, k: int):
        self.op(0x06, k)  # BPF_RET | BPF_K

    def label(self, name: str):
        self.labels[name] = len(self.code)

    def assemble(self) -> bytes:
        out = []
        for index, (code, jt, jf, k) in enumerate(self.code):
            rel = [(self.labels[t] - index - 1) if isinstance(t, str) else t for t in (jt, jf)]
            if not all(0 <= r < 256 for r in rel):
                raise ValueError("seccomp program jump out of range")
            out.append(struct.pack("<HBBI", code, rel[0], rel[1], k))
        return b"".join(out)


def filter_program(pid: int) -> bytes:
    """The classic-BPF seccomp program for process ``pid`` (see the module docstring)."""
    p = _Program()
    p.load(4)  # seccomp_data.arch
    p.jeq(AUDIT_ARCH_X86_64, 1, 0)
    p.ret(KILL)
    p.load(0)  # seccomp_data.nr
    p.jge(0x40000000, "eperm", 0)  # the x32 ABI: refuse all of it
    for nr in sorted(DENY):
        p.jeq(nr, "eperm", 0)
    p.jeq(CLONE, "clone", 0)
    p.jeq(CLONE3, "enosys", 0)
    p.jeq(PRLIMIT64, "prlimit", 0)
    for nr in sorted(SIGNAL_SELF):
        p.jeq(nr, "self", 0)
    p.ret(ALLOW)
    p.label("clone")
    p.load(16)  # args[0] (flags), low word
    p.jset(CLONE_THREAD, "allow", "eperm")
    p.label("prlimit")
    p.load(32)  # args[2] (the new limit): only reading limits (NULL) is allowed
    p.jeq(0, 0, "eperm")
    p.load(36)
    p.jeq(0, "allow", "eperm")
    p.label("self")
    p.load(16)  # args[0]: the target pid must be this process (or 0, its own process group, for kill)
    p.jeq(pid, "allow", 0)
    p.load(0)
    p.jeq(62, 0, "eperm")
    p.load(16)
    p.jeq(0, "allow", 0)
    p.jeq((-pid) & 0xFFFFFFFF, "allow", "eperm")
    p.label("allow")
    p.ret(ALLOW)
    p.label("eperm")
    p.ret(_errno(errno.EPERM))
    p.label("enosys")
    p.ret(_errno(errno.ENOSYS))
    return p.assemble()


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def set_dumpable(flag: bool) -> bool:
    """Mark this process (un)dumpable: when not, processes without CAP_SYS_PTRACE cannot read or write
    its memory or open its file descriptors through /proc. Returns whether it worked."""
    if platform.system() != "Linux":
        return False
    return _libc().prctl(PR_SET_DUMPABLE, int(flag), 0, 0, 0) == 0


def drop_capabilities() -> bool:
    """Give up every Linux capability (matters when grading runs as root). Returns whether it worked."""
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return False  # the capset system call number below is x86-64's

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header, data = Header(0x20080522, 0), (Data * 2)()
    return _libc().syscall(126, ctypes.byref(header), ctypes.byref(data)) == 0  # capset (x86-64)


def install_filter() -> str:
    """Install the seccomp filter on this process; returns "" or why it could not be installed."""
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return f"no seccomp filter on {platform.system()} {platform.machine()} (x86-64 Linux only)"
    program = filter_program(os.getpid())
    buffer = ctypes.create_string_buffer(program, len(program))

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = Fprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = _libc()
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(ctypes.get_errno())}"
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        return f"installing the seccomp filter failed: {os.strerror(ctypes.get_errno())}"
    return ""


def limit_resources(cpu_seconds: float, memory_bytes: int, file_bytes: int) -> list[str]:
    """CPU time (then SIGKILL), memory, file size and core-dump limits for this process; returns the
    limits the system refused. Memory is RLIMIT_DATA (on Linux: the private writable memory the process
    maps, which is what allocations use), not RLIMIT_AS, because CUDA reserves far more address space
    than it uses."""
    cpu = max(1, int(cpu_seconds))
    missing = []
    for name, limit, value in [("CPU time", resource.RLIMIT_CPU, (cpu, cpu + 5)),  # SIGXCPU, then SIGKILL
                               ("memory", resource.RLIMIT_DATA, (memory_bytes, memory_bytes)),
                               ("file size", resource.RLIMIT_FSIZE, (file_bytes, file_bytes)),
                               ("core dumps", resource.RLIMIT_CORE, (0, 0))]:
        try:
            resource.setrlimit(limit, value)
        except (ValueError, OSError) as err:
            missing.append(f"no {name} limit ({err})")
    return missing
