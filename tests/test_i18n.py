"""Languages: complete catalogues, no untranslated template text, every page in nl and de.

The catalogue checks run babel's real extraction in-process, so a string added anywhere in
app/ or templates/ without a Dutch and German translation fails the suite.
"""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import httpx
import pytest
from asgi_lifespan import LifespanManager
from babel.dates import format_datetime
from babel.messages.catalog import Catalog
from jinja2 import Environment, nodes

from app import catalogues, i18n
from app.services.audit import AuditAction
from app.services.secrets import EXPIRY_CHOICES
from app.settings import PROJECT_ROOT, Settings
from app.web.app import create_app
from app.web.forms import expiry_value
from app.web.labels import KNOWN_ACTIONS, action_label, expiry_options
from tests.support.apps import FrozenClock, client_of
from tests.support.flows import (
    EVERY_PAGE,
    create_secret,
    csrf_headers,
    prime_csrf,
    sign_in,
    visit_every_page,
)
from tests.support.people import CUSTOMER, STAFF

TEMPLATES_DIR = PROJECT_ROOT / "templates"
TRANSLATED_LANGUAGES = ("nl", "de")
LETTER = re.compile(r"[^\W\d_]")


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    # Language does not depend on the database: SQLite alone keeps these tests quick.
    return sqlite_url


@pytest.fixture(scope="module")
def extracted() -> Catalog:
    return catalogues.extract()


# --- catalogues -------------------------------------------------------------------------


def test_every_offered_language_has_a_catalogue() -> None:
    assert set(TRANSLATED_LANGUAGES) <= set(catalogues.catalogue_languages())
    assert set(Settings().languages) - {"en"} <= set(catalogues.catalogue_languages())


@pytest.mark.parametrize("language", catalogues.catalogue_languages())
def test_catalogue_has_no_untranslated_or_fuzzy_entry(language: str) -> None:
    catalogue = catalogues.read_catalogue(catalogues.po_path(language), language)
    assert catalogues.gaps(language, catalogue) == []
    assert not catalogue.fuzzy


@pytest.mark.parametrize("language", catalogues.catalogue_languages())
def test_catalogue_has_every_string_the_code_uses(language: str, extracted: Catalog) -> None:
    catalogue = catalogues.read_catalogue(catalogues.po_path(language), language)
    assert catalogues.gaps(language, catalogue, extracted) == [], (
        "run `python tasks.py i18n` and translate what it lists"
    )


@pytest.mark.parametrize("language", catalogues.catalogue_languages())
def test_translations_keep_every_placeholder_and_plural_form(language: str) -> None:
    catalogue = catalogues.read_catalogue(catalogues.po_path(language), language)
    assert catalogue.num_plurals == 2
    problems = [(message.id, errors) for message, errors in catalogue.check() if errors]
    assert problems == []
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(re.findall(r"%\((\w+)\)s", " ".join(str(i) for i in ids)))
        for text in map(str, strings):
            # A plural may drop %(num)s ("once"), but never a named value like %(time)s.
            assert wanted - {"num"} <= set(re.findall(r"%\((\w+)\)s", text)), message.id


@pytest.mark.parametrize("language", ["en", *TRANSLATED_LANGUAGES])
def test_every_audit_action_has_a_label_in_every_language(language: str) -> None:
    # Without a label an action shows as its raw code and the audit filter lists it as such.
    i18n.load_catalogues([language])
    token = i18n.current_language.set(language)
    try:
        english = {action: _english_label(action) for action in AuditAction}
        for action in AuditAction:
            label = action_label(action.value)
            assert label != action.value, action
            if language != "en":
                assert label != english[action], action
    finally:
        i18n.current_language.reset(token)
    assert set(KNOWN_ACTIONS) == {action.value for action in AuditAction}


@pytest.mark.parametrize("language", TRANSLATED_LANGUAGES)
def test_every_expiry_choice_has_words_in_every_language(language: str) -> None:
    # The forms render these options; the validator accepts exactly these values.
    i18n.load_catalogues([language])
    token = i18n.current_language.set(language)
    try:
        options = expiry_options()
    finally:
        i18n.current_language.reset(token)
    english = dict(_in_english(expiry_options))
    assert [value for value, _words in options] == [expiry_value(c) for c in EXPIRY_CHOICES]
    assert all(words and words != english[value] for value, words in options)


def _in_english(render: Callable[[], Sequence[tuple[str, str]]]) -> Sequence[tuple[str, str]]:
    token = i18n.current_language.set("en")
    try:
        return render()
    finally:
        i18n.current_language.reset(token)


