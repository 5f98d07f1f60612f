"""File secrets over HTTP, on SQLite and PostgreSQL: create (multipart, streamed), reveal and
download, the download window, deletion, and hostile uploads."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from app import crypto, filecrypto
from app.db.tables import AuditEvent, Secret, SecretChunk
from app.services.sweeper import sweep
from app.settings import Settings
from app.web.upload import safe_filename
from tests.support.apps import FrozenClock, client_of, serving
from tests.support.flows import (
    CSRF_COOKIE,
    LINK,
    csrf_headers,
    invite,
    prime_csrf,
    received_secret_id,
    reveal,
    sign_in,
    signed_in,
)
from tests.support.people import CUSTOMER, OTHER_CUSTOMER, OTHER_STAFF, STAFF

PDF = b"%PDF-1.7\n" + os.urandom(300_000) + b"\n%%EOF\n"
TICKET = re.compile(r'name="ticket" value="([^"]+)"')
Files = dict[str, tuple[str, bytes, str]] | list[tuple[str, tuple[str, bytes, str]]]


def pdf(name: str = "a.pdf", data: bytes = PDF) -> dict[str, tuple[str, bytes, str]]:
    return {"file": (name, data, "application/pdf")}


async def post_form(
    browser: httpx.AsyncClient, path: str, data: dict[str, Any], files: Files | None = None
) -> httpx.Response:
    """A form post (multipart when there are files) with the browser's CSRF token."""
    await prime_csrf(browser)
    return await browser.post(path, data=data, files=files, headers=csrf_headers(browser))


async def share_file(
    client: httpx.AsyncClient,
    *,
    data: bytes = PDF,
    name: str = "Contract 2026.pdf",
    content: str = "",
    max_views: str = "1",
    recipient_email: str = CUSTOMER,
) -> tuple[str, str]:
    form = {"content": content, "recipient_email": recipient_email, "max_views": max_views}
    response = await post_form(client, "/secrets", form, pdf(name, data))
    assert response.status_code == 200, response.text
    match = LINK.search(response.text)
    assert match, response.text
    return match.group(1), match.group(2)


async def guest_sends_file(
    staff: httpx.AsyncClient, guest: httpx.AsyncClient, content: str, name: str
) -> str:
    """Through a new invitation of `staff`'s; the received secret's id."""
    sent = await post_form(guest, f"/i/{await invite(staff)}", {"content": content}, pdf(name))
    assert sent.status_code == 200, sent.text
    return await received_secret_id(staff)


async def chunk_count(secret_id: str) -> int:
    return int(await SecretChunk.count().where(SecretChunk.secret_id == secret_id))


def attachment_name(response: httpx.Response) -> str:
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    return unquote(disposition.split("filename*=UTF-8''", 1)[1])


async def test_file_round_trips_without_javascript_and_only_once(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    secret_id, key = await share_file(staff)
    assert await chunk_count(secret_id) == filecrypto.chunk_count(len(PDF))

    page = await customer.get(f"/s/{secret_id}")
    assert page.status_code == 200
    assert "It includes a file: 300 kB." in page.text
    assert "Contract" not in page.text  # the name is encrypted: never shown before the reveal

    download = await reveal(customer, secret_id, key)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).digest() == hashlib.sha256(PDF).digest()
    assert attachment_name(download) == "Contract 2026.pdf"
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["cache-control"] == "no-store"
    assert int(download.headers["content-length"]) == len(PDF)

    # The completed download deleted every chunk; a second reveal gets nothing.
    assert await chunk_count(secret_id) == 0
    again = await reveal(customer, secret_id, key)
    assert again.status_code == 404
    replay = await post_form(customer, f"/s/{secret_id}/file", {"key": key})
    assert replay.status_code == 404
    row = await Secret.select(Secret.file_meta, Secret.file_size).where(Secret.id == secret_id)
    assert row == [{"file_meta": None, "file_size": len(PDF)}]


