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

from app.auth.identity import user_from_claims
from app.auth.oidc import OidcClient, ProviderUnreachable, SignInError
from app.i18n import N_, _
from app.services.audit import ANONYMOUS, AuditAction, ClientInfo, record
from app.settings import Settings
from app.web.responses import ErrorPage, error_page, safe_next
from app.web.sessions import Session, SessionManager
from app.web.stores import StoreUnavailable

logger = logging.getLogger(__name__)
LOGIN_STATE_COOKIE = "safe_share_login"
# The error codes of OAuth 2.0 (RFC 6749 4.1.2.1) and OpenID Connect Core (3.1.2.6).
PROVIDER_ERRORS = frozenset(
    {
        "access_denied",
        "invalid_request",
        "unauthorized_client",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "invalid_request_uri",
        "invalid_request_object",
        "request_not_supported",
        "request_uri_not_supported",
        "registration_not_supported",
    }
)
# Set at sign-out when the provider has no end-session endpoint (its session lives on): the
# next sign-in then asks the provider to make the person authenticate again.
REAUTH_COOKIE = "safe_share_reauth"
REAUTH_SECONDS = 30 * 86400


provider_unreachable_page = ErrorPage(
    503,
    N_("Sign-in is unavailable"),
    N_("The Prowise Account service cannot be reached right now. Try again in a minute."),
    retry_after=60,
)
# Redis would bring the session back: say so rather than pretend.
sign_out_unfinished = ErrorPage(
    503,
    N_("Sign-out did not finish"),
    N_(
        "Safe Share could not confirm your sign-out with its session store, so you may still "
        "be signed in. Try signing out again in a minute."
    ),
    retry_after=30,
)


Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


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
        oidc: OidcClient,
        sessions: SessionManager,
        next: str | None = None,
        prompt: str | None = None,
    ) -> Redirect | Template:
        force_login = request.cookies.get(REAUTH_COOKIE) == "1"
        try:
            # "Sign in with another account" (prompt=login) or a provider whose session outlived
            # sign-out: the provider must ask again, not reuse its session.
            start = await oidc.start(
                f"{settings.base_url}/auth/callback",
                force_login=force_login or prompt == "login",
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
        oidc: OidcClient,
        sessions: SessionManager,
        now: datetime,
        client: ClientInfo,
        code: str | None = None,
        oidc_state: Annotated[str | None, Parameter(query="state")] = None,
        error: str | None = None,
    ) -> Redirect | Template:
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
                AuditAction.SIGNIN,
                at=now,
                actor=ANONYMOUS,
                outcome="refused",
                client=client,
                # The error parameter is anyone's text: store only the standard codes.
                reason=(error if error in PROVIDER_ERRORS else "other") if error else str(exc),
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
        await record(
            AuditAction.SIGNIN, at=now, actor=user.label, client=client, reason=user.role.value
        )
        return Redirect(
            pending["next"],
            status_code=303,
            cookies=[
                _cookie(
                    settings, sessions.cookie_name, session_id, settings.session_absolute_seconds
                ),
                # Cleared with the attributes they were set with, or browsers keep them.
                _cookie(settings, LOGIN_STATE_COOKIE, "", 0, "/auth"),
                _cookie(settings, REAUTH_COOKIE, "", 0, "/auth"),
            ],
        )

    @post("/logout", status_code=303)
    async def logout(
        self,
        request: Request[Any, Any, Any],
        settings: Settings,
        oidc: OidcClient,
        sessions: SessionManager,
        data: Form,
    ) -> Redirect | Template:
        session: Session | None = request.scope.get("state", {}).get("session")
        back_to = data.get("next")
        target = None
        if session is not None:
            try:
                await sessions.sign_out(session.id)
            except StoreUnavailable:
                return sign_out_unfinished(request)
            if not isinstance(back_to, str):
                target = await oidc.end_session_url(session.id_token, f"{settings.base_url}/")
        # A __Host- cookie is only cleared by a Set-Cookie that is Secure, like the original.
        cookies = [_cookie(settings, sessions.cookie_name, "", 0)]
        if isinstance(back_to, str):
            # Signing in as someone else: straight back to sign-in, then to the same page.
            query = urlencode({"next": safe_next(back_to), "prompt": "login"})
            return Redirect(f"/auth/login?{query}", status_code=303, cookies=cookies)
        if target is None:
            # The provider's own session may live on: make the next sign-in ask for a password.
            cookies.append(_cookie(settings, REAUTH_COOKIE, "1", REAUTH_SECONDS, "/auth"))
        return Redirect(target or "/", status_code=303, cookies=cookies)
