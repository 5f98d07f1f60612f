from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app import crypto


def test_sealed_content_opens_only_with_its_key() -> None:
    key = crypto.new_key()
    sealed = crypto.seal(b"hunter2", key, b"id-1")
    assert b"hunter2" not in sealed.ciphertext
    assert crypto.open_sealed(sealed, key, b"id-1") == b"hunter2"
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(sealed, crypto.new_key(), b"id-1")


def test_ciphertext_moved_to_another_secret_does_not_open() -> None:
    key = crypto.new_key()
    sealed = crypto.seal(b"hunter2", key, b"id-1")
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(sealed, key, b"id-2")


def test_tampered_ciphertext_is_refused() -> None:
    key = crypto.new_key()
    sealed = crypto.seal(b"hunter2", key, b"id")
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(crypto.Sealed(sealed.nonce, flipped), key, b"id")


def test_every_seal_uses_a_fresh_nonce() -> None:
    key = crypto.new_key()
    assert crypto.seal(b"x", key, b"i").nonce != crypto.seal(b"x", key, b"i").nonce


@pytest.mark.parametrize(
    "text", ["", "short", "!" * 43, "A" * 42, "A" * 44, "A" * 42 + "B", "é" * 43]
)
def test_malformed_keys_are_rejected(text: str) -> None:
    assert crypto.decode_key(text) is None


def test_key_text_round_trips() -> None:
    key = crypto.new_key()
    assert crypto.decode_key(crypto.encode_key(key)) == key


def test_wrapped_keys_survive_master_key_rotation() -> None:
    old, new = b"o" * 32, b"n" * 32
    key = crypto.new_key()
    wrapped = crypto.wrap_key(key, [old], b"secret-id")
    assert key not in wrapped
    assert crypto.unwrap_key(wrapped, [new, old], b"secret-id") == key
    with pytest.raises(crypto.DecryptionError):
        crypto.unwrap_key(wrapped, [new], b"secret-id")


def test_tokens_are_stored_as_hashes() -> None:
    token = crypto.new_id()
    stored = crypto.hash_token(token)
    assert token not in stored
    assert crypto.tokens_match(token, stored)
    assert not crypto.tokens_match(token + "x", stored)


def test_ids_carry_128_random_bits() -> None:
    ids = {crypto.new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 22 for i in ids)


# --- format v2 (docs/FORMAT.md): the shared vectors also run in Chromium (tests/browser) ---

VECTORS = json.loads((Path(__file__).parent / "vectors" / "v2.json").read_text("utf-8"))


def _b(text: str) -> bytes:
    value = crypto.b64u_decode(text)
    assert value is not None
    return value


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda case: case["name"])
def test_server_derives_and_seals_exactly_the_shared_vectors(case: dict[str, Any]) -> None:
    stretched = None
    if case["passphrase"] is not None:
        stretched = crypto.stretch_passphrase(case["passphrase"], _b(case["kdf_salt"]))
        assert stretched == _b(case["stretched_passphrase"])
    keys = crypto.derive_keys(_b(case["link_key"]), stretched)
    assert keys.content_key == _b(case["content_key"])
    assert keys.proof == _b(case["proof"])
    assert keys.file_key == _b(case["file_key"])
    assert crypto.hash_proof(keys.proof) == _b(case["proof_hash"])
    assert crypto.proof_matches(keys.proof, _b(case["proof_hash"]))
    sealed = crypto.seal_text(case["text"].encode(), keys.content_key, _b(case["nonce"]))
    assert sealed.ciphertext == _b(case["ciphertext"])
    assert crypto.open_text(sealed, keys.content_key) == case["text"].encode()


def test_hkdf_with_empty_salt_matches_rfc_5869() -> None:
    # RFC 5869 test case 3: empty salt and info, the salt convention WebCrypto shares.
    ikm = bytes.fromhex("0b" * 22)
    expected = "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
    assert crypto.hkdf(ikm, b"") == bytes.fromhex(expected)


