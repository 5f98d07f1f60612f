"""The browser harness: the app as real server processes, driven by a real headless Chromium.

One session starts: a throw-away PostgreSQL database (migrated), the app under uvicorn, the arq
worker (both subprocesses, Redis db 13), the OIDC provider (the shared `issuer` fixture) and one
Chromium. Each person in a test gets a fresh browser context. On failure, every tab's screenshot
and HTML go to test-artifacts/<test>/.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, Playwright, StorageState, async_playwright, expect

from app.db.engine import create_engine, migrate, start, stop
from app.settings import PROJECT_ROOT
from tests.browser.harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SETUPS,
    Person,
    Setup,
    Shots,
    Site,
    set_claims,
)
from tests.conftest import RATE_LIMITS

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("SAFE_SHARE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
# Its own Redis database, apart from the unit tests' db 14.
BROWSER_REDIS_URL = os.environ.get("SAFE_SHARE_TEST_BROWSER_REDIS", "redis://127.0.0.1:6379/13")
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
START_TIMEOUT = 60.0

NewPerson = Callable[..., Awaitable[Person]]
PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()

# Slow shared machines: give pages and assertions room before calling something broken.
expect.set_options(timeout=15_000)


def missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is missing (CI=true: the browser suite must run)")
    pytest.skip(f"{what} is missing")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
async def browser_database_url() -> AsyncIterator[str]:
    """The browser suite's own database, apart from the unit tests' one, dropped afterwards."""
    try:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    except (OSError, asyncpg.PostgresError):
        missing("PostgreSQL")
    name = f"safe_share_browser_{os.getpid()}_{secrets.token_hex(3)}"
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


def spawn(
    stack: ExitStack, args: list[str], env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """A child process that is stopped (then killed) when the stack closes, whatever happened."""
    log: IO[bytes] = stack.enter_context(log_path.open("wb"))
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        # Same process group as pytest: whoever kills the test run's group kills these too.
    )

    def stop_process() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    stack.callback(stop_process)
    return process


def wait_until(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], log_path: Path, what: str
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if ready():
            return
        time.sleep(0.2)
    tail = log_path.read_text(errors="replace")[-3000:]
    pytest.fail(f"{what} did not start (exit code {process.poll()}):\n{tail}")


def answers_health(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def site(
    browser_database_url: str,
    redis_url: str,  # the unit tests' fixture: skips (or fails in CI) when Redis is down
    issuer: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Site]:
    """The app (uvicorn) and the arq worker as real processes, configured only by environment."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("browser-logs")
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "SAFE_SHARE_ENV": "development",
        "SAFE_SHARE_DATABASE_URL": browser_database_url,
        "SAFE_SHARE_REDIS_URL": BROWSER_REDIS_URL,
        "SAFE_SHARE_BASE_URL": base_url,
        "SAFE_SHARE_OIDC_ISSUER": issuer,
        "SAFE_SHARE_SECRET_KEY": "browser-test-master-key-" + secrets.token_hex(16),
        # Every browser signs in from 127.0.0.1: the flows must not run into the rate limits.
        **{f"SAFE_SHARE_RATE_{name}": "10000" for name in RATE_LIMITS},
    }
    with ExitStack() as stack:
        app_log, worker_log = logs / "app.log", logs / "worker.log"
        server = spawn(
            stack,
            [
                "-m",
                "uvicorn",
                "--factory",
                "app.web.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-proxy-headers",  # as production: the app reads X-Forwarded-For itself
                "--log-level",
                "info",  # with the access log, so tests can check what never reaches it
            ],
            env,
            app_log,
        )
        worker = spawn(stack, ["-m", "app.worker"], env, worker_log)
        wait_until(lambda: answers_health(f"{base_url}/healthz"), server, app_log, "the app")
        wait_until(
            lambda: "Starting worker" in worker_log.read_text(errors="replace"),
            worker,
            worker_log,
            "the arq worker",
        )
        yield Site(
            base_url=base_url,
            issuer=issuer,
            database_url=browser_database_url,
            logs=(app_log, worker_log),
        )
        # A process that died mid-run would explain odd failures: say so.
        for process, log_path in ((server, app_log), (worker, worker_log)):
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"{log_path.stem} exited early ({process.returncode}):\n{tail}")