def _english_label(action: AuditAction) -> str:
    token = i18n.current_language.set("en")
    try:
        return action_label(action.value)
    finally:
        i18n.current_language.reset(token)


def test_the_template_file_lists_what_the_code_uses(extracted: Catalog) -> None:
    committed = catalogues.read_catalogue(catalogues.TEMPLATE_PATH)
    assert {m.id for m in committed if m.id} == {m.id for m in extracted if m.id}


def test_extraction_finds_strings_in_templates_and_python(extracted: Catalog) -> None:
    # Guards the guard: if babel.cfg stopped matching a source, the checks above would pass empty.
    sources = {path for message in extracted for path, _line in message.locations}
    assert any(path.startswith("templates/") for path in sources)
    assert any(path.startswith("app/") for path in sources)
    assert "Waiting: %(num)s view left, until %(time)s." in {
        m.id[0] for m in extracted if isinstance(m.id, tuple)
    }


def test_a_new_untranslated_string_is_reported(tmp_path: Path, extracted: Catalog) -> None:
    catalogue = catalogues.read_catalogue(catalogues.po_path("nl"), "nl")
    extracted_plus = Catalog()
    for message in extracted:
        if message.id:
            extracted_plus.add(message.id, None)
    extracted_plus.add("A brand-new sentence nobody translated yet.")
    gaps = catalogues.gaps("nl", catalogue, extracted_plus)
    assert [str(gap) for gap in gaps] == [
        "nl: missing: 'A brand-new sentence nobody translated yet.'"
    ]
    # After an update the new entry is in the catalogue, still untranslated: still a gap.
    root = tmp_path / "locales"
    shutil.copytree(catalogues.LOCALES_DIR, root)
    catalogues.update_language("nl", extracted_plus, root)
    updated = catalogues.read_catalogue(catalogues.po_path("nl", root), "nl")
    assert [gap.kind for gap in catalogues.gaps("nl", updated, extracted_plus)] == ["untranslated"]


# --- templates: no text outside the translation functions --------------------------------

# Attribute values people see or hear; everything else (href, id, class, ...) is code.
VISIBLE_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt", "aria-description", "label"}
BUTTON_INPUTS = {"submit", "button", "reset"}


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        values = dict(attrs)
        for name, value in attrs:
            visible = name in VISIBLE_ATTRIBUTES or (
                tag == "input" and name == "value" and values.get("type") in BUTTON_INPUTS
            )
            if visible and value and LETTER.search(value):
                self.found.append(f"{tag}[{name}]={value!r}")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and LETTER.search(data):
            self.found.append(data.strip())


def _literal_output(node: nodes.Node) -> Iterator[str]:
    """String constants a template prints as they are, e.g. {{ "Hello" if x else y }}."""
    if isinstance(node, nodes.Const) and isinstance(node.value, str) and LETTER.search(node.value):
        yield node.value
    elif isinstance(node, nodes.CondExpr):
        yield from _literal_output(node.expr1)
        if node.expr2 is not None:
            yield from _literal_output(node.expr2)
    elif isinstance(node, nodes.Filter) and node.node is not None:
        yield from _literal_output(node.node)
    elif isinstance(node, nodes.Concat):
        for part in node.nodes:
            yield from _literal_output(part)


def untranslated_text(source: str) -> list[str]:
    """Letters a visitor would see that do not come from _() / ngettext() or data."""
    environment = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    found = [
        text
        for output in environment.parse(source).find_all(nodes.Output)
        for child in output.nodes
        if not isinstance(child, nodes.TemplateData)
        for text in _literal_output(child)
    ]
    stripped = re.sub(r"{%-?\s*trans\b.*?endtrans\s*-?%}", "", source, flags=re.S)
    stripped = re.sub(r"{#.*?#}", "", stripped, flags=re.S)
    stripped = re.sub(r"{%.*?%}", " ", stripped, flags=re.S)
    stripped = re.sub(r"{{.*?}}", "", stripped, flags=re.S)
    parser = _VisibleText()
    parser.feed(stripped)
    parser.close()
    return found + parser.found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("<p>Hello</p>", ["Hello"]),
        ('<p>{{ _("Hello") }}</p>', []),
        ('<button title="Close">{{ _("x") }}</button>', ["button[title]='Close'"]),
        ('<input type="submit" value="Send">', ["input[value]='Send'"]),
        ('<a href="/here" class="button" id="go">{{ label }}</a>', []),
        ("{{ 'Hello' if user else name }}", ["Hello"]),
        ("{{ user.get('content', '') }}<!-- a comment -->{# note #}", []),
        ("<script>var a = 'b';</script><style>p { color: red }</style>", []),
        ("<p>{% trans %}Hello{% endtrans %}</p>", []),
        ("<p>&middot; 1 &rarr; 2</p>", []),
    ],
)
def test_untranslated_text_finder_finds_what_it_should(source: str, expected: list[str]) -> None:
    assert untranslated_text(source) == expected


