"""Per-request context (signed-in user, language, time zone) and the security headers."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import Token
from typing import Any

from litestar import Request, Response
from litestar._parsers import parse_url_encoded_form_data
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from app import i18n
from app.auth.identity import User
from app.settings import Settings
from app.web import csrf
from app.web.csrf import CsrfTokens
from app.web.errors import refusal_page
from app.web.formcheck import FORM_TYPE, checked_form_receive, form_type
from app.web.guards import access_refused
from app.web.ratelimit import RateLimiter
from app.web.responses import too_many_attempts_page, unreadable_request_page
from app.web.sessions import SessionManager

LANGUAGE_COOKIE = "safe_share_lang"
TIMEZONE_COOKIE = "safe_share_tz"


def content_security_policy(settings: Settings, form_targets: tuple[str, ...] = ()) -> str:
    # The provider's origins are allowed as form targets only for the sign-out redirect (its
    # end-session endpoint, read from discovery, may live on another origin than the issuer).
    targets = " ".join(dict.fromkeys((settings.oidc_issuer, *form_targets)))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        f"form-action 'self' {targets}"
    )


def security_headers(
    settings: Settings, form_targets: tuple[str, ...] = ()
) -> list[tuple[str, str]]:
    headers = [
        ("content-security-policy", content_security_policy(settings, form_targets)),
        ("referrer-policy", "no-referrer"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
        ("permissions-policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    ]
    if settings.env != "development":
        headers.append(("strict-transport-security", "max-age=63072000; includeSubDomains"))
    return headers


def request_cookies(scope: Scope) -> dict[str, str]:
    for name, value in scope["headers"]:
        if name == b"cookie":
            return parse_cookies(value.decode("latin-1"))
    return {}


def parse_cookies(header: str) -> dict[str, str]:
    """A Cookie header's pairs, leniently, as browsers send them: a pair that is not one (some
    other app's on the same domain) is skipped. SimpleCookie dropped every cookie when it met
    one, so the session and the CSRF cookie vanished; it also cost ~20 µs a request."""
    cookies: dict[str, str] = {}
    for pair in header.split(";"):
        name, equals, value = pair.partition("=")
        name = name.strip()
        if equals and name:
            value = value.strip()
            if len(value) > 1 and value[0] == value[-1] == '"':
                value = value[1:-1]
            cookies[name] = value  # a repeated name: the last one, as before
    return cookies


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return str(value.decode("latin-1"))
    return None


def security_headers_adder(
    settings: Settings, form_targets: Callable[[], tuple[str, ...]] = tuple
) -> Callable[[HTTPResponseStartEvent, Scope], None]:
    """What OuterMiddleware does to every response's start, errors and 404s included.

    `form_targets` says which provider origins sign-out may reach; known after discovery."""
    built: dict[tuple[str, ...], list[tuple[bytes, bytes]]] = {}
    ours = {name.encode() for name, _ in security_headers(settings)}
    ours |= {b"content-language", b"cache-control"}

    def add_headers(message: HTTPResponseStartEvent, scope: Scope) -> None:
        targets = form_targets()
        encoded = built.get(targets)
        if encoded is None:
            pairs = security_headers(settings, targets)
            encoded = built.setdefault(targets, [(n.encode(), v.encode()) for n, v in pairs])
        headers = list(message.get("headers") or ())
        # Only a static file the handler marked cacheable keeps its cache header. Pages (and
        # errors) may show a secret, a link or who shared what: never cache them.
        cache = b"no-store"
        if scope["path"].startswith("/static/"):
            cache = next((v for n, v in headers if n.lower() == b"cache-control"), cache)
        # One pass instead of a search per header: ours replace any the handler set.
        kept = [(n, v) for n, v in headers if n.lower() not in ours]
        kept += encoded
        kept.append((b"content-language", i18n.current_language.get().encode()))
        kept.append((b"cache-control", cache))
        message["headers"] = kept

    return add_headers


def _apply_context(
    scope: Scope, settings: Settings, cookies: dict[str, str], user: User | None
) -> tuple[Token[str], Token[str]]:
    state: dict[str, Any] = scope.setdefault("state", {})
    language = i18n.negotiate_language(
        settings.languages,
        account=user.locale if user else None,
        chosen=cookies.get(LANGUAGE_COOKIE),
        accept_language=_header(scope, b"accept-language"),
    )
    state["language"] = language
    # The picker hides only when the account's own language is offered (and so wins).
    state["account_language"] = bool(
        user and i18n.offered_language(user.locale, settings.languages)
    )
    zone = i18n.valid_timezone(
        (user.zoneinfo if user else None) or cookies.get(TIMEZONE_COOKIE),
        settings.default_timezone,
    )
    return i18n.current_language.set(language), i18n.current_timezone.set(zone)


class OuterMiddleware:
    """Around the whole app, so even a 404 for an address no route matches speaks the
    visitor's language (from the picker's cookie or the browser) and carries the security
    headers; no I/O here. One layer for both: each layer wraps every response's send."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        add_headers: Callable[[HTTPResponseStartEvent, Scope], None],
    ) -> None:
        self.app = app
        self.settings = settings
        self.add_headers = add_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        add_headers = self.add_headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_headers(message, scope)
            await send(message)

        if scope["path"].startswith("/static/"):
            await self.app(scope, receive, send_with_headers)
            return
        cookies = request_cookies(scope)
        scope.setdefault("state", {})[_COOKIES] = cookies  # parsed once per request
        language_token, zone_token = _apply_context(scope, self.settings, cookies, None)
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            i18n.current_language.reset(language_token)
            i18n.current_timezone.reset(zone_token)


