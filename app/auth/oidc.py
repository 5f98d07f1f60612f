"""The Prowise Account (OpenID Connect) client: discovery, authorization code flow with PKCE
(S256), `state` and `nonce`, the token exchange, ID token verification and userinfo.

Written on httpx and joserfc rather than a framework client, so that every provider outage is
told apart from an answer that fails verification, and each provider quirk is one setting.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import re
import secrets
import ssl
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

import certifi
import httpx
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey
from joserfc.jws import JWSRegistry

from app.settings import Settings, TokenAuth

logger = logging.getLogger(__name__)

# Signatures an ID token may carry. HS256 uses the client secret (OIDC Core §10.1); no other
# symmetric algorithm, and never `none`.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
SYMMETRIC_ALGORITHM = "HS256"
TIMEOUT = httpx.Timeout(10.0)


class SignInError(Exception):
    """The provider's answer could not be trusted or used."""


class ProviderUnreachable(SignInError):
    """The provider did not answer (network, timeout, or a 5xx from it or its proxy)."""


@dataclass(frozen=True)
class AuthorizationStart:
    url: str
    state: str
    nonce: str
    code_verifier: str


def basic_credentials(client_id: str, client_secret: str) -> str:
    """RFC 6749 §2.3.1: id and secret are form-encoded before they are joined and base64ed."""
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


