from __future__ import annotations

import pytest

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
