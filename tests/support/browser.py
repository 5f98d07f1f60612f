"""The browser tests' small API: who is at the keyboard, and what they do on Safe Share's pages.

A flow reads like a story: `alice = await new_person(STAFF)`, `page = await alice.sign_in()`,
`link = await alice.create_secret(page, "...", recipient_email=CUSTOMER)`,
`bob = await new_person(CUSTOMER)`, `page = await bob.open(link)`, `await bob.sign_in(page)`,
`await expect(await bob.reveal(page, link)).to_have_text("...")`.
Every helper works the same with JavaScript on (htmx swaps) and off (full page loads).
The fixtures that give these out (the site, Chromium, `new_person`) are in tests/browser/conftest.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from playwright.async_api import BrowserContext, Locator, Page, expect

from app.settings import Settings, load_settings
from tests.support.apps import NO_RATE_LIMITS
from tests.support.services import (
    BROWSER_REDIS_URL,
    AppProcess,
    ChildProcess,
    free_port,
    http_client,
)

CHROMIUM = Path(os.environ.get("SAFE_SHARE_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE_USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36"
)
SIGN_IN = "Sign in with Prowise Account"
LINK = re.compile(r"/s/(?P<id>[A-Za-z0-9_-]+)#(?P<key>[A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Setup:
    """One way of visiting the site: a screen, an input method, scripts on or off."""

    name: str
    viewport: dict[str, int]
    javascript: bool = True
    phone: bool = False  # a phone's browser: touch, its user agent, a dense screen
    locale: str = "en-GB"  # the browser's language (Accept-Language)
    color_scheme: str = "light"

    def context_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "viewport": self.viewport,
            "java_script_enabled": self.javascript,
            "locale": self.locale,
            "color_scheme": self.color_scheme,
            "timezone_id": "Europe/Amsterdam",
        }
        if self.phone:
            options.update(
                is_mobile=True, has_touch=True, user_agent=PHONE_USER_AGENT, device_scale_factor=2
            )
        return options


DESKTOP = Setup("desktop", {"width": 1280, "height": 800})
PHONE = Setup("phone", {"width": 390, "height": 844}, phone=True)
NO_JAVASCRIPT = Setup("nojs", {"width": 1280, "height": 800}, javascript=False)
SETUPS = (DESKTOP, PHONE, NO_JAVASCRIPT)


@dataclass(frozen=True)
class Site:
    """The running app (and its worker) and what surrounds it."""

    base_url: str
    issuer: str
    database_url: str
    settings: Settings
    logs: tuple[Path, ...] = ()

    def log_text(self) -> str:
        """Everything the app and the worker have logged so far (access log included)."""
        return "".join(path.read_text(errors="replace") for path in self.logs)

    async def query(self, sql: str, *args: object) -> list[asyncpg.Record]:
        """A look into (or a change to) the site's database, behind the app's back."""
        connection = await asyncpg.connect(self.database_url)
        try:
            return list(await connection.fetch(sql, *args))
        finally:
            await connection.close()

    async def value(self, sql: str, *args: object) -> Any:
        rows = await self.query(sql, *args)
        return rows[0][0] if rows else None


@contextmanager
def running_site(
    database_url: str, issuer: str, logs: Path, *, worker: bool = True, **env: str
) -> Iterator[Site]:
    """The app under uvicorn (and the arq worker) as real processes, configured only by
    environment (`env` as settings: `oidc_trust_email="true"`); stopped when the block ends.

    uvicorn's own access log is on, so tests can check what never reaches a server's log.
    """
    port = free_port()
    values = {
        "SAFE_SHARE_ENV": "development",
        "SAFE_SHARE_DATABASE_URL": database_url,
        "SAFE_SHARE_REDIS_URL": BROWSER_REDIS_URL,
        "SAFE_SHARE_BASE_URL": f"http://127.0.0.1:{port}",
        "SAFE_SHARE_OIDC_ISSUER": issuer,
        "SAFE_SHARE_SECRET_KEY": "browser-test-master-key-" + os.urandom(16).hex(),
        # Every browser signs in from 127.0.0.1: the flows must not run into the rate limits.
        **NO_RATE_LIMITS,
        **{f"SAFE_SHARE_{key.upper()}": value for key, value in env.items()},
    }
    with ExitStack() as stack:
        app = stack.enter_context(
            AppProcess(values, logs / "app.log", port, uvicorn_access_log=True)
        )
        processes: list[ChildProcess] = [app]
        if worker:
            arq = stack.enter_context(ChildProcess(["app.worker"], values, logs / "worker.log"))
            arq.wait_until(lambda: "Starting worker" in arq.output(), "the arq worker")
            processes.append(arq)
        yield Site(
            base_url=app.url,
            issuer=issuer,
            database_url=database_url,
            settings=load_settings({**os.environ, **values}, dev_dir=logs),
            logs=tuple(process.log_path for process in processes),
        )
        # A process that died mid-run would explain odd failures: say so.
        for process in processes:
            if process.process.poll() is not None:
                process.fail(f"{process.log_path.stem} exited early")


@dataclass
class Shots:
    """One screenshot per flow step, only when SAFE_SHARE_SCREENSHOTS names a folder."""

    folder: Path | None
    prefix: str
    taken: int = 0

    async def take(self, page: Page, step: str) -> None:
        if self.folder is None:
            return
        self.taken += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        await page.screenshot(
            path=str(self.folder / f"{self.prefix}-{self.taken:02d}-{step}.png"), full_page=True
        )


@dataclass
class Person:
    """Somebody with their own browser profile (cookies, tabs); tabs are kept for artifacts."""

    email: str
    site: Site
    setup: Setup
    context: BrowserContext
    pages: list[Page] = field(default_factory=list)

    async def new_tab(self) -> Page:
        page = await self.context.new_page()
        self.pages.append(page)
        return page

    async def open(self, url: str) -> Page:
        """A new tab on this URL, as when a link is clicked in a mail or chat app."""
        page = await self.new_tab()
        await page.goto(url)
        return page

    async def home(self) -> Page:
        return await self.open(self.site.base_url + "/")

    async def sign_in(self, page: Page | None = None) -> Page:
        """From the page's "Sign in" button through the provider's form and back, signed in."""
        page = page or await self.home()
        back_to = urlsplit(page.url).path
        await self.press(page.get_by_role("link", name=SIGN_IN))
        await page.wait_for_url(f"{self.site.issuer}/**")
        await page.locator("input[name=sub]").fill(self.email)
        await self.press(page.get_by_role("button", name="Authorize"))
        await page.wait_for_url(self.site.base_url + back_to)
        await expect(page.get_by_role("navigation", name="Main")).to_be_visible()
        return page

    async def open_account_menu(self, page: Page) -> Locator:
        """The header's account menu (a <details>: works with and without scripts), opened."""
        menu = page.locator("#account-menu")
        if await menu.get_attribute("open") is None:
            await self.press(menu.locator("summary"))
        await expect(menu.locator("form[action='/auth/logout'] button")).to_be_visible()
        return menu

    async def press(self, target: Locator) -> None:
        """A tap on a phone, a click elsewhere."""
        if self.setup.phone:
            await target.tap()
        else:
            await target.click()

    async def create_secret(
        self,
        page: Page,
        content: str,
        *,
        recipient_email: str | None = None,
        recipient_group: str | None = None,
        max_views: int = 1,
        expires_in: str = "1 day",
        label: str | None = None,
    ) -> str:
        """Fill in the home page's form and return the link, read from its read-only field."""
        await page.get_by_label("Secret", exact=True).fill(content)
        if recipient_email is not None:
            await page.get_by_label("Recipient's email address").fill(recipient_email)
        if recipient_group is not None:
            await page.get_by_label(recipient_group, exact=True).check()
        await page.get_by_label("Expires after").select_option(label=expires_in)
        await page.get_by_label("Can be opened").select_option(str(max_views))
        if label is not None:
            await page.get_by_label("Private label (optional)").fill(label)
        await self.press(page.get_by_role("button", name="Create secret link"))
        link_field = page.get_by_label("Link to send")
        await expect(link_field).to_be_visible()
        link = await link_field.input_value()
        assert LINK.search(link), link
        return link

    async def invite(self, label: str) -> tuple[Page, str]:
        """A new invitation from /invitations, for `label`; the tab and the invitation link."""
        page = await self.open(self.site.base_url + "/invitations")
        await page.get_by_label("Who is it for? (optional)").fill(label)
        await self.press(page.get_by_role("button", name="Create invitation link"))
        link_field = page.get_by_role("textbox", name="Invitation link")
        await expect(link_field).to_be_visible()
        return page, await link_field.input_value()

    async def reveal(self, page: Page, link: str) -> Locator:
        """Press "Reveal secret"; without scripts, first paste the link into the visible Key field."""
        key_field = page.get_by_label("Key", exact=True)
        if self.setup.javascript:
            # The script took the key from the link's fragment (kept through sign-in).
            await expect(key_field).to_be_hidden()
        else:
            await expect(key_field).to_be_visible()
            await key_field.fill(link)
        await self.press(page.get_by_role("button", name="Reveal secret"))
        return page.locator("#secret-content")


