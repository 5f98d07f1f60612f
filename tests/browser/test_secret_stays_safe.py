"""What a secret refuses, in a real browser: the wrong person, spent views, expiry, link previews."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.browser import (
    NewPerson,
    Person,
    Shots,
    audit_actions,
    expire_now,
    secret_id,
    views_left,
)
from tests.support.people import CUSTOMER, OTHER_CUSTOMER, STAFF
from tests.support.services import http_client

pytestmark = pytest.mark.browser

CONTENT = "vpn token 7f3a-19cc-e2d0"
NOT_AVAILABLE = "This secret is not available"


async def shared_by_staff(new_person: NewPerson, *, max_views: int = 1) -> tuple[Person, str]:
    alice = await new_person(STAFF, signed_in=True)
    page = await alice.home()
    link = await alice.create_secret(page, CONTENT, recipient_email=CUSTOMER, max_views=max_views)
    return alice, link


async def test_wrong_person_is_refused_and_spends_no_view(
    new_person: NewPerson, shots: Shots
) -> None:
    alice, link = await shared_by_staff(new_person)

    mallory = await new_person(OTHER_CUSTOMER)
    page = await mallory.open(link)
    await mallory.sign_in(page)
    await expect(page.get_by_role("heading", name="meant for someone else")).to_be_visible()
    await expect(page.get_by_role("button", name="Reveal secret")).to_have_count(0)
    await shots.take(page, "refused")
    assert await views_left(alice.site, secret_id(link)) == 1
    assert "secret.refused" in await audit_actions(alice.site, secret_id(link))

    bob = await new_person(CUSTOMER, signed_in=True)
    page = await bob.open(link)
    await expect(await bob.reveal(page, link)).to_have_text(CONTENT)


async def test_secret_is_gone_after_its_last_view(new_person: NewPerson, shots: Shots) -> None:
    _alice, link = await shared_by_staff(new_person, max_views=2)

    bob = await new_person(CUSTOMER)
    page = await bob.open(link)
    await bob.sign_in(page)
    await expect(await bob.reveal(page, link)).to_have_text(CONTENT)
    await expect(page.get_by_text("It can be opened 1 more time.")).to_be_visible()

    # Opening the link again, as from the mail, in a new tab: the last view.
    page = await bob.open(link)
    await expect(await bob.reveal(page, link)).to_have_text(CONTENT)
    await expect(page.get_by_text("It has now been deleted")).to_be_visible()

    page = await bob.open(link)
    await expect(page.get_by_role("heading", name=NOT_AVAILABLE)).to_be_visible()
    await expect(page.get_by_text(CONTENT)).to_have_count(0)
    await shots.take(page, "not-available")


async def test_expired_secret_is_not_available(new_person: NewPerson, shots: Shots) -> None:
    alice, link = await shared_by_staff(new_person)

    bob = await new_person(CUSTOMER)
    page = await bob.open(link)
    await bob.sign_in(page)
    await expect(page.get_by_role("button", name="Reveal secret")).to_be_visible()

    # The expiry passes while the reveal page is open; the sweeper has not run.
    await expire_now(alice.site, secret_id(link))
    await bob.reveal(page, link)
    await expect(page.get_by_role("heading", name=NOT_AVAILABLE)).to_be_visible()
    await expect(page.get_by_text(CONTENT)).to_have_count(0)
    await shots.take(page, "expired")

    page = await bob.open(link)
    await expect(page.get_by_role("heading", name=NOT_AVAILABLE)).to_be_visible()


async def test_link_preview_bot_does_not_consume_the_secret(
    new_person: NewPerson, shots: Shots
) -> None:
    alice, link = await shared_by_staff(new_person)

    # A chat app's preview fetches the link without a session (and never sees the fragment).
    async with http_client(headers={"user-agent": "Slackbot-LinkExpanding 1.0"}) as bot:
        preview = await bot.get(link)
        head = await bot.head(link)
    assert preview.status_code == 401
    assert head.status_code == 405  # no HEAD route: nothing is looked up or spent
    for answer in (preview, head):
        assert CONTENT not in answer.text
    assert await views_left(alice.site, secret_id(link)) == 1

    bob = await new_person(CUSTOMER)
    page = await bob.open(link)
    await bob.sign_in(page)
    await expect(await bob.reveal(page, link)).to_have_text(CONTENT)
    await shots.take(page, "revealed-after-preview")
