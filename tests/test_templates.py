"""Templates compiled per language (app/web/templates.py): the same pages as gettext at render
time would make, and a blank create form rendered once that matches the form rendered fresh."""

from __future__ import annotations

from typing import Any, cast

import pytest
from jinja2 import DictLoader
from litestar import Request
from litestar.utils.scope.state import ScopeState
from markupsafe import Markup

from app import i18n
from app.auth.identity import Role, User
from app.settings import Settings
from app.web.app import create_app
from app.web.forms import FormResult
from app.web.responses import render
from app.web.templates import copy_field, localised_name, make_environment
from tests.support.apps import client_of, serving

LANGUAGES = ("en", "nl", "de")


@pytest.fixture(autouse=True)
def catalogues() -> None:
    i18n.load_catalogues(LANGUAGES)


def test_fixed_texts_are_translated_when_compiled_and_values_still_escaped() -> None:
    env = make_environment(
        DictLoader({"page.html": '{{ _("Sign out") }}|{{ _("Expires %(when)s", when=x) }}'}),
        auto_reload=False,
    )
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=i18n.translate, ngettext=i18n.translate_plural, newstyle=True
    )
    rendered = {
        language: env.get_template(localised_name(language, "page.html")).render(x="<b>")
        for language in LANGUAGES
    }
    assert rendered["en"].startswith("Sign out|")
    assert rendered["nl"].startswith(i18n.translator("nl")("Sign out") + "|")
    assert rendered["nl"] != rendered["en"]
    for text in rendered.values():
        assert "<b>" not in text  # a value is escaped, as gettext does
        assert "&lt;b&gt;" in text
    # The translation is folded in at compile time: rendering calls no gettext for it.
    page_source = DictLoader({"page.html": '{{ _("Sign out") }}'}).get_source(env, "page.html")
    source = env.compile(page_source[0], localised_name("nl", "page.html"), raw=True)
    assert i18n.translator("nl")("Sign out") in source


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("role", [Role.STAFF, Role.CUSTOMER])
def test_the_blank_create_form_rendered_once_matches_a_fresh_render(
    settings: Settings, language: str, role: Role
) -> None:
    app = create_app(settings)
    env = app.template_engine.engine  # type: ignore[union-attr]
    person = User(
        sub="s",
        email="someone@example.com",
        name="Someone",
        role=role,
        groups=frozenset(),
        locale=None,
        zoneinfo=None,
    )
    token = i18n.current_language.set(language)
    try:
        csrf_input = Markup('<input type="hidden" name="_csrf_token" value="per-browser" />')
        context = {
            "settings": settings,
            "language": language,
            "user": person,
            "form": FormResult(values={}),
            "csrf_input": csrf_input,
        }
        fresh = env.get_template(localised_name(language, "fragments/create_form.html")).render(
            context
        )
        home = env.get_template(localised_name(language, "home.html"))
        # Twice: the first render fills the cache, the second is served from it.
        scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "state": {}}
        request: Request[Any, Any, Any] = Request(cast(Any, scope))
        cached = [home.render({**context, "request": request, "here": "/"}) for _ in range(2)]
    finally:
        i18n.current_language.reset(token)
    assert fresh in cached[0]
    assert fresh in cached[1]
    assert cached[0] == cached[1]
    assert "per-browser" in fresh


def _fresh_home(app: Any, language: str, csrf_token: str) -> bytes:
    """The anonymous home page as every other page is rendered: a Template response."""
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": ("testserver.local", 80),
        "headers": [],
        "state": {"user": None},
        "litestar_app": app,
    }
    ScopeState.from_scope(cast(Any, scope)).csrf_token = csrf_token
    request: Request[Any, Any, Any] = Request(cast(Any, scope))
    token = i18n.current_language.set(language)
    try:
        response = render(request, "home.html", form=FormResult(values={}))
        return bytes(response.to_asgi_response(None, request).body)
    finally:
        i18n.current_language.reset(token)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_anonymous_home_page_is_rendered_once_with_each_visitors_own_token(
    settings: Settings, language: str
) -> None:
    async with serving(settings) as app, client_of(app) as first, client_of(app) as second:
        for visitor in (first, second):
            visitor.cookies.set("safe_share_lang", language)
        pages = [await visitor.get("/") for visitor in (first, second, first)]
        tokens = [first.cookies["safe_share_csrf"], second.cookies["safe_share_csrf"]]
        fresh = [_fresh_home(app, language, token) for token in tokens]
    assert [page.status_code for page in pages] == [200, 200, 200]
    assert tokens[0] != tokens[1]
    # Each visitor's page is the page rendered fresh for them: their token, in each place the
    # page carries one (the htmx header and every form), and nobody else's.
    assert pages[0].content == fresh[0]
    assert pages[1].content == fresh[1]
    assert pages[2].content == fresh[0]
    assert pages[0].text.count(tokens[0]) >= 2
    assert tokens[1] not in pages[0].text
    assert tokens[0] not in pages[1].text
    assert pages[0].headers["content-type"].startswith("text/html")
    assert pages[0].headers["content-language"] == language


