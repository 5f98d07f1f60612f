"""Our access log, instead of uvicorn's: method, redacted path, status, duration, client hash.

uvicorn's access log prints the full path and query, which here would carry secret ids,
invitation tokens (/i/<token>) and the OIDC code and state. This one logs the path without the
query, and redacts by the route table rather than by a list of prefixes: a path segment that is
not a literal segment of some route (so every path parameter, in any route added later, and any
unknown text) is cut to a short prefix, enough to tell requests apart, useless as a link. The
client is the same keyed hash the audit trail stores, from the same address function as the rate
limits. Run uvicorn with --no-access-log and wrap the app in this middleware.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import Message, Receive, Scope, Send

from app.web.clientaddress import client_address, client_hash

logger = logging.getLogger("app.access")

MAX_PATH = 120
SHOWN_CHARACTERS = 4


def route_literals(paths: Iterable[str]) -> frozenset[str]:
    """Every fixed segment of the given route paths (`/s/{secret_id:str}/reveal` → s, reveal)."""
    return frozenset(
        segment for path in paths for segment in path.split("/") if segment and "{" not in segment
    )


def redact_path(path: str, literals: frozenset[str]) -> str:
    shown = "/".join(
        part if not part or part in literals else f"{part[:SHOWN_CHARACTERS]}…"
        for part in path.split("/")
    )
    # Control characters in a path must not forge log lines.
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in shown)
    return cleaned if len(cleaned) <= MAX_PATH else cleaned[:MAX_PATH] + "…"


class LineFormatter(logging.Formatter):
    """The standard line format, with the date and time text made once per second rather than
    once per line (strftime was a third of a log line's cost, and there is one per request)."""

    default_msec_format = "%s,%03d"
    _second = -1
    _second_text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._second_text = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        return self.default_msec_format % (self._second_text, record.msecs)


class AccessLogMiddleware:
    def __init__(self, app: Litestar) -> None:
        self.app = app
        self.settings = app.state.settings
        self.literals = route_literals(route.path for route in app.routes)

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
                "%s %s %d %.1fms client=%s",
                scope.get("method", "-"),
                redact_path(scope.get("path", ""), self.literals),
                status,
                (time.perf_counter() - started) * 1000,
                client_hash(client_address(scope, self.settings), self.settings)[:8] or "-",
            )
