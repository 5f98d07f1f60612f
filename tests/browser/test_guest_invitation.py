"""A guest without an account sends one secret in through an invitation, in a real browser."""

from __future__ import annotations

import secrets

import pytest
from playwright.async_api import expect

from tests.support.browser import NewPerson, Shots
from tests.support.people import STAFF

pytestmark = pytest.mark.browser

CONTENT = "router admin: Tr0ub4dor&3"
USED = "This invitation has been used or has expired"


async def test_guest_sends_one_secret_that_only_the_inviter_reveals(
    new_person: NewPerson, shots: Shots
) -> None:
    label = f"School IT contractor {secrets.token_hex(3)}"  # the site is shared by set-ups
    alice = await new_person(STAFF, signed_in=True)
    page, invitation = await alice.invite(label)
    await shots.take(page, "invitation-ready")

    # The guest has no account and never signs in.
    guest = await new_person("guest@nowhere.example")
    guest_page = await guest.open(invitation)
    await expect(
        guest_page.get_by_role("heading", name=f"Send a secret to {STAFF}")
    ).to_be_visible()
    await expect(guest_page.get_by_text(label)).to_have_count(0)
    await guest_page.get_by_label("Secret", exact=True).fill(CONTENT)
    await guest.press(guest_page.get_by_role("button", name="Send secret"))
    await expect(guest_page.get_by_role("heading", name="Your secret was sent")).to_be_visible()
    await shots.take(guest_page, "guest-sent")

    # Reloading the invitation (or submitting again) finds it used up.
    again = await guest.open(invitation)
    await expect(again.get_by_text(USED)).to_be_visible()

    page = await alice.open(alice.site.base_url + "/invitations")
    received = page.locator("#received").get_by_role("listitem").filter(has_text=label)
    await expect(received).to_be_visible()
    await alice.press(received.get_by_role("button", name="Reveal secret"))
    await expect(page.locator("pre.secret")).to_have_text(CONTENT)
    await shots.take(page, "received-revealed")

    page = await alice.open(alice.site.base_url + "/invitations")
    await expect(
        page.locator("#received").get_by_role("button", name="Reveal secret")
    ).to_have_count(0)
