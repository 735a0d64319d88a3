"""What the testbed is made of: running `ip`/`tc`, entering a namespace in one thread, ending processes.

Kept apart from `netns.Testbed` so the set-up logic reads as a list of `ip` commands.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from databright.testbed.errors import TestbedError

CLONE_NEWNET = 0x40000000  # <sched.h>; os.setns exists only from Python 3.12
NETNS_DIR = "/run/netns"  # where `ip netns add` mounts a namespace under its name

_libc = ctypes.CDLL(None, use_errno=True)


def tool(name: str) -> str:
    """The absolute path of iproute2's `ip` or `tc` (so no PATH lookup decides what runs as root)."""
    found = shutil.which(name)
    if found is None:
        raise TestbedError(f"network namespaces need iproute2 ({name} not found)")
    return found


def ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    """Runs `ip [-n NETNS] ARGS...` and returns its output; a refusal becomes a TestbedError naming it."""
    return _run([tool("ip"), *(["-n", netns] if netns else []), *args], check)


def tc(*args: str, netns: str | None = None, check: bool = True) -> str:
    """Runs `tc [-n NETNS] ARGS...` (qdiscs: the links' rate and delay)."""
    return _run([tool("tc"), *(["-n", netns] if netns else []), *args], check)


def _run(argv: Sequence[str], check: bool) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)  # noqa: S603 - iproute2 only
    if check and done.returncode != 0:
        raise TestbedError(f"`{' '.join(argv)}` failed: {done.stderr.strip() or done.returncode}")
    return done.stdout


def namespaces() -> list[str]:
    """The names `ip netns` knows (the first word of each line of `ip netns list`)."""
    return [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise TestbedError(f"setns failed: {os.strerror(err)}")


@contextmanager
def entered(netns: str) -> Iterator[None]:
    """Runs the body with this thread inside `netns`, then puts the thread back where it was.

    A socket belongs to the namespace it was created in for its whole life, so a socket made in the
    body stays a socket of that host after the thread leaves. Only this thread moves (setns is per thread).
    """
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(os.path.join(NETNS_DIR, netns), os.O_RDONLY)
    except OSError:
        os.close(own)
        raise
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def end(proc: subprocess.Popen[Any]) -> None:
    """Terminates `proc`'s session (the process group it leads), killing it if it lingers."""
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