async def test_text_and_file_reveal_together_and_download_once_with_the_ticket(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    secret_id, key = await share_file(staff, content="the PIN is 4711")
    revealed = await reveal(customer, secret_id, key)
    assert revealed.status_code == 200
    assert "the PIN is 4711" in revealed.text
    assert "Contract 2026.pdf" in revealed.text
    ticket = TICKET.search(revealed.text)
    assert ticket
    form = {"ticket": ticket.group(1), "key": key}
    download = await post_form(customer, f"/s/{secret_id}/file", form)
    assert download.status_code == 200
    assert download.content == PDF
    replay = await post_form(customer, f"/s/{secret_id}/file", form)
    assert replay.status_code == 404
    assert await chunk_count(secret_id) == 0


async def test_sealed_download_opens_in_the_browser_with_the_link_key_only(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    secret_id, key = await share_file(staff, content="also text")
    revealed = await reveal(customer, secret_id, key)
    assert revealed.status_code == 200
    ticket = TICKET.search(revealed.text)
    prefix = re.search(r'data-prefix="([^"]+)"', revealed.text)
    assert ticket
    assert prefix
    sealed = await post_form(
        customer, f"/s/{secret_id}/file", {"ticket": ticket.group(1), "sealed": "1"}
    )
    assert sealed.status_code == 200
    assert PDF[:64] not in sealed.content
    link_key = crypto.decode_key(key)
    assert link_key
    prefix_bytes = crypto.b64u_decode(prefix.group(1))
    assert prefix_bytes
    opener = filecrypto.StreamOpener(crypto.derive_keys(link_key).file_key, prefix_bytes)
    assert b"".join(opener.feed(sealed.content)) + opener.finish() == PDF


async def test_someone_else_with_the_ticket_gets_nothing(
    staff: httpx.AsyncClient,
    customer: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
) -> None:
    secret_id, key = await share_file(staff, content="text too")
    revealed = await reveal(customer, secret_id, key)
    assert revealed.status_code == 200
    ticket = TICKET.search(revealed.text)
    assert ticket
    other = await signed_in(new_client, issuer, OTHER_CUSTOMER)
    stolen = await post_form(other, f"/s/{secret_id}/file", {"ticket": ticket.group(1), "key": key})
    assert stolen.status_code == 404
    assert await chunk_count(secret_id) > 0  # the recipient's window is untouched


async def test_wrong_person_is_refused_and_no_view_is_spent(
    staff: httpx.AsyncClient,
    customer: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
) -> None:
    secret_id, key = await share_file(staff)
    other = await signed_in(new_client, issuer, OTHER_CUSTOMER)
    refused = await reveal(other, secret_id, key)
    assert refused.status_code == 403
    assert await chunk_count(secret_id) > 0
    download = await reveal(customer, secret_id, key)
    assert download.status_code == 200
    assert download.content == PDF


async def test_a_broken_download_can_be_fetched_again_by_its_viewer_inside_the_window(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    secret_id, key = await share_file(staff, content="with text")
    # The page with the download form, whose download never came.
    assert (await reveal(customer, secret_id, key)).status_code == 200
    page = await customer.get(f"/s/{secret_id}")
    assert page.status_code == 200
    assert "Download the file again" in page.text
    again = await post_form(customer, f"/s/{secret_id}/file", {"key": key})
    assert again.status_code == 200
    assert again.content == PDF
    assert await chunk_count(secret_id) == 0


async def test_the_download_window_closes_and_the_sweeper_deletes_the_chunks(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient, clock: FrozenClock
) -> None:
    secret_id, key = await share_file(staff, content="with text")
    assert (await reveal(customer, secret_id, key)).status_code == 200
    clock.advance(minutes=6)
    late = await post_form(customer, f"/s/{secret_id}/file", {"key": key})
    assert late.status_code == 404
    assert await chunk_count(secret_id) > 0
    result = await sweep(clock(), timedelta(days=365))
    assert result.files_deleted == 1
    assert await chunk_count(secret_id) == 0


async def test_revoking_deletes_the_chunks(staff: httpx.AsyncClient) -> None:
    secret_id, _key = await share_file(staff)
    revoked = await post_form(staff, f"/s/{secret_id}/revoke", {})
    assert revoked.status_code == 200
    assert await chunk_count(secret_id) == 0


async def test_expiry_deletes_the_chunks(staff: httpx.AsyncClient, clock: FrozenClock) -> None:
    secret_id, _key = await share_file(staff)
    clock.advance(days=2)
    await sweep(clock(), timedelta(days=365))
    assert await chunk_count(secret_id) == 0


async def test_stored_rows_never_hold_a_window_of_the_file(staff: httpx.AsyncClient) -> None:
    await share_file(staff, name="Quarterly report secret-name.pdf")
    stored = b"".join(bytes(row["data"]) for row in await SecretChunk.select(SecretChunk.data))
    stored += b"".join(
        bytes(value) if isinstance(value, bytes) else str(value).encode()
        for row in await Secret.select()
        for value in row.values()
        if value is not None
    )
    for start in range(0, len(PDF) - 64, 4096):
        assert PDF[start : start + 64] not in stored
    assert b"secret-name" not in stored
    audit = await AuditEvent.select(AuditEvent.reason).where(AuditEvent.action == "secret.created")
    assert audit == [{"reason": f"file:{len(PDF)}"}]


async def test_dashboard_shows_the_size_never_the_name(staff: httpx.AsyncClient) -> None:
    await share_file(staff, name="Salaries.pdf")
    page = await staff.get("/dashboard")
    assert page.status_code == 200
    assert "file, 300 kB" in page.text
    assert "Salaries" not in page.text


async def test_empty_file_is_refused_and_nothing_stored(staff: httpx.AsyncClient) -> None:
    response = await post_form(
        staff,
        "/secrets",
        {"content": "", "recipient_email": CUSTOMER},
        {"file": ("empty.txt", b"", "text/plain")},
    )
    assert response.status_code == 400
    assert "The file is empty" in response.text
    assert await Secret.count() == 0


async def test_upload_without_csrf_token_is_refused_before_storing(
    staff: httpx.AsyncClient,
) -> None:
    response = await staff.post("/secrets", data={"recipient_email": CUSTOMER}, files=pdf())
    assert response.status_code == 403
    assert await Secret.count() == 0


async def test_no_javascript_form_sends_its_csrf_token_as_a_field(
    staff: httpx.AsyncClient,
) -> None:
    token = staff.cookies.get(CSRF_COOKIE)
    assert token
    response = await staff.post(
        "/secrets", data={"_csrf_token": token, "recipient_email": CUSTOMER}, files=pdf()
    )
    assert response.status_code == 200
    assert await Secret.count() == 1


@pytest.mark.parametrize("env", [{"max_file_bytes": "100000"}])
async def test_file_over_the_limit_is_refused_with_413_and_nothing_stored(
    staff: httpx.AsyncClient, env: dict[str, str]
) -> None:
    response = await staff.post(
        "/secrets",
        data={"recipient_email": CUSTOMER},
        files={"file": ("big.bin", os.urandom(100_001), "application/octet-stream")},
        headers={**csrf_headers(staff), "accept-language": "de"},
    )
    assert response.status_code == 413
    assert "100 kB" in response.text
    assert await Secret.count() == 0
    assert await SecretChunk.count() == 0


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings], database_url: str, request: pytest.FixtureRequest
) -> Settings:
    env = request.node.callspec.params.get("env", {}) if hasattr(request.node, "callspec") else {}
    return make_settings(database_url, **env)


def multipart_body(boundary: str, token: str, data: bytes, *, close: bool = True) -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="_csrf_token"\r\n\r\n{token}\r\n',
        f'--{boundary}\r\nContent-Disposition: form-data; name="recipient_email"\r\n\r\n{CUSTOMER}\r\n',
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n",
    ]
    body = "".join(parts).encode() + data
    return body + (f"\r\n--{boundary}--\r\n".encode() if close else b"")


