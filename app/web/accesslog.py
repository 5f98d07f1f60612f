"""Our access log, instead of uvicorn's: method, redacted path, status, duration.

uvicorn's access log prints the full path and query, which here would carry secret ids,
invitation tokens (/i/<token>) and the OIDC code and state. This one logs the path without the
query, with ids and tokens cut to a short prefix (enough to tell requests apart, useless as a
link). Run uvicorn with --no-access-log and wrap the app in this middleware.
"""

from __future__ import annotations

import logging
import re
import time

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("app.access")

# /s/<id>, /i/<token>, /received/<id>, /invitations/<id>: keep the first 4 characters only.
_SECRET_SEGMENT = re.compile(r"^(/(?:s|i|received|invitations)/)([^/]+)")
MAX_PATH = 120


def redact_path(path: str) -> str:
    def cut(match: re.Match[str]) -> str:
        return f"{match.group(1)}{match.group(2)[:4]}…"

    redacted = _SECRET_SEGMENT.sub(cut, path)
    # Control characters in a path must not forge log lines.
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in redacted)
    return cleaned if len(cleaned) <= MAX_PATH else cleaned[:MAX_PATH] + "…"


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app fails before starting a response

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            logger.info(
                "%s %s %d %.1fms",
                scope.get("method", "-"),
                redact_path(scope.get("path", "")),
                status,
                (time.perf_counter() - started) * 1000,
            )
