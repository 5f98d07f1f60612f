"""A secret's file: spooled while it arrives, stored as sealed chunks, streamed back, deleted.

The upload is sealed (or, from the browser, arrives sealed) chunk by chunk into an unlinked
temporary file, so memory stays at about one chunk and the database transaction that stores
the secret stays short. Reading back goes a batch of chunks at a time.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app import filecrypto
from app.db.tables import Secret, SecretChunk
from app.filecrypto import SEALED_CHUNK_BYTES, FileMeta

# After the view that released a file, its recipient may fetch it (again) this long: a broken
# download can be retried by the same signed-in person, nobody else, and never after.
DOWNLOAD_WINDOW = timedelta(minutes=5)
BATCH_CHUNKS = 2  # chunks per INSERT or SELECT: 128 KiB per statement keeps memory flat
# What a closed secret no longer needs once its chunks are gone (the size stays, for the
# creator's dashboard: "file, 2.3 MB").
CLOSED_FILE: dict[Any, Any] = {
    Secret.file_meta: None,
    Secret.file_prefix: None,
    Secret.file_viewer: None,
    Secret.file_ticket_hash: None,
    Secret.file_until: None,
}


class UploadTooLarge(Exception):
    """The file is over the configured limit; nothing is stored."""


class BadUpload(Exception):
    """A sealed stream whose size no well-formed stream has."""


@dataclass
class SpooledFile:
    """Sealed chunks in an unlinked temporary file (ciphertext only), plus what the row keeps."""

    handle: IO[bytes]
    prefix: bytes
    meta: bytes
    size: int

    @property
    def chunks(self) -> int:
        return filecrypto.chunk_count(self.size)

    def close(self) -> None:
        self.handle.close()


def _write(handle: IO[bytes], pieces: list[bytes]) -> None:
    for piece in pieces:
        handle.write(piece)


class PlainSpool:
    """The server path (JavaScript off): plaintext arrives and is sealed as it comes."""

    def __init__(self, file_key: bytes, limit: int) -> None:
        self._sealer = filecrypto.StreamSealer(file_key)
        self._handle = tempfile.TemporaryFile()  # noqa: SIM115 - handed on to SpooledFile
        self._limit = limit

    @property
    def size(self) -> int:
        return self._sealer.size

    async def feed(self, data: bytes) -> None:
        if self._sealer.size + len(data) > self._limit:
            raise UploadTooLarge
        sealed = await asyncio.to_thread(self._sealer.feed, data)
        if sealed:
            await asyncio.to_thread(_write, self._handle, sealed)

    async def finish(self, content_key: bytes, name: str, media_type: str) -> SpooledFile:
        """Raises filecrypto.EmptyFile for a file without bytes."""
        last = self._sealer.finish()
        await asyncio.to_thread(_write, self._handle, [last])
        meta = filecrypto.seal_meta(
            content_key, FileMeta(name=name, type=media_type, size=self._sealer.size)
        )
        return SpooledFile(self._handle, self._sealer.prefix, meta, self._sealer.size)

    def close(self) -> None:
        self._handle.close()


class SealedSpool:
    """The browser path: the stream arrives sealed; the server can only check its shape."""

    def __init__(self, limit: int) -> None:
        self._handle = tempfile.TemporaryFile()  # noqa: SIM115 - handed on to SpooledFile
        self._limit = limit
        self._sealed = 0

    async def feed(self, data: bytes) -> None:
        self._sealed += len(data)
        chunks = -(-self._sealed // SEALED_CHUNK_BYTES)
        if self._sealed - chunks * filecrypto.TAG_BYTES > self._limit:
            raise UploadTooLarge
        await asyncio.to_thread(_write, self._handle, [data])

    def finish(self, meta: bytes, prefix: bytes) -> SpooledFile:
        size = filecrypto.plaintext_size(self._sealed)
        if size is None or len(prefix) != filecrypto.PREFIX_BYTES or not meta:
            raise BadUpload
        return SpooledFile(self._handle, prefix, meta, size)

    def close(self) -> None:
        self._handle.close()


def _read_batch(handle: IO[bytes], first: int, count: int) -> list[bytes]:
    handle.seek(first * SEALED_CHUNK_BYTES)
    data = handle.read(count * SEALED_CHUNK_BYTES)
    return [data[i : i + SEALED_CHUNK_BYTES] for i in range(0, len(data), SEALED_CHUNK_BYTES)]


async def store_chunks(secret_id: str, spooled: SpooledFile) -> None:
    """Inside the caller's transaction, so the secret and its chunks appear together."""
    for first in range(0, spooled.chunks, BATCH_CHUNKS):
        batch = await asyncio.to_thread(_read_batch, spooled.handle, first, BATCH_CHUNKS)
        await SecretChunk.insert(
            *(
                SecretChunk(secret_id=secret_id, idx=first + offset, data=data)
                for offset, data in enumerate(batch)
            )
        )


async def delete_chunks(secret_ids: Iterable[str]) -> None:
    ids = list(secret_ids)
    if ids:
        await SecretChunk.delete().where(SecretChunk.secret_id.is_in(ids))


async def sealed_chunks(secret_id: str, size: int) -> AsyncIterator[bytes]:
    """The stored chunks in order, a batch per query; a missing chunk ends the stream early,
    which the opener (browser or server) reports as a cut-off file."""
    count = filecrypto.chunk_count(size)
    for first in range(0, count, BATCH_CHUNKS):
        rows = (
            await SecretChunk.select(SecretChunk.idx, SecretChunk.data)
            .where(
                (SecretChunk.secret_id == secret_id)
                & (SecretChunk.idx >= first)
                & (SecretChunk.idx < first + BATCH_CHUNKS)
            )
            .order_by(SecretChunk.idx)
        )
        for expected, row in enumerate(rows, start=first):
            if row["idx"] != expected:
                return
            yield bytes(row["data"])
        if len(rows) < min(BATCH_CHUNKS, count - first):
            return


def _open_batch(
    file_key: bytes, prefix: bytes, first: int, count: int, batch: list[bytes]
) -> list[bytes]:
    aead = AESGCM(file_key)
    return [
        filecrypto.open_chunk(aead, prefix, first + i, sealed, last=first + i == count - 1)
        for i, sealed in enumerate(batch)
    ]


async def plain_chunks(
    secret_id: str, size: int, file_key: bytes, prefix: bytes
) -> AsyncIterator[bytes]:
    """Decrypted on the server (JavaScript off). Raises filecrypto.StreamError part-way when a
    chunk fails to open or is missing, so a broken file is never delivered whole."""
    count = filecrypto.chunk_count(size)
    index = 0
    batch: list[bytes] = []
    async for sealed in sealed_chunks(secret_id, size):
        batch.append(sealed)
        if len(batch) == BATCH_CHUNKS:
            for plain in await asyncio.to_thread(
                _open_batch, file_key, prefix, index, count, batch
            ):
                yield plain
            index += len(batch)
            batch = []
    if batch:
        for plain in await asyncio.to_thread(_open_batch, file_key, prefix, index, count, batch):
            yield plain
        index += len(batch)
    if index != count:
        raise filecrypto.StreamError("the file is cut off: a chunk is missing")
