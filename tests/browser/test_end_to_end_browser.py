"""End to end in real Chromium: the shared vectors run through static/crypto.js; with JavaScript
on, no request carries the text, the link key or the passphrase, and no answer carries the
text; a secret made with or without JavaScript opens with or without it."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from playwright.async_api import BrowserContext, Route, expect

from app import crypto
from tests.support.browser import (
    DESKTOP,
    NO_JAVASCRIPT,
    PHONE,
    NewPerson,
    Setup,
    Site,
    encrypted_by,
    secret_id,
    secret_key,
    views_left,
)
from tests.support.people import CUSTOMER, STAFF

pytestmark = pytest.mark.browser

TEXT = "Wachtwoord: Grüße — 密码 🔑 ĳs"
PASSPHRASE = "paard café 🐴"
VECTORS = Path(__file__).parents[1] / "vectors" / "v2.json"
JS_SETUPS = pytest.mark.parametrize(
    "setup", [DESKTOP, PHONE], indirect=True, ids=["desktop", "phone"]
)


def forms_of(value: str | bytes) -> list[bytes]:
    """The ways a value could travel: raw, URL-encoded, base64 (both alphabets), hex."""
    raw = value.encode() if isinstance(value, str) else value
    text = raw.decode("utf-8", errors="replace")
    encoded = [
        raw,
        quote(text, safe="").encode(),
        quote_plus(text).encode(),
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw),
        base64.urlsafe_b64encode(raw).rstrip(b"="),
        binascii.hexlify(raw),
        binascii.hexlify(raw).upper(),
    ]
    return [form for form in encoded if len(form) >= 8]


class Recorder:
    """Every request body and every response body of a browser profile, via a route handler."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.responses: list[bytes] = []

    async def attach(self, context: BrowserContext) -> None:
        await context.route("**/*", self.handle)

    async def handle(self, route: Route) -> None:
        request = route.request
        self.requests.append(request.url.encode() + b"\n" + (request.post_data_buffer or b""))
        response = await route.fetch()
        self.responses.append(await response.body())
        await route.fulfill(response=response)

    def assert_never_sent(self, value: str | bytes) -> None:
        for body in self.requests:
            for form in forms_of(value):
                assert form not in body, (form, body[:300])

    def assert_never_answered(self, value: str) -> None:
        for body in self.responses:
            for form in forms_of(value)[:3]:
                assert form not in body, form


@pytest.mark.parametrize("setup", [DESKTOP], indirect=True, ids=["desktop"])
async def test_browser_and_server_derive_and_seal_the_same_bytes(
    new_person: NewPerson,
) -> None:
    alice = await new_person(STAFF)
    page = await alice.home()
    results = await page.evaluate(
        """async (vectors) => {
          const C = window.SafeShareCrypto, b = C.b64uDecode, e = C.b64uEncode;
          const out = [];
          for (const c of vectors.cases) {
            const stretched = c.passphrase === null ? null : await C.stretchPassphrase(c.passphrase, b(c.kdf_salt));
            const keys = await C.deriveKeys(b(c.link_key), stretched);
            const sealed = await C.sealText(c.text, keys.contentKey, b(c.nonce));
            const proofHash = new Uint8Array(await crypto.subtle.digest("SHA-256", keys.proof));
            out.push({
              stretched_passphrase: stretched && e(stretched),
              content_key: e(keys.contentKey), proof: e(keys.proof), file_key: e(keys.fileKey),
              proof_hash: e(proofHash), ciphertext: e(sealed.ciphertext),
              opened: await C.openText(b(c.nonce), b(c.ciphertext), keys.contentKey),
            });
          }
          return out;
        }""",
        json.loads(VECTORS.read_text("utf-8")),
    )
    for case, got in zip(json.loads(VECTORS.read_text("utf-8"))["cases"], results, strict=True):
        for name in ("stretched_passphrase", "content_key", "proof", "file_key", "proof_hash"):
            assert got[name] == case[name], (case["name"], name)
        assert got["ciphertext"] == case["ciphertext"], case["name"]
        assert got["opened"] == case["text"], case["name"]


@JS_SETUPS
async def test_with_javascript_neither_text_nor_key_nor_passphrase_is_ever_sent(
    setup: Setup, new_person: NewPerson, site: Site
) -> None:
    alice = await new_person(STAFF, signed_in=True)
    bob = await new_person(CUSTOMER, signed_in=True)
    recorder = Recorder()
    await recorder.attach(alice.context)
    await recorder.attach(bob.context)

    page = await alice.home()
    await expect(page.get_by_text("Your browser encrypts the secret")).to_be_visible()
    await page.get_by_label("Passphrase (optional)").fill(PASSPHRASE)
    link = await alice.create_secret(page, TEXT, recipient_email=CUSTOMER)
    await expect(page.get_by_text("Encrypted in your browser")).to_be_visible()
    assert await page.get_by_label("Key", exact=True).input_value() == secret_key(link)
    assert await encrypted_by(site, secret_id(link)) == "browser"

    page = await bob.open(link)
    await expect(page.get_by_text("Encrypted in the sender's browser")).to_be_visible()
    await page.get_by_label("Passphrase", exact=True).fill(PASSPHRASE)
    shown = await bob.reveal(page, link)
    await expect(shown).to_have_text(TEXT)
    await expect(page.get_by_text("Decrypted in your browser.")).to_be_visible()
    assert await views_left(site, secret_id(link)) == 0

    assert any(b"proof=" in body for body in recorder.requests)
    assert any(b"ciphertext=" in body for body in recorder.requests)
    link_key = crypto.decode_key(secret_key(link))
    assert link_key is not None
    for value in (TEXT, secret_key(link), link_key, PASSPHRASE):
        recorder.assert_never_sent(value)
    recorder.assert_never_answered(TEXT)