# A scheme and host[:port] only: whatever the provider writes must not add CSP directives.
_ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _json(
    response: httpx.Response, what: str, *, refusals_are_json: bool = False
) -> dict[str, Any]:
    if response.status_code >= 500:
        raise ProviderUnreachable(f"{what} {response.status_code}")
    if response.status_code >= 400 and not refusals_are_json:
        raise SignInError(f"{what} {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        raise SignInError(f"{what} not json") from None
    if not isinstance(data, dict):
        raise SignInError(f"{what} not an object")
    return data


def _header(compact: str) -> dict[str, Any]:
    segment = compact.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError:
        raise SignInError("id token malformed") from None
    if not isinstance(header, dict):
        raise SignInError("id token malformed")
    return header


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every call to the provider: building one loads the whole CA bundle
    (tens of milliseconds of CPU), which a new client per call did at every sign-in."""
    return ssl.create_default_context(cafile=certifi.where())


def _registry(algorithms: Collection[str]) -> JWSRegistry:
    return JWSRegistry(algorithms=sorted(algorithms), strict_check_header=False)


@functools.lru_cache(maxsize=8)
def _form_action_origins(endpoint: str) -> tuple[str, ...]:
    # Asked for every response's CSP; the endpoint changes only with the provider's metadata.
    found = origin(endpoint)
    return (found,) if _ORIGIN.fullmatch(found) else ()


class OidcClient:
    def __init__(self, settings: Settings) -> None:
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self.client_secret = settings.oidc_client_secret
        self.scope = " ".join(settings.oidc_scopes)
        self.token_auth = settings.oidc_token_auth
        self._metadata_cache: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: dict[str, Any] | None = None

    @property
    def form_action_origins(self) -> tuple[str, ...]:
        """Where sign-out may send a form's redirect: the end-session endpoint's origin."""
        endpoint = (self._metadata_cache or {}).get("end_session_endpoint")
        if not isinstance(endpoint, str):
            return ()
        return _form_action_origins(endpoint)

    async def _get(self, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT, verify=_tls()) as http:
                response = await http.get(url, **kwargs)
        except httpx.HTTPError as exc:
            raise ProviderUnreachable(f"{what} {type(exc).__name__}") from None
        return _json(response, what)

    async def metadata(self, max_age: float | None = None) -> dict[str, Any]:
        fresh = max_age is None or time.monotonic() - self._metadata_at < max_age
        if self._metadata_cache is not None and fresh:
            return self._metadata_cache
        data = await self._get(f"{self.issuer}/.well-known/openid-configuration", "discovery")
        if str(data.get("issuer", "")).rstrip("/") != self.issuer:
            raise SignInError("issuer mismatch")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(data.get(name), str):
                raise SignInError(f"discovery lacks {name}")
        self._metadata_cache, self._metadata_at = data, time.monotonic()
        return data

    async def prefetch(self) -> None:
        try:
            await self.metadata()
        except SignInError as exc:
            logger.warning("the identity provider cannot be read yet: %s", exc)

    async def start(self, redirect_uri: str, *, force_login: bool = False) -> AuthorizationStart:
        # Discovery read afresh at every start: a provider that went down gets our 503 page,
        # not the browser's own error page (and a changed configuration is picked up).
        metadata = await self.metadata(max_age=0.0)
        await self._reachable(metadata["authorization_endpoint"])
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if force_login:
            params["prompt"] = "login"
        endpoint: str = metadata["authorization_endpoint"]
        joiner = "&" if "?" in endpoint else "?"
        return AuthorizationStart(endpoint + joiner + urlencode(params), state, nonce, verifier)

    async def _reachable(self, url: str) -> None:
        """Only whether the authorization endpoint's server answers at all (any status)."""
        if origin(url) == origin(self.issuer):
            return  # discovery just answered from the same server
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT, verify=_tls()) as http:
                await http.head(url)
        except httpx.HTTPError as exc:
            raise ProviderUnreachable(f"authorize {type(exc).__name__}") from None

    async def finish(
        self, *, code: str, redirect_uri: str, nonce: str, code_verifier: str
    ) -> tuple[dict[str, Any], str | None]:
        """Verified claims (ID token, then userinfo for the same subject) and the raw ID token."""
        metadata = await self.metadata()
        token = await self._exchange(metadata, code, redirect_uri, code_verifier)
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignInError("no id token")
        claims = await self._verify_id_token(metadata, id_token, token, nonce)
        userinfo_endpoint = metadata.get("userinfo_endpoint")
        access_token = token.get("access_token")
        if isinstance(userinfo_endpoint, str) and isinstance(access_token, str):
            userinfo = await self._get(
                userinfo_endpoint, "userinfo", headers={"Authorization": f"Bearer {access_token}"}
            )
            if userinfo.get("sub") != claims.get("sub"):
                raise SignInError("userinfo subject mismatch")
            # The ID token's signed claims win where both speak.
            claims = {**userinfo, **claims}
        return claims, id_token

    async def _exchange(
        self, metadata: dict[str, Any], code: str, redirect_uri: str, code_verifier: str
    ) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        headers = {"Accept": "application/json"}
        if self.token_auth is TokenAuth.POST:
            form.update(client_id=self.client_id, client_secret=self.client_secret)
        else:
            headers["Authorization"] = basic_credentials(self.client_id, self.client_secret)
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT, verify=_tls()) as http:
                response = await http.post(metadata["token_endpoint"], data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderUnreachable(f"token {type(exc).__name__}") from None
        token = _json(response, "token", refusals_are_json=True)
        if response.status_code != 200:
            raise SignInError(str(token.get("error", f"token {response.status_code}")))
        return token

    async def _keys(self, metadata: dict[str, Any], refresh: bool = False) -> KeySet:
        if self._jwks is None or refresh:
            self._jwks = await self._get(metadata["jwks_uri"], "jwks")
        try:
            return KeySet.import_key_set(self._jwks)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError):
            raise SignInError("jwks unusable") from None

    async def _verify_id_token(
        self, metadata: dict[str, Any], id_token: str, token: dict[str, Any], nonce: str
    ) -> dict[str, Any]:
        header = _header(id_token)
        algorithm = header.get("alg")
        decoded: Any
        try:
            if algorithm == SYMMETRIC_ALGORITHM:
                key = OctKey.import_key(self.client_secret)
                decoded = jwt.decode(id_token, key, registry=_registry({SYMMETRIC_ALGORITHM}))
            elif algorithm in ASYMMETRIC_ALGORITHMS:
                decoded = await self._decode_with_jwks(metadata, id_token, header)
            else:
                raise SignInError("id token algorithm refused")
        except JoseError as exc:
            raise SignInError(f"id token {type(exc).__name__}") from None
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {"iss": {"essential": True, "values": [metadata["issuer"]]}},
            {
                "nonce": nonce,
                "client_id": self.client_id,
                "access_token": token.get("access_token"),
            },
        )
        try:
            claims.validate(leeway=120)
        except Exception as exc:  # authlib's claim errors: expired, wrong audience, nonce, at_hash
            raise SignInError(f"id token {type(exc).__name__}") from None
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise SignInError("id token without subject")
        return dict(claims)

    async def _decode_with_jwks(
        self, metadata: dict[str, Any], id_token: str, header: dict[str, Any]
    ) -> Any:
        registry = _registry(ASYMMETRIC_ALGORITHMS)
        keys = await self._keys(metadata)
        kid = header.get("kid")
        known = {key.kid for key in keys.keys}
        if kid is not None and kid not in known:
            keys = await self._keys(metadata, refresh=True)  # the provider rotated its keys
        try:
            return jwt.decode(id_token, keys, registry=registry)
        except JoseError:
            if kid is not None:
                raise
            # No kid: the signing key may be new; one fresh look at the key set.
            keys = await self._keys(metadata, refresh=True)
            return jwt.decode(id_token, keys, registry=registry)

    async def end_session_url(
        self, id_token: str | None, post_logout_redirect_uri: str
    ) -> str | None:
        """The provider's sign-out address, or None when it has none or cannot be reached (then
        the browser stays with us instead of landing on its own error page)."""
        try:
            metadata = await self.metadata(max_age=0.0)
        except SignInError:
            return None
        endpoint = metadata.get("end_session_endpoint")
        if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
            return None
        params = {"post_logout_redirect_uri": post_logout_redirect_uri, "client_id": self.client_id}
        if id_token:
            params["id_token_hint"] = id_token
        joiner = "&" if "?" in endpoint else "?"
        return endpoint + joiner + urlencode(params)
