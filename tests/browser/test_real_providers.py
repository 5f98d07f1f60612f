"""Sign-in in real Chromium against both providers, each in front of its own app process:
django-oidc-provider (its own login form; groups under the `groups` scope) and oidc-provider-mock
(with SAFE_SHARE_OIDC_TRUST_EMAIL and group aliases). Role, email and groups are asserted from
the page and from the session the server holds.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, expect

from app.web.sessions import SessionManager
from app.web.stores import make_redis, make_store
from tests.support.browser import DESKTOP, SIGN_IN, NewContext, Setup, Site, running_site
from tests.support.flows import set_identity
from tests.support.people import STAFF
from tests.support.providers import CLIENT_ID, CLIENT_SECRET, PASSWORD, DjangoIdp
from tests.support.services import BROWSER_REDIS_URL

pytestmark = pytest.mark.browser

GROUPS_SCOPE = "openid email profile groups"


async def who(site: Site, context: BrowserContext) -> dict[str, Any] | None:
    """The person the server holds for this browser's session cookie."""
    cookies = {c["name"]: c["value"] for c in await context.cookies(site.base_url)}
    redis = make_redis(BROWSER_REDIS_URL)
    try:
        sessions = SessionManager(
            make_store(site.settings, redis), site.settings, lambda: datetime.now(UTC)
        )
        session = await sessions.load(cookies.get(sessions.cookie_name, ""))
    finally:
        await redis.aclose()
    if session is None:
        return None
    user = session.user
    return {"role": user.role.value, "email": user.email, "groups": sorted(user.groups)}


@pytest.fixture(scope="module")
def django_app(
    django_idp: DjangoIdp,
    browser_database_url: str,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Site]:
    with running_site(
        browser_database_url,
        django_idp.issuer,
        tmp_path_factory.mktemp("django-app"),
        worker=False,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_scopes=GROUPS_SCOPE,
    ) as site:
        yield site


@pytest.fixture(scope="module")
def mock_app(
    issuer: str,
    browser_database_url: str,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Site]:
    with running_site(
        browser_database_url,
        issuer,
        tmp_path_factory.mktemp("mock-app"),
        worker=False,
        oidc_trust_email="true",
        group_aliases='{"/Service": "service", "5d1e0c7a-entra-object-id": "go-engineers"}',
    ) as site:
        yield site


GERMAN_DESKTOP = Setup("desktop-de", DESKTOP.viewport, locale="de-DE")


@pytest.fixture
async def context(new_context: NewContext) -> BrowserContext:
    return await new_context(STAFF, **DESKTOP.context_options())


def people(groups: list[str] | None = None, **claims: Any) -> dict[str, dict[str, Any]]:
    base = {"email": STAFF, "email_verified": True, "name": "Alice", "groups": groups or []}
    return {"alice": {**base, **claims}}


async def sign_in_at_django(page: Page, app: Site, idp: DjangoIdp, link: str = SIGN_IN) -> None:
    """From the page's sign-in link (`link`, in the page's language) through Django's form."""
    await page.get_by_role("link", name=link).click()
    await page.wait_for_url(f"{idp.issuer}/accounts/login/**")
    await page.get_by_label("Username").fill("alice")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(app.base_url + "/")
    await expect(page.locator("#account-menu")).to_be_visible()


async def sign_out(page: Page) -> None:
    """Sign out sits in the header's account menu (a <details>)."""
    await page.locator("#account-menu summary").click()
    await page.get_by_role("button", name="Sign out").click()


async def test_staff_signs_in_at_django_provider_with_groups_from_the_groups_scope(
    django_app: Site, django_idp: DjangoIdp, context: BrowserContext
) -> None:
    django_idp.configure(django_app.base_url, people(["service", "auditors"]))
    page = await context.new_page()
    await page.goto(django_app.base_url + "/")
    await sign_in_at_django(page, django_app, django_idp)
    await expect(page.locator(".who")).to_contain_text(STAFF)
    await expect(page.locator("#account-menu .role")).to_have_text("staff")
    assert await who(django_app, context) == {
        "role": "staff",
        "email": STAFF,
        "groups": ["service"],
    }


async def test_a_rotated_signing_key_is_trusted_in_chromium(
    django_app: Site, django_idp: DjangoIdp, new_context: NewContext
) -> None:
    first = django_idp.configure(django_app.base_url, people())
    before = await new_context(STAFF, **DESKTOP.context_options())
    page = await before.new_page()
    await page.goto(django_app.base_url + "/")
    await sign_in_at_django(page, django_app, django_idp)
    rotated = django_idp.configure(django_app.base_url, people(), rotate_keys=True)
    assert rotated["key"] != first["key"]
    after = await new_context(STAFF, **DESKTOP.context_options())
    page = await after.new_page()
    await page.goto(django_app.base_url + "/")
    await sign_in_at_django(page, django_app, django_idp)
    assert await who(django_app, after) == {"role": "staff", "email": STAFF, "groups": []}


