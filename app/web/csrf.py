"""Double-submit CSRF tokens: a cookie, and the same token sent back in a header or form field.

The format is Litestar's (64 hex random characters, then their HMAC-SHA256 in hex, keyed by the
hex of our derived key), so tokens already in browsers stay valid. RequestMiddleware checks
every route but the streamed forms', which app.web.upload checks as the body arrives.
"""

from __future__ import annotations

import hmac
import secrets
from hmac import compare_digest

from app import crypto
from app.settings import Settings

COOKIE_NAME = "safe_share_csrf"
HEADER_NAME = "x-csrftoken"
FIELD_NAME = "_csrf_token"
# Handler opt: the route reads its body as a stream and checks the token itself (app.web.upload).
CHECKED_BY_READER = "csrf_checked_by_reader"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

RANDOM_CHARS = 64  # 32 random bytes in hex
TOKEN_CHARS = RANDOM_CHARS + 64  # and their HMAC-SHA256 in hex
KNOWN_VALID_MAX = 10_000


class CsrfTokens:
    """Mint and check tokens under one key; the Set-Cookie header is built once, but for the
    token."""

    def __init__(self, key: bytes, secure: bool) -> None:
        self._key = key
        attributes = "; Path=/; SameSite=Lax; HttpOnly" + ("; Secure" if secure else "")
        self._cookie_prefix = f"{COOKIE_NAME}=".encode()
        self._cookie_suffix = attributes.encode()
        # Tokens already checked and found signed: a browser sends the same one with every
        # request, and the check is an HMAC. Bounded: forgotten all at once when full.
        self._known_valid: set[str] = set()

    @classmethod
    def for_settings(cls, settings: Settings) -> CsrfTokens:
        # Litestar keyed the HMAC with the hex text of the derived key; so do we.
        key = crypto.derive_key(settings.secret_keys[0], "csrf").hex().encode()
        return cls(key, settings.secure_cookies)

    def _signature(self, random_part: bytes) -> bytes:
        return hmac.digest(self._key, random_part, "sha256").hex().encode()

    def mint(self) -> str:
        random_part = secrets.token_hex(RANDOM_CHARS // 2).encode()
        return (random_part + self._signature(random_part)).decode()

    def _encoded(self, token: str | None) -> bytes | None:
        """The token's bytes if it has the right shape (anything else is simply invalid)."""
        if not token or len(token) != TOKEN_CHARS or not token.isascii():
            return None
        return token.encode()

    def is_valid(self, token: str | None) -> bool:
        if token in self._known_valid:
            return True
        raw = self._encoded(token)
        valid = raw is not None and compare_digest(
            raw[RANDOM_CHARS:], self._signature(raw[:RANDOM_CHARS])
        )
        if valid and token is not None:
            if len(self._known_valid) >= KNOWN_VALID_MAX:
                self._known_valid.clear()
            self._known_valid.add(token)
        return valid

    def matches(self, cookie: str | None, submitted: str | None) -> bool:
        """The submitted token is the cookie's, and the cookie is one we signed. (Equal to a
        valid token means valid too: the signature is a function of the random part.)"""
        sent = self._encoded(submitted)
        kept = self._encoded(cookie)
        if sent is None or kept is None or not compare_digest(sent, kept):
            return False
        return self.is_valid(cookie)

    def set_cookie(self, token: str) -> tuple[bytes, bytes]:
        """The response header that gives the browser this token (a session cookie)."""
        return b"set-cookie", self._cookie_prefix + token.encode() + self._cookie_suffix
