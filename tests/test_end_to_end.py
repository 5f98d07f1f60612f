"""Format 2 over HTTP: what the browser posts (ciphertext + proof), what the no-JS path posts
(the text, then the pasted key), and that either opens what the other made. These tests play
the browser's part with app.crypto, which tests/vectors/v2.json ties to the real WebCrypto code
(tests/browser/test_end_to_end_browser.py runs the script itself)."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app import crypto
from app.db.tables import AuditEvent, Secret
from tests.support.flows import answered, create_secret, csrf_headers, reveal
from tests.support.people import CUSTOMER, STAFF

TEXT = "Wachtwoord: Grüße — 密码 🔑"
BARE_LINK = re.compile(
    r'value="http://testserver\.local/s/([A-Za-z0-9_-]{22})" data-append-link-key'
)
CIPHERTEXT = re.compile(r'data-ciphertext="([A-Za-z0-9_-]*)" data-nonce="([A-Za-z0-9_-]*)"')


def browser_sealed(
    text: str, passphrase: str = "", link_key: bytes | None = None
) -> tuple[bytes, dict[str, str]]:
    """What static/app.js posts: never the text, K or the passphrase."""
    link_key = link_key or crypto.new_key()
    salt = crypto.new_salt() if passphrase else None
    stretched = crypto.stretch_passphrase(passphrase, salt) if salt else None
    keys = crypto.derive_keys(link_key, stretched)
    sealed = crypto.seal_text(text.encode(), keys.content_key)
    fields = {
        "format": "2",
        "nonce": crypto.b64u_encode(sealed.nonce),
        "ciphertext": crypto.b64u_encode(sealed.ciphertext),
        "proof": crypto.b64u_encode(keys.proof),
    }
    if salt:
        fields["kdf_salt"] = crypto.b64u_encode(salt)
    return link_key, fields


async def create_in_browser(
    staff: httpx.AsyncClient, text: str = TEXT, passphrase: str = "", max_views: str = "1"
) -> tuple[str, bytes]:
    link_key, fields = browser_sealed(text, passphrase)
    data = {"recipient_email": CUSTOMER, "expires_in": "3600", "max_views": max_views, **fields}
    response = await staff.post("/secrets", data=data, headers=csrf_headers(staff, True))
    assert response.status_code == 200, response.text
    assert "Encrypted in your browser" in response.text
    match = BARE_LINK.search(response.text)
    assert match, response.text
    return match.group(1), link_key


def proof_for(link_key: bytes, passphrase: str = "", salt: bytes | None = None) -> str:
    stretched = crypto.stretch_passphrase(passphrase, salt) if salt else None
    return crypto.b64u_encode(crypto.derive_keys(link_key, stretched).proof)


async def reveal_by_proof(
    customer: httpx.AsyncClient, secret_id: str, proof: str, **extra: str
) -> httpx.Response:
    return await customer.post(
        f"/s/{secret_id}/reveal",
        data={"proof": proof, **extra},
        headers=csrf_headers(customer, True),
    )


def decrypt_answer(
    response: httpx.Response, link_key: bytes, stretched: bytes | None = None
) -> str:
    match = CIPHERTEXT.search(response.text)
    assert match, response.text
    ciphertext, nonce = (crypto.b64u_decode(part) for part in match.groups())
    assert ciphertext is not None
    assert nonce is not None
    content_key = crypto.derive_keys(link_key, stretched).content_key
    return crypto.open_text(crypto.Sealed(nonce, ciphertext), content_key).decode()


async def views_left(secret_id: str) -> int:
    row: dict[str, Any] | None = (
        await Secret.select(Secret.views_left).where(Secret.id == secret_id).first()
    )
    assert row is not None
    return int(row["views_left"])


async def refusals(secret_id: str, reason: str) -> int:
    count: int = await AuditEvent.count().where(
        (AuditEvent.secret_id == secret_id)
        & (AuditEvent.action == "secret.refused")
        & (AuditEvent.reason == reason)
    )
    return count


async def test_browser_created_secret_stores_only_ciphertext_and_the_proofs_hash(
    staff: httpx.AsyncClient,
) -> None:
    secret_id, link_key = await create_in_browser(staff)
    row = await Secret.select().where(Secret.id == secret_id).first()
    assert row is not None
    proof = crypto.derive_keys(link_key).proof
    assert row["proof_hash"] == crypto.hash_proof(proof)
    assert row["format_version"] == 2
    assert row["encrypted_by"] == "browser"
    assert row["kdf_salt"] is None
    dump = repr(row).encode() + b"".join(v for v in row.values() if isinstance(v, bytes))
    for needle in (TEXT.encode(), link_key, proof, crypto.b64u_encode(proof).encode()):
        assert needle not in dump


async def test_browser_reveal_answers_ciphertext_that_only_the_link_key_opens(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    secret_id, link_key = await create_in_browser(staff)
    page = answered(await customer.get(f"/s/{secret_id}"), 200)
    assert 'data-format="2"' in page.text
    assert "Encrypted in the sender's browser" in page.text
    answer = await reveal_by_proof(customer, secret_id, proof_for(link_key))
    assert answer.status_code == 200
    assert TEXT not in answer.text
    assert html.escape(TEXT) not in answer.text
    assert decrypt_answer(answer, link_key) == TEXT
    assert (await reveal_by_proof(customer, secret_id, proof_for(link_key))).status_code == 404


@pytest.mark.parametrize("made_with_js", [True, False])
@pytest.mark.parametrize("opened_with_js", [True, False])
async def test_a_secret_made_either_way_opens_either_way(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient, made_with_js: bool, opened_with_js: bool
) -> None:
    if made_with_js:
        secret_id, link_key = await create_in_browser(staff)
    else:
        secret_id, key_text = await create_secret(staff, content=TEXT, recipient_email=CUSTOMER)
        decoded = crypto.decode_key(key_text)
        assert decoded is not None
        link_key = decoded
    if opened_with_js:
        answer = await reveal_by_proof(customer, secret_id, proof_for(link_key))
        assert answer.status_code == 200
        assert decrypt_answer(answer, link_key) == TEXT
    else:
        answer = await reveal(customer, secret_id, crypto.encode_key(link_key))
        assert answer.status_code == 200
        assert html.escape(TEXT) in answer.text
    assert await views_left(secret_id) == 0


@pytest.mark.parametrize("opened_with_js", [True, False])
async def test_passphrase_right_wrong_and_missing(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient, opened_with_js: bool
) -> None:
    passphrase = "paard ĳs 🐴"
    response = await staff.post(
        "/secrets",
        data={"content": TEXT, "recipient_email": CUSTOMER, "passphrase": passphrase},
        headers=csrf_headers(staff),
    )
    assert response.status_code == 200
    assert "also needs the passphrase" in response.text
    match = re.search(r"/s/([A-Za-z0-9_-]{22})#([A-Za-z0-9_-]{43})", response.text)
    assert match
    secret_id, key_text = match.groups()
    link_key = crypto.decode_key(key_text)
    assert link_key is not None
    row = await Secret.select(Secret.kdf_salt).where(Secret.id == secret_id).first()
    assert row is not None
    salt: bytes = row["kdf_salt"]
    salt_text = crypto.b64u_encode(salt)
    assert len(salt) == 16
    page = answered(await customer.get(f"/s/{secret_id}"), 200)
    assert f'data-kdf-salt="{salt_text}"' in page.text
    assert passphrase not in page.text

    async def attempt(typed: str) -> httpx.Response:
        if opened_with_js and typed:
            return await reveal_by_proof(customer, secret_id, proof_for(link_key, typed, salt))
        return await customer.post(
            f"/s/{secret_id}/reveal",
            data={"key": key_text, "kdf_salt": salt_text, "passphrase": typed},
            headers=csrf_headers(customer, True),
        )

    missing = await attempt("")
    assert missing.status_code == 400
    assert "Type the passphrase you were given." in missing.text
    wrong = await attempt(passphrase + "!")
    assert wrong.status_code == 400
    assert "key or passphrase does not open" in wrong.text
    assert await views_left(secret_id) == 1
    assert await refusals(secret_id, "wrong_key") == 1
    right = await attempt(passphrase)
    assert right.status_code == 200
    if opened_with_js:
        stretched = crypto.stretch_passphrase(passphrase, salt)
        assert decrypt_answer(right, link_key, stretched) == TEXT
    else:
        assert html.escape(TEXT) in right.text
    assert await views_left(secret_id) == 0


async def test_dashboard_shows_that_a_secret_has_a_passphrase_never_the_passphrase(
    staff: httpx.AsyncClient,
) -> None:
    await create_in_browser(staff, passphrase="geheime zin")
    dashboard = await staff.get("/dashboard")
    assert dashboard.status_code == 200
    assert "Protected by a passphrase." in dashboard.text
    assert "geheime zin" not in dashboard.text


async def test_a_wrong_proof_spends_nothing_and_is_audited(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    secret_id, link_key = await create_in_browser(staff)
    wrong = await reveal_by_proof(customer, secret_id, proof_for(crypto.new_key()))
    assert wrong.status_code == 400
    assert 'id="reveal"' in wrong.text  # the form again
    assert "does not open the secret" in wrong.text
    assert await views_left(secret_id) == 1
    assert await refusals(secret_id, "wrong_key") == 1
    # The link key itself is no proof: K never stands in for what is derived from it.
    as_key = await reveal_by_proof(customer, secret_id, crypto.encode_key(link_key))
    assert as_key.status_code == 400
    assert await views_left(secret_id) == 1


@pytest.mark.parametrize(
    "proof", ["", "A" * 42, "A" * 44, "A" * 42 + "=", "+" * 43, "é" * 43, "A" * 4000]
)
async def test_malformed_proofs_are_refused_with_the_form_and_spend_nothing(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient, proof: str
) -> None:
    secret_id, _link_key = await create_in_browser(staff)
    answer = await reveal_by_proof(customer, secret_id, proof)
    assert answer.status_code == 400
    assert 'id="reveal"' in answer.text
    assert await views_left(secret_id) == 1


@pytest.mark.parametrize("part", ["ciphertext", "nonce", "nonce_length", "version"])
@pytest.mark.parametrize("opened_with_js", [True, False])
async def test_tampered_data_cannot_be_opened_and_nothing_is_spent(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient, part: str, opened_with_js: bool
) -> None:
    secret_id, link_key = await create_in_browser(staff)
    row = await Secret.select(Secret.nonce, Secret.ciphertext).where(Secret.id == secret_id).first()
    assert row is not None
    changed: dict[Any, Any]
    if part == "ciphertext":
        changed = {Secret.ciphertext: bytes([row["ciphertext"][0] ^ 1]) + row["ciphertext"][1:]}
    elif part == "nonce":
        changed = {Secret.nonce: bytes([row["nonce"][0] ^ 1]) + row["nonce"][1:]}
    elif part == "nonce_length":
        changed = {Secret.nonce: row["nonce"] + b"\0"}
    else:
        changed = {Secret.format_version: 3}
    await Secret.update(changed).where(Secret.id == secret_id)
    if opened_with_js and part in {"ciphertext", "nonce"}:
        # The server never has the content key: the browser finds out, and says so.
        answer = await reveal_by_proof(customer, secret_id, proof_for(link_key))
        assert answer.status_code == 200
        assert "cannot be opened" in answer.text
        with pytest.raises(crypto.DecryptionError):
            decrypt_answer(answer, link_key)
        return
    if opened_with_js:
        answer = await reveal_by_proof(customer, secret_id, proof_for(link_key))
    else:
        answer = await reveal(customer, secret_id, crypto.encode_key(link_key), htmx=True)
    assert answer.status_code == 422
    assert "This secret cannot be opened" in answer.text
    assert await views_left(secret_id) == 1
    assert await refusals(secret_id, "cannot_open") == 1


def _bad_create_fields(case: str) -> dict[str, str]:
    _key, fields = browser_sealed(TEXT)
    if case == "unknown_version":
        fields["format"] = "3"
    elif case == "missing_version":
        del fields["format"]
    elif case == "too_long":
        big = crypto.seal_text(b"x" * 40_001, crypto.derive_keys(crypto.new_key()).content_key)
        fields["ciphertext"] = crypto.b64u_encode(big.ciphertext)
    elif case == "bad_ciphertext":
        fields["ciphertext"] = "%%%"
    elif case == "short_ciphertext":
        fields["ciphertext"] = crypto.b64u_encode(b"x" * 15)
    elif case == "bad_nonce":
        fields["nonce"] = crypto.b64u_encode(b"n" * 11)
    elif case == "bad_proof":
        fields["proof"] = fields["proof"][:-1]
    elif case == "bad_salt":
        fields["kdf_salt"] = crypto.b64u_encode(b"s" * 8)
    return fields


@pytest.mark.parametrize(
    "case",
    [
        "unknown_version",
        "missing_version",
        "too_long",
        "bad_ciphertext",
        "short_ciphertext",
        "bad_nonce",
        "bad_proof",
        "bad_salt",
    ],
)
async def test_bad_encrypted_input_is_refused_with_the_form_and_nothing_is_stored(
    staff: httpx.AsyncClient, case: str
) -> None:
    data = {"recipient_email": CUSTOMER, "expires_in": "3600", **_bad_create_fields(case)}
    for htmx in (True, False):
        response = await staff.post("/secrets", data=data, headers=csrf_headers(staff, htmx))
        assert response.status_code == 400, response.text
        assert 'id="create"' in response.text
        assert 'id="content-error"' in response.text
        assert CUSTOMER in response.text  # what the server had is shown again
    assert await Secret.count() == 0


async def test_without_javascript_the_server_seals_in_format_2_and_says_so(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    secret_id, key_text = await create_secret(staff, content=TEXT, recipient_email=CUSTOMER)
    row = await Secret.select().where(Secret.id == secret_id).first()
    assert row is not None
    assert (row["format_version"], row["encrypted_by"]) == (2, "server")
    link_key = crypto.decode_key(key_text)
    assert link_key is not None
    assert row["proof_hash"] == crypto.hash_proof(crypto.derive_keys(link_key).proof)
    page = await customer.get(f"/s/{secret_id}")
    assert "Encrypted on Safe Share's server" in page.text


async def test_format_1_rows_made_before_keep_opening_with_their_key(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    # A row as the previous version stored it: XChaCha20-Poly1305, id as associated data.
    secret_id, key = crypto.new_id(), crypto.new_key()
    sealed = crypto.seal(TEXT.encode(), key, secret_id.encode())
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    await Secret.insert(
        Secret(
            id=secret_id,
            nonce=sealed.nonce,
            ciphertext=sealed.ciphertext,
            creator_email=STAFF,
            creator_role="staff",
            recipient_email=CUSTOMER,
            created_at=now,
            expires_at=now + timedelta(days=1),
        )
    )
    page = await customer.get(f"/s/{secret_id}")
    assert 'data-format="1"' in page.text  # the script sends the key, as before
    proof = await reveal_by_proof(customer, secret_id, proof_for(key))
    assert proof.status_code == 400
    opened = await reveal(customer, secret_id, crypto.encode_key(key))
    assert opened.status_code == 200
    assert html.escape(TEXT) in opened.text


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_fifty_concurrent_right_proofs_on_a_one_view_secret_open_it_once(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    secret_id, link_key = await create_in_browser(staff)
    proof = proof_for(link_key)
    answers = await asyncio.gather(
        *(reveal_by_proof(customer, secret_id, proof) for _ in range(50))
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [404] * 49
    revealed = await AuditEvent.count().where(
        (AuditEvent.secret_id == secret_id) & (AuditEvent.action == "secret.revealed")
    )
    assert revealed == 1