@pytest.mark.parametrize(
    "template",
    sorted(str(p.relative_to(TEMPLATES_DIR)) for p in TEMPLATES_DIR.rglob("*.html")),
)
def test_template_has_no_text_outside_translation_functions(template: str) -> None:
    assert untranslated_text((TEMPLATES_DIR / template).read_text(encoding="utf-8")) == []


# --- pages in every language -------------------------------------------------------------


def english_leftovers(page: str, language: str) -> list[str]:
    """Source sentences that should have been translated but show up in English."""
    catalogue = catalogues.read_catalogue(catalogues.po_path(language), language)
    text = html.unescape(page)
    return [
        message.id
        for message in catalogue
        if isinstance(message.id, str)
        and " " in message.id
        and "%(" not in message.id
        and message.string != message.id
        and message.id in text
    ]


EXPECTED = {
    "nl": {
        "home signed out": "Veilig een geheim delen",
        "not found": "Pagina niet gevonden",
        "sign-in required": "Inloggen met Prowise Account",
        "home staff": "E-mailadres van de ontvanger",
        "home customer": "Team dat het ontvangt",
        "created": "Je geheime link is klaar",
        "form errors": "Verbeter de gemarkeerde velden.",
        "secret": "Er ligt een geheim voor je klaar",
        "wrong key": "Deze sleutel opent het geheim niet.",
        "revealed": "Het kan nog 1 keer worden geopend.",
        "status": "Actief: nog 1 keer te openen",
        "unavailable": "Dit geheim is niet beschikbaar",
    },
    "de": {
        "home signed out": "Ein Geheimnis sicher teilen",
        "not found": "Seite nicht gefunden",
        "sign-in required": "Mit Prowise Account anmelden",
        "home staff": "E-Mail-Adresse des Empfängers",
        "home customer": "Team, das es erhält",
        "created": "Ihr geheimer Link ist bereit",
        "form errors": "Bitte korrigieren Sie die markierten Felder.",
        "secret": "Ein Geheimnis wartet auf Sie",
        "wrong key": "Dieser Schlüssel öffnet das Geheimnis nicht.",
        "revealed": "Es kann noch 1 Mal geöffnet werden.",
        "status": "Aktiv: noch 1 Aufruf übrig",
        "unavailable": "Dieses Geheimnis ist nicht verfügbar",
    },
}


def assert_page_in(language: str, name: str, response: httpx.Response) -> None:
    page = html.unescape(response.text)
    assert response.status_code == EVERY_PAGE[name], name
    assert f'<html lang="{language}">' in page, name
    assert response.headers["content-language"] == language, name
    assert EXPECTED[language][name] in page, name
    assert english_leftovers(response.text, language) == [], name


@pytest.mark.parametrize("language", TRANSLATED_LANGUAGES)
async def test_every_page_follows_the_browser_language(
    language: str,
    client: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
) -> None:
    accept = {"nl": "nl-NL,nl;q=0.9,en;q=0.5", "de": "de-AT;q=0.9,fr;q=0.95,en;q=0.1"}[language]
    pages = await visit_every_page(client, new_client, issuer, headers={"accept-language": accept})
    assert set(pages) == set(EXPECTED[language])
    for name, response in pages.items():
        assert_page_in(language, name, response)


@pytest.mark.parametrize("language", TRANSLATED_LANGUAGES)
async def test_account_locale_claim_wins_over_the_browser(
    language: str,
    client: httpx.AsyncClient,
    new_client: Callable[[], httpx.AsyncClient],
    issuer: str,
) -> None:
    pages = await visit_every_page(
        client,
        new_client,
        issuer,
        headers={"accept-language": "en-GB,en"},
        extra_claims={"locale": {"nl": "nl-BE", "de": "de_DE"}[language]},
    )
    for name in ("home staff", "home customer", "created", "secret", "revealed", "status"):
        assert_page_in(language, name, pages[name])
    # The account decides, so the picker is not offered to signed-in people with a locale.
    assert 'name="language"' not in pages["home staff"].text
    assert 'name="language"' in pages["home signed out"].text