@pytest.fixture(scope="session")
async def playwright_driver() -> AsyncIterator[Playwright]:
    if not CHROMIUM.exists():
        missing(f"Chromium ({CHROMIUM})")
    async with async_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
async def browser(playwright_driver: Playwright) -> AsyncIterator[Browser]:
    """One Chromium for the whole session; people get their own contexts (cookies, storage)."""
    chromium = await playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield chromium
    finally:
        await chromium.close()


@pytest.fixture(params=SETUPS, ids=[setup.name for setup in SETUPS])
def setup(request: pytest.FixtureRequest) -> Setup:
    """Every flow runs on a desktop, on a phone and with JavaScript off."""
    chosen: Setup = request.param
    return chosen


def artifact_folder_name(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")


@pytest.fixture
def shots(request: pytest.FixtureRequest, setup: Setup) -> Shots:
    folder = os.environ.get("SAFE_SHARE_SCREENSHOTS")
    flow = request.node.originalname.removeprefix("test_")
    return Shots(Path(folder) if folder else None, f"{flow}-{setup.name}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Keep each phase's report on the test, so fixtures can tell whether it failed.
    report: pytest.TestReport = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


async def save_artifacts(request: pytest.FixtureRequest, people: list[Person]) -> None:
    folder = ARTIFACTS / artifact_folder_name(request)
    folder.mkdir(parents=True, exist_ok=True)
    for person in people:
        who = re.sub(r"[^A-Za-z0-9]+", "-", person.email)
        for number, page in enumerate(person.pages, start=1):
            if page.is_closed():
                continue
            try:
                await page.screenshot(path=str(folder / f"{who}-tab{number}.png"), full_page=True)
                (folder / f"{who}-tab{number}.html").write_text(await page.content())
            except Exception as exc:  # a crashed tab must not hide the test's own failure
                (folder / f"{who}-tab{number}.error.txt").write_text(repr(exc))
    message = f"browser artifacts (screenshots, HTML): {folder}"
    print(message)
    call_report = request.node.stash.get(PHASE_REPORTS, {}).get("call")
    if call_report is not None:
        call_report.sections.append(("browser artifacts", message))


@pytest.fixture(scope="session")
def signed_in_states() -> dict[tuple[str, tuple[str, ...]], StorageState]:
    """Cookies of people already signed in once this session, to skip the provider's form."""
    return {}


@pytest.fixture
async def new_person(
    request: pytest.FixtureRequest,
    browser: Browser,
    site: Site,
    setup: Setup,
    signed_in_states: dict[tuple[str, tuple[str, ...]], StorageState],
) -> AsyncIterator[NewPerson]:
    """`await new_person(email, groups=[...])`: somebody else, in a browser profile of their own.

    With `signed_in=True` they start signed in (a session shared with earlier tests, so a flow
    that signs out or changes that person's groups must not use it).
    """
    people: list[Person] = []

    async def build(
        email: str, groups: list[str] | None = None, *, signed_in: bool = False
    ) -> Person:
        state_key = (email, tuple(groups or ()))
        known = signed_in_states.get(state_key) if signed_in else None
        if known is None:
            await set_claims(site, email, groups)
        context = await browser.new_context(**setup.context_options(), storage_state=known)
        context.set_default_timeout(20_000)
        person = Person(email=email, site=site, setup=setup, context=context)
        people.append(person)
        if signed_in and known is None:
            await person.sign_in()
            signed_in_states[state_key] = await context.storage_state()
        return person

    try:
        yield build
    finally:
        reports = request.node.stash.get(PHASE_REPORTS, {})
        if any(report.failed for report in reports.values()):
            await save_artifacts(request, people)
        await asyncio.gather(*(person.context.close() for person in people))
