"""The creator revokes a waiting secret in place from "My secrets"; the link then refuses."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.browser import NewPerson, Shots, audit_actions, secret_id
from tests.support.people import CUSTOMER, STAFF

pytestmark = pytest.mark.browser


async def test_creator_revokes_a_secret_in_place_from_the_dashboard(
    new_person: NewPerson, shots: Shots
) -> None:
    alice = await new_person(STAFF, signed_in=True)
    page = await alice.home()
    link = await alice.create_secret(page, "to be revoked", recipient_email=CUSTOMER)
    sid = secret_id(link)

    page = await alice.open(alice.site.base_url + "/dashboard")
    row = page.locator(f"#secret-{sid}")
    await expect(row.get_by_text("Waiting")).to_be_visible()
    await alice.press(row.get_by_role("button", name="Revoke"))
    await alice.press(page.get_by_role("button", name="Yes, revoke"))
    row = page.locator(f"#secret-{sid}")
    await expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    await expect(row.get_by_text("Revoked", exact=False).first).to_be_visible()
    if alice.setup.javascript:
        assert page.url.endswith("/dashboard")  # swapped in place, no navigation
    await shots.take(page, "revoked")
    assert "secret.revoked" in await audit_actions(alice.site, sid)

    bob = await new_person(CUSTOMER, signed_in=True)
    page = await bob.open(link)
    await expect(page.get_by_role("heading", name="This secret is not available")).to_be_visible()
