"""Who may reach a route, declared on it (signed in, staff, auditor) and checked by
RequestMiddleware before the handler runs; app.web.errors turns the refusals into pages.

Declared in `opt` rather than as Litestar guards: Litestar copies the handler for every guard on
every request. Controller and handler both may declare; every layer's requirement holds (as
Litestar's guards would add up), so a handler can never loosen its controller's.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Scope

from app.auth.identity import User
from app.auth.rules import may_invite
from app.i18n import _

# Handler opt: the page to come back to after signing in (or in as someone else), with
# {path parameters}; without it, a GET's own page, else the home page.
SIGN_IN_NEXT = "sign_in_next"
# Controller or handler opt: an Access the route needs, e.g. opt={REQUIRES: Access.STAFF}.
REQUIRES = "requires"
_RESOLVED = "_requires_resolved"


class Access(Enum):
    SIGNED_IN = "signed in"
    STAFF = "staff"  # signed in, and may invite guests and receive their secrets
    AUDITOR = "auditor"  # signed in, and may see the whole audit trail


class SignInRequired(NotAuthorizedException):
    def __init__(self, next_path: str) -> None:
        super().__init__()
        self.next_path = next_path


class RoleRequired(PermissionDeniedException):
    """Signed in, but without the role the route needs; `detail` says which."""


def page_to_return_to(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    handler = connection.route_handler
    is_get = isinstance(connection, Request) and connection.method == "GET"
    next_path: str = handler.opt.get(SIGN_IN_NEXT, connection.url.path if is_get else "/")
    return next_path.format(**connection.path_params)


def required_access(handler: BaseRouteHandler) -> frozenset[Access]:
    """What every layer from the app down to the handler requires; worked out once per handler
    (kept in its opt), so a request pays one lookup."""
    resolved: frozenset[Access] | None = handler.opt.get(_RESOLVED)
    if resolved is None:
        declared = [(layer.opt or {}).get(REQUIRES) for layer in handler.ownership_layers]
        resolved = frozenset(access for access in declared if access is not None)
        if not all(isinstance(access, Access) for access in resolved):
            raise TypeError(f"{handler}: opt[{REQUIRES!r}] must be an Access")
        handler.opt[_RESOLVED] = resolved
    return resolved


def not_staff() -> RoleRequired:
    return RoleRequired(detail=_("Only Prowise staff can invite guests and receive their secrets."))


def access_refused(scope: Scope, user: User | None) -> HTTPException | None:
    """Why this person may not reach the route (the refusal to answer with), or None."""
    needs = required_access(scope["route_handler"])
    if not needs:
        return None
    if user is None:
        return SignInRequired(page_to_return_to(Request(scope)))
    if Access.STAFF in needs and not may_invite(user):
        return not_staff()
    if Access.AUDITOR in needs and not user.is_auditor:
        return RoleRequired(detail=_("Only auditors can see the whole audit trail."))
    return None
