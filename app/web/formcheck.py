"""Refuse form bodies that are not valid UTF-8, before anything parses them.

Litestar decodes form fields with replacement characters, so a secret sent with broken bytes
would be stored silently changed. Browsers always send valid UTF-8; anything else is a broken
or hostile client, and gets a clear 400 with nothing stored rather than a mangled secret.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from litestar.types import Receive, ReceiveMessage, Scope

FORM_TYPE = b"application/x-www-form-urlencoded"


def is_valid_form(body: bytes) -> bool:
    try:
        body.decode("ascii")  # browsers percent-encode everything else
        for pair in body.split(b"&"):
            for part in pair.split(b"=", 1):
                unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")  # strict: no surrogates
    except UnicodeDecodeError:
        return False
    return True


def form_type(scope: Scope) -> bytes | None:
    """The request's media type, lower-cased, without its parameters (b"multipart/form-data")."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bytes(value.split(b";", 1)[0].strip().lower())
    return None


async def checked_form_receive(
    scope: Scope, receive: Receive, max_body_bytes: int
) -> Receive | None:
    """For a form POST: read the body, and give back a `receive` that replays it, or None when
    it is not valid UTF-8 (refuse it). Anything else passes through untouched."""
    if scope.get("method") != "POST" or form_type(scope) != FORM_TYPE:
        return receive
    messages: list[ReceiveMessage] = []
    size = 0
    more = True
    while more and size <= max_body_bytes:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        more = bool(message.get("more_body", False))
    # Too large: leave it to the body size limit (413), which reads on.
    if not more and size <= max_body_bytes:
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        if not is_valid_form(body):
            return None

    async def replay() -> ReceiveMessage:
        return messages.pop(0) if messages else await receive()

    return replay
