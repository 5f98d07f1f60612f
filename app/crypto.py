"""Pure cryptography for secrets: no I/O, no app imports.

Version 2 (docs/FORMAT.md, the browser speaks it too): AES-256-GCM under keys derived with HKDF
from the link key K (and a PBKDF2-stretched passphrase); the server keeps only a hash of the
reveal proof. Version 1 rows: XChaCha20-Poly1305 (PyNaCl) with the id as associated data.
PyNaCl's XChaCha20-Poly1305 also wraps guest secrets' keys under the master key.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import nacl.exceptions
import nacl.hash
import nacl.utils
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
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


_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,32}")


def plausible_id(text: str) -> bool:
    """Could new_id have made this? Checked before any look-up, so junk never reaches a query."""
    return _ID_SHAPE.fullmatch(text) is not None


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


@functools.lru_cache(maxsize=64)  # a handful of (master key, purpose) pairs, asked for per request
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
    return _pseudonym(value, derive_key(master_keys[0], "audit-pseudonym"))


@functools.lru_cache(maxsize=4096)  # the access log and audit rows hash the same few clients
def _pseudonym(value: str, key: bytes) -> str:
    return hmac.new(key, value.encode(), "sha256").hexdigest()[:16]


# --- Format version 2 (docs/FORMAT.md): end to end, spoken by the browser and the server ---
#
# AES-256-GCM, HKDF-SHA256 and PBKDF2-HMAC-SHA256 because WebCrypto has exactly these (no
# XChaCha20), so a secret sealed in a browser opens on the server and the other way round.

FORMAT_V1 = 1
FORMAT_V2 = 2
GCM_NONCE_BYTES = 12
GCM_TAG_BYTES = 16
PROOF_BYTES = 32
PROOF_TEXT_LENGTH = 43
SALT_BYTES = 16
PBKDF2_ITERATIONS = 600_000  # OWASP's current recommendation for PBKDF2-HMAC-SHA256
LABEL_CONTENT_KEY = b"safe-share/v2 content key"
LABEL_REVEAL_PROOF = b"safe-share/v2 reveal proof"
LABEL_FILE_KEY = b"safe-share/v2 file key"
AD_TEXT = b"safe-share/v2 text"


@dataclass(frozen=True)
class DerivedKeys:
    content_key: bytes
    proof: bytes
    file_key: bytes


def b64u_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(text: str) -> bytes | None:
    """Strict unpadded url-safe base64: None for anything that would not re-encode the same."""
    if not text.isascii():
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if b64u_encode(data) == text else None


def decode_proof(text: str) -> bytes | None:
    proof = b64u_decode(text) if len(text) == PROOF_TEXT_LENGTH else None
    return proof if proof is not None and len(proof) == PROOF_BYTES else None


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def stretch_passphrase(passphrase: str, salt: bytes) -> bytes:
    """PBKDF2 of the NFC-normalised passphrase. Slow on purpose: call it from a thread."""
    normalised = unicodedata.normalize("NFC", passphrase).encode()
    return hashlib.pbkdf2_hmac("sha256", normalised, salt, PBKDF2_ITERATIONS, dklen=32)


# HKDF-SHA256 (RFC 5869) with an empty salt, which is HKDF's default of HashLen zero bytes, as
# WebCrypto does with salt = []. Every key here is 32 bytes, a single block of the expand step.
_EMPTY_SALT = bytes(32)


def _hkdf_extract(ikm: bytes) -> bytes:
    return hmac.digest(_EMPTY_SALT, ikm, "sha256")


def _hkdf_expand_one_block(prk: bytes, info: bytes) -> bytes:
    return hmac.digest(prk, info + b"\x01", "sha256")


def hkdf(ikm: bytes, info: bytes) -> bytes:
    return _hkdf_expand_one_block(_hkdf_extract(ikm), info)


def derive_keys(link_key: bytes, stretched_passphrase: bytes | None = None) -> DerivedKeys:
    """Content key, reveal proof and file key from K (and P): distinct labels, one job each.
    One HKDF extract, then one expand per label: what three separate HKDFs compute."""
    prk = _hkdf_extract(link_key + (stretched_passphrase or b""))
    return DerivedKeys(
        content_key=_hkdf_expand_one_block(prk, LABEL_CONTENT_KEY),
        proof=_hkdf_expand_one_block(prk, LABEL_REVEAL_PROOF),
        file_key=_hkdf_expand_one_block(prk, LABEL_FILE_KEY),
    )


def gcm_seal(key: bytes, nonce: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    return AESGCM(key).encrypt(nonce, plaintext, associated_data)


def gcm_open(key: bytes, nonce: bytes, ciphertext: bytes, associated_data: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, associated_data)
    except (InvalidTag, ValueError, TypeError) as exc:
        raise DecryptionError from exc


def seal_text(plaintext: bytes, content_key: bytes, nonce: bytes | None = None) -> Sealed:
    nonce = nonce if nonce is not None else secrets.token_bytes(GCM_NONCE_BYTES)
    return Sealed(nonce=nonce, ciphertext=gcm_seal(content_key, nonce, plaintext, AD_TEXT))


def open_text(sealed: Sealed, content_key: bytes) -> bytes:
    if len(sealed.nonce) != GCM_NONCE_BYTES:
        raise DecryptionError
    return gcm_open(content_key, sealed.nonce, sealed.ciphertext, AD_TEXT)


def hash_proof(proof: bytes) -> bytes:
    """Only this is stored: the database alone cannot produce a proof."""
    return hashlib.sha256(proof).digest()


def proof_matches(proof: bytes, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_proof(proof), stored_hash)
