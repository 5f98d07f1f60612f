"""Who may reach a route, declared on it (signed in, staff, auditor); app.web.errors turns
their refusals into pages."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from app.auth.identity import User
from app.auth.rules import may_invite
from app.i18n import _

# Handler opt: the page to come back to after signing in (or in as someone else), with
# {path parameters}; without it, a GET's own page, else the home page.
SIGN_IN_NEXT = "sign_in_next"


class SignInRequired(NotAuthorizedException):
    def __init__(self, next_path: str) -> None:
        super().__init__()
        self.next_path = next_path


class RoleRequired(PermissionDeniedException):
    """Signed in, but without the role the route needs; `detail` says which."""


def page_to_return_to(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler | None = None
) -> str:
    handler = handler or connection.route_handler
    is_get = isinstance(connection, Request) and connection.method == "GET"
    next_path: str = handler.opt.get(SIGN_IN_NEXT, connection.url.path if is_get else "/")
    return next_path.format(**connection.path_params)


def _signed_in_user(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> User:
    user: User | None = connection.scope.get("state", {}).get("user")
    if user is None:
        raise SignInRequired(page_to_return_to(connection, handler))
    return user


# Guards are async on purpose: Litestar runs a plain function guard in a worker thread, a thread
# hop on every guarded request for a check that never blocks.
async def requires_signed_in(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    _signed_in_user(connection, handler)


def not_staff() -> RoleRequired:
    return RoleRequired(detail=_("Only Prowise staff can invite guests and receive their secrets."))


async def requires_staff(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    if not may_invite(_signed_in_user(connection, handler)):
        raise not_staff()


async def requires_auditor(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    if not _signed_in_user(connection, handler).is_auditor:
        raise RoleRequired(detail=_("Only auditors can see the whole audit trail."))
