"""A visitor picks their language top right; it sticks, and a signed-in account's locale wins."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.browser import NewPerson, Shots

pytestmark = pytest.mark.browser


async def test_visitor_switches_language_and_it_sticks(new_person: NewPerson, shots: Shots) -> None:
    visitor = await new_person("visitor@example.org")
    page = await visitor.home()
    await expect(page.get_by_role("heading", name="Share a secret, safely")).to_be_visible()
    await page.get_by_label("Language").select_option("nl")
    await visitor.press(page.get_by_role("button", name="Change"))
    await expect(page.get_by_role("heading", name="Veilig een geheim delen")).to_be_visible()
    assert await page.get_attribute("html", "lang") == "nl"
    await shots.take(page, "dutch")

    again = await visitor.home()  # a new tab keeps the choice (cookie)
    await expect(again.get_by_role("heading", name="Veilig een geheim delen")).to_be_visible()
    await again.get_by_label("Taal").select_option("de")
    await visitor.press(again.get_by_role("button", name="Wijzigen"))
    await expect(again.get_by_role("heading", name="Ein Geheimnis sicher teilen")).to_be_visible()
