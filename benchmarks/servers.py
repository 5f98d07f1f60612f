"""Start, watch and stop the servers under test; measure their memory as a process tree."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import httpx

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


class ServerError(RuntimeError):
    """A server did not come up; the message carries the tail of its log."""


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ServerProcess:
    """One server command in its own process group, so stopping it also stops its workers."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        port: int,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.port = port
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.monitor: RssMonitor | None = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # The log is a file, not a pipe: an unread pipe would fill up and stall the server.
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.monitor = RssMonitor(self.proc.pid)
        self.monitor.start()

    async def wait_ready(self, path: str = "/", within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(
            base_url=f"http://{LOOPBACK}:{self.port}", timeout=5
        ) as client:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise ServerError(f"{self.name} exited early:\n{tail(self.log_path)}")
                try:
                    response = await client.get(path)
                except httpx.HTTPError:
                    await asyncio.sleep(0.2)
                    continue
                if response.status_code < 500:
                    return
                await asyncio.sleep(0.2)
        raise ServerError(f"{self.name} not ready after {within:.0f}s:\n{tail(self.log_path)}")

    def stop(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        # Only our own process group: the server's pid is its group id (start_new_session).
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        # Workers that outlived their parent are still in the group.
        _signal_group(proc.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


PROC = Path("/proc")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _parent_map() -> dict[int, int]:
    """pid → parent pid of every process, read from /proc (Linux; empty elsewhere)."""
    parents: dict[int, int] = {}
    for entry in PROC.glob("[0-9]*/stat"):
        try:
            stat = entry.read_text()
        except OSError:
            continue  # the process ended while we looked
        # The command name is in parentheses and may hold spaces; fields after it are fixed.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1:
            parents[int(entry.parent.name)] = int(fields[1])
    return parents


def _tree(pid: int) -> set[int]:
    parents = _parent_map()
    tree = {pid}
    grew = True
    while grew:  # bounded: each pass adds at least one pid or stops
        children = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= children
        grew = bool(children)
    return tree


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process and its descendants have used so far. Per request,
    it is what a server costs whatever else the machine runs, unlike requests per second."""
    total = 0
    for member in _tree(pid):
        try:
            stat = (PROC / str(member) / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes (0 where /proc is absent)."""
    total = 0
    for member in _tree(pid):
        try:
            resident_pages = int((PROC / str(member) / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        total += resident_pages * PAGE_SIZE
    return total


class RssMonitor:
    """Samples a process tree's RSS in a thread, only while a measurement window is open."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid = pid
        self.interval = interval
        self.window_peak = 0
        self._active = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def start_window(self) -> None:
        self.window_peak = tree_rss(self.pid)
        self._active.set()

    def end_window(self) -> int:
        """Peak bytes since start_window, including one last sample."""
        self._active.clear()
        self.window_peak = max(self.window_peak, tree_rss(self.pid))
        return self.window_peak

    def _run(self) -> None:
        # Idle servers are not sampled: the scan of /proc costs the load generator CPU.
        while not self._stop.wait(self.interval):
            if self._active.is_set():
                self.window_peak = max(self.window_peak, tree_rss(self.pid))
