"""A child process whose output is read line by line on a thread, so that waiting for a line never blocks
on a pipe: the tests that start `databright` services in their own processes (store servers, workers and
coordinators, on this machine or on testbed hosts) all wait for them this way."""

from __future__ import annotations

import queue
import signal
import subprocess
import threading
import time

import pytest


class CliProcess:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 120, poll: float = 0.5) -> str:
        """The first line (from now on) containing `text`; fails the test with the output if none comes
        before `timeout` or the process ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.seen.append(self.lines.get(timeout=poll))
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            if text in self.seen[-1]:
                return self.seen[-1]
        pytest.fail(f"{text!r} never came; output:\n{''.join(self.seen)}")

    def interrupt(self, timeout: float = 30) -> int:
        """Ctrl-C, as a person stops a service; returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=timeout)

    def stop(self, timeout: float = 30) -> None:
        """Ctrl-C, then a kill if it does not end within `timeout`."""
        try:
            self.interrupt(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
