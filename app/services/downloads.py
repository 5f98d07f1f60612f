"""Fetching a revealed file: only in the window after the view that released it, only by that
viewer, and only until one download has completed.

Opening a download changes nothing (a broken download can be retried inside the window); a
completed one closes the window, and when no views are left it deletes the chunks too, so a
replayed request gets nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from app import crypto, filecrypto
from app.auth.identity import User
from app.db.engine import write_transaction
from app.db.tables import Secret, SecretChunk
from app.lifecycle import SecretState
from app.services import files
from app.services.secrets import (
    ByLinkKey,
    ByMasterKeys,
    RevealedFile,
    SecretUnavailable,
)


@dataclass(frozen=True)
class Download:
    secret_id: str
    size: int
    prefix: bytes
    ticket_hash: str
    meta: filecrypto.FileMeta | None = None  # opened on the server (JavaScript off)
    file_key: bytes | None = None

    def sealed(self) -> AsyncIterator[bytes]:
        return files.sealed_chunks(self.secret_id, self.size)

    def plain(self) -> AsyncIterator[bytes]:
        if self.file_key is None:
            raise SecretUnavailable
        return files.plain_chunks(self.secret_id, self.size, self.file_key, self.prefix)


def from_reveal(secret_id: str, file: RevealedFile) -> Download:
    """Straight after the reveal that opened it (JavaScript off): no second look-up."""
    return Download(
        secret_id,
        file.size,
        file.prefix,
        crypto.hash_token(file.ticket),
        file.meta,
        file.file_key,
    )


async def kdf_salt(secret_id: str) -> bytes | None:
    if not crypto.plausible_id(secret_id):
        return None
    row = await Secret.select(Secret.kdf_salt).where(Secret.id == secret_id).first()
    return row["kdf_salt"] if row else None


async def open_download(
    *,
    secret_id: str,
    viewer: User,
    now: datetime,
    ticket: str | None = None,
    opener: ByLinkKey | ByMasterKeys | None = None,
) -> Download:
    """With the reveal's ticket (the sealed chunks, for the browser), or with the key (the
    server opens them: the pasted link, or a guest's wrapped key). Changes nothing; anything
    wrong looks unavailable."""
    if not crypto.plausible_id(secret_id) or (ticket is None and opener is None):
        raise SecretUnavailable
    row = (
        await Secret.select(
            Secret.file_size,
            Secret.file_meta,
            Secret.file_prefix,
            Secret.file_viewer,
            Secret.file_ticket_hash,
            Secret.file_until,
            Secret.wrapped_key,
        )
        .where(Secret.id == secret_id)
        .first()
    )
    in_window = (
        row is not None
        and row["file_meta"] is not None
        and row["file_until"] is not None
        and row["file_until"] > now
        and row["file_viewer"] == viewer.label
        and row["file_ticket_hash"] is not None
    )
    if row is None or not in_window:
        raise SecretUnavailable
    if ticket is not None and not crypto.tokens_match(ticket, row["file_ticket_hash"]):
        raise SecretUnavailable
    download = Download(secret_id, row["file_size"], row["file_prefix"], row["file_ticket_hash"])
    if opener is not None:
        keys = _keys(row, secret_id, opener)
        try:
            meta = filecrypto.open_meta(keys.content_key, row["file_meta"])
        except filecrypto.StreamError:
            raise SecretUnavailable from None
        download = replace(download, meta=meta, file_key=keys.file_key)
    first = await SecretChunk.exists().where(
        (SecretChunk.secret_id == secret_id) & (SecretChunk.idx == 0)
    )
    if not first:
        raise SecretUnavailable
    return download


def _keys(
    row: dict[str, Any], secret_id: str, opener: ByLinkKey | ByMasterKeys
) -> crypto.DerivedKeys:
    if isinstance(opener, ByMasterKeys):
        if row["wrapped_key"] is None:
            raise SecretUnavailable
        try:
            link_key = crypto.unwrap_key(row["wrapped_key"], opener.master_keys, secret_id.encode())
        except crypto.DecryptionError:
            raise SecretUnavailable from None
        return crypto.derive_keys(link_key)
    if opener.key is None:
        raise SecretUnavailable
    return crypto.derive_keys(opener.key, opener.stretched_passphrase)


async def finish_download(download: Download) -> None:
    """The file arrived whole: close the window; with no views left, delete the chunks now."""
    async with write_transaction():
        closed = await (
            Secret.update(
                {Secret.file_viewer: None, Secret.file_ticket_hash: None, Secret.file_until: None}
            )
            .where(
                (Secret.id == download.secret_id)
                & (Secret.file_ticket_hash == download.ticket_hash)
            )
            .returning(Secret.state)
        )
        if closed and closed[0]["state"] != SecretState.WAITING.value:
            await Secret.update({**files.CLOSED_FILE, Secret.wrapped_key: None}).where(
                Secret.id == download.secret_id
            )
            await files.delete_chunks([download.secret_id])
