"""Creating files in staging as the process that asked, so they are its own.

A daemon running as root would otherwise own every new file, apply its own
group instead of a setgid directory's, and never strip a setgid bit the
caller may not set.  Linux keeps the file-system uid and gid (and the
supplementary groups, when set by the raw system call) per thread, so the
trio thread takes on the caller's for one system call and then drops them;
worker threads are never affected.  The caller's supplementary groups come
from /proc: the kernel's rules for a setgid bit depend on them.
"""

import ctypes
import os
import platform
from contextlib import contextmanager

_libc = ctypes.CDLL(None, use_errno=True)
# glibc's setgroups() changes every thread of the process; the system call only this one
_SETGROUPS = {"x86_64": 116, "aarch64": 159, "riscv64": 159}.get(platform.machine())
_AS_ROOT = os.geteuid() == 0 and _SETGROUPS is not None
_OWN_GROUPS = os.getgroups()


def caller_groups(pid: int) -> list[int]:
    """The supplementary groups of a process (none if it is gone)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Groups:"):
                    return [int(g) for g in line.split()[1:]]
    except OSError:
        pass
    return []


def _set_groups(groups: list[int]) -> None:
    array = (ctypes.c_uint * max(len(groups), 1))(*groups)
    if _libc.syscall(_SETGROUPS, len(groups), array) != 0:
        raise OSError(ctypes.get_errno(), "setgroups failed")


@contextmanager
def as_caller(ctx):
    """Run the enclosed system calls with the file-system identity of ``ctx``'s process.

    A daemon that is not root creates everything as itself (it can do nothing
    else; the kernel then sees one owner, as with any user mount)."""
    if not _AS_ROOT or (ctx.uid, ctx.gid) == (0, 0):
        yield
        return
    _set_groups(caller_groups(ctx.pid))
    _libc.setfsgid(ctx.gid)
    _libc.setfsuid(ctx.uid)
    try:
        yield
    finally:
        _libc.setfsuid(0)
        _libc.setfsgid(0)
        _set_groups(_OWN_GROUPS)
