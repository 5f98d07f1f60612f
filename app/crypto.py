"""Pure cryptography for secrets: no I/O, no app imports.

Content is sealed with XChaCha20-Poly1305 (PyNaCl's authenticated encryption) under a fresh
random key per secret. The secret's id is the associated data, so a ciphertext moved to another
row no longer opens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import nacl.exceptions
import nacl.hash
import nacl.utils
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
    crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
)

KEY_BYTES: int = crypto_aead_xchacha20poly1305_ietf_KEYBYTES
NONCE_BYTES: int = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
KEY_TEXT_LENGTH = 43  # unpadded url-safe base64 of 32 bytes
ID_BYTES = 16  # 128 random bits: ids and tokens cannot be guessed


class DecryptionError(Exception):
    """The key does not open this ciphertext (wrong key, or the data was tampered with)."""


@dataclass(frozen=True)
class Sealed:
    nonce: bytes
    ciphertext: bytes


def new_key() -> bytes:
    return nacl.utils.random(KEY_BYTES)


def new_id() -> str:
    return secrets.token_urlsafe(ID_BYTES)


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode()


def decode_key(text: str) -> bytes | None:
    """The key from its link form, or None when it cannot be a key."""
    if len(text) != KEY_TEXT_LENGTH:
        return None
    try:
        key = base64.urlsafe_b64decode(text + "=")
    except (binascii.Error, ValueError):
        return None
    return key if len(key) == KEY_BYTES and encode_key(key) == text else None


def seal(plaintext: bytes, key: bytes, associated_data: bytes) -> Sealed:
    nonce = nacl.utils.random(NONCE_BYTES)
    ciphertext = crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, associated_data, nonce, key)
    return Sealed(nonce=nonce, ciphertext=ciphertext)


def open_sealed(sealed: Sealed, key: bytes, associated_data: bytes) -> bytes:
    try:
        return bytes(
            crypto_aead_xchacha20poly1305_ietf_decrypt(
                sealed.ciphertext, associated_data, sealed.nonce, key
            )
        )
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
        raise DecryptionError from exc


def derive_key(master: bytes, purpose: str) -> bytes:
    """A 32-byte subkey of a master key, one per purpose, so no key serves two jobs."""
    return nacl.hash.blake2b(
        master,
        digest_size=KEY_BYTES,
        person=purpose.encode()[:16].ljust(16, b"\0"),
        encoder=nacl.encoding.RawEncoder,
    )


def wrap_key(key: bytes, master_keys: Sequence[bytes], associated_data: bytes) -> bytes:
    """Encrypt a per-secret key under the first (current) master key; nonce is prepended."""
    sealed = seal(key, derive_key(master_keys[0], "wrap-key"), associated_data)
    return sealed.nonce + sealed.ciphertext


def unwrap_key(wrapped: bytes, master_keys: Sequence[bytes], associated_data: bytes) -> bytes:
    """Every configured master key may open a wrapped key, so keys can be rotated."""
    sealed = Sealed(nonce=wrapped[:NONCE_BYTES], ciphertext=wrapped[NONCE_BYTES:])
    for master in master_keys:
        try:
            return open_sealed(sealed, derive_key(master, "wrap-key"), associated_data)
        except DecryptionError:
            continue
    raise DecryptionError


def hash_token(token: str) -> str:
    """Tokens are stored only as this hash; the token itself never reaches the database."""
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_match(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)


def pseudonymise(value: str, master_keys: Sequence[bytes]) -> str:
    """A keyed hash for audit rows: equal inputs link up, but the input cannot be read back."""
    digest = hmac.new(derive_key(master_keys[0], "audit-pseudonym"), value.encode(), "sha256")
    return digest.hexdigest()[:16]
