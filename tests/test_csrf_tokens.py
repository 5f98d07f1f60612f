"""The CSRF token scheme on its own (app/web/csrf.py): what it accepts, what it refuses without
an error, the cookie it sets, and that Litestar's tokens (already in browsers) stay valid."""

from __future__ import annotations

from collections.abc import Callable
from http.cookies import SimpleCookie

import pytest
from litestar.middleware.csrf import generate_csrf_hash, generate_csrf_token

from app import crypto
from app.settings import Settings
from app.web.csrf import COOKIE_NAME, KNOWN_VALID_MAX, TOKEN_CHARS, CsrfTokens

KEY = b"k" * 64
TOKENS = CsrfTokens(KEY, secure=False)


def test_a_minted_token_is_128_hex_characters_and_matches_itself() -> None:
    token = TOKENS.mint()
    assert len(token) == TOKEN_CHARS == 128
    assert int(token, 16) >= 0
    assert TOKENS.is_valid(token)
    assert TOKENS.matches(token, token)
    assert TOKENS.mint() != token


def forged_signature(token: str) -> str:
    last = "0" if token[-1] != "0" else "1"
    return token[:-1] + last


def bad_tokens(good: str) -> dict[str, str | None]:
    random_part = good[:64]
    return {
        "none": None,
        "empty": "",
        "forged signature": forged_signature(good),
        "signed by another key": CsrfTokens(b"other", secure=False).mint(),
        "random part only": random_part,
        "truncated": good[:-1],
        "one character more": good + "0",
        "doubled": good + good,
        "very long": good + "0" * 1_000_000,
        "upper case": good.upper(),
        "non-hex": "z" * 128,
        "non-ASCII, right length": "é" * 128,
        "non-ASCII in the signature": good[:-1] + "é",
        "NUL bytes": "\x00" * 128,
        "whitespace around": f" {good} ",
    }


@pytest.mark.parametrize("name", list(bad_tokens(TOKENS.mint())))
def test_bad_tokens_are_refused_without_an_error(name: str) -> None:
    good = TOKENS.mint()
    bad = bad_tokens(good)[name]
    assert not TOKENS.is_valid(bad)
    # Whichever side is bad: the cookie, the submitted token, or both.
    assert not TOKENS.matches(good, bad)
    assert not TOKENS.matches(bad, good)
    assert not TOKENS.matches(bad, bad)


def test_two_valid_tokens_do_not_match_each_other() -> None:
    # Another browser's (or the attacker's own) token is valid, but not this cookie's.
    mine, theirs = TOKENS.mint(), TOKENS.mint()
    assert TOKENS.is_valid(mine)
    assert TOKENS.is_valid(theirs)
    assert not TOKENS.matches(mine, theirs)
    assert not TOKENS.matches(theirs, mine)


def test_a_token_with_a_forged_signature_does_not_match_even_the_same_forgery() -> None:
    # The attacker can set both sides (a cookie from a sibling domain): the HMAC stops that.
    forged = "a" * 64 + "b" * 64
    assert not TOKENS.matches(forged, forged)


def test_litestar_tokens_stay_valid_and_ours_are_litestars(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings("sqlite:///unused.sqlite")
    ours = CsrfTokens.for_settings(settings)
    # What CSRFConfig(secret=...) was given before: the derived key's hex.
    secret = crypto.derive_key(settings.secret_keys[0], "csrf").hex()
    theirs = generate_csrf_token(secret=secret)
    assert ours.is_valid(theirs)
    assert ours.matches(theirs, theirs)
    minted = ours.mint()
    assert generate_csrf_hash(token=minted[:64], secret=secret) == minted[64:]
    # Only the first key signs: a token of another master key is refused.
    other = make_settings("sqlite:///unused.sqlite", secret_key="another-master-key-" + "y" * 32)
    assert not CsrfTokens.for_settings(other).is_valid(theirs)


@pytest.mark.parametrize("secure", [False, True])
def test_the_cookie_header(secure: bool) -> None:
    token = TOKENS.mint()
    name, value = CsrfTokens(KEY, secure).set_cookie(token)
    assert name == b"set-cookie"
    jar: SimpleCookie = SimpleCookie()
    jar.load(value.decode())
    morsel = jar[COOKIE_NAME]
    assert morsel.value == token
    assert morsel["path"] == "/"
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() == "lax"
    assert bool(morsel["secure"]) is secure
    # A session cookie: gone when the browser closes, like Litestar's.
    assert not morsel["max-age"]
    assert not morsel["expires"]


def test_secure_cookies_follow_the_settings(make_settings: Callable[..., Settings]) -> None:
    plain = make_settings("sqlite:///unused.sqlite")
    https = make_settings("sqlite:///unused.sqlite", base_url="https://share.example")
    assert not plain.secure_cookies
    assert https.secure_cookies
    assert b"; Secure" not in CsrfTokens.for_settings(plain).set_cookie("t")[1]
    assert CsrfTokens.for_settings(https).set_cookie("t")[1].endswith(b"; Secure")


def test_remembering_valid_tokens_never_admits_a_bad_one() -> None:
    """is_valid remembers tokens it found signed (one HMAC per browser, not per request): a
    remembered token must not vouch for anything near it, and the memory stays bounded."""
    tokens = CsrfTokens(KEY, secure=False)
    good = tokens.mint()
    assert tokens.is_valid(good)
    assert tokens.is_valid(good)  # now from memory
    for name, bad in bad_tokens(good).items():
        assert not tokens.is_valid(bad), name
        assert not tokens.matches(good, bad), name
        assert not tokens.matches(bad, bad), name
    for _ in range(KNOWN_VALID_MAX + 5):
        assert tokens.is_valid(tokens.mint())
    assert len(tokens._known_valid) <= KNOWN_VALID_MAX
    assert tokens.is_valid(good)  # forgotten, then checked again
    assert not CsrfTokens(b"other", secure=False).is_valid(good)
