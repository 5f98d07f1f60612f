"""One URL, two answers: a fragment for htmx, the whole page otherwise; and the error pages."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import asyncpg
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from app import i18n
from app.i18n import _
from app.web.clientbody import ClientDisconnected
from app.web.templates import localised_name

logger = logging.getLogger("app.web")


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request[Any, Any, Any],
    page: str,
    fragment: str | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Template:
    """The fragment for htmx requests (when there is one), else the page that includes it."""
    name = fragment if fragment and is_htmx(request) else page
    # Who and which language, straight from the request's state (`request.state` in a
    # template builds a new object at every use).
    state = request.scope.get("state", {})
    language = i18n.current_language.get()
    return Template(
        template_name=localised_name(language, name),
        context={
            "user": state.get("user"),
            "language": language,
            "account_language": state.get("account_language", False),
            **context,
        },
        status_code=status_code,
        headers=headers or {},
    )


def error_page(
    request: Request[Any, Any, Any],
    status_code: int,
    title: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> Template:
    return render(
        request,
        "error.html",
        "fragments/message.html",
        status_code=status_code,
        headers=headers,
        title=title,
        message=message,
    )


def unavailable_page(request: Request[Any, Any, Any]) -> Template:
    # Unknown, used, expired and revoked all answer exactly this.
    return error_page(
        request,
        404,
        _("This secret is not available"),
        _(
            "The link is wrong, or the secret was already opened, has expired or was revoked. "
            "Ask the person who sent it to share it again."
        ),
    )


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, ClientDisconnected):
        # Nobody is left to answer; not an error of ours, so no error in the log either.
        logger.info("client disconnected mid-request on %s", request.scope["path"].split("/")[1])
        return Response(content=b"", status_code=status)
    if isinstance(exc, NotFoundException) or status == 404:
        return error_page(request, 404, _("Page not found"), _("There is nothing at this address."))
    if status == 403:
        # Litestar's CSRF refusal lands here too.
        return error_page(
            request,
            403,
            _("Not allowed"),
            _("This request was refused. Reload the page and try again."),
        )
    if status == 413:
        return error_page(
            request,
            413,
            _("Too much data"),
            _("What you sent is larger than Safe Share accepts. Shorten it and try again."),
        )
    if status == 408:
        return error_page(
            request,
            408,
            _("This took too long"),
            _("What you sent did not arrive in time. Nothing was stored. Please try again."),
        )
    if status == 429:
        return too_many_attempts_page(request, int((exc.headers or {}).get("retry-after", "60")))
    if status == 405:
        return error_page(request, 405, _("Not allowed"), _("This address does not accept that."))
    if status >= 500:
        return handle_server_error(request, exc)
    return error_page(
        request, status, _("Bad request"), _("Safe Share could not understand this request.")
    )


def unreadable_request_page(request: Request[Any, Any, Any]) -> Template:
    return error_page(
        request,
        400,
        _("Bad request"),
        _(
            "What was sent could not be read (it is not valid text). Nothing was stored. "
            "Go back, check what you typed or pasted, and try again."
        ),
    )


def too_many_attempts_page(request: Request[Any, Any, Any], retry_after: int) -> Template:
    return error_page(
        request,
        429,
        _("Too many attempts"),
        _("Please wait a moment before you try again."),
        headers={"retry-after": str(retry_after)},
    )


def service_unavailable_page(request: Request[Any, Any, Any]) -> Template:
    return error_page(
        request,
        503,
        _("Safe Share is briefly unavailable"),
        _("Nothing was shared or opened. Please try again in a minute."),
        headers={"retry-after": "30"},
    )


def is_outage(exc: BaseException) -> bool:
    """The database (or another service) is unreachable: a 503 to retry, not a 500 to debug."""
    if isinstance(exc, OSError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        return "locked" in str(exc) or "unable to open" in str(exc)
    return isinstance(
        exc,
        asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.InternalClientError  # a connection cut mid-query
        | asyncpg.exceptions.OperatorInterventionError
        | asyncpg.exceptions.ObjectNotInPrerequisiteStateError
        | asyncpg.exceptions.InsufficientResourcesError,
    )


def handle_server_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if is_outage(exc):
        logger.warning(
            "service unavailable: %s on %s %s",
            type(exc).__name__,
            request.method,
            request.scope["path"].split("/")[1],
        )
        return service_unavailable_page(request)
    if isinstance(exc, asyncpg.DataError):
        # Input the database cannot hold (a NUL byte, say) that validation let through:
        # still the client's input, so a 400, and the transaction was rolled back.
        logger.warning("refused %s on %s", type(exc).__name__, request.scope["path"].split("/")[1])
        return error_page(
            request, 400, _("Bad request"), _("Safe Share could not understand this request.")
        )
    # Log the type and place only: exception messages could carry request data.
    logger.error(
        "unhandled %s on %s %s",
        type(exc).__name__,
        request.method,
        request.scope["path"].split("/")[1],
    )
    return error_page(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        _("Something went wrong"),
        _("Safe Share could not finish this request. Nothing was shared or opened. Try again."),
    )
