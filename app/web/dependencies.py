"""Values every handler may ask for by name: `settings`, `now`, `user`, `client`, and the
shared `oidc` client and `sessions` manager."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from litestar import Request
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException
from litestar.utils.scope.state import ScopeState

from app.auth.identity import User
from app.auth.oidc import OidcClient
from app.services.audit import ClientInfo
from app.settings import Settings
from app.web.clientaddress import client_address, client_hash
from app.web.sessions import SessionManager

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def provide_settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def provide_now(request: Request[Any, Any, Any]) -> datetime:
    clock: Clock = request.app.state.clock
    return clock()


def provide_current_user(request: Request[Any, Any, Any]) -> User | None:
    user: User | None = request.scope.get("state", {}).get("user")
    return user


def signed_in_user(request: Request[Any, Any, Any]) -> User:
    """The person a signed-in-only route let in, read where the request middleware put them
    (the hot routes read it rather than have it injected: injection is a step per request)."""
    user = provide_current_user(request)
    if user is None:  # the route's access rule lets nobody else reach the handler
        raise NotAuthorizedException()
    return user


def posted_form(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The form the request middleware read from the body (app.web.middleware), as `data: Form`
    would give it."""
    form = ScopeState.from_scope(request.scope).form
    return form if isinstance(form, dict) else {}


def provide_oidc(request: Request[Any, Any, Any]) -> OidcClient:
    oidc: OidcClient = request.app.state.oidc
    return oidc


def provide_sessions(request: Request[Any, Any, Any]) -> SessionManager:
    sessions: SessionManager = request.app.state.sessions
    return sessions


def provide_client(request: Request[Any, Any, Any]) -> ClientInfo:
    settings = provide_settings(request)
    # The header straight from the scope: request.headers builds a parsed copy of all of them.
    user_agent = next(
        (value for name, value in request.scope["headers"] if name == b"user-agent"), b""
    )
    return ClientInfo(
        client=client_hash(client_address(request.scope, settings), settings),
        user_agent=user_agent[:120].decode("latin-1"),
    )


DEPENDENCIES: dict[str, Provide] = {
    "settings": Provide(provide_settings, sync_to_thread=False),
    "now": Provide(provide_now, sync_to_thread=False),
    "user": Provide(provide_current_user, sync_to_thread=False),
    "client": Provide(provide_client, sync_to_thread=False),
    "oidc": Provide(provide_oidc, sync_to_thread=False),
    "sessions": Provide(provide_sessions, sync_to_thread=False),
}
