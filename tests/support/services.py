"""The real services around the app: PostgreSQL, Redis, free ports and our own child processes.

A service that is not there skips its tests on a developer's machine and fails them in CI
(CI=true), where everything must run.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NoReturn, Self

import asyncpg
import httpx
import pytest

from app.db.engine import create_engine, migrate, start, stop
from app.settings import PROJECT_ROOT

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("SAFE_SHARE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
# The in-process tests and the browser suite's processes each have a Redis database of their own.
REDIS_TEST_URL = os.environ.get("SAFE_SHARE_TEST_REDIS", "redis://127.0.0.1:6379/14")
BROWSER_REDIS_URL = os.environ.get("SAFE_SHARE_TEST_BROWSER_REDIS", "redis://127.0.0.1:6379/13")
START_TIMEOUT = 60.0
# httpx loads the CA bundle for every client it makes (about 35 ms, a sign-in made two); the
# tests' clients speak plain HTTP on loopback, so they share one context, loaded once.
_TLS = ssl.create_default_context()


def http_client(**options: Any) -> httpx.AsyncClient:
    """A client for the services and app processes the tests run on loopback."""
    return httpx.AsyncClient(verify=_TLS, **options)


def service_missing(what: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"{what} is missing (CI=true: every service must be up)")
    pytest.skip(f"{what} is missing")


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open("127.0.0.1", port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


@asynccontextmanager
async def fresh_database(prefix: str) -> AsyncIterator[str]:
    """A new, migrated PostgreSQL database for this test run; dropped afterwards."""
    try:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    except (OSError, asyncpg.PostgresError):
        service_missing("PostgreSQL")
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        engine = create_engine(url)
        await start(engine)
        await migrate(engine)
        await stop(engine)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


class OwnRedis:
    """A redis-server of our own on a free port (no persistence), to stop and start at will."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            service_missing("redis-server")
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="safe-share-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def freeze(self) -> None:
        """Hang without closing connections (SIGSTOP): every command times out."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)  # a frozen process still gets killed
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def own_redis() -> Iterator[OwnRedis]:
    redis = OwnRedis()
    redis.start()
    try:
        yield redis
    finally:
        redis.cleanup()


class ChildProcess:
    """`python -m <module>` from the project's root, its output in a log file; stopped (then
    killed) by `stop()` or at the end of a `with` block, whatever happened."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", *args],
            env={**os.environ, **env, "PYTHONPATH": str(PROJECT_ROOT)},
            cwd=str(PROJECT_ROOT),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Same process group as pytest: whoever kills the test run's group kills these too.
        )

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        """Until `ready()`; a process that exits or takes too long fails the test, with its log."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            if ready():
                return
            time.sleep(0.05)
        self.stop()
        self.fail(f"{what} did not start")

    def fail(self, why: str) -> NoReturn:
        pytest.fail(f"{why} (exit code {self.process.poll()}):\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class AppProcess(ChildProcess):
    """The app under uvicorn, as production runs it: configured only by environment, uvicorn's
    proxy-header handling off (the app reads X-Forwarded-For itself, if told to).

    By default it is what production serves: our redacting access log, none of uvicorn's. With
    `uvicorn_access_log=True` it is the bare app with uvicorn's log of every full path, for tests
    that check what never reaches a server's log.
    """

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        port: int | None = None,
        *,
        uvicorn_access_log: bool = False,
    ) -> None:
        self.port = port or free_port()
        factory = (
            "app.web.app:create_app" if uvicorn_access_log else "app.web.app:create_served_app"
        )
        logs = (
            ["--log-level", "info"]
            if uvicorn_access_log
            else ["--no-access-log", "--log-level", "debug"]
        )
        super().__init__(
            [
                "uvicorn",
                "--factory",
                factory,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-proxy-headers",
                *logs,
            ],
            env,
            log_path,
        )
        self.wait_until(lambda: port_open("127.0.0.1", self.port), "the app")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
