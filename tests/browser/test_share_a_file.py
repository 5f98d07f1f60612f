"""Sharing a file in a real browser: sealed in the page (JavaScript on) or on the server (off),
downloaded whole under its own name, once, by its recipient only."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest
from playwright.async_api import FilePayload, Page, expect

from tests.support.browser import (
    DESKTOP,
    NewPerson,
    Person,
    Setup,
    Shots,
    Site,
    secret_id,
    views_left,
)
from tests.support.people import CUSTOMER, OTHER_CUSTOMER, SERVICE_STAFF, STAFF

pytestmark = pytest.mark.browser

NAME = "Contract Müller 2026.pdf"
# A 2 MB PDF-like file: a header, random (incompressible) bytes, a trailer.
PDF = b"%PDF-1.7\n" + os.urandom(2_000_000) + b"\n%%EOF\n"
LINK = re.compile(r"/s/[A-Za-z0-9_-]+#[A-Za-z0-9_-]{43}$")
VECTORS = Path(__file__).parents[1] / "vectors" / "stream_v2.json"
DESKTOP_ONLY = pytest.mark.parametrize("setup", [DESKTOP], indirect=True, ids=["desktop"])


async def share_file(
    person: Person,
    page: Page,
    *,
    recipient_email: str | None = None,
    recipient_group: str | None = None,
    data: bytes = PDF,
    shots: Shots | None = None,
) -> str:
    await page.get_by_label("File (optional)").set_input_files(
        files=[FilePayload(name=NAME, mimeType="application/pdf", buffer=data)]
    )
    if recipient_email is not None:
        await page.get_by_label("Recipient's email address").fill(recipient_email)
    if recipient_group is not None:
        await page.get_by_label(recipient_group, exact=True).check()
    if shots is not None:
        await shots.take(page, "form")
    await person.press(page.get_by_role("button", name="Create secret link"))
    link_field = page.get_by_label("Link to send")
    await expect(link_field).to_be_visible(timeout=60_000)
    await expect(link_field).to_have_value(LINK)
    return await link_field.input_value()


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
    chunks = await site.value("SELECT count(*) FROM secret_chunk WHERE secret_id = $1", secret)
    by = await site.value("SELECT encrypted_by FROM secret WHERE id = $1", secret)
    return int(chunks), by


async def test_staff_shares_a_file_with_a_customer_who_downloads_it_once(
    setup: Setup, new_person: NewPerson, shots: Shots
) -> None:
    alice = await new_person(STAFF, signed_in=True)
    page = await alice.home()
    link = await share_file(alice, page, recipient_email=CUSTOMER, shots=shots)
    await expect(page.get_by_text("It includes a file: 2 MB.")).to_be_visible()
    await shots.take(page, "link-ready")
    secret = secret_id(link)
    chunks, by = await stored(alice.site, secret)
    assert chunks == -(-len(PDF) // 65536)
    assert by == ("browser" if setup.javascript else "server")

    stranger = await new_person(OTHER_CUSTOMER, signed_in=True)
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


@DESKTOP_ONLY
async def test_customer_sends_a_file_to_a_staff_group(new_person: NewPerson) -> None:
    bob = await new_person(CUSTOMER, signed_in=True)
    page = await bob.home()
    link = await share_file(bob, page, recipient_group="Service")
    sam = await new_person(SERVICE_STAFF, groups=["service"], signed_in=True)
    page = await sam.open(link)
    data, name = await download_file(sam, page, link)
    assert data == PDF
    assert name == NAME


@DESKTOP_ONLY
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
        files=[FilePayload(name="big.bin", mimeType="application/octet-stream", buffer=b"x" * 1001)]
    )
    await expect(page.get_by_text("This file is too large")).to_be_visible()
    await page.get_by_label("Recipient's email address").fill(CUSTOMER)
    await alice.press(page.get_by_role("button", name="Create secret link"))
    await expect(page.get_by_text("This file is too large")).to_be_visible()
    assert not [r for r in requests if r.startswith("POST")]


@DESKTOP_ONLY
async def test_browser_seals_and_opens_the_shared_stream_vectors(new_person: NewPerson) -> None:
    alice = await new_person(STAFF)
    page = await alice.home()
    vectors = json.loads(VECTORS.read_text("utf-8"))
    got = await page.evaluate(
        """async (v) => {
          const C = window.SafeShareCrypto, F = window.SafeShareFiles, b = C.b64uDecode, e = C.b64uEncode;
          const key = b(v.file_key), prefix = b(v.prefix);
          const readerOf = (bytes) => { let at = 0; return { read: async () => {
            if (at >= bytes.length) return { done: true };
            const piece = bytes.slice(at, at + 7777); at += 7777; return { done: false, value: piece }; } }; };
          const hex = async (bytes) => Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)), (x) => x.toString(16).padStart(2, "0")).join("");
          const out = { nonce: e(F.chunkNonce(prefix, v.nonce_example.index, v.nonce_example.last)), streams: [] };
          let last = null;
          for (const s of v.streams) {
            const data = new Uint8Array(s.size);
            for (let i = 0; i < s.size; i++) data[i] = i % 251;
            const sealed = new Uint8Array(await (await F.sealFile(new Blob([data]), key, prefix)).arrayBuffer());
            const opened = new Uint8Array(await new Blob(await F.openStream(readerOf(sealed), key, prefix)).arrayBuffer());
            out.streams.push({ sealed_size: sealed.length, sealed_sha256: await hex(sealed), sealed: sealed.length <= 256 ? e(sealed) : null,
                               opened_sha256: await hex(opened), plain_sha256: await hex(data) });
            last = sealed;
          }
          const S = 65536 + 16, fails = (bytes) => F.openStream(readerOf(bytes), key, prefix).then(() => false, () => true);
          const cat = (...parts) => { const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0)); let at = 0; for (const p of parts) { all.set(p, at); at += p.length; } return all; };
          const c = [last.slice(0, S), last.slice(S, 2 * S), last.slice(2 * S)];
          out.tampered = [await fails(cat(c[0], c[2])), await fails(cat(c[1], c[0], c[2])),
                          await fails(cat(c[0], c[0], c[1], c[2])), await fails(cat(c[0], c[1])), await fails(last.slice(0, -1))];
          const m = v.meta;
          out.meta = e(await F.sealMeta(b(v.content_key), { name: m.name, type: m.type, size: m.size }, b(m.nonce)));
          out.meta_name = (await F.openMeta(b(v.content_key), b(m.sealed))).name;
          return out;
        }""",
        vectors,
    )
    assert got["nonce"] == vectors["nonce_example"]["nonce"]
    for case, result in zip(vectors["streams"], got["streams"], strict=True):
        assert result["sealed_size"] == case["sealed_size"], case["name"]
        assert result["sealed_sha256"] == case["sealed_sha256"], case["name"]
        assert result["sealed"] == case.get("sealed"), case["name"]
        assert result["opened_sha256"] == result["plain_sha256"], case["name"]
    assert got["tampered"] == [True] * 5  # dropped, swapped, duplicated, truncated, cut
    assert got["meta"] == vectors["meta"]["sealed"]
    assert got["meta_name"] == vectors["meta"]["name"]


async def test_guest_sends_a_file_that_the_inviter_downloads(
    setup: Setup, new_person: NewPerson
) -> None:
    label = f"Auditor {os.urandom(3).hex()}"  # the site is shared by set-ups
    alice = await new_person(STAFF, signed_in=True)
    _page, invitation = await alice.invite(label)

    guest = await new_person("guest@nowhere.example")
    guest_page = await guest.open(invitation)
    await guest_page.get_by_label("Secret", exact=True).fill("the signed contract")
    await guest_page.get_by_label("File (optional)").set_input_files(
        files=[FilePayload(name=NAME, mimeType="application/pdf", buffer=PDF)]
    )
    await guest.press(guest_page.get_by_role("button", name="Send secret"))
    await expect(guest_page.get_by_role("heading", name="Your secret was sent")).to_be_visible(
        timeout=60_000
    )

    page = await alice.open(alice.site.base_url + "/invitations")
    received = page.locator("#received").get_by_role("listitem").filter(has_text=label)
    await alice.press(received.get_by_role("button", name="Reveal secret"))
    await expect(page.locator("pre.secret")).to_have_text("the signed contract")
    async with page.expect_download() as info:
        await alice.press(page.get_by_role("button", name="Download the file"))
    download = await info.value
    assert Path(await download.path()).read_bytes() == PDF
    assert download.suggested_filename == NAME