async def test_wrong_boundary_and_cut_uploads_are_refused_and_nothing_stored(
    staff: httpx.AsyncClient,
) -> None:
    token = staff.cookies.get(CSRF_COOKIE) or ""
    body = multipart_body("right", token, PDF)
    wrong = await staff.post(
        "/secrets", content=body, headers={"content-type": "multipart/form-data; boundary=wrong"}
    )
    cut = await staff.post(
        "/secrets",
        content=multipart_body("right", token, PDF[:100_000], close=False),
        headers={"content-type": "multipart/form-data; boundary=right"},
    )
    no_boundary = await staff.post(
        "/secrets", content=body, headers={"content-type": "multipart/form-data"}
    )
    assert wrong.status_code == 400
    assert cut.status_code == 400
    assert no_boundary.status_code == 400
    assert "cut off" in cut.text
    assert await Secret.count() == 0
    assert await SecretChunk.count() == 0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("..", "file"),
        ("bad\x00name\r\n.txt", "badname.txt"),
        ("a" * 1000 + ".pdf", "a" * 196 + ".pdf"),
        ("Vertrag für Müller.pdf", "Vertrag für Müller.pdf"),
    ],
)
def test_filenames_are_made_safe(raw: str, expected: str) -> None:
    assert safe_filename(raw) == expected


