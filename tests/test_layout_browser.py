"""Every page in real Chromium: phone and desktop, en/nl/de, no sideways scroll, axe-core clean.

The app runs under uvicorn on a free 127.0.0.1 port (SQLite, the dev identity provider).
axe-core (tests/vendor/axe.min.js, from the npm package) is injected by the test only; the
app never serves it. Chromium missing: skipped locally, a failure when CI=true.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn

from app.db.engine import create_engine, migrate, start, stop
from app.dev_identity import run_identity_provider
from app.settings import PROJECT_ROOT, load_settings
from app.web.app import create_app
from app.web.sessions import session_cookie_name
from tests.conftest import IN_CI, RATE_LIMITS

pytestmark = pytest.mark.browser

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
AXE = PROJECT_ROOT / "tests" / "vendor" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
VIEWPORTS = {
    "phone": {"width": 360, "height": 740},
    "desktop": {"width": 1280, "height": 800},
}
SUBRESOURCES = {"stylesheet", "script", "image", "font", "media", "manifest"}
STAFF = "alice@prowise.com"
CUSTOMER = "bob@example.com"
# Part of the visible text each page must show in each language (proves the right page).
MARKERS = {
    "en": {"created": "Your secret link is ready", "revealed": "It has now been deleted"},
    "nl": {"created": "Je geheime link is klaar", "revealed": "Het is nu uit Safe Share"},
    "de": {"created": "Ihr geheimer Link ist bereit", "revealed": "Es wurde jetzt aus Safe Share"},
}

# Inline text links are exempt from the 44 px rule (WCAG 2.5.8 inline exception); a radio
# button's target is its whole label.
TOO_SMALL_TARGETS = """() => [...document.querySelectorAll(
    'button, .button, input:not([type=hidden]), select, textarea, summary, .brand')]
  .filter(el => el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden'
    && !el.closest('.visually-hidden'))
  .map(el => (el.type === 'radio' || el.type === 'checkbox') && el.closest('label')
    ? el.closest('label') : el)
  .map(el => [el.id || el.className || el.tagName, el.getBoundingClientRect()])
  .filter(([, r]) => r.height < 44 || r.width < 44)
  .map(([name, r]) => `${name}: ${Math.round(r.width)}x${Math.round(r.height)}`)"""

OVERFLOW = """() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"""

RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveApp:
    url: str
    issuer: str
    session_cookie: str

    def sign_in(self, email: str) -> str:
        """The real authorization code flow over HTTP; returns the session cookie's value."""
        with httpx.Client() as idp:
            claims = {"email": email, "email_verified": True, "name": email.split("@", 1)[0]}
            idp.put(f"{self.issuer}/users/{email}", json=claims).raise_for_status()
        with httpx.Client(base_url=self.url) as app, httpx.Client() as idp:
            start = app.get("/auth/login", params={"next": "/"})
            approved = idp.post(start.headers["location"], data={"sub": email})
            callback = urlsplit(approved.headers["location"])
            app.get(f"{callback.path}?{callback.query}")
            return str(app.cookies[self.session_cookie])


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    port = free_port()
    database_url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'safe_share.sqlite'}"
    with run_identity_provider(port=0) as issuer:
        settings = load_settings(
            {
                "SAFE_SHARE_DATABASE_URL": database_url,
                "SAFE_SHARE_OIDC_ISSUER": issuer,
                "SAFE_SHARE_BASE_URL": f"http://127.0.0.1:{port}",
                "SAFE_SHARE_SECRET_KEY": "browser-test-key-" + "x" * 32,
                **{f"SAFE_SHARE_RATE_{name}": "10000" for name in RATE_LIMITS},
            },
            dev_dir=tmp_path_factory.mktemp("dev"),
        )
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings),
                host="127.0.0.1",
                port=port,
                log_level="warning",
                proxy_headers=False,  # as production: the app reads X-Forwarded-For itself
            )
        )

        async def serve() -> None:
            engine = create_engine(database_url)
            await start(engine)
            await migrate(engine)
            await stop(engine)
            await server.serve()

        thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
        thread.start()
        for _attempt in range(200):
            if server.started:
                break
            threading.Event().wait(0.05)  # waiting for start-up, not for app time
        assert server.started, "the app did not start"
        try:
            yield LiveApp(f"http://127.0.0.1:{port}", issuer, session_cookie_name(settings))
        finally:
            server.should_exit = True
            thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if IN_CI:
            pytest.fail(f"Chromium is missing at {CHROMIUM} (CI=true)")
        pytest.skip(f"Chromium is missing at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Finding:
    page: str
    problem: str


class Inspector:
    """Runs the layout and accessibility checks on whatever a tab shows now."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.axe_source = AXE.read_text(encoding="utf-8")
        self.checked: list[str] = []

    def check(self, tab: Any, name: str, language: str) -> None:
        self.checked.append(name)
        if tab.evaluate("document.documentElement.lang") != language:
            self.findings.append(Finding(name, f"html lang is not {language}"))
        scroll_width, client_width = tab.evaluate(OVERFLOW)
        if scroll_width > client_width:
            self.findings.append(Finding(name, f"scrolls sideways: {scroll_width}>{client_width}"))
        for target in tab.evaluate(TOO_SMALL_TARGETS):
            self.findings.append(Finding(name, f"touch target under 44px: {target}"))
        # Evaluated over the DevTools protocol: the page's CSP stays on and still forbids
        # inline scripts, so a CSP mistake in our templates would show up below.
        tab.evaluate(self.axe_source)
        for violation in tab.evaluate(RUN_AXE, AXE_TAGS):
            if violation["impact"] in ("serious", "critical"):
                self.findings.append(Finding(name, "axe: " + json.dumps(violation)))
            else:
                print(f"axe ({violation['impact']}) on {name}: {violation['id']}")


def watch_console(tab: Any, name: str, inspector: Inspector) -> None:
    def on_console(message: Any) -> None:
        # Error pages answer 401/404 on purpose; failed sub-resources are caught below.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            inspector.findings.append(Finding(name, f"console error: {message.text}"))

    def on_response(response: Any) -> None:
        # Pages and htmx answers may be 4xx on purpose; a missing stylesheet or script never.
        if response.request.resource_type in SUBRESOURCES and response.status >= 400:
            inspector.findings.append(Finding(name, f"{response.status} for {response.url}"))

    tab.on("console", on_console)
    tab.on("response", on_response)
    tab.on("pageerror", lambda error: inspector.findings.append(Finding(name, f"error: {error}")))


def visit_as_anonymous(tab: Any, url: str, inspector: Inspector, language: str) -> None:
    tab.goto(f"{url}/")
    inspector.check(tab, "home signed out", language)
    tab.goto(f"{url}/no/such/page")
    inspector.check(tab, "not found", language)
    tab.goto(f"{url}/s/{'A' * 22}")
    inspector.check(tab, "sign-in required", language)


def create_as_staff(tab: Any, url: str, inspector: Inspector, language: str) -> str:
    tab.goto(f"{url}/")
    inspector.check(tab, "home staff", language)
    tab.click("#create button[type=submit]")  # empty: refused, errors tied to the fields
    tab.wait_for_selector(".form-error")
    assert tab.evaluate("document.activeElement.className") == "form-error"
    assert tab.get_attribute("#content", "aria-invalid") == "true"
    inspector.check(tab, "form errors", language)
    tab.fill("#content", "correct horse battery staple")
    tab.fill("#recipient_email", CUSTOMER)
    tab.click("#create button[type=submit]")
    tab.wait_for_selector("#created-title")
    assert MARKERS[language]["created"] in tab.inner_text("#created-title")
    # After the htmx swap focus moves to the new heading, for screen readers and keyboards.
    assert tab.evaluate("document.activeElement.id") == "created-title"
    tab.click("details.two-channels summary")
    inspector.check(tab, "created", language)
    return str(tab.input_value("#secret-link"))


def reveal_as_customer(tab: Any, link: str, inspector: Inspector, language: str) -> None:
    tab.goto(link)
    # The key moved from the address bar into the form: the field is hidden and filled.
    assert "#" not in tab.url
    assert tab.is_hidden("#key")
    inspector.check(tab, "secret", language)
    tab.click("#reveal button[type=submit]")
    tab.wait_for_selector("#secret-content")
    assert tab.inner_text("#secret-content") == "correct horse battery staple"
    # Focus lands on the secret and the live region announces it.
    assert tab.evaluate("document.activeElement.id") == "secret-content"
    # A function, not an expression: Playwright would eval() one, which our CSP forbids.
    tab.wait_for_function("() => document.getElementById('announcer').textContent !== ''")
    assert MARKERS[language]["revealed"] in tab.inner_text(".revealed .hint")
    inspector.check(tab, "revealed", language)


# Every language on a phone and a desktop in the light theme; the dark theme once on a phone
# (axe checks its contrast in a real rendering; test_accessibility.py computes every pair).
RUNS = [
    *((viewport, "light", language) for viewport in VIEWPORTS for language in ("en", "nl", "de")),
    ("phone", "dark", "en"),
]


@pytest.mark.parametrize(("viewport", "scheme", "language"), RUNS)
def test_every_page_fits_the_screen_and_passes_axe(
    browser: Any, live_app: LiveApp, viewport: str, scheme: str, language: str
) -> None:
    inspector = Inspector()
    host = urlsplit(live_app.url).hostname or "127.0.0.1"

    def context(session: str | None) -> Any:
        # One context per person, all at this viewport; the picker's cookie sets the language.
        ctx = browser.new_context(viewport=VIEWPORTS[viewport], color_scheme=scheme, locale="en-GB")
        cookies = [{"name": "safe_share_lang", "value": language, "domain": host, "path": "/"}]
        if session:
            cookies.append(
                {"name": live_app.session_cookie, "value": session, "domain": host, "path": "/"}
            )
        ctx.add_cookies(cookies)
        return ctx

    def tab(ctx: Any, name: str) -> Any:
        page = ctx.new_page()
        watch_console(page, name, inspector)
        return page

    anonymous = context(None)
    staff = context(live_app.sign_in(STAFF))
    customer = context(live_app.sign_in(CUSTOMER))
    try:
        visit_as_anonymous(tab(anonymous, "anonymous"), live_app.url, inspector, language)
        customer_tab = tab(customer, "customer")
        customer_tab.goto(f"{live_app.url}/")
        inspector.check(customer_tab, "home customer", language)
        link = create_as_staff(tab(staff, "staff"), live_app.url, inspector, language)
        reveal_as_customer(customer_tab, link, inspector, language)
    finally:
        for ctx in (anonymous, staff, customer):
            ctx.close()

    print(f"{viewport} {scheme} {language}: checked {', '.join(inspector.checked)}")
    assert len(inspector.checked) == 9
    problems = [f"{f.page}: {f.problem}" for f in inspector.findings]
    assert problems == [], "\n".join(problems)


def test_the_checks_catch_what_they_look_for(browser: Any) -> None:
    # Guards the guard: a page with known faults must produce findings.
    inspector = Inspector()
    ctx = browser.new_context(viewport=VIEWPORTS["phone"])
    try:
        page = ctx.new_page()
        page.set_content(
            '<html lang="en"><body><img src="data:,"><button class="tiny"></button>'
            '<div style="width:900px">wide</div></body></html>'
        )
        inspector.check(page, "faulty", "en")
    finally:
        ctx.close()
    problems = " ".join(f.problem for f in inspector.findings)
    assert "scrolls sideways" in problems
    assert "touch target under 44px: tiny" in problems
    assert '"id": "image-alt"' in problems
    assert '"id": "button-name"' in problems