@pytest.mark.parametrize("setup", [DESKTOP], indirect=True, ids=["desktop"])
@pytest.mark.parametrize("creator", [DESKTOP, NO_JAVASCRIPT], ids=["made-with-js", "made-nojs"])
@pytest.mark.parametrize("opener", [DESKTOP, NO_JAVASCRIPT], ids=["opened-with-js", "opened-nojs"])
async def test_a_secret_made_either_way_opens_either_way_in_the_browser(
    new_person: NewPerson, site: Site, creator: Setup, opener: Setup
) -> None:
    alice = await new_person(STAFF, signed_in=True, setup=creator)
    page = await alice.home()
    link = await alice.create_secret(page, TEXT, recipient_email=CUSTOMER)
    expected = "browser" if creator.javascript else "server"
    assert await encrypted_by(site, secret_id(link)) == expected

    bob = await new_person(CUSTOMER, signed_in=True, setup=opener)
    page = await bob.open(link)
    await expect(await bob.reveal(page, link)).to_have_text(TEXT)
    assert await views_left(site, secret_id(link)) == 0


@JS_SETUPS
async def test_a_wrong_passphrase_in_the_browser_spends_nothing(
    setup: Setup, new_person: NewPerson, site: Site
) -> None:
    alice = await new_person(STAFF, signed_in=True)
    page = await alice.home()
    await page.get_by_label("Passphrase (optional)").fill(PASSPHRASE)
    link = await alice.create_secret(page, TEXT, recipient_email=CUSTOMER)

    bob = await new_person(CUSTOMER, signed_in=True)
    page = await bob.open(link)
    await page.get_by_label("Passphrase", exact=True).fill("not it")
    await bob.press(page.get_by_role("button", name="Reveal secret"))
    await expect(page.locator("#key-error")).to_contain_text(
        "This key or passphrase does not open the secret"
    )
    assert await views_left(site, secret_id(link)) == 1
    await page.get_by_label("Passphrase", exact=True).fill(PASSPHRASE)
    await bob.press(page.get_by_role("button", name="Reveal secret"))
    await expect(page.locator("#secret-content")).to_have_text(TEXT)


@JS_SETUPS
async def test_a_refused_form_keeps_what_was_typed_though_the_server_never_had_it(
    setup: Setup, new_person: NewPerson
) -> None:
    alice = await new_person(STAFF, signed_in=True)
    recorder = Recorder()
    await recorder.attach(alice.context)
    page = await alice.home()
    await page.get_by_label("Secret", exact=True).fill(TEXT)
    await page.get_by_label("Passphrase (optional)").fill(PASSPHRASE)
    await page.get_by_label("Recipient's email address").fill("not an address")
    await alice.press(page.get_by_role("button", name="Create secret link"))
    await expect(page.get_by_text("Type the recipient's email address")).to_be_visible()
    await expect(page.get_by_label("Secret", exact=True)).to_have_value(TEXT)
    await expect(page.get_by_label("Passphrase (optional)")).to_have_value(PASSPHRASE)
    recorder.assert_never_sent(TEXT)
    recorder.assert_never_sent(PASSPHRASE)


@pytest.mark.parametrize("setup", [DESKTOP], indirect=True, ids=["desktop"])
async def test_tampered_data_says_it_cannot_be_opened_in_the_browser(
    new_person: NewPerson, site: Site
) -> None:
    alice = await new_person(STAFF, signed_in=True)
    page = await alice.home()
    versioned = await alice.create_secret(page, TEXT, recipient_email=CUSTOMER)
    page = await alice.home()
    flipped = await alice.create_secret(page, TEXT, recipient_email=CUSTOMER)
    await site.query("UPDATE secret SET format_version = 3 WHERE id = $1", secret_id(versioned))
    await site.query(
        "UPDATE secret SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1)"
        " WHERE id = $1",
        secret_id(flipped),
    )
    bob = await new_person(CUSTOMER, signed_in=True)
    page = await bob.open(versioned)
    await bob.reveal(page, versioned)
    await expect(page.get_by_role("heading", name="This secret cannot be opened")).to_be_visible()
    assert await views_left(site, secret_id(versioned)) == 1

    page = await bob.open(flipped)
    await bob.reveal(page, flipped)
    await expect(
        page.get_by_text("This secret cannot be opened: its encrypted data")
    ).to_be_visible()
    await expect(page.get_by_text(TEXT)).to_have_count(0)
