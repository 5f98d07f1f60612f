"""The Prowise Account (OpenID Connect) client, built on authlib.

Authorization code flow with PKCE (S256), `state` and `nonce`; the ID token's signature and
claims are verified against the provider's JWKS, then userinfo is merged in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from authlib.integrations.base_client import BaseApp, OAuthError
from authlib.integrations.base_client.async_app import AsyncOAuth2Mixin
from authlib.integrations.base_client.async_openid import AsyncOpenIDMixin
from authlib.integrations.httpx_client import AsyncOAuth2Client

from app.settings import Settings

# authlib logs the PKCE verifier at debug level; keep it out of every log.
logging.getLogger("authlib").setLevel(logging.INFO)


class SignInError(Exception):
    """The provider's answer could not be trusted or used."""


@dataclass(frozen=True)
class AuthorizationStart:
    url: str
    state: str
    nonce: str
    code_verifier: str


class _AuthlibApp(AsyncOAuth2Mixin, AsyncOpenIDMixin, BaseApp):  # type: ignore[misc]
    client_cls = AsyncOAuth2Client


class OidcClient:
    def __init__(self, settings: Settings) -> None:
        self.issuer = settings.oidc_issuer
        self._app = _AuthlibApp(
            framework=None,
            name="prowise",
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            server_metadata_url=f"{settings.oidc_issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": "openid email profile",
                "code_challenge_method": "S256",
                "timeout": 10,
            },
        )

    async def _metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = await self._app.load_server_metadata()
        if metadata.get("issuer", "").rstrip("/") != self.issuer:
            raise SignInError("issuer mismatch")
        return metadata

    async def start(self, redirect_uri: str, prompt: str | None = None) -> AuthorizationStart:
        await self._metadata()
        extra = {"prompt": prompt} if prompt else {}
        result = await self._app.create_authorization_url(redirect_uri, **extra)
        return AuthorizationStart(
            url=result["url"],
            state=result["state"],
            nonce=result["nonce"],
            code_verifier=result["code_verifier"],
        )

    async def finish(
        self, *, code: str, redirect_uri: str, nonce: str, code_verifier: str
    ) -> tuple[dict[str, Any], str | None]:
        """Verified claims (ID token, then userinfo for the same subject) and the raw ID token."""
        try:
            await self._metadata()
            token = await self._app.fetch_access_token(
                code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
            )
            id_claims = await self._app.parse_id_token(token, nonce=nonce)
            if id_claims is None:
                raise SignInError("no id token")
            userinfo = await self._app.userinfo(token=token)
        except OAuthError as exc:
            raise SignInError(exc.error) from None
        except SignInError:
            raise
        except Exception as exc:  # signature, claims, transport: all mean "not signed in"
            raise SignInError(type(exc).__name__) from None
        if userinfo.get("sub") != id_claims.get("sub"):
            raise SignInError("userinfo subject mismatch")
        return {**dict(userinfo), **dict(id_claims)}, token.get("id_token")

    async def end_session_url(
        self, id_token: str | None, post_logout_redirect_uri: str
    ) -> str | None:
        try:
            metadata = await self._metadata()
        except Exception:
            return None
        if not metadata.get("end_session_endpoint"):
            return None
        result = await self._app.create_logout_url(
            post_logout_redirect_uri=post_logout_redirect_uri, id_token_hint=id_token
        )
        url: str = result["url"]
        return url
