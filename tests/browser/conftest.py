"""The browser suite's fixtures: the app as real server processes, driven by a real headless
Chromium.

One session starts: a throw-away PostgreSQL database (migrated), the app under uvicorn and the
arq worker (`running_site`, Redis from SAFE_SHARE_TEST_BROWSER_REDIS), the OIDC provider (the
shared `issuer` fixture) and one Chromium. Each person in a test gets a fresh browser context.
On failure, every tab's screenshot and HTML go to test-artifacts/<test>/.
The page helpers (Person, Setup, Site...) are in tests/support/browser.py.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Playwright,
    StorageState,
    async_playwright,
    expect,
)

from app.settings import PROJECT_ROOT
from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SETUPS,
    NewContext,
    NewPerson,
    Person,
    Setup,
    Shots,
    Site,
    running_site,
    set_claims,
)
from tests.support.services import fresh_database, service_missing

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()

# Slow shared machines: give pages and assertions room before calling something broken.
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
async def browser_database_url() -> AsyncIterator[str]:
    """The browser suite's own database, apart from the in-process tests' one."""
    async with fresh_database("safe_share_browser") as url:
        yield url


@pytest.fixture(scope="session")
def site(
    browser_database_url: str,
    redis_url: str,  # the in-process tests' fixture: skips (or fails in CI) when Redis is down
    issuer: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Site]:
    """The app and its worker, shared by every browser test of the session."""
    logs = tmp_path_factory.mktemp("browser-logs")
    with running_site(browser_database_url, issuer, logs) as running:
        yield running


@pytest.fixture(scope="session")
async def playwright_driver() -> AsyncIterator[Playwright]:
    if not CHROMIUM.exists():
        service_missing(f"Chromium ({CHROMIUM})")
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


async def save_artifacts(
    request: pytest.FixtureRequest, contexts: list[tuple[str, BrowserContext]]
) -> None:
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    folder.mkdir(parents=True, exist_ok=True)
    for who, context in contexts:
        for number, page in enumerate(context.pages, start=1):
            name = f"{who}-tab{number}"
            try:
                await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
                (folder / f"{name}.html").write_text(await page.content())
            except Exception as exc:  # a crashed tab must not hide the test's own failure
                (folder / f"{name}.error.txt").write_text(repr(exc))
    message = f"browser artifacts (screenshots, HTML): {folder}"
    print(message)
    call_report = request.node.stash.get(PHASE_REPORTS, {}).get("call")
    if call_report is not None:
        call_report.sections.append(("browser artifacts", message))


@pytest.fixture
async def new_context(
    request: pytest.FixtureRequest, browser: Browser
) -> AsyncIterator[NewContext]:
    """`await new_context(who, **options)`: a fresh browser profile, closed after the test (its
    tabs saved to test-artifacts/ first, under `who`, if the test failed)."""
    contexts: list[tuple[str, BrowserContext]] = []

    async def build(who: str = "someone", **options: Any) -> BrowserContext:
        context = await browser.new_context(**options)
        context.set_default_timeout(20_000)
        contexts.append((re.sub(r"[^A-Za-z0-9]+", "-", who), context))
        return context

    try:
        yield build
    finally:
        reports = request.node.stash.get(PHASE_REPORTS, {})
        if any(report.failed for report in reports.values()):
            await save_artifacts(request, contexts)
        await asyncio.gather(*(context.close() for _who, context in contexts))


@pytest.fixture(scope="session")
def signed_in_states() -> dict[tuple[str, tuple[str, ...]], StorageState]:
    """Cookies of people already signed in once this session, to skip the provider's form."""
    return {}


@pytest.fixture
def new_person(
    new_context: NewContext,
    site: Site,
    setup: Setup,
    signed_in_states: dict[tuple[str, tuple[str, ...]], StorageState],
) -> NewPerson:
    """`await new_person(email, groups=[...])`: somebody else, in a browser profile of their own,
    in the test's set-up (or the one given as `setup=`).

    With `signed_in=True` they start signed in (a session shared with earlier tests, so a flow
    that signs out or changes that person's groups must not use it).
    """

    async def build(
        email: str,
        groups: list[str] | None = None,
        *,
        signed_in: bool = False,
        setup: Setup = setup,
    ) -> Person:
        state_key = (email, tuple(groups or ()))
        known = signed_in_states.get(state_key) if signed_in else None
        if known is None:
            await set_claims(site, email, groups)
        context = await new_context(email, **setup.context_options(), storage_state=known)
        person = Person(email=email, site=site, setup=setup, context=context)
        if signed_in and known is None:
            await person.sign_in()
            signed_in_states[state_key] = await context.storage_state()
        return person

    return build