async def test_language_picker_choice_is_remembered_and_beats_the_browser(
    client: httpx.AsyncClient,
) -> None:
    client.headers["accept-language"] = "nl"
    assert "Veilig een geheim delen" in (await client.get("/")).text
    await prime_csrf(client)
    chosen = await client.post(
        "/language",
        data={"language": "de", "next": "/no/such/page"},
        headers=csrf_headers(client),
    )
    assert chosen.status_code == 303
    assert chosen.headers["location"] == "/no/such/page"
    assert_page_in("de", "not found", await client.get("/no/such/page"))
    assert_page_in("de", "home signed out", await client.get("/"))


async def test_language_picker_ignores_languages_not_offered(client: httpx.AsyncClient) -> None:
    await prime_csrf(client)
    ignored = await client.post("/language", data={"language": "xx"}, headers=csrf_headers(client))
    assert ignored.status_code == 303
    assert "safe_share_lang" not in client.cookies
    home = await client.get("/")
    assert '<html lang="en">' in home.text
    assert "Share a secret, safely" in home.text


async def test_htmx_fragments_are_translated_too(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    client.headers["accept-language"] = "de"
    await sign_in(client, issuer, STAFF)
    await prime_csrf(client)
    fragment = await client.post(
        "/secrets",
        data={"content": "x", "recipient_email": CUSTOMER},
        headers=csrf_headers(client, htmx=True),
    )
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "Ihr geheimer Link ist bereit" in fragment.text
    assert english_leftovers(fragment.text, "de") == []


# --- dates and times ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "zone", "moment", "relative_in_a_day", "relative_ago"),
    [
        ("en", "Europe/Amsterdam", "Jan 6, 2026, 10:00:00\u202fAM CET", "in 1 day", "3 hours ago"),
        ("nl", "Europe/Amsterdam", "6 jan 2026, 10:00:00 CET", "over 1 dag", "3 uur geleden"),
        ("de", "Europe/Amsterdam", "06.01.2026, 10:00:00 CET", "in 1 Tag", "vor 3 Stunden"),
        ("de", "America/New_York", "06.01.2026, 04:00:00 EST", "in 1 Tag", "vor 3 Stunden"),
    ],
)
def test_dates_and_relative_times_follow_language_and_zone(
    language: str, zone: str, moment: str, relative_in_a_day: str, relative_ago: str
) -> None:
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    language_token = i18n.current_language.set(language)
    zone_token = i18n.current_timezone.set(zone)
    try:
        assert i18n.format_time(now + timedelta(days=1)) == moment
        assert i18n.format_relative(now + timedelta(days=1), now) == relative_in_a_day
        assert i18n.format_relative(now - timedelta(hours=3), now) == relative_ago
    finally:
        i18n.current_language.reset(language_token)
        i18n.current_timezone.reset(zone_token)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [("Europe/Amsterdam", "CEST"), ("Asia/Tokyo", "JST"), ("America/Sao_Paulo", "UTC-03")],
)
def test_absolute_times_name_their_zone(zone: str, expected: str) -> None:
    zone_token = i18n.current_timezone.set(zone)
    try:
        assert i18n.format_time(datetime(2026, 7, 1, 12, 0, tzinfo=UTC)).endswith(f" {expected}")
    finally:
        i18n.current_timezone.reset(zone_token)


@pytest.mark.parametrize(("language", "expected"), [("en", "just now"), ("de", "gerade eben")])
def test_a_past_event_never_reads_as_future(language: str, expected: str) -> None:
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    language_token = i18n.current_language.set(language)
    try:
        assert i18n.format_relative(now, now) == expected
        # Another process's clock a little ahead: a past event still is past.
        assert i18n.format_relative(now + timedelta(seconds=5), now, past=True) == expected
        assert i18n.format_relative(now - timedelta(seconds=5), now, past=True) != expected
    finally:
        i18n.current_language.reset(language_token)


def test_account_language_not_offered_falls_back_to_the_choice_then_the_browser() -> None:
    offered = ("en", "nl", "de")
    assert i18n.offered_language("fr-FR", offered) is None
    assert i18n.offered_language("de_AT", offered) == "de"
    assert i18n.negotiate_language(offered, account="fr", accept_language="fr,de;q=0.5") == "de"
    assert i18n.negotiate_language(offered, account="fr", chosen="nl", accept_language="de") == "nl"


