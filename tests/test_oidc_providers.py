"""Sign-in against two independent real providers: oidc-provider-mock (the `issuer` fixture) and
django-oidc-provider (`tests/django_idp/`), over the real protocol (httpx). Each case asserts
the resulting role, email and groups; the browser suite repeats the main ones in Chromium.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack, asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from joserfc.jws import JWSRegistry
from litestar import Litestar

from app.auth.oidc import OidcClient, SignInError, basic_credentials
from app.dev_identity import run_identity_provider
from app.settings import Settings
from app.web.sessions import SessionManager
from tests.support.apps import BASE_URL, client_of, serving
from tests.support.flows import csrf_headers, prime_csrf, set_identity, sign_in
from tests.support.people import CUSTOMER, STAFF
from tests.support.providers import (
    CLIENT_ID,
    CLIENT_SECRET,
    DjangoIdp,
    log_in_at_django,
    sign_in_at_django,
)
from tests.support.services import free_port, http_client

GROUPS_SCOPE = "openid email profile groups"

MakeSettings = Callable[..., Settings]


@asynccontextmanager
async def app_with(
    make_settings: MakeSettings, sqlite_url: str, **env: str
) -> AsyncIterator[Litestar]:
    async with serving(make_settings(sqlite_url, **env)) as app:
        yield app


async def who(app: Litestar, client: httpx.AsyncClient) -> dict[str, Any] | None:
    """The signed-in person as the server holds them (role, email, groups), or None."""
    sessions: SessionManager = app.state.sessions
    session = await sessions.load(client.cookies.get(sessions.cookie_name) or "")
    if session is None:
        return None
    user = session.user
    return {"role": user.role.value, "email": user.email, "groups": sorted(user.groups)}


def claims(email: str, **extra: Any) -> dict[str, Any]:
    return {"email": email, "name": email.split("@", maxsplit=1)[0], **extra}


# --- email_verified: absent, false, "true", true; with SAFE_SHARE_OIDC_TRUST_EMAIL off and on ---

VERIFIED_CASES = [
    # (email_verified claim or "absent", trust, expected email)
    ("absent", "false", None),
    ("absent", "true", STAFF),
    (False, "false", None),
    (False, "true", None),  # a provider that says "not verified" is believed even when trusted
    ("true", "false", STAFF),
    ("false", "true", None),
    (True, "false", STAFF),
]


def _verified_claims(flag: Any) -> dict[str, Any]:
    return claims(STAFF) if flag == "absent" else claims(STAFF, email_verified=flag)


@pytest.mark.parametrize(("flag", "trust", "expected"), VERIFIED_CASES)
async def test_email_verified_claim_is_read_as_the_provider_means_it_mock(
    make_settings: MakeSettings,
    sqlite_url: str,
    issuer: str,
    flag: Any,
    trust: str,
    expected: str | None,
) -> None:
    async with (
        app_with(make_settings, sqlite_url, oidc_trust_email=trust) as app,
        client_of(app) as client,
    ):
        await set_identity(issuer, STAFF, _verified_claims(flag))
        done = await _mock_sign_in(client, issuer, STAFF)
        assert done.status_code == 303
        role = "staff" if expected else "customer"
        assert await who(app, client) == {"role": role, "email": expected, "groups": []}


@pytest.mark.parametrize(("flag", "trust", "expected"), VERIFIED_CASES)
async def test_email_verified_claim_is_read_as_the_provider_means_it_django(
    make_settings: MakeSettings,
    sqlite_url: str,
    django_idp: DjangoIdp,
    flag: Any,
    trust: str,
    expected: str | None,
) -> None:
    django_idp.configure(BASE_URL, {"alice": _verified_claims(flag)})
    env = django_idp.settings_env(oidc_trust_email=trust)
    async with app_with(make_settings, sqlite_url, **env) as app, client_of(app) as client:
        done = await sign_in_at_django(client, "alice")
        assert done.status_code == 303
        role = "staff" if expected else "customer"
        assert await who(app, client) == {"role": role, "email": expected, "groups": []}


async def _mock_sign_in(client: httpx.AsyncClient, issuer: str, sub: str) -> httpx.Response:
    """sign_in() without overwriting the claims the test set."""
    start = await client.get("/auth/login", params={"next": "/"}, follow_redirects=False)
    assert start.status_code == 302, start.text
    async with http_client() as idp:
        approved = await idp.post(start.headers["location"], data={"sub": sub})
    callback = urlsplit(approved.headers["location"])
    return await client.get(f"{callback.path}?{callback.query}", follow_redirects=False)


# --- groups: under a requested scope, only in the ID token, and provider values aliased ---


async def test_groups_arrive_when_the_groups_scope_is_requested(
    make_settings: MakeSettings,
    sqlite_url: str,
    django_idp: DjangoIdp,
) -> None:
    django_idp.configure(
        BASE_URL, {"alice": claims(STAFF, email_verified=True, groups=["service", "auditors"])}
    )
    async with (
        app_with(make_settings, sqlite_url, **django_idp.settings_env()) as app,
        client_of(app) as client,
    ):
        await sign_in_at_django(client, "alice")
        # Without the scope the provider releases no groups (the usual provider default).
        assert await who(app, client) == {"role": "staff", "email": STAFF, "groups": []}
    env = django_idp.settings_env(oidc_scopes=GROUPS_SCOPE)
    async with app_with(make_settings, sqlite_url, **env) as app, client_of(app) as client:
        start = await client.get("/auth/login", follow_redirects=False)
        assert parse_qs(urlsplit(start.headers["location"]).query)["scope"] == [GROUPS_SCOPE]
        await sign_in_at_django(client, "alice")
        assert await who(app, client) == {"role": "staff", "email": STAFF, "groups": ["service"]}


async def test_groups_only_in_the_id_token_are_used(
    make_settings: MakeSettings,
    sqlite_url: str,
    django_idp: DjangoIdp,
) -> None:
    django_idp.configure(
        BASE_URL,
        {"alice": claims(STAFF, email_verified=True, groups=["go-engineers"])},
        groups_where="id_token",
    )
    async with (
        app_with(make_settings, sqlite_url, **django_idp.settings_env()) as app,
        client_of(app) as client,
    ):
        await sign_in_at_django(client, "alice")
        assert await who(app, client) == {
            "role": "staff",
            "email": STAFF,
            "groups": ["go-engineers"],
        }


async def test_group_aliases_map_provider_values_to_group_keys(
    make_settings: MakeSettings, sqlite_url: str, issuer: str
) -> None:
    aliases = (
        '{"/Service": "service", "0f3a9c1e-entra-object-id": "inside-sales",'
        ' "/Company/Staff": "staff"}'
    )
    async with (
        app_with(make_settings, sqlite_url, group_aliases=aliases) as app,
        client_of(app) as client,
    ):
        await sign_in(
            client, issuer, STAFF, groups=["/Service", "0F3A9C1E-entra-object-id", "/Other"]
        )
        assert await who(app, client) == {
            "role": "staff",
            "email": STAFF,
            "groups": ["inside-sales", "service"],
        }
    async with (
        app_with(make_settings, sqlite_url, group_aliases=aliases) as app,
        client_of(app) as client,
    ):
        # the staff group by its provider name makes staff outside the staff domain too
        contractor = "kim@partner.example"
        await sign_in(client, issuer, contractor, groups=["/Company/Staff", "/Service"])
        assert await who(app, client) == {
            "role": "staff",
            "email": contractor,
            "groups": ["service"],
        }


# --- userinfo, signatures and keys ---


async def test_sign_in_works_without_a_userinfo_endpoint(
    make_settings: MakeSettings,
    sqlite_url: str,
    django_idp: DjangoIdp,
) -> None:
    django_idp.configure(
        BASE_URL,
        {"alice": claims(STAFF, email_verified=True, groups=["service"])},
        userinfo=False,
        claims_in_id_token=True,
    )
    env = django_idp.settings_env(oidc_scopes=GROUPS_SCOPE)
    async with app_with(make_settings, sqlite_url, **env) as app, client_of(app) as client:
        done = await sign_in_at_django(client, "alice")
        assert done.status_code == 303
        assert await who(app, client) == {"role": "staff", "email": STAFF, "groups": ["service"]}


async def test_hs256_id_tokens_are_verified_with_the_client_secret(
    make_settings: MakeSettings,
    sqlite_url: str,
    django_idp: DjangoIdp,
) -> None:
    django_idp.configure(BASE_URL, {"alice": claims(STAFF, email_verified=True)}, jwt_alg="HS256")
    async with (
        app_with(make_settings, sqlite_url, **django_idp.settings_env()) as app,
        client_of(app) as client,
    ):
        assert (await sign_in_at_django(client, "alice")).status_code == 303
        assert await who(app, client) == {"role": "staff", "email": STAFF, "groups": []}


@pytest.mark.parametrize(
    ("algorithm", "key"),
    [
        ("HS256", "not-the-client-secret-but-as-long-as-it"),
        ("HS384", CLIENT_SECRET),
        ("HS512", CLIENT_SECRET),
        ("none", ""),
    ],
)
async def test_id_tokens_signed_any_other_symmetric_way_are_refused(
    make_settings: MakeSettings, sqlite_url: str, algorithm: str, key: str
) -> None:
    settings = make_settings(sqlite_url, oidc_client_secret=CLIENT_SECRET)
    oidc = OidcClient(settings)
    now = int(time.time())
    payload = {
        "iss": settings.oidc_issuer,
        "sub": "alice",
        "aud": settings.oidc_client_id,
        "iat": now,
        "exp": now + 300,
        "nonce": "n",
        "email": STAFF,
        "email_verified": True,
    }
    if algorithm == "none":
        header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
        body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
        token = f"{header}.{body}."
    else:
        token = jwt.encode(
            {"alg": algorithm},
            payload,
            OctKey.import_key(key),
            registry=JWSRegistry(algorithms=[algorithm]),
        )
    metadata = {"issuer": settings.oidc_issuer, "jwks_uri": f"{settings.oidc_issuer}/jwks"}
    with pytest.raises(SignInError):
        await oidc._verify_id_token(metadata, token, {}, "n")
    # while the client secret itself, with HS256, is accepted
    good = jwt.encode(
        {"alg": "HS256"},
        payload,
        OctKey.import_key(CLIENT_SECRET),
        registry=JWSRegistry(algorithms=["HS256"]),
    )
    assert (await oidc._verify_id_token(metadata, good, {}, "n"))["sub"] == "alice"


async def test_a_rotated_signing_key_is_fetched_and_trusted(
    make_settings: MakeSettings,
    sqlite_url: str,
    django_idp: DjangoIdp,
) -> None:
    people = {"alice": claims(STAFF, email_verified=True)}
    first = django_idp.configure(BASE_URL, people)
    async with app_with(make_settings, sqlite_url, **django_idp.settings_env()) as app:
        async with client_of(app) as client:
            assert (await sign_in_at_django(client, "alice")).status_code == 303
        rotated = django_idp.configure(BASE_URL, people, rotate_keys=True)
        assert rotated["key"] != first["key"]
        async with client_of(app) as client:
            assert (await sign_in_at_django(client, "alice")).status_code == 303
            assert await who(app, client) == {"role": "staff", "email": STAFF, "groups": []}


# --- client authentication at the token endpoint ---


def test_basic_credentials_are_form_encoded_per_rfc_6749() -> None:
    header = basic_credentials("my client", "s3cr:t+/%é")
    decoded = base64.b64decode(header.removeprefix("Basic ")).decode()
    assert decoded == "my+client:s3cr%3At%2B%2F%25%C3%A9"


async def test_client_secret_basic_with_special_characters_reaches_the_provider_intact(
    make_settings: MakeSettings,
    sqlite_url: str,
    django_idp: DjangoIdp,
) -> None:
    secret = "s3cr:t+with/slash%and space-0123456789"
    django_idp.configure(BASE_URL, {"alice": claims(STAFF, email_verified=True)}, secret=secret)
    env = django_idp.settings_env(oidc_client_secret=secret)
    async with app_with(make_settings, sqlite_url, **env) as app, client_of(app) as client:
        assert (await sign_in_at_django(client, "alice")).status_code == 303
        assert django_idp.last_token_auth() == "client_secret_basic"
        assert await who(app, client) == {"role": "staff", "email": STAFF, "groups": []}


async def test_client_secret_post_is_used_when_configured(
    make_settings: MakeSettings,
    sqlite_url: str,
    django_idp: DjangoIdp,
    issuer: str,
) -> None:
    django_idp.configure(BASE_URL, {"alice": claims(STAFF, email_verified=True)})
    env = django_idp.settings_env(oidc_token_auth="client_secret_post")
    async with app_with(make_settings, sqlite_url, **env) as app, client_of(app) as client:
        assert (await sign_in_at_django(client, "alice")).status_code == 303
        assert django_idp.last_token_auth() == "client_secret_post"
        assert await who(app, client) == {"role": "staff", "email": STAFF, "groups": []}
    async with (
        app_with(make_settings, sqlite_url, oidc_token_auth="client_secret_post") as app,
        client_of(app) as client,
    ):
        await sign_in(client, issuer, CUSTOMER)
        assert await who(app, client) == {"role": "customer", "email": CUSTOMER, "groups": []}


# --- the provider cannot be reached: a 503 in the visitor's language, never a 400 ---

UNREACHABLE = {"en": "cannot be reached", "de": "nicht erreichbar"}


def assert_unreachable_page(response: httpx.Response, language: str = "en") -> None:
    assert response.status_code == 503, response.text
    assert UNREACHABLE[language] in response.text
    assert "could not be verified" not in response.text


async def test_provider_down_at_discovery_is_a_503(
    make_settings: MakeSettings, sqlite_url: str
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with (
        app_with(make_settings, sqlite_url, oidc_issuer=dead) as app,
        client_of(app) as client,
    ):
        answer = await client.get("/auth/login", headers={"accept-language": "de"})
        assert_unreachable_page(answer, "de")


@pytest.mark.parametrize("step", ["authorize", "/token", "/jwks", "/userinfo"])
async def test_provider_down_at_any_step_is_a_503_django(
    make_settings: MakeSettings,
    sqlite_url: str,
    django_idp: DjangoIdp,
    step: str,
) -> None:
    people = {"alice": claims(STAFF, email_verified=True)}
    django_idp.configure(BASE_URL, people)
    async with app_with(make_settings, sqlite_url, **django_idp.settings_env()) as app:
        async with client_of(app) as client:
            await sign_in_at_django(client, "alice")  # discovery (and keys) now cached
        async with client_of(app) as client:
            if step == "authorize":
                django_idp.configure(BASE_URL, people, down=True)
                assert_unreachable_page(await client.get("/auth/login"))
                return
            start = await client.get("/auth/login", follow_redirects=False)
            # New keys the app has not seen, so the ID token makes it go back for them.
            django_idp.configure(BASE_URL, people, rotate_keys=step == "/jwks")
            async with http_client(timeout=30) as idp:
                callback = await log_in_at_django(start.headers["location"], "alice", idp)
            django_idp.configure(BASE_URL, people, down_paths=[step])
            parts = urlsplit(callback)
            answer = await client.get(f"{parts.path}?{parts.query}")
            assert_unreachable_page(answer)
            assert await who(app, client) is None


async def test_an_authorization_endpoint_on_a_dead_host_is_a_503(
    make_settings: MakeSettings, sqlite_url: str, django_idp: DjangoIdp
) -> None:
    dead = f"http://localhost:{free_port()}/authorize"
    django_idp.configure(BASE_URL, {"alice": claims(STAFF, email_verified=True)}, authorize_at=dead)
    async with (
        app_with(make_settings, sqlite_url, **django_idp.settings_env()) as app,
        client_of(app) as client,
    ):
        assert_unreachable_page(await client.get("/auth/login"))


async def test_sign_out_with_the_provider_down_stays_here_and_asks_for_a_password_next(
    make_settings: MakeSettings, sqlite_url: str, django_idp: DjangoIdp
) -> None:
    people = {"alice": claims(STAFF, email_verified=True)}
    django_idp.configure(BASE_URL, people)
    async with (
        app_with(make_settings, sqlite_url, **django_idp.settings_env()) as app,
        client_of(app) as client,
    ):
        await sign_in_at_django(client, "alice")
        await prime_csrf(client)
        django_idp.configure(BASE_URL, people, down=True)
        out = await client.post(
            "/auth/logout", headers=csrf_headers(client), follow_redirects=False
        )
        assert out.status_code == 303
        assert out.headers["location"] == "/"
        assert await who(app, client) is None
        django_idp.configure(BASE_URL, people)
        start = await client.get("/auth/login", follow_redirects=False)
        assert parse_qs(urlsplit(start.headers["location"]).query)["prompt"] == ["login"]


async def test_provider_gone_at_the_token_exchange_is_a_503(
    make_settings: MakeSettings, sqlite_url: str
) -> None:
    """A provider process that is gone (connection refused), not one behind a proxy: the
    person approved at the provider, which then stopped before Safe Share redeemed the code."""
    with ExitStack() as provider:
        own_issuer = provider.enter_context(run_identity_provider(port=0))
        env = {"oidc_issuer": own_issuer}
        async with app_with(make_settings, sqlite_url, **env) as app, client_of(app) as client:
            await set_identity(own_issuer, STAFF, claims(STAFF, email_verified=True))
            start = await client.get("/auth/login", follow_redirects=False)
            async with http_client() as idp:
                approved = await idp.post(start.headers["location"], data={"sub": STAFF})
            callback = urlsplit(approved.headers["location"])
            provider.close()  # the provider stops listening
            answer = await client.get(
                f"{callback.path}?{callback.query}", headers={"accept-language": "de"}
            )
            assert_unreachable_page(answer, "de")
            assert await who(app, client) is None


# --- sign-out: the end-session endpoint on another origin, or none at all ---


async def test_csp_lets_sign_out_reach_an_end_session_endpoint_on_another_origin(
    make_settings: MakeSettings,
    sqlite_url: str,
    django_idp: DjangoIdp,
) -> None:
    django_idp.configure(
        BASE_URL, {"alice": claims(STAFF, email_verified=True)}, end_session="other"
    )
    async with (
        app_with(make_settings, sqlite_url, **django_idp.settings_env()) as app,
        client_of(app) as client,
    ):
        await sign_in_at_django(client, "alice")
        home = await client.get("/")
        other = django_idp.issuer.replace("127.0.0.1", "localhost")
        form_action = next(
            part
            for part in home.headers["content-security-policy"].split(";")
            if "form-action" in part
        )
        assert other in form_action.split()
        await prime_csrf(client)
        out = await client.post(
            "/auth/logout", headers=csrf_headers(client), follow_redirects=False
        )
        assert out.status_code == 303
        assert out.headers["location"].startswith(f"{other}/end-session?")


async def test_without_end_session_the_next_sign_in_asks_for_the_password_again(
    make_settings: MakeSettings,
    sqlite_url: str,
    django_idp: DjangoIdp,
) -> None:
    django_idp.configure(
        BASE_URL, {"alice": claims(STAFF, email_verified=True)}, end_session="absent"
    )
    async with (
        app_with(make_settings, sqlite_url, **django_idp.settings_env()) as app,
        client_of(app) as client,
        http_client(timeout=30) as idp,
    ):
        await sign_in_at_django(client, "alice", idp)
        again = await client.get("/auth/login", follow_redirects=False)
        assert again.status_code == 302
        assert "prompt" not in parse_qs(urlsplit(again.headers["location"]).query)
        await prime_csrf(client)
        out = await client.post(
            "/auth/logout", headers=csrf_headers(client), follow_redirects=False
        )
        assert out.status_code == 303
        assert out.headers["location"] == "/"
        start = await client.get("/auth/login", follow_redirects=False)
        query = parse_qs(urlsplit(start.headers["location"]).query)
        assert query["prompt"] == ["login"]
        assert query["client_id"] == [CLIENT_ID]
        # The provider's own session is still there, yet it shows its login form again.
        at_provider = await idp.get(start.headers["location"])
        assert at_provider.status_code == 302
        assert "/accounts/login/" in at_provider.headers["location"]
        # and once signed in again, later sign-ins go back to normal
        parts = urlsplit(await log_in_at_django(start.headers["location"], "alice", idp))
        assert (
            await client.get(f"{parts.path}?{parts.query}", follow_redirects=False)
        ).status_code == 303
        normal = await client.get("/auth/login", follow_redirects=False)
        assert normal.status_code == 302
        assert "prompt" not in parse_qs(urlsplit(normal.headers["location"]).query)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://id.example.com;script-src *.evil/logout",
        "https://id.example.com logout",
        "javascript:alert(1)",
        "https://id.example.com'/x",
    ],
)
def test_an_end_session_endpoint_never_adds_to_the_csp_beyond_its_origin(
    make_settings: MakeSettings, sqlite_url: str, endpoint: str
) -> None:
    def origins_for(url: str) -> tuple[str, ...]:
        oidc = OidcClient(make_settings(sqlite_url))
        oidc._metadata_cache = {"end_session_endpoint": url}
        return oidc.form_action_origins

    assert origins_for(endpoint) == ()
    assert origins_for("https://logout.example.com:8443/x?y=1") == (
        "https://logout.example.com:8443",
    )
