"""Pure stream encryption for files (docs/FORMAT.md, "Files (stream)"): no I/O, no app imports.

A file is cut into 64 KiB plaintext chunks, each sealed with AES-256-GCM under the file key.
Chunk i's nonce is a per-file random prefix, i as uint32 big-endian, and a last-chunk flag
(the STREAM construction), so a chunk that is reordered, dropped, duplicated or cut off gets
the wrong nonce and fails authentication. Sealer and opener work incrementally: memory stays
at about one chunk whatever the file size.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CHUNK_BYTES = 65536
TAG_BYTES = 16
SEALED_CHUNK_BYTES = CHUNK_BYTES + TAG_BYTES
PREFIX_BYTES = 7
META_NONCE_BYTES = 12
MAX_CHUNKS = 2**32  # the index is a uint32
CHUNK_AD = b"safe-share/v2 file chunk"
META_AD = b"safe-share/v2 file meta"


class StreamError(Exception):
    """The file does not open: wrong key, or chunks were changed, reordered, dropped or cut."""


class EmptyFile(ValueError):
    """An empty file has nothing to share; the format refuses it."""


@dataclass(frozen=True)
class FileMeta:
    name: str
    type: str
    size: int


def chunk_nonce(prefix: bytes, index: int, last: bool) -> bytes:
    if len(prefix) != PREFIX_BYTES or not 0 <= index < MAX_CHUNKS:
        raise ValueError("bad nonce prefix or chunk index")
    return prefix + struct.pack(">I", index) + (b"\x01" if last else b"\x00")


def new_prefix() -> bytes:
    return os.urandom(PREFIX_BYTES)


def seal_chunk(aead: AESGCM, prefix: bytes, index: int, plaintext: bytes, last: bool) -> bytes:
    return aead.encrypt(chunk_nonce(prefix, index, last), plaintext, CHUNK_AD)


def open_chunk(aead: AESGCM, prefix: bytes, index: int, sealed: bytes, last: bool) -> bytes:
    try:
        return aead.decrypt(chunk_nonce(prefix, index, last), sealed, CHUNK_AD)
    except (InvalidTag, ValueError):
        where = "last chunk" if last else f"chunk {index + 1}"
        raise StreamError(
            f"the file does not open at its {where}: wrong key, or the file was changed, "
            "reordered or cut off"
        ) from None


def plaintext_size(sealed_size: int) -> int | None:
    """The plaintext size that a well-formed stream of this many sealed bytes holds, or None."""
    if sealed_size <= TAG_BYTES:
        return None
    chunks = -(-sealed_size // SEALED_CHUNK_BYTES)
    last = sealed_size - (chunks - 1) * SEALED_CHUNK_BYTES
    return None if last <= TAG_BYTES else sealed_size - chunks * TAG_BYTES


def chunk_count(size: int) -> int:
    return max(1, -(-size // CHUNK_BYTES))


class StreamSealer:
    """Feed plaintext in any pieces; get sealed chunks back. One full chunk is held back until
    more arrives or `finish`, because only then is it known whether it is the last."""

    def __init__(self, file_key: bytes, prefix: bytes | None = None) -> None:
        self._aead = AESGCM(file_key)
        self.prefix = prefix if prefix is not None else new_prefix()
        self._buffer = bytearray()
        self._index = 0
        self.size = 0
        self._finished = False

    def feed(self, data: bytes) -> list[bytes]:
        if self._finished:
            raise ValueError("the stream is already finished")
        self._buffer += data
        self.size += len(data)
        sealed: list[bytes] = []
        while len(self._buffer) > CHUNK_BYTES:
            sealed.append(self._seal(bytes(self._buffer[:CHUNK_BYTES]), last=False))
            del self._buffer[:CHUNK_BYTES]
        return sealed

    def finish(self) -> bytes:
        if self.size == 0:
            raise EmptyFile
        self._finished = True
        last = self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()
        return last

    def _seal(self, plaintext: bytes, last: bool) -> bytes:
        sealed = seal_chunk(self._aead, self.prefix, self._index, plaintext, last)
        self._index += 1
        return sealed


class StreamOpener:
    """Feed sealed bytes in any pieces (chunk boundaries need not line up); get plaintext back.
    A stream that ends at the wrong place fails at `finish`: its last chunk lacks the flag."""

    def __init__(self, file_key: bytes, prefix: bytes) -> None:
        self._aead = AESGCM(file_key)
        self._prefix = prefix
        self._buffer = bytearray()
        self._index = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        opened: list[bytes] = []
        while len(self._buffer) > SEALED_CHUNK_BYTES:
            opened.append(self._open(bytes(self._buffer[:SEALED_CHUNK_BYTES]), last=False))
            del self._buffer[:SEALED_CHUNK_BYTES]
        return opened

    def finish(self) -> bytes:
        if len(self._buffer) <= TAG_BYTES:
            raise StreamError("the file is cut off: its last chunk is missing")
        plaintext = self._open(bytes(self._buffer), last=True)
        self._buffer.clear()
        return plaintext

    def _open(self, sealed: bytes, last: bool) -> bytes:
        plaintext = open_chunk(self._aead, self._prefix, self._index, sealed, last)
        self._index += 1
        return plaintext


def seal_meta(content_key: bytes, meta: FileMeta, nonce: bytes | None = None) -> bytes:
    """Name, type and size sealed under the content key; the nonce is prepended."""
    nonce = nonce if nonce is not None else os.urandom(META_NONCE_BYTES)
    document = json.dumps(
        {"name": meta.name, "type": meta.type, "size": meta.size},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    return nonce + AESGCM(content_key).encrypt(nonce, document, META_AD)


def open_meta(content_key: bytes, sealed: bytes) -> FileMeta:
    try:
        document = AESGCM(content_key).decrypt(
            sealed[:META_NONCE_BYTES], sealed[META_NONCE_BYTES:], META_AD
        )
        parsed = json.loads(document)
        meta = FileMeta(name=parsed["name"], type=parsed["type"], size=parsed["size"])
    except (InvalidTag, ValueError, KeyError, TypeError):
        raise StreamError("the file's name and type do not open") from None
    valid = isinstance(meta.name, str) and isinstance(meta.type, str) and isinstance(meta.size, int)
    if not valid:
        raise StreamError("the file's name and type do not open")
    return meta