async def test_pages_show_times_in_the_language_and_zone_of_the_visitor(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    client.headers["accept-language"] = "de"
    client.cookies.set("safe_share_tz", "Asia/Tokyo")
    await sign_in(client, issuer, STAFF)
    customer = new_client()
    customer.headers["accept-language"] = "nl"
    await sign_in(customer, issuer, CUSTOMER, extra={"zoneinfo": "America/New_York"})
    secret_id, _key = await create_secret(client, recipient_email=CUSTOMER)
    status = await client.get(f"/s/{secret_id}")
    # Frozen clock: created 2026-01-05 09:00 UTC, expires a day later; Tokyo is UTC+9.
    assert "Erstellt am 05.01.2026, 18:00:00 JST." in status.text
    assert "bis 06.01.2026, 18:00:00 JST." in status.text
    secret = await customer.get(f"/s/{secret_id}")
    assert "Het verloopt over 1 dag." in secret.text
    assert 'title="6 jan 2026, 04:00:00 EST"' in secret.text


# --- adding a language -------------------------------------------------------------------


@asynccontextmanager
async def browse(settings: Settings, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, clock=clock)
    async with LifespanManager(cast(Any, app)), client_of(app) as browser:
        yield browser


async def test_adding_a_language_is_a_catalogue_and_one_line_of_configuration(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_settings: Callable[..., Settings],
    sqlite_url: str,
    clock: FrozenClock,
    extracted: Catalog,
) -> None:
    root = tmp_path / "locales"
    shutil.copytree(catalogues.LOCALES_DIR, root)
    # The catalogue: what `python tasks.py i18n --init fr` creates, then a translator fills in.
    path = catalogues.init_language("fr", extracted, root)
    french = catalogues.read_catalogue(path, "fr")
    assert {gap.kind for gap in catalogues.gaps("fr", french)} == {"untranslated"}
    french["Share a secret, safely"].string = "Partager un secret, en toute sécurité"
    french["Language"].string = "Langue"
    catalogues.write_catalogue(path, french)
    monkeypatch.setattr(i18n, "LOCALES_DIR", root)

    # The one line of configuration.
    settings = make_settings(sqlite_url, languages="en,nl,de,fr")
    async with browse(settings, clock) as browser:
        home = await browser.get("/", headers={"accept-language": "fr-FR,fr;q=0.9"})
        assert '<html lang="fr">' in home.text
        assert "Partager un secret, en toute sécurité" in home.text
        assert '<option value="fr" lang="fr" selected>français</option>' in home.text
        assert '<option value="nl" lang="nl">Nederlands</option>' in home.text
        token = i18n.current_language.set("fr")
        try:
            assert i18n.format_relative(clock.now + timedelta(days=1), clock.now) == "dans 1 jour"
        finally:
            i18n.current_language.reset(token)

    # Without the line, French visitors get the first configured language.
    async with browse(make_settings(sqlite_url), clock) as browser:
        home = await browser.get("/", headers={"accept-language": "fr-FR,fr;q=0.9"})
        assert '<html lang="en">' in home.text


@pytest.mark.parametrize("language", ["en", "nl", "de"])
@pytest.mark.parametrize("zone", ["Europe/Amsterdam", "America/Sao_Paulo", "UTC"])
def test_absolute_times_are_what_babel_formats_for_that_moment(language: str, zone: str) -> None:
    """format_time formats each second once and serves later moments of that second from a
    cache: the text must still be Babel's for the exact moment, language and zone."""
    moments = [
        datetime(2026, 1, 5, 9, 0, 0, 999_999, tzinfo=UTC),
        datetime(2026, 1, 5, 9, 0, 1, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 30, 0, 500_000, tzinfo=UTC),  # the hour Amsterdam repeats
        datetime(2026, 10, 25, 1, 30, 0, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 250_000, tzinfo=UTC),  # before the epoch: floor
    ]
    language_token = i18n.current_language.set(language)
    zone_token = i18n.current_timezone.set(zone)
    try:
        for moment in moments * 2:  # the second pass is served from the cache
            local = moment.astimezone(ZoneInfo(zone))
            name = local.tzname() or ""
            name = f"UTC{name}" if name.startswith(("+", "-")) else name
            expected = f"{format_datetime(local, 'medium', locale=language)} {name}".rstrip()
            assert i18n.format_time(moment) == expected
    finally:
        i18n.current_language.reset(language_token)
        i18n.current_timezone.reset(zone_token)
