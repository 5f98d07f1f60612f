"""Exceptions into pages: the one table the app registers, so every route answers a refusal,
an unknown secret or an outage alike, and never with a trace."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from app.db.engine import is_outage, is_unstorable_input
from app.i18n import N_, _, format_size
from app.services.paging import BadCursor
from app.services.secrets import CannotOpen, NotForYou, SecretUnavailable
from app.web.clientbody import ClientDisconnected
from app.web.dependencies import provide_settings
from app.web.guards import RoleRequired, SignInRequired, page_to_return_to
from app.web.responses import (
    ErrorPage,
    bad_page_link,
    bad_request_page,
    cannot_open_page,
    error_page,
    not_for_you,
    not_found_page,
    request_refused_page,
    service_unavailable_page,
    sign_in_required,
    too_many_attempts_page,
    too_much_data_page,
    unavailable_page,
    unreadable_request_page,
)
from app.web.upload import FormRefused, Refusal

logger = logging.getLogger("app.web")

_TOOK_TOO_LONG = ErrorPage(
    408,
    N_("This took too long"),
    N_("What you sent did not arrive in time. Nothing was stored. Please try again."),
)
_NOT_ACCEPTED = ErrorPage(405, N_("Not allowed"), N_("This address does not accept that."))
_CUT_OFF = ErrorPage(
    400,
    N_("The upload was cut off"),
    N_("Not everything arrived, so nothing was stored. Go back and try again."),
)
_WENT_WRONG = ErrorPage(
    HTTP_500_INTERNAL_SERVER_ERROR,
    N_("Something went wrong"),
    N_("Safe Share could not finish this request. Nothing was shared or opened. Try again."),
)


def _place(request: Request[Any, Any, Any]) -> str:
    # The first path segment only: the rest may hold an id or an invitation token.
    return str(request.scope["path"].split("/")[1])


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, ClientDisconnected):
        # Nobody is left to answer; not an error of ours, so no error in the log either.
        logger.info("client disconnected mid-request on %s", _place(request))
        return Response(content=b"", status_code=status)
    if isinstance(exc, NotFoundException) or status == 404:
        return not_found_page(request)
    if status == 403:
        return request_refused_page(request)
    if status == 413:
        return too_much_data_page(request)
    if status == 408:
        return _TOOK_TOO_LONG(request)
    if status == 429:
        return too_many_attempts_page(request, int((exc.headers or {}).get("retry-after", "60")))
    if status == 405:
        page = _NOT_ACCEPTED(request)
        # HTTP requires a 405 to say which methods the address does accept.
        if allow := (exc.headers or {}).get("allow"):
            page.headers["allow"] = allow
        return page
    if status >= 500:
        return handle_server_error(request, exc)
    return error_page(
        request, status, _("Bad request"), _("Safe Share could not understand this request.")
    )


def handle_server_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if is_outage(exc):
        logger.warning(
            "service unavailable: %s on %s %s", type(exc).__name__, request.method, _place(request)
        )
        return service_unavailable_page(request)
    if is_unstorable_input(exc):
        logger.warning("refused %s on %s", type(exc).__name__, _place(request))
        return bad_request_page(request)
    # Log the type and place only: exception messages could carry request data.
    logger.error("unhandled %s on %s %s", type(exc).__name__, request.method, _place(request))
    return _WENT_WRONG(request)


def handle_sign_in_required(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    return sign_in_required(request, exc.next_path)


def handle_role_required(request: Request[Any, Any, Any], exc: RoleRequired) -> Template:
    return error_page(request, 403, _("Not allowed"), exc.detail)


def handle_form_refused(request: Request[Any, Any, Any], exc: FormRefused) -> Template:
    """A streamed form (app.web.upload) that was refused; nothing of it was kept."""
    if exc.refusal is Refusal.CSRF:
        return request_refused_page(request)
    if exc.refusal is Refusal.TOO_LARGE:
        return too_much_data_page(request)
    if exc.refusal is Refusal.FILE_TOO_LARGE:
        return error_page(
            request,
            413,
            _("The file is too large"),
            _(
                "Files can be at most %(limit)s. Nothing was stored. Go back and choose a smaller file.",
                limit=format_size(provide_settings(request).max_file_bytes),
            ),
        )
    if exc.refusal is Refusal.CUT_OFF:
        return _CUT_OFF(request)
    return unreadable_request_page(request)


def handle_secret_unavailable(request: Request[Any, Any, Any], exc: SecretUnavailable) -> Template:
    return unavailable_page(request)


def handle_not_for_you(request: Request[Any, Any, Any], exc: NotForYou) -> Template:
    # "Sign in with another account" comes back to the page the route names for signing in.
    return not_for_you(request, page_to_return_to(request))


def handle_cannot_open(request: Request[Any, Any, Any], exc: CannotOpen) -> Template:
    return cannot_open_page(request)


def handle_bad_cursor(request: Request[Any, Any, Any], exc: BadCursor) -> Template:
    return bad_page_link(request)


def refusal_page(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """The page for a refusal found before the handler ran (by RequestMiddleware, outside
    Litestar's own exception handling): the one the table below gives."""
    for kind in type(exc).__mro__:
        handler = EXCEPTION_HANDLERS.get(kind)
        if handler is not None:
            return handler(request, exc)
    return handle_http_exception(request, exc)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    SignInRequired: handle_sign_in_required,
    RoleRequired: handle_role_required,
    FormRefused: handle_form_refused,
    SecretUnavailable: handle_secret_unavailable,
    NotForYou: handle_not_for_you,
    CannotOpen: handle_cannot_open,
    BadCursor: handle_bad_cursor,
    HTTPException: handle_http_exception,
    Exception: handle_server_error,
}