# The fixtures' builders: `await new_person(email, groups=[...], signed_in=True, setup=PHONE)`
# and `await new_context(who, **playwright_context_options)`.
NewPerson = Callable[..., Awaitable[Person]]
NewContext = Callable[..., Awaitable[BrowserContext]]


async def set_claims(
    site: Site, email: str, groups: list[str] | None = None, *, locale: str | None = None
) -> None:
    """Pre-set what the provider will say about this person: a verified email, their groups."""
    claims: dict[str, Any] = {
        "email": email,
        "email_verified": True,
        "name": email.split("@", maxsplit=1)[0].title(),
        "groups": groups or [],
    }
    if locale is not None:
        claims["locale"] = locale
    async with http_client() as provider:
        response = await provider.put(f"{site.issuer}/users/{email}", json=claims)
        response.raise_for_status()


def secret_id(link: str) -> str:
    match = LINK.search(link)
    assert match, link
    return match.group("id")


def secret_key(link: str) -> str:
    match = LINK.search(link)
    assert match, link
    return match.group("key")


async def expire_now(site: Site, secret: str) -> None:
    """Move a secret's expiry into the past in the database: time passes without sleeping."""
    rows = await site.query(
        "UPDATE secret SET expires_at = now() - interval '1 minute' WHERE id = $1 RETURNING id",
        secret,
    )
    assert len(rows) == 1, rows


async def views_left(site: Site, secret: str) -> int | None:
    value: int | None = await site.value("SELECT views_left FROM secret WHERE id = $1", secret)
    return value


async def encrypted_by(site: Site, secret: str) -> str:
    return str(await site.value("SELECT encrypted_by FROM secret WHERE id = $1", secret))


async def audit_actions(site: Site, secret: str) -> list[str]:
    rows = await site.query(
        "SELECT action FROM audit_event WHERE secret_id = $1 ORDER BY id", secret
    )
    return [str(row["action"]) for row in rows]
