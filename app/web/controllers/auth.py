"""Sign-in with the Prowise Account, and sign-out."""

from __future__ import annotations

import hmac
import logging
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.params import Parameter
from litestar.response import Redirect, Template

from app.auth.identity import User, user_from_claims
from app.auth.oidc import OidcClient, ProviderUnreachable, SignInError
from app.i18n import _
from app.services.audit import ANONYMOUS, ClientInfo, record
from app.settings import Settings
from app.web.responses import error_page
from app.web.sessions import Session, SessionManager

logger = logging.getLogger(__name__)
LOGIN_STATE_COOKIE = "safe_share_login"
# Set at sign-out when the provider has no end-session endpoint (its session lives on): the
# next sign-in then asks the provider to make the person authenticate again.
REAUTH_COOKIE = "safe_share_reauth"
REAUTH_SECONDS = 30 * 86400


def provider_unreachable_page(request: Request[Any, Any, Any]) -> Template:
    return error_page(
        request,
        503,
        _("Sign-in is unavailable"),
        _("The Prowise Account service cannot be reached right now. Try again in a minute."),
        headers={"Retry-After": "60"},
    )


def safe_next(path: str | None) -> str:
    """Only same-site paths: an open redirect would hand our sign-in to someone else's page."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    if any(ord(ch) < 33 for ch in path) or len(path) > 200:
        return "/"
    return path


def _cookie(settings: Settings, key: str, value: str, max_age: int, path: str = "/") -> Cookie:
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        path=path,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
    )


class AuthController(Controller):
    path = "/auth"

    @get("/login")
    async def login(
        self, request: Request[Any, Any, Any], settings: Settings, next: str | None = None
    ) -> Redirect | Template:
        oidc: OidcClient = request.app.state.oidc
        sessions: SessionManager = request.app.state.sessions
        force_login = request.cookies.get(REAUTH_COOKIE) == "1"
        try:
            start = await oidc.start(f"{settings.base_url}/auth/callback", force_login=force_login)
            await sessions.save_pending_login(
                start.state,
                {
                    "nonce": start.nonce,
                    "code_verifier": start.code_verifier,
                    "next": safe_next(next),
                },
            )
        except Exception as exc:
            logger.warning("sign-in could not start: %s", type(exc).__name__)
            return provider_unreachable_page(request)
        # The state also goes into a cookie, so only the browser that started can finish.
        return Redirect(
            start.url,
            status_code=302,
            cookies=[_cookie(settings, LOGIN_STATE_COOKIE, start.state, 600, "/auth")],
        )

    @get("/callback")
    async def callback(
        self,
        request: Request[Any, Any, Any],
        settings: Settings,
        now: datetime,
        client: ClientInfo,
        code: str | None = None,
        oidc_state: Annotated[str | None, Parameter(query="state")] = None,
        error: str | None = None,
    ) -> Redirect | Template:
        oidc: OidcClient = request.app.state.oidc
        sessions: SessionManager = request.app.state.sessions
        cookie_state = request.cookies.get(LOGIN_STATE_COOKIE, "")
        pending = None
        if (
            oidc_state
            and cookie_state
            and hmac.compare_digest(oidc_state.encode(), cookie_state.encode())
        ):
            pending = await sessions.pop_pending_login(oidc_state)
        try:
            if error or not code or pending is None:
                raise SignInError(error or "state")
            claims, id_token = await oidc.finish(
                code=code,
                redirect_uri=f"{settings.base_url}/auth/callback",
                nonce=pending["nonce"],
                code_verifier=pending["code_verifier"],
            )
            user = user_from_claims(claims, settings)
        except ProviderUnreachable:
            logger.warning("sign-in could not finish: the provider cannot be reached")
            return provider_unreachable_page(request)
        except (SignInError, KeyError) as exc:
            await record(
                "signin",
                at=now,
                actor=ANONYMOUS,
                outcome="refused",
                client=client,
                reason=str(exc)[:60],
            )
            return error_page(
                request,
                400,
                _("Sign-in did not work"),
                _(
                    "The answer from the Prowise Account could not be verified. Please sign in again."
                ),
            )
        old: Session | None = request.scope.get("state", {}).get("session")
        if old is not None:
            await sessions.destroy(old.id)
        session_id = await sessions.create(user, id_token)
        await record("signin", at=now, actor=user.label, client=client, reason=user.role.value)
        return Redirect(
            pending["next"],
            status_code=303,
            cookies=[
                _cookie(
                    settings, sessions.cookie_name, session_id, settings.session_absolute_seconds
                ),
                Cookie(key=LOGIN_STATE_COOKIE, value="", max_age=0, path="/auth"),
                Cookie(key=REAUTH_COOKIE, value="", max_age=0, path="/auth"),
            ],
        )

    @post("/logout", status_code=303)
    async def logout(self, request: Request[Any, Any, Any], settings: Settings) -> Redirect:
        oidc: OidcClient = request.app.state.oidc
        sessions: SessionManager = request.app.state.sessions
        session: Session | None = request.scope.get("state", {}).get("session")
        target = None
        if session is not None:
            await sessions.destroy(session.id)
            target = await oidc.end_session_url(session.id_token, f"{settings.base_url}/")
        cookies = [Cookie(key=sessions.cookie_name, value="", max_age=0, path="/")]
        if target is None:
            # The provider's own session may live on: make the next sign-in ask for a password.
            cookies.append(_cookie(settings, REAUTH_COOKIE, "1", REAUTH_SECONDS, "/auth"))
        return Redirect(target or "/", status_code=303, cookies=cookies)


def current_user_label(user: User | None) -> str:
    return user.label if user else ""
