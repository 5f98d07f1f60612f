"""Who may reach a route, declared on it (signed in, staff, auditor), and the pages that say no."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Template

from app.auth.identity import User
from app.auth.rules import may_invite
from app.i18n import _
from app.web.responses import error_page, is_htmx, render

# Handler opt: the page to come back to after signing in, with {path parameters}.
SIGN_IN_NEXT = "sign_in_next"


class SignInRequired(NotAuthorizedException):
    def __init__(self, next_path: str) -> None:
        super().__init__()
        self.next_path = next_path


class RoleRequired(PermissionDeniedException):
    """Signed in, but without the role the route needs; `detail` says which."""


def _signed_in_user(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> User:
    user: User | None = connection.scope.get("state", {}).get("user")
    if user is None:
        is_get = isinstance(connection, Request) and connection.method == "GET"
        default = connection.url.path if is_get else "/"
        next_path: str = handler.opt.get(SIGN_IN_NEXT, default)
        raise SignInRequired(next_path.format(**connection.path_params))
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


def sign_in_required(request: Request[Any, Any, Any], next_path: str) -> Response[Any]:
    if is_htmx(request):
        # A fragment would put a whole page into the form: htmx loads the page instead.
        # Quoted: the path's parameters come from the URL, and a header must stay one line.
        location = quote(next_path, safe="/", errors="replace")
        return Response(content=b"", status_code=401, headers={"HX-Redirect": location})
    return render(request, "sign_in_required.html", status_code=401, next_path=next_path)


def handle_sign_in_required(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    return sign_in_required(request, exc.next_path)


def handle_role_required(request: Request[Any, Any, Any], exc: RoleRequired) -> Template:
    return error_page(request, 403, _("Not allowed"), exc.detail)
