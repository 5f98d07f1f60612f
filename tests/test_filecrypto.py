from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app import filecrypto
from app.filecrypto import CHUNK_BYTES, SEALED_CHUNK_BYTES, StreamError

VECTORS = json.loads((Path(__file__).parent / "vectors" / "stream_v2.json").read_text())


def b64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def pattern(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


def seal_all(key: bytes, data: bytes, piece: int = 10_000) -> tuple[bytes, list[bytes]]:
    sealer = filecrypto.StreamSealer(key)
    chunks: list[bytes] = []
    for start in range(0, len(data), piece):
        chunks += sealer.feed(data[start : start + piece])
    chunks.append(sealer.finish())
    return sealer.prefix, chunks


def open_all(key: bytes, prefix: bytes, stream: bytes, piece: int = 7_777) -> bytes:
    opener = filecrypto.StreamOpener(key, prefix)
    out = [
        p
        for start in range(0, len(stream), piece)
        for p in opener.feed(stream[start : start + piece])
    ]
    return b"".join(out) + opener.finish()


@pytest.mark.parametrize(
    "size", [1, 100, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 5]
)
def test_stream_round_trips_whatever_the_piece_sizes(size: int) -> None:
    key = os.urandom(32)
    data = os.urandom(size)
    prefix, chunks = seal_all(key, data)
    assert len(chunks) == filecrypto.chunk_count(size)
    assert all(len(c) == SEALED_CHUNK_BYTES for c in chunks[:-1])
    stream = b"".join(chunks)
    assert filecrypto.plaintext_size(len(stream)) == size
    assert open_all(key, prefix, stream) == data
    assert open_all(key, prefix, stream, piece=len(stream)) == data


def test_empty_file_is_refused() -> None:
    with pytest.raises(filecrypto.EmptyFile):
        filecrypto.StreamSealer(os.urandom(32)).finish()


def _three_chunks() -> tuple[bytes, bytes, list[bytes]]:
    key = os.urandom(32)
    prefix, chunks = seal_all(key, os.urandom(2 * CHUNK_BYTES + 10))
    assert len(chunks) == 3
    return key, prefix, chunks


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ("dropped", lambda c: [c[0], c[2]]),
        ("swapped", lambda c: [c[1], c[0], c[2]]),
        ("duplicated", lambda c: [c[0], c[0], c[1], c[2]]),
        ("truncated", lambda c: [c[0], c[1]]),
        ("cut mid-chunk", lambda c: [c[0], c[1], c[2][:-1]]),
        ("last dropped, first kept", lambda c: [c[0]]),
    ],
)
def test_tampered_stream_fails_with_a_clear_error(change: str, where: object) -> None:
    key, prefix, chunks = _three_chunks()
    stream = b"".join(where(chunks))  # type: ignore[operator]
    with pytest.raises(StreamError, match="cut off"):
        open_all(key, prefix, stream)


def test_flipped_bit_fails() -> None:
    key, prefix, chunks = _three_chunks()
    chunks[1] = bytes([chunks[1][0] ^ 1]) + chunks[1][1:]
    with pytest.raises(StreamError, match="chunk 2"):
        open_all(key, prefix, b"".join(chunks))


def test_stream_does_not_open_with_another_key_or_prefix() -> None:
    key, prefix, chunks = _three_chunks()
    with pytest.raises(StreamError):
        open_all(os.urandom(32), prefix, b"".join(chunks))
    with pytest.raises(StreamError):
        open_all(key, os.urandom(7), b"".join(chunks))


def test_chunk_bytes_do_not_contain_the_plaintext() -> None:
    data = pattern(CHUNK_BYTES * 2)
    _, chunks = seal_all(os.urandom(32), data)
    assert data[1000:1064] not in b"".join(chunks)


def test_every_file_gets_a_fresh_nonce_prefix() -> None:
    key = os.urandom(32)
    assert filecrypto.StreamSealer(key).prefix != filecrypto.StreamSealer(key).prefix


def test_meta_round_trips_and_refuses_a_wrong_key() -> None:
    key = os.urandom(32)
    meta = filecrypto.FileMeta(name="../report\n.pdf", type="application/pdf", size=3)
    sealed = filecrypto.seal_meta(key, meta)
    assert b"report" not in sealed
    assert filecrypto.open_meta(key, sealed) == meta
    with pytest.raises(StreamError):
        filecrypto.open_meta(os.urandom(32), sealed)


@pytest.mark.parametrize("sealed_size", [0, 16, SEALED_CHUNK_BYTES + 16, SEALED_CHUNK_BYTES + 3])
def test_impossible_sealed_sizes_have_no_plaintext_size(sealed_size: int) -> None:
    assert filecrypto.plaintext_size(sealed_size) is None


def test_stream_matches_the_shared_test_vectors() -> None:
    key = b64u(VECTORS["file_key"])
    prefix = b64u(VECTORS["prefix"])
    example = VECTORS["nonce_example"]
    assert filecrypto.chunk_nonce(prefix, example["index"], example["last"]) == b64u(
        example["nonce"]
    )
    for case in VECTORS["streams"]:
        sealer = filecrypto.StreamSealer(key, prefix)
        chunks = sealer.feed(pattern(case["size"]))
        chunks.append(sealer.finish())
        stream = b"".join(chunks)
        assert len(chunks) == case["chunk_count"]
        assert len(stream) == case["sealed_size"]
        assert hashlib.sha256(stream).hexdigest() == case["sealed_sha256"]
        if "sealed" in case:
            assert stream == b64u(case["sealed"])
        assert open_all(key, prefix, stream) == pattern(case["size"])


def test_meta_matches_the_shared_test_vectors() -> None:
    vector = VECTORS["meta"]
    key = b64u(VECTORS["content_key"])
    meta = filecrypto.FileMeta(vector["name"], vector["type"], vector["size"])
    assert filecrypto.seal_meta(key, meta, b64u(vector["nonce"])) == b64u(vector["sealed"])
    assert filecrypto.open_meta(key, b64u(vector["sealed"])) == meta
    # Independent of our module: plain AES-GCM with the documented label opens it.
    sealed = b64u(vector["sealed"])
    document = AESGCM(key).decrypt(sealed[:12], sealed[12:], b"safe-share/v2 file meta")
    assert json.loads(document)["name"] == vector["name"]
