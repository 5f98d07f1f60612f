"""Regenerate stream_v2.json: `python3 -m tests.vectors.make_stream_v2` (fixed keys and nonces)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from app import filecrypto


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pattern(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


def case(name: str, size: int, file_key: bytes, prefix: bytes) -> dict[str, object]:
    sealer = filecrypto.StreamSealer(file_key, prefix)
    chunks = sealer.feed(pattern(size))
    chunks.append(sealer.finish())
    stream = b"".join(chunks)
    entry: dict[str, object] = {
        "name": name,
        "size": size,
        "chunk_count": len(chunks),
        "sealed_size": len(stream),
        "sealed_sha256": hashlib.sha256(stream).hexdigest(),
    }
    if len(stream) <= 256:
        entry["sealed"] = b64u(stream)
    return entry


def main() -> None:
    file_key = bytes(range(32))
    content_key = bytes(range(32, 64))
    prefix = bytes.fromhex("a1a2a3a4a5a6a7")
    meta_nonce = bytes.fromhex("0102030405060708090a0b0c")
    meta = filecrypto.FileMeta(name="Vertrag für Müller.pdf", type="application/pdf", size=135000)
    document = {
        "about": "docs/FORMAT.md 'Files (stream)'; plaintext byte i is i % 251",
        "file_key": b64u(file_key),
        "content_key": b64u(content_key),
        "prefix": b64u(prefix),
        "chunk_bytes": filecrypto.CHUNK_BYTES,
        "nonce_example": {
            "index": 2,
            "last": True,
            "nonce": b64u(filecrypto.chunk_nonce(prefix, 2, True)),
        },
        "streams": [
            case("one byte", 1, file_key, prefix),
            case("short", 100, file_key, prefix),
            case("exactly one chunk", filecrypto.CHUNK_BYTES, file_key, prefix),
            case("two chunks and a bit", 2 * filecrypto.CHUNK_BYTES + 3, file_key, prefix),
        ],
        "meta": {
            "name": meta.name,
            "type": meta.type,
            "size": meta.size,
            "nonce": b64u(meta_nonce),
            "sealed": b64u(filecrypto.seal_meta(content_key, meta, meta_nonce)),
        },
    }
    path = Path(__file__).with_name("stream_v2.json")
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
