"""Sharing a file in a real browser: sealed in the page (JavaScript on) or on the server (off),
downloaded whole under its own name, once, by its recipient only."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import NewPerson
from tests.browser.harness import Person, Setup, Shots, Site, secret_id, views_left

pytestmark = pytest.mark.browser

STAFF = "alice@prowise.com"
CUSTOMER = "bob@example.com"
SERVICE_STAFF = "sam@prowise.com"
STRANGER = "mallory@example.com"
NAME = "Contract Müller 2026.pdf"
# A 2 MB PDF-like file: a header, random (incompressible) bytes, a trailer.
PDF = b"%PDF-1.7\n" + os.urandom(2_000_000) + b"\n%%EOF\n"


async def share_file(
    person: Person,
    page: Page,
    *,
    recipient_email: str | None = None,
    recipient_group: str | None = None,
    data: bytes = PDF,
) -> str:
    await page.get_by_label("File (optional)").set_input_files(
        files=[{"name": NAME, "mimeType": "application/pdf", "buffer": data}]
    )
    if recipient_email is not None:
        await page.get_by_label("Recipient's email address").fill(recipient_email)
    if recipient_group is not None:
        await page.get_by_label(recipient_group, exact=True).check()
    await person.press(page.get_by_role("button", name="Create secret link"))
    link_field = page.get_by_label("Link to send")
    await expect(link_field).to_be_visible(timeout=60_000)
    await expect(link_field).to_have_value(secret_link_pattern())
    return await link_field.input_value()


def secret_link_pattern() -> object:
    import re

    return re.compile(r"/s/[A-Za-z0-9_-]+#[A-Za-z0-9_-]{43}$")


async def download_file(person: Person, page: Page, link: str) -> tuple[bytes, str]:
    """Reveal; without scripts the reveal itself answers with the file, with them the page
    offers it and decrypts it in place."""
    key_field = page.get_by_label("Key", exact=True)
    if not person.setup.javascript:
        await key_field.fill(link)
        async with page.expect_download() as info:
            await person.press(page.get_by_role("button", name="Reveal secret"))
    else:
        await person.press(page.get_by_role("button", name="Reveal secret"))
        await expect(page.locator("[data-file-name]")).to_have_text(NAME)
        async with page.expect_download() as info:
            await person.press(page.get_by_role("button", name="Download the file"))
    download = await info.value
    path = await download.path()
    return Path(path).read_bytes(), download.suggested_filename


async def stored(site: Site, secret: str) -> tuple[int, str | None]:
    connection = await asyncpg.connect(site.database_url)
    try:
        chunks = await connection.fetchval(
            "SELECT count(*) FROM secret_chunk WHERE secret_id = $1", secret
        )
        by = await connection.fetchval("SELECT encrypted_by FROM secret WHERE id = $1", secret)
    finally:
        await connection.close()
    return int(chunks), by


async def test_staff_shares_a_file_with_a_customer_who_downloads_it_once(
    setup: Setup, new_person: NewPerson, shots: Shots
) -> None:
    alice = await new_person(STAFF, signed_in=True)
    page = await alice.home()
    await shots.take(page, "form")
    link = await share_file(alice, page, recipient_email=CUSTOMER)
    await expect(page.get_by_text("It includes a file: 2 MB.")).to_be_visible()
    await shots.take(page, "link-ready")
    secret = secret_id(link)
    chunks, by = await stored(alice.site, secret)
    assert chunks == -(-len(PDF) // 65536)
    assert by == ("browser" if setup.javascript else "server")

    stranger = await new_person(STRANGER, signed_in=True)
    refused = await stranger.open(link)
    await expect(
        refused.get_by_role("heading", name="This secret is meant for someone else")
    ).to_be_visible()
    assert await views_left(alice.site, secret) == 1

    bob = await new_person(CUSTOMER, signed_in=True)
    page = await bob.open(link)
    await expect(page.get_by_text("It includes a file: 2 MB.")).to_be_visible()
    await expect(page.get_by_text("Contract")).to_have_count(0)  # the name is encrypted
    await shots.take(page, "reveal-button")
    data, name = await download_file(bob, page, link)
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(PDF).hexdigest()
    assert name == NAME
    if setup.javascript:
        await shots.take(page, "downloaded")

    # Downloaded whole: every chunk is gone, and neither a second look nor a replay gets it.
    assert (await stored(alice.site, secret))[0] == 0
    again = await bob.open(link)
    await expect(again.get_by_role("heading", name="This secret is not available")).to_be_visible()
    logged = bob.site.log_text()
    assert NAME not in logged


async def test_customer_sends_a_file_to_a_staff_group(new_person: NewPerson) -> None:
    bob = await new_person(CUSTOMER, signed_in=True)
    page = await bob.home()
    link = await share_file(bob, page, recipient_group="Service")
    sam = await new_person(SERVICE_STAFF, groups=["service"], signed_in=True)
    page = await sam.open(link)
    data, name = await download_file(sam, page, link)
    assert data == PDF
    assert name == NAME


async def test_browser_refuses_a_file_over_the_limit_before_uploading(
    new_person: NewPerson,
) -> None:
    alice = await new_person(STAFF, signed_in=True)
    page = await alice.home()
    await page.evaluate(
        "() => document.getElementById('create').setAttribute('data-max-file-bytes', '1000')"
    )
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.method + " " + request.url))
    await page.get_by_label("File (optional)").set_input_files(
        files=[{"name": "big.bin", "mimeType": "application/octet-stream", "buffer": b"x" * 1001}]
    )
    await expect(page.get_by_text("This file is too large")).to_be_visible()
    await page.get_by_label("Recipient's email address").fill(CUSTOMER)
    await alice.press(page.get_by_role("button", name="Create secret link"))
    await expect(page.get_by_text("This file is too large")).to_be_visible()
    assert not [r for r in requests if r.startswith("POST")]