async def test_hostile_filename_is_downloaded_under_a_safe_name(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    secret_id, key = await share_file(staff, name="../" + "x" * 1000 + '"; evil=".pdf')
    download = await reveal(customer, secret_id, key)
    assert download.status_code == 200
    name = attachment_name(download)
    assert "/" not in name
    assert len(name) <= 200
    assert '"' not in download.headers["content-disposition"].split(";")[1].strip()[10:-1]


async def test_text_secret_creation_still_takes_a_plain_form(staff: httpx.AsyncClient) -> None:
    response = await post_form(
        staff, "/secrets", {"content": "just text", "recipient_email": CUSTOMER}
    )
    assert response.status_code == 200
    row = await Secret.select(Secret.file_size).first()
    assert row == {"file_size": None}
    assert await SecretChunk.count() == 0


async def test_guest_sends_a_file_that_only_the_inviter_downloads_once(
    staff: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    secret_id = await guest_sends_file(
        staff, new_client(), "the invoice, as promised", "Invoice 42.pdf"
    )
    row = await Secret.select(Secret.wrapped_key, Secret.file_size).where(Secret.id == secret_id)
    assert row[0]["wrapped_key"]
    assert row[0]["file_size"] == len(PDF)

    other = await signed_in(new_client, issuer, OTHER_STAFF)
    refused = await post_form(other, f"/received/{secret_id}/reveal", {})
    assert refused.status_code == 403
    assert await chunk_count(secret_id) > 0

    revealed = await post_form(staff, f"/received/{secret_id}/reveal", {})
    assert revealed.status_code == 200
    assert "the invoice, as promised" in revealed.text
    ticket = TICKET.search(revealed.text)
    assert ticket
    form = {"ticket": ticket.group(1)}
    stolen = await post_form(other, f"/received/{secret_id}/file", form)
    assert stolen.status_code == 404
    download = await post_form(staff, f"/received/{secret_id}/file", form)
    assert download.status_code == 200
    assert download.content == PDF
    assert attachment_name(download) == "Invoice 42.pdf"
    assert await chunk_count(secret_id) == 0
    replay = await post_form(staff, f"/received/{secret_id}/file", form)
    assert replay.status_code == 404
    row = await Secret.select(Secret.wrapped_key).where(Secret.id == secret_id)
    assert row == [{"wrapped_key": None}]


async def test_guest_file_alone_downloads_straight_from_the_reveal_without_javascript(
    staff: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient]
) -> None:
    secret_id = await guest_sends_file(staff, new_client(), "", "scan.pdf")
    download = await post_form(staff, f"/received/{secret_id}/reveal", {})
    assert download.status_code == 200
    assert download.content == PDF
    assert await chunk_count(secret_id) == 0


async def test_file_with_a_passphrase_opens_only_with_it_and_downloads_again_with_it(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    created = await post_form(
        staff,
        "/secrets",
        {"content": "see attached", "passphrase": "paard café", "recipient_email": CUSTOMER},
        pdf(),
    )
    assert created.status_code == 200
    match = LINK.search(created.text)
    assert match
    secret_id, key = match.group(1), match.group(2)
    salt = (await Secret.select(Secret.kdf_salt).where(Secret.id == secret_id))[0]["kdf_salt"]
    salt_text = crypto.b64u_encode(salt)
    wrong = await post_form(
        customer,
        f"/s/{secret_id}/reveal",
        {"key": key, "passphrase": "pferd", "kdf_salt": salt_text},
    )
    assert wrong.status_code == 400
    revealed = await post_form(
        customer,
        f"/s/{secret_id}/reveal",
        {"key": key, "passphrase": "paard café", "kdf_salt": salt_text},
    )
    assert revealed.status_code == 200
    assert "see attached" in revealed.text
    page = await customer.get(f"/s/{secret_id}")
    assert page.status_code == 200
    assert 'name="passphrase"' in page.text  # the download-again form asks for it
    without = await post_form(customer, f"/s/{secret_id}/file", {"key": key})
    assert without.status_code == 404
    again = await post_form(
        customer, f"/s/{secret_id}/file", {"key": key, "passphrase": "paard café"}
    )
    assert again.status_code == 200
    assert again.content == PDF


async def test_a_file_with_views_left_stays_until_its_last_view(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    secret_id, key = await share_file(staff, max_views="2")
    first = await reveal(customer, secret_id, key)
    assert first.status_code == 200
    assert first.content == PDF
    assert await chunk_count(secret_id) > 0  # one view left: the file stays
    second = await reveal(customer, secret_id, key)
    assert second.status_code == 200
    assert second.content == PDF
    assert await chunk_count(secret_id) == 0
    third = await reveal(customer, secret_id, key)
    assert third.status_code == 404


async def test_text_and_browser_file_sealed_under_different_keys_are_refused(
    staff: httpx.AsyncClient,
) -> None:
    # A plaintext file beside a browser-sealed text: they could never open with one link key.
    response = await post_form(
        staff,
        "/secrets",
        {
            "format": "2",
            "nonce": crypto.b64u_encode(os.urandom(12)),
            "ciphertext": crypto.b64u_encode(os.urandom(40)),
            "proof": crypto.b64u_encode(os.urandom(32)),
            "recipient_email": CUSTOMER,
        },
        pdf(),
    )
    assert response.status_code == 400
    assert await Secret.count() == 0


async def test_pg_dump_never_holds_a_window_of_the_file_or_its_name(
    make_settings: Callable[..., Settings], postgres_url: str, issuer: str, clock: FrozenClock
) -> None:
    """The whole PostgreSQL database, as a backup would take it, while the file waits."""
    pg_dump = shutil.which("pg_dump")
    assert pg_dump, "pg_dump is part of the PostgreSQL client tools the suite needs"
    settings = make_settings(postgres_url)
    async with serving(settings, clock) as app, client_of(app) as staff:
        await sign_in(staff, issuer, STAFF)
        await share_file(staff, name="Secret-Merger-Plan.pdf")
        process = await asyncio.create_subprocess_exec(
            pg_dump, "--data-only", postgres_url, stdout=asyncio.subprocess.PIPE
        )
        dump, _ = await process.communicate()
    assert process.returncode == 0
    assert b"secret_chunk" in dump  # the chunks are in the dump, as ciphertext
    # COPY writes bytea as hex: look for the raw bytes and for their hex form.
    for start in range(0, len(PDF) - 64, 997):
        window = PDF[start : start + 64]
        assert window not in dump
        assert window.hex().encode() not in dump
    assert b"Merger" not in dump
    assert b"Merger".hex().encode() not in dump


async def test_routes_without_files_keep_the_small_body_limit_for_multipart(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    secret_id, _key = await share_file(staff)
    response = await post_form(
        customer,
        f"/s/{secret_id}/reveal",
        {"key": "x"},
        {"file": ("big.bin", os.urandom(400_000), "application/octet-stream")},
    )
    assert response.status_code == 413
    assert await chunk_count(secret_id) > 0  # nothing spent


async def test_a_second_or_unknown_file_part_is_refused_and_nothing_stored(
    staff: httpx.AsyncClient,
) -> None:
    for extra in ("file", "attachment"):
        response = await post_form(
            staff,
            "/secrets",
            {"recipient_email": CUSTOMER},
            [
                ("file", ("a.pdf", PDF[:1000], "application/pdf")),
                (extra, ("b.pdf", PDF[:1000], "application/pdf")),
            ],
        )
        assert response.status_code == 400, extra
    assert await Secret.count() == 0
    assert await SecretChunk.count() == 0
