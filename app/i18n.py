"""Languages: gettext catalogues from locales/, the current language per request, dates and times.

Catalogues are compiled from the .po files in memory at start-up, so no binary .mo file is
built or committed and a translation edit needs only a restart.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, negotiate_locale
from babel.dates import format_datetime, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

from app.settings import PROJECT_ROOT

LOCALES_DIR = PROJECT_ROOT / "locales"
DEFAULT_LANGUAGE = "en"

_catalogues: dict[str, NullTranslations] = {}
current_language: ContextVar[str] = ContextVar("current_language", default=DEFAULT_LANGUAGE)
current_timezone: ContextVar[str] = ContextVar("current_timezone", default="UTC")


def load_catalogues(languages: Iterable[str]) -> None:
    for language in languages:
        po_path = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
        if not po_path.exists():
            _catalogues[language] = NullTranslations()
            continue
        with po_path.open("rb") as po_file:
            catalogue = read_po(po_file, locale=language)
        buffer = io.BytesIO()
        write_mo(buffer, catalogue)
        buffer.seek(0)
        _catalogues[language] = Translations(buffer)


def _translations() -> NullTranslations:
    return _catalogues.get(current_language.get()) or NullTranslations()


def translator(language: str) -> Callable[[str], str]:
    """One language's gettext, for texts translated once (templates compile per language)."""
    return (_catalogues.get(language) or NullTranslations()).gettext


def translate(message: str) -> str:
    """The translation alone; Jinja's newstyle gettext fills in (and escapes) the variables."""
    return _translations().gettext(message)


def translate_plural(singular: str, plural: str, n: int) -> str:
    return _translations().ngettext(singular, plural, n)


def gettext(message: str, **variables: object) -> str:
    text = translate(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: object) -> str:
    return translate_plural(singular, plural, n) % {"num": n, **variables}


_ = gettext


def N_(message: str) -> str:  # noqa: N802 - gettext's own name for it, which extraction knows
    """Marks a message for the catalogues without translating it: for tables built at import
    time, whose words are translated (with translate()) in the language of each request."""
    return message


def negotiate_language(
    supported: Iterable[str],
    *,
    chosen: str | None = None,
    account: str | None = None,
    accept_language: str | None = None,
) -> str:
    """An account's locale wins, then the visitor's choice, then the browser's first fit."""
    supported = tuple(supported)
    for candidate in (account, chosen):
        offered = offered_language(candidate, supported)
        if offered:
            return offered
    browser = _negotiate(_accept_language_tags(accept_language or ""), supported)
    return browser or (supported[0] if supported else DEFAULT_LANGUAGE)


def offered_language(tag: str | None, supported: Iterable[str]) -> str | None:
    """The offered language a tag like `de-AT` or `nl_BE` stands for, if any."""
    return _negotiate([tag.replace("_", "-")], tuple(supported)) if tag else None


def _negotiate(preferred: list[str], supported: tuple[str, ...]) -> str | None:
    # Babel tries each tag whole, then its language alone (nl-BE → nl); no aliases (nl → nl_NL).
    found = negotiate_locale(preferred, supported, sep="-", aliases={})
    return found.lower() if found else None


def _accept_language_tags(header: str) -> list[str]:
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _q, _i, tag in sorted(weighted)]


@functools.lru_cache(maxsize=64)
def language_name(code: str) -> str:
    """A language's own name for itself (Nederlands, Deutsch), for the picker."""
    return Locale.parse(code).get_display_name(code) or code


def valid_timezone(name: str | None, fallback: str) -> str:
    if name:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return fallback
        else:
            return name
    return fallback


@functools.lru_cache(maxsize=16)
def _locale(language: str) -> Locale:
    # Babel parses a locale name on every call it is given one; pages format several dates.
    return Locale.parse(language)


def format_time(moment: datetime) -> str:
    """Date and time with the zone's short name (CET, JST), since browser and default zones differ."""
    # The text shows whole seconds, so one formatting serves every moment in the same second.
    return _format_second(
        math.floor(moment.timestamp()), current_timezone.get(), current_language.get()
    )


@functools.lru_cache(maxsize=1024)
def _format_second(epoch_second: int, zone: str, language: str) -> str:
    # Babel's pattern formatting was a few per cent of a page under load; a page made in the
    # same second shows the same expiry times.
    local = datetime.fromtimestamp(epoch_second, ZoneInfo(zone))
    zone_name = local.tzname() or ""
    if zone_name.startswith(("+", "-")):  # zones without an abbreviation give "-03"
        zone_name = f"UTC{zone_name}"
    text = format_datetime(local, "medium", locale=_locale(language))
    return f"{text} {zone_name}".rstrip()


def format_relative(moment: datetime, now: datetime, *, past: bool = False) -> str:
    # A past event (past=True) never reads "in …", however close to now.
    delta = moment - now
    if past and delta > timedelta(0):
        delta = timedelta(0)  # another process's clock ran slightly ahead
    if abs(delta) < timedelta(seconds=1):
        return gettext("just now")
    return format_timedelta(
        delta,
        add_direction=True,
        threshold=1.0,
        locale=_locale(current_language.get()),
    )


def group_display_name(names: Mapping[str, str]) -> str:
    return names.get(current_language.get()) or names.get(DEFAULT_LANGUAGE) or ""


def format_size(size: int) -> str:
    """Bytes in decimal units, as people read them: "2.3 MB" (with the language's decimals)."""
    return _format_size(size, current_language.get())


@functools.lru_cache(maxsize=256)  # the upload limit is on every form
def _format_size(size: int, language: str) -> str:
    units = ("B", "kB", "MB", "GB")
    value = float(size)
    unit = 0
    while value >= 1000 and unit < len(units) - 1:
        value /= 1000
        unit += 1
    pattern = "#,##0" if unit == 0 else "#,##0.#"
    return f"{format_decimal(value, pattern, locale=language)} {units[unit]}"
