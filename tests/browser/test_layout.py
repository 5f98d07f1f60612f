"""Every page in real Chromium: phone and desktop, en/nl/de, no sideways scroll, axe-core clean.

The app is the browser suite's site (tests/browser/conftest.py). axe-core
(tests/vendor/axe.min.js, from the npm package) is injected by the test only; the app never
serves it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.async_api import Page

from app.settings import PROJECT_ROOT
from tests.support.browser import NewContext, NewPerson, Person, Setup, Site
from tests.support.people import CUSTOMER, STAFF

pytestmark = pytest.mark.browser

AXE = PROJECT_ROOT / "tests" / "vendor" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
VIEWPORTS = {
    "phone": {"width": 360, "height": 740},
    "desktop": {"width": 1280, "height": 800},
}
SUBRESOURCES = {"stylesheet", "script", "image", "font", "media", "manifest"}
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

    async def check(self, tab: Page, name: str, language: str) -> None:
        self.checked.append(name)
        if await tab.evaluate("document.documentElement.lang") != language:
            self.findings.append(Finding(name, f"html lang is not {language}"))
        scroll_width, client_width = await tab.evaluate(OVERFLOW)
        if scroll_width > client_width:
            self.findings.append(Finding(name, f"scrolls sideways: {scroll_width}>{client_width}"))
        for target in await tab.evaluate(TOO_SMALL_TARGETS):
            self.findings.append(Finding(name, f"touch target under 44px: {target}"))
        # Evaluated over the DevTools protocol: the page's CSP stays on and still forbids
        # inline scripts, so a CSP mistake in our templates would show up below.
        await tab.evaluate(self.axe_source)
        for violation in await tab.evaluate(RUN_AXE, AXE_TAGS):
            if violation["impact"] in ("serious", "critical"):
                self.findings.append(Finding(name, "axe: " + json.dumps(violation)))
            else:
                print(f"axe ({violation['impact']}) on {name}: {violation['id']}")


async def watched_tab(person: Person, name: str, inspector: Inspector) -> Page:
    """A new tab whose console errors and failed sub-resources become findings."""
    tab = await person.new_tab()

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
    return tab


async def visit_as_anonymous(tab: Page, url: str, inspector: Inspector, language: str) -> None:
    await tab.goto(f"{url}/")
    await inspector.check(tab, "home signed out", language)
    await tab.goto(f"{url}/no/such/page")
    await inspector.check(tab, "not found", language)
    await tab.goto(f"{url}/s/{'A' * 22}")
    await inspector.check(tab, "sign-in required", language)


async def create_as_staff(tab: Page, url: str, inspector: Inspector, language: str) -> str:
    await tab.goto(f"{url}/")
    await inspector.check(tab, "home staff", language)
    await tab.click("#create button[type=submit]")  # empty: refused, errors tied to the fields
    await tab.wait_for_selector(".form-error")
    assert await tab.evaluate("document.activeElement.className") == "form-error"
    assert await tab.get_attribute("#content", "aria-invalid") == "true"
    await inspector.check(tab, "form errors", language)
    await tab.fill("#content", "correct horse battery staple")
    await tab.fill("#recipient_email", CUSTOMER)
    await tab.click("#create button[type=submit]")
    await tab.wait_for_selector("#created-title")
    assert MARKERS[language]["created"] in await tab.inner_text("#created-title")
    # After the htmx swap focus moves to the new heading, for screen readers and keyboards.
    assert await tab.evaluate("document.activeElement.id") == "created-title"
    await tab.click("details.two-channels summary")
    await inspector.check(tab, "created", language)
    return str(await tab.input_value("#secret-link"))


async def reveal_as_customer(tab: Page, link: str, inspector: Inspector, language: str) -> None:
    await tab.goto(link)
    # The key moved from the address bar into the form: the field is hidden and filled.
    assert "#" not in tab.url
    assert await tab.is_hidden("#key")
    await inspector.check(tab, "secret", language)
    await tab.click("#reveal button[type=submit]")
    await tab.wait_for_selector("#secret-content")
    assert await tab.inner_text("#secret-content") == "correct horse battery staple"
    # Focus lands on the secret and the live region announces it.
    assert await tab.evaluate("document.activeElement.id") == "secret-content"
    # A function, not an expression: Playwright would eval() one, which our CSP forbids.
    await tab.wait_for_function("() => document.getElementById('announcer').textContent !== ''")
    assert MARKERS[language]["revealed"] in await tab.inner_text(".revealed .hint")
    await inspector.check(tab, "revealed", language)


# Every language on a phone and a desktop in the light theme; the dark theme once on a phone
# (axe checks its contrast in a real rendering; test_accessibility.py computes every pair).
# A plain viewport, not a phone's browser: the layout must fit the width alone.
RUNS = [
    *(
        (Setup(f"{viewport}-light", VIEWPORTS[viewport]), language)
        for viewport in VIEWPORTS
        for language in ("en", "nl", "de")
    ),
    (Setup("phone-dark", VIEWPORTS["phone"], color_scheme="dark"), "en"),
]


@pytest.mark.parametrize(
    ("setup", "language"),
    RUNS,
    indirect=["setup"],
    ids=[f"{setup.name}-{language}" for setup, language in RUNS],
)
async def test_every_page_fits_the_screen_and_passes_axe(
    new_person: NewPerson, site: Site, language: str
) -> None:
    inspector = Inspector()
    anonymous = await new_person("visitor@example.org")
    staff = await new_person(STAFF, signed_in=True)
    customer = await new_person(CUSTOMER, signed_in=True)
    for person in (anonymous, staff, customer):
        # The picker's cookie sets the language (the browser's own stays en-GB).
        await person.context.add_cookies(
            [{"name": "safe_share_lang", "value": language, "url": site.base_url}]
        )

    url = site.base_url
    await visit_as_anonymous(
        await watched_tab(anonymous, "anonymous", inspector), url, inspector, language
    )
    customer_tab = await watched_tab(customer, "customer", inspector)
    await customer_tab.goto(f"{url}/")
    await inspector.check(customer_tab, "home customer", language)
    link = await create_as_staff(
        await watched_tab(staff, "staff", inspector), url, inspector, language
    )
    await reveal_as_customer(customer_tab, link, inspector, language)

    print(f"{staff.setup.name} {language}: checked {', '.join(inspector.checked)}")
    assert len(inspector.checked) == 9
    problems = [f"{f.page}: {f.problem}" for f in inspector.findings]
    assert problems == [], "\n".join(problems)


async def test_the_checks_catch_what_they_look_for(new_context: NewContext) -> None:
    # Guards the guard: a page with known faults must produce findings.
    inspector = Inspector()
    context = await new_context("faulty", viewport=VIEWPORTS["phone"])
    page = await context.new_page()
    await page.set_content(
        '<html lang="en"><body><img src="data:,"><button class="tiny"></button>'
        '<div style="width:900px">wide</div></body></html>'
    )
    await inspector.check(page, "faulty", "en")
    problems = " ".join(f.problem for f in inspector.findings)
    assert "scrolls sideways" in problems
    assert "touch target under 44px: tiny" in problems
    assert '"id": "image-alt"' in problems
    assert '"id": "button-name"' in problems