async def test_hs256_without_userinfo_and_client_secret_post_in_chromium(
    django_idp: DjangoIdp,
    browser_database_url: str,
    redis_url: str,
    tmp_path: Path,
    context: BrowserContext,
) -> None:
    """The least usual provider: HS256 ID tokens with every claim, no userinfo, POST auth."""
    with running_site(
        browser_database_url,
        django_idp.issuer,
        tmp_path,
        worker=False,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_scopes=GROUPS_SCOPE,
        oidc_token_auth="client_secret_post",
        oidc_trust_email="true",
    ) as app:
        django_idp.configure(
            app.base_url,
            people(["go-engineers"], email_verified=None),
            jwt_alg="HS256",
            userinfo=False,
            claims_in_id_token=True,
        )
        page = await context.new_page()
        await page.goto(app.base_url + "/")
        await sign_in_at_django(page, app, django_idp)
        assert django_idp.last_token_auth() == "client_secret_post"
        assert await who(app, context) == {
            "role": "staff",
            "email": STAFF,
            "groups": ["go-engineers"],
        }


async def test_sign_out_reaches_an_end_session_endpoint_on_another_origin(
    django_app: Site, django_idp: DjangoIdp, context: BrowserContext
) -> None:
    django_idp.configure(django_app.base_url, people(), end_session="other")
    page = await context.new_page()
    await page.goto(django_app.base_url + "/")
    await sign_in_at_django(page, django_app, django_idp)
    visited: list[str] = []
    page.on("request", lambda request: visited.append(request.url))
    await sign_out(page)
    # The provider ended its session and sent the browser back: the CSP let the redirect go.
    await page.wait_for_url(django_app.base_url + "/")
    await expect(page.get_by_role("link", name=SIGN_IN)).to_be_visible()
    other = django_idp.issuer.replace("127.0.0.1", "localhost")
    assert any(url.startswith(f"{other}/end-session?") for url in visited), visited
    assert await who(django_app, context) is None


async def test_without_end_session_the_next_sign_in_asks_for_the_password(
    django_app: Site, django_idp: DjangoIdp, context: BrowserContext
) -> None:
    django_idp.configure(django_app.base_url, people(), end_session="absent")
    page = await context.new_page()
    await page.goto(django_app.base_url + "/")
    await sign_in_at_django(page, django_app, django_idp)
    await sign_out(page)
    await expect(page.get_by_role("link", name=SIGN_IN)).to_be_visible()
    # The provider's session is still alive, yet it asks for the password again.
    await sign_in_at_django(page, django_app, django_idp)
    assert await who(django_app, context) == {"role": "staff", "email": STAFF, "groups": []}


async def test_provider_down_shows_the_unreachable_page_in_the_visitors_language(
    django_app: Site, django_idp: DjangoIdp, new_context: NewContext
) -> None:
    django_idp.configure(django_app.base_url, people())
    german = await new_context(STAFF, **GERMAN_DESKTOP.context_options())
    page = await german.new_page()
    await page.goto(django_app.base_url + "/")
    await sign_in_at_django(page, django_app, django_idp, link="Mit Prowise Account anmelden")
    await page.locator("#account-menu summary").click()
    await page.get_by_role("button", name="Abmelden").click()
    django_idp.configure(django_app.base_url, people(), down=True)
    try:
        await page.get_by_role("link", name="Mit Prowise Account anmelden").click()
        await expect(page.get_by_text("gerade nicht erreichbar")).to_be_visible()
        assert page.url.startswith(django_app.base_url + "/auth/login")
    finally:
        django_idp.configure(django_app.base_url, people())


async def sign_in_at_mock(page: Page, app: Site, issuer: str, sub: str) -> None:
    await page.get_by_role("link", name=SIGN_IN).click()
    await page.wait_for_url(f"{issuer}/**")
    await page.locator("input[name=sub]").fill(sub)
    await page.get_by_role("button", name="Authorize").click()
    await page.wait_for_url(app.base_url + "/")


async def test_trusted_email_without_email_verified_and_aliased_groups_at_the_mock(
    mock_app: Site, issuer: str, context: BrowserContext
) -> None:
    sub = "trusted-" + secrets.token_hex(4)
    email = f"{sub}@prowise.com"
    # As Entra ID sends it: no email_verified at all, groups as object ids or paths.
    await set_identity(
        issuer, sub, {"email": email, "groups": ["/Service", "5D1E0C7A-entra-object-id"]}
    )
    page = await context.new_page()
    await page.goto(mock_app.base_url + "/")
    await sign_in_at_mock(page, mock_app, issuer, sub)
    await expect(page.locator("#account-menu .role")).to_have_text("staff")
    assert await who(mock_app, context) == {
        "role": "staff",
        "email": email,
        "groups": ["go-engineers", "service"],
    }


async def test_an_unverified_email_is_told_so_in_chromium(
    mock_app: Site, issuer: str, context: BrowserContext
) -> None:
    sub = "unverified-" + secrets.token_hex(4)
    await set_identity(issuer, sub, {"email": f"{sub}@prowise.com", "email_verified": False})
    page = await context.new_page()
    await page.goto(mock_app.base_url + "/")
    await sign_in_at_mock(page, mock_app, issuer, sub)
    await expect(
        page.get_by_role("heading", name="Your email address is not verified")
    ).to_be_visible()
    await expect(page.locator("#account-menu .role")).to_have_text("email not verified")
    await expect(page.get_by_label("Secret", exact=True)).to_have_count(0)
    await expect(page.get_by_role("link", name="My secrets")).to_have_count(0)
    assert await who(mock_app, context) == {"role": "customer", "email": None, "groups": []}
