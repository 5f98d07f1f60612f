"""Sign-in with the Prowise Account, and sign-out."""

from __future__ import annotations

import hmac
import logging
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, Template

from app.auth.identity import User, user_from_claims
from app.auth.oidc import OidcClient, SignInError
from app.i18n import _
from app.services.audit import ClientInfo, record
from app.settings import Settings
from app.web.responses import error_page
from app.web.sessions import Session, SessionManager

logger = logging.getLogger(__name__)
LOGIN_STATE_COOKIE = "safe_share_login"
Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


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
        self,
        request: Request[Any, Any, Any],
        settings: Settings,
        next: str | None = None,
        prompt: str | None = None,
    ) -> Redirect | Template:
        oidc: OidcClient = request.app.state.oidc
        sessions: SessionManager = request.app.state.sessions
        try:
            # "Sign in with another account": the provider must ask again, not reuse its session.
            start = await oidc.start(
                f"{settings.base_url}/auth/callback", prompt="login" if prompt == "login" else None
            )
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
            return error_page(
                request,
                503,
                _("Sign-in is unavailable"),
                _(
                    "The Prowise Account service cannot be reached right now. Try again in a minute."
                ),
            )
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
        except (SignInError, KeyError) as exc:
            await record(
                "signin",
                at=now,
                actor="anonymous",
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
            ],
        )

    @post("/logout", status_code=303)
    async def logout(
        self, request: Request[Any, Any, Any], settings: Settings, data: Form
    ) -> Redirect:
        oidc: OidcClient = request.app.state.oidc
        sessions: SessionManager = request.app.state.sessions
        session: Session | None = request.scope.get("state", {}).get("session")
        back_to = data.get("next")
        target = "/"
        if session is not None:
            await sessions.destroy(session.id)
            if not isinstance(back_to, str):
                target = (
                    await oidc.end_session_url(session.id_token, f"{settings.base_url}/") or "/"
                )
        if isinstance(back_to, str):
            # Signing in as someone else: straight back to sign-in, then to the same page.
            target = f"/auth/login?{urlencode({'next': safe_next(back_to), 'prompt': 'login'})}"
        return Redirect(
            target,
            status_code=303,
            cookies=[Cookie(key=sessions.cookie_name, value="", max_age=0, path="/")],
        )


def current_user_label(user: User | None) -> str:
    return user.label if user else ""