_COOKIES = "_cookies"


class RequestMiddleware:
    """Per route, inside the error handling, in one pass: the signed-in user (whose account
    locale and time zone then win), the rate limits (which need the user, and count before
    CSRF), a form body's encoding, the CSRF check and who may reach the route. One layer rather
    than several: each layer wraps every request's send and receive."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        sessions: SessionManager,
        limiter: RateLimiter,
        csrf: CsrfTokens,
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.settings = settings
        self.sessions = sessions
        self.limiter = limiter
        self.csrf = csrf
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        cookies = state.get(_COOKIES)
        if cookies is None:
            cookies = request_cookies(scope)
        session = await self.sessions.load(cookies.get(self.sessions.cookie_name, ""))
        user = session.user if session else None
        state["session"] = session
        state["user"] = user
        if user is None and "language" in state:
            # Nobody signed in: the language and zone the outer middleware chose stand.
            await self._checked(scope, receive, send, cookies, user)
            return
        language_token, zone_token = _apply_context(scope, self.settings, cookies, user)
        try:
            await self._checked(scope, receive, send, cookies, user)
        finally:
            i18n.current_language.reset(language_token)
            i18n.current_timezone.reset(zone_token)

    async def _checked(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        cookies: dict[str, str],
        user: User | None,
    ) -> None:
        retry_after = await self.limiter.check(scope)
        if retry_after is not None:
            await _answer(scope, receive, send, lambda r: too_many_attempts_page(r, retry_after))
            return
        checked = await checked_form_receive(scope, receive, self.max_body_bytes)
        if checked is None:
            await _answer(scope, receive, send, unreadable_request_page)
            return
        try:
            minted = await self._check_csrf(scope, checked, cookies.get(csrf.COOKIE_NAME))
            refused = access_refused(scope, user)
        except HTTPException as exc:  # reading the form may refuse too (413, 408)
            minted, refused = None, exc
        if minted is not None:
            send = self._setting_cookie(send, minted)
        if refused is not None:
            # Answered here, while the visitor's language is still set.
            await _answer(scope, checked, send, lambda r: refusal_page(r, refused))
            return
        await self.app(scope, checked, send)

    def _setting_cookie(self, send: Send, token: str) -> Send:
        """The page carries a new token (the sign-in page a guard answers with too): the
        browser gets it as its cookie."""
        set_cookie = self.csrf.set_cookie(token)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), set_cookie]
            await send(message)

        return send_with_cookie

    async def _check_csrf(self, scope: Scope, receive: Receive, cookie: str | None) -> str | None:
        """Double-submit: a safe method passes (and pages get the browser's token, or a new one,
        returned for the cookie); anything else must send the cookie's token back in the header
        or the form. Raises PermissionDeniedException when it does not."""
        connection_state = ScopeState.from_scope(scope)
        if scope.get("method") in csrf.SAFE_METHODS:
            if cookie is not None and self.csrf.is_valid(cookie):
                connection_state.csrf_token = cookie
                return None
            # None yet, or one we no longer sign (the key was rotated): a fresh one.
            connection_state.csrf_token = token = self.csrf.mint()
            return token
        if scope["route_handler"].opt.get(csrf.CHECKED_BY_READER):
            # The streamed form reader checks the token as the body arrives; until then, pages
            # rendered from here carry the browser's token.
            if cookie is not None and self.csrf.is_valid(cookie):
                connection_state.csrf_token = cookie
            return None
        submitted = _header(scope, _CSRF_HEADER)
        content_type = form_type(scope)
        if content_type == FORM_TYPE:
            # Parsed here, not by Litestar's parser, which keeps the last 1024 bodies it saw in
            # a cache (reveal keys and passphrases with them). This form lives in the request's
            # scope only, where the handler reads it.
            body = await Request(scope, receive).body()  # within the route's body limit
            connection_state.form = dict(parse_url_encoded_form_data.__wrapped__(body))
        if content_type in _FORM_TYPES:
            # Read once, token in the header or not (the body limit holds either way): kept in
            # the scope, where the handler reads it.
            form = await Request(scope, receive).form()
            field = form.get(csrf.FIELD_NAME)
            submitted = submitted or (field if isinstance(field, str) else None)
        if cookie is None or not self.csrf.matches(cookie, submitted):
            raise PermissionDeniedException("CSRF token verification failed")
        connection_state.csrf_token = cookie
        return None


_CSRF_HEADER = csrf.HEADER_NAME.encode()
_FORM_TYPES = frozenset({FORM_TYPE, b"multipart/form-data"})


async def _answer(
    scope: Scope,
    receive: Receive,
    send: Send,
    page: Callable[[Request[Any, Any, Any]], Response[Any]],
) -> None:
    request: Request[Any, Any, Any] = Request(scope, receive)
    await page(request).to_asgi_response(None, request)(scope, receive, send)
