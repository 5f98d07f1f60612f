"""The access log redacts by the route table, not by a list of prefixes: every path parameter
of every route (those added later too) and any segment that is no route's literal is cut to a
4-character prefix; the client is shown as the audit trail's keyed hash, never an address."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable

import pytest

from app import crypto
from app.settings import Settings
from app.web.accesslog import AccessLogMiddleware, LineFormatter, redact_path, route_literals
from tests.support.apps import FrozenClock, access_lines, client_of, serving
from tests.support.flows import sign_in

PARAMETER = re.compile(r"\{[^}]+\}")


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_no_route_parameter_reaches_the_access_log_in_full(
    make_settings: Callable[..., Settings], database_url: str, issuer: str, clock: FrozenClock
) -> None:
    settings = make_settings(database_url)
    async with serving(settings, clock) as app:
        served = AccessLogMiddleware(app)
        patterns = [route.path for route in app.routes if PARAMETER.search(route.path)]
        assert "/dashboard/secrets/{secret_id:str}/trail" in patterns
        async with client_of(served) as visitor:
            await sign_in(visitor, issuer, "alice@prowise.com")
            sent: list[tuple[str, str]] = []
            with access_lines() as lines:
                for pattern in patterns:
                    value = secrets.token_urlsafe(16)
                    path = PARAMETER.sub(value, pattern)
                    methods = app.route_handler_method_map[pattern]
                    method = "GET" if "GET" in methods else "POST"
                    await visitor.request(method, path)
                    sent.append((value, path))
                # Addresses no route matches: their segments are cut too.
                stray = secrets.token_urlsafe(16)
                await visitor.get(f"/s/{stray}/extra/{stray}")
        logged = "\n".join(lines)
        for value, path in [*sent, (stray, "")]:
            assert value not in logged, path
            assert f"{value[:4]}…" in logged, path
        trail = next(line for line in lines if "/trail" in line)
        assert re.match(
            r"^GET /dashboard/secrets/.{4}…/trail 404 [\d.]+ms client=[0-9a-f]{8}$", trail
        )
        # The same keyed hash the audit trail stores for this client, never the address.
        assert f"client={crypto.pseudonymise('127.0.0.1', settings.secret_keys)[:8]}" in trail
        assert "127.0.0.1" not in logged


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/dashboard/secrets/AbCdEfGhIjKlMnOpQrSt/trail", "/dashboard/secrets/AbCd…/trail"),
        ("/s/AbCdEfGhIjKlMnOpQrStUv", "/s/AbCd…"),
        ("/i/tokentokentokentokentoken", "/i/toke…"),
        ("/audit.csv", "/audit.csv"),
        ("/new-route/AbCdEfGhIjKl", "/new-…/AbCd…"),
        ("/x\r\nFAKE 200", "/x\r\nF…".replace("\r\n", "??")),
    ],
)
def test_redaction_keeps_only_route_literals(path: str, shown: str) -> None:
    literals = route_literals(
        ["/dashboard/secrets/{secret_id:str}/trail", "/s/{id:str}", "/i/{t:str}", "/audit.csv"]
    )
    assert redact_path(path, literals) == shown


@pytest.mark.parametrize("created", [1700000000.0, 1700000000.9996, 1700000001.0004, 1800000123.5])
def test_the_cached_time_formatter_writes_what_logging_writes(created: float) -> None:
    line_format = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    ours = LineFormatter(line_format)
    ours.format(logging.LogRecord("app.access", logging.INFO, "", 0, "warm", (), None))
    record = logging.LogRecord("app.access", logging.INFO, "", 0, "GET %s", ("/",), None)
    record.created = created
    record.msecs = (created - int(created)) * 1000
    assert ours.format(record) == logging.Formatter(line_format).format(record)
    # A date format still works as logging's does.
    assert ours.formatTime(record, "%Y") == logging.Formatter().formatTime(record, "%Y")