def test_the_copy_field_escapes_what_it_is_given() -> None:
    html = copy_field("bare-key", "<b>Key</b>", '"><script>x</script>', ("data-link-key",))
    assert "<script>" not in html
    assert 'value="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"' in html
    assert "&lt;b&gt;Key&lt;/b&gt;" in html
    assert " data-link-key data-select-on-focus>" in html
    assert 'data-copy="bare-key" aria-describedby="bare-key-label" hidden>Copy</button>' in html


def _person(email: str | None, role: Role, *, auditor: bool = False) -> User:
    return User(
        sub=f"sub-{email}",
        email=email,
        name="Some <One>",
        role=role,
        groups=frozenset(),
        locale=None,
        zoneinfo=None,
        is_auditor=auditor,
    )


HEADER_PEOPLE = [
    None,
    _person("staff@prowise.example", Role.STAFF, auditor=True),
    _person("staff@prowise.example", Role.STAFF),
    _person("cust<omer>@example.com", Role.CUSTOMER),
    _person(None, Role.CUSTOMER),  # email not verified
]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_page_header_rendered_once_matches_a_fresh_render_for_each_person_and_page(
    settings: Settings, language: str
) -> None:
    """page_header serves a copy rendered once per language, person and section, with the
    CSRF field and the language form's return path filled in: every such page must equal the
    header fragment rendered fresh with those values, and no person may get another's."""
    app = create_app(settings)
    env = app.template_engine.engine  # type: ignore[union-attr]
    base = env.from_string("{{ page_header() }}")
    fragment = env.get_template(localised_name(language, "fragments/header.html"))
    token = i18n.current_language.set(language)
    seen: dict[str, str] = {}
    try:
        for person in HEADER_PEOPLE:
            for account_language in (False, True):
                for here in ("/", "/dashboard/s/x", "/invitations", "/audit", '/s/"><b>&x'):
                    for method in ("GET", "POST"):
                        scope: dict[str, Any] = {
                            "type": "http",
                            "method": method,
                            "path": here,
                            "headers": [],
                        }
                        request: Request[Any, Any, Any] = Request(cast(Any, scope))
                        csrf = Markup(
                            '<input type="hidden" name="_csrf_token" value="{}" />'
                        ).format(f"t{here}")
                        context = {
                            "language": language,
                            "user": person,
                            "account_language": account_language,
                            "here": here,
                            "request": request,
                            "csrf_input": csrf,
                        }
                        served = [base.render(context) for _ in range(2)]
                        section = next(
                            (
                                s
                                for s in ("/dashboard", "/invitations", "/audit")
                                if here.startswith(s)
                            ),
                            "/" if here == "/" else "",
                        )
                        # Fresh, the fragment sees all a page sees (the request, the path,
                        # the whole person): were it to read more than page_header gives it,
                        # the two would differ.
                        fresh = fragment.render(
                            **context,
                            section=section,
                            next_path=here if method == "GET" else "/",
                        )
                        assert served == [fresh, fresh]
                        assert "\x00" not in fresh
                        seen[fresh] = repr((person, account_language, here, method))
    finally:
        i18n.current_language.reset(token)
    assert "&lt;b&gt;&amp;x" in "".join(seen)  # the path is escaped where the form returns to
    assert "<b>" not in "".join(seen)
    assert "cust&lt;omer&gt;@example.com" in "".join(seen)
    # Every combination that shows something different got its own header.
    assert len(seen) > 5 * 2 * 3


def test_a_name_holding_a_placeholder_stays_text_in_the_header(settings: Settings) -> None:
    """The header is filled in by replacing NUL-delimited placeholders: a provider's name
    that holds one must show as text, not become a place the token is written into."""
    app = create_app(settings)
    env = app.template_engine.engine  # type: ignore[union-attr]
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/", "headers": []}
    csrf = Markup('<input type="hidden" name="_csrf_token" value="t" />')
    person = _person(None, Role.CUSTOMER)
    person = User(**{**vars(person), "name": "a\x00csrf\x00b\x00next\x00c"})
    token = i18n.current_language.set("en")
    try:
        html = env.from_string("{{ page_header() }}").render(
            language="en",
            user=person,
            account_language=False,
            here="/",
            request=Request(cast(Any, scope)),
            csrf_input=csrf,
        )
    finally:
        i18n.current_language.reset(token)
    assert "a\ufffdcsrf\ufffdb\ufffdnext\ufffdc" in html
    assert html.count('name="_csrf_token"') == 2  # the language form and sign-out, no more
    assert "\x00" not in html
