"""The scheduler's child processes (`tracker brief`, `tracker deliver`): each in its own
session with a time limit, all of them killed when stopping runs past its grace period.

Also the shape of tracker's log lines on stderr, which `last_line` leaves out of a child's
message.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger("tracker.schedule")

_LOG_LINE = re.compile(r"^(\S+Z )?tracker\.\w+: ")


@dataclass(frozen=True)
class ChildResult:
    """How one child process (`tracker brief` or `tracker deliver`) ended."""

    code: int
    pid: int
    stdout: str
    stderr: str
    seconds: float
    killed: str  # why it was killed, or ''


class ChildProcesses:
    """The running children and the briefing runs that start them, shared by job threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # guards running, active, killing
        self.running: dict[int, subprocess.Popen[str]] = {}
        self.active = 0  # briefing runs under way
        self.killing = False  # past the grace period: no new child starts

    def run(
        self, command: list[str], env: dict[str, str], timeout: float, limit: str
    ) -> ChildResult | None:
        """Run a child in its own session (a terminal's Ctrl-C reaches only the scheduler);
        None when the scheduler is past its grace period and starts nothing new."""
        started = time.monotonic()
        with self.lock:
            if self.killing:
                return None
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True, env=env, start_new_session=True)  # fmt: skip
            self.running[process.pid] = process
        killed = ""
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            killed = f"killed after the time limit of {timeout:g}s ({limit})"
            _kill_group(process)
            stdout, stderr = process.communicate()
        finally:
            with self.lock:
                self.running.pop(process.pid, None)
        if process.returncode < 0 and not killed:
            name = signal.Signals(-process.returncode).name
            when = " after the stop grace period (TRACKER_STOP_GRACE)" if self.killing else ""
            killed = f"killed by {name}{when}"
        return ChildResult(process.returncode, process.pid, stdout, stderr,
                           time.monotonic() - started, killed)  # fmt: skip

    @contextmanager
    def busy(self) -> Iterator[None]:
        """One briefing run under way: stopping waits for it, also between its children."""
        with self.lock:
            self.active += 1
        try:
            yield
        finally:
            with self.lock:
                self.active -= 1

    def stop_if_idle(self) -> bool:
        """True, and no child starts from now on, when no run and no child is under way."""
        with self.lock:
            if not self.active and not self.running:
                self.killing = True  # a job thread arriving now starts nothing
                return True
        return False

    def kill_remaining(self) -> None:
        """Past the grace period: start no child from now on and SIGKILL those running."""
        with self.lock:
            self.killing = True
            running = list(self.running.values())
        for process in running:
            log.warning("killing pid %d: still running after the grace period", process.pid)
            _kill_group(process)


def _kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL the child and its process group."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


def last_line(text: str) -> str:
    """A child's message in one line: its output without its own log lines, or the last."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    message = [line for line in lines if not _LOG_LINE.match(line)] or lines[-1:]
    return " ".join(message)[-500:]


def log_format(to_journal: bool) -> str:
    """One line per event; journald stamps lines itself, elsewhere a UTC time leads."""
    return "%(name)s: %(message)s" if to_journal else "%(asctime)s %(name)s: %(message)s"
