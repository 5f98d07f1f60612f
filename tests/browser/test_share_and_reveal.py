"""Sharing and revealing in a real browser, on a desktop, on a phone and with JavaScript off."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.browser import NewPerson, Setup, Shots, secret_id, secret_key
from tests.support.people import CUSTOMER, SERVICE_STAFF, STAFF

pytestmark = pytest.mark.browser

CONTENT = "wifi: Prowise-Guest / pa$$w0rd-42"


async def test_customer_opens_a_staff_secret_after_signing_in(
    setup: Setup, new_person: NewPerson, shots: Shots
) -> None:
    alice = await new_person(STAFF)
    page = await alice.sign_in()
    await shots.take(page, "staff-form")
    link = await alice.create_secret(page, CONTENT, recipient_email=CUSTOMER)
    await shots.take(page, "link-ready")

    bob = await new_person(CUSTOMER)
    page = await bob.open(link)
    await expect(page.get_by_role("heading", name="Sign in to continue")).to_be_visible()
    await shots.take(page, "sign-in-first")
    await bob.sign_in(page)
    await expect(page.get_by_role("heading", name="A secret is waiting for you")).to_be_visible()
    await expect(page.get_by_text(CONTENT)).to_have_count(0)
    await shots.take(page, "reveal-button")

    if setup.javascript:
        await page.evaluate("() => { window.safeShareSamePage = true; }")
    secret = await bob.reveal(page, link)
    await expect(secret).to_have_text(CONTENT)
    await shots.take(page, "revealed")
    if setup.javascript:
        # Revealed in place by an htmx swap: same document, focus on the secret.
        assert await page.evaluate("() => window.safeShareSamePage === true")
        # The key left the address bar.
        assert page.url == f"{bob.site.base_url}/s/{secret_id(link)}"
        await expect(secret).to_be_focused()
    else:
        # A plain form post: a full page load of the reveal answer.
        assert page.url.endswith("/reveal")
    # The key travelled only in the fragment and in request bodies: never in a server log.
    logged = bob.site.log_text()
    assert f"/s/{secret_id(link)}" in logged  # the access log is on, so this check means something
    assert secret_key(link) not in logged
    assert CONTENT not in logged


async def test_service_staff_open_a_customer_secret_sent_to_their_team(
    new_person: NewPerson, shots: Shots
) -> None:
    bob = await new_person(CUSTOMER, signed_in=True)
    page = await bob.home()
    await expect(page.get_by_label("Recipient's email address")).to_have_count(0)
    link = await bob.create_secret(page, CONTENT, recipient_group="Service")
    await expect(page.get_by_text("Only Service can open it")).to_be_visible()
    await shots.take(page, "link-ready")

    sam = await new_person(SERVICE_STAFF, groups=["service"])
    page = await sam.open(link)
    await sam.sign_in(page)
    await expect(page.get_by_text(f"{CUSTOMER} shared a secret with Service")).to_be_visible()
    secret = await sam.reveal(page, link)
    await expect(secret).to_have_text(CONTENT)
    await shots.take(page, "revealed")