@pytest.mark.parametrize("ikm_length", [0, 1, 32, 64, 200])
def test_hkdf_is_the_standard_one(ikm_length: int) -> None:
    # The same bytes as an independent implementation (the `cryptography` package's), for each
    # label, with and without a stretched passphrase.
    def reference(ikm: bytes, info: bytes) -> bytes:
        return HKDF(algorithm=SHA256(), length=32, salt=None, info=info).derive(ikm)

    ikm = os.urandom(ikm_length)
    for info in (crypto.LABEL_CONTENT_KEY, crypto.LABEL_REVEAL_PROOF, crypto.LABEL_FILE_KEY, b""):
        assert crypto.hkdf(ikm, info) == reference(ikm, info)
    key, stretched = os.urandom(32), os.urandom(32)
    for passphrase in (None, stretched):
        keys = crypto.derive_keys(key, passphrase)
        ikm = key + (passphrase or b"")
        assert keys.content_key == reference(ikm, crypto.LABEL_CONTENT_KEY)
        assert keys.proof == reference(ikm, crypto.LABEL_REVEAL_PROOF)
        assert keys.file_key == reference(ikm, crypto.LABEL_FILE_KEY)


def test_each_derived_key_has_one_job() -> None:
    keys = crypto.derive_keys(crypto.new_key())
    assert len({keys.content_key, keys.proof, keys.file_key}) == 3


def test_passphrase_changes_every_derived_value() -> None:
    link_key, salt = crypto.new_key(), crypto.new_salt()
    plain = crypto.derive_keys(link_key)
    stretched = crypto.derive_keys(link_key, crypto.stretch_passphrase("horse", salt))
    assert plain.proof != stretched.proof
    assert plain.content_key != stretched.content_key
    other = crypto.derive_keys(link_key, crypto.stretch_passphrase("horsE", salt))
    assert other.proof != stretched.proof


@pytest.mark.parametrize("part", ["ciphertext", "nonce", "tag"])
def test_tampered_v2_text_does_not_open(part: str) -> None:
    keys = crypto.derive_keys(crypto.new_key())
    sealed = crypto.seal_text(b"geheim", keys.content_key)
    nonce, ciphertext = bytearray(sealed.nonce), bytearray(sealed.ciphertext)
    if part == "nonce":
        nonce[0] ^= 1
    elif part == "ciphertext":
        ciphertext[0] ^= 1
    else:
        ciphertext[-1] ^= 1
    with pytest.raises(crypto.DecryptionError):
        crypto.open_text(crypto.Sealed(bytes(nonce), bytes(ciphertext)), keys.content_key)


def test_v2_text_does_not_open_with_a_wrong_nonce_length() -> None:
    keys = crypto.derive_keys(crypto.new_key())
    sealed = crypto.seal_text(b"x", keys.content_key)
    with pytest.raises(crypto.DecryptionError):
        crypto.open_text(crypto.Sealed(sealed.nonce[:-1], sealed.ciphertext), keys.content_key)


def test_only_the_hash_of_a_proof_is_kept_and_checked() -> None:
    proof = crypto.derive_keys(crypto.new_key()).proof
    stored = crypto.hash_proof(proof)
    assert proof not in stored
    assert crypto.proof_matches(proof, stored)
    assert not crypto.proof_matches(bytes(32), stored)


@pytest.mark.parametrize(
    "text", ["", "A" * 42, "A" * 44, "A" * 42 + "=", "+" * 43, "/" * 43, "é" * 43, "A" * 42 + "B"]
)
def test_malformed_proofs_are_rejected(text: str) -> None:
    assert crypto.decode_proof(text) is None


def test_b64u_is_strict() -> None:
    assert crypto.b64u_decode("AA") == b"\0"
    for text in ("AB", "A", "AA==", "A+", "é"):
        assert crypto.b64u_decode(text) is None
