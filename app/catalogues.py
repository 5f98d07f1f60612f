"""Translation workflow: extract every msgid, update each language's catalogue, report gaps.

`python -m app.catalogues` (or `python tasks.py i18n`) extracts from the sources that
babel.cfg names into locales/messages.pot, merges it into every locales/<lang>/LC_MESSAGES/
messages.po and lists what still needs a translator. `--init xx` starts a new language.
The tests call the same functions, so a string nobody translated fails the suite.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from app.settings import PROJECT_ROOT

LOCALES_DIR = PROJECT_ROOT / "locales"
TEMPLATE_PATH = LOCALES_DIR / "messages.pot"
BABEL_CFG = PROJECT_ROOT / "babel.cfg"
SOURCE_LANGUAGE = "en"
PROJECT = "Safe Share"


@dataclass(frozen=True)
class Gap:
    language: str
    kind: str  # "untranslated", "fuzzy" or "missing"
    msgid: str

    def __str__(self) -> str:
        return f"{self.language}: {self.kind}: {self.msgid!r}"


def po_path(language: str, root: Path = LOCALES_DIR) -> Path:
    return root / language / "LC_MESSAGES" / "messages.po"


def _msgid(message: Message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def extract(root: Path = PROJECT_ROOT) -> Catalog:
    """What the code asks to translate right now, read with babel's own extractors."""
    with BABEL_CFG.open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    template = Catalog(project=PROJECT, fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root), method_map, options_map
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def read_catalogue(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as po_file:
        return read_po(po_file, locale=language)


def write_catalogue(path: Path, catalogue: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # No locations and no obsolete entries: moving a line of a template must not churn
    # every catalogue (and cause merge conflicts); git keeps the history.
    with path.open("wb") as po_file:
        write_po(
            po_file, catalogue, width=100, no_location=True, sort_output=True, ignore_obsolete=True
        )


def catalogue_languages(root: Path = LOCALES_DIR) -> list[str]:
    return sorted(p.parent.parent.name for p in root.glob("*/LC_MESSAGES/messages.po"))


def init_language(language: str, template: Catalog, root: Path = LOCALES_DIR) -> Path:
    Locale.parse(language)  # refuse a code babel does not know: dates could not follow it
    path = po_path(language, root)
    if path.exists():
        raise SystemExit(f"{path} exists already")
    catalogue = Catalog(locale=language, project=PROJECT, fuzzy=False)
    catalogue.update(template)
    write_catalogue(path, catalogue)
    return path


def update_language(language: str, template: Catalog, root: Path = LOCALES_DIR) -> None:
    path = po_path(language, root)
    catalogue = read_catalogue(path, language)
    # Near matches are pre-filled but marked fuzzy, which the tests refuse until reviewed.
    catalogue.update(template, update_creation_date=False)
    catalogue.fuzzy = False
    write_catalogue(path, catalogue)


def gaps(language: str, catalogue: Catalog, template: Catalog | None = None) -> list[Gap]:
    found: list[Gap] = []
    for message in catalogue:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            found.append(Gap(language, "untranslated", _msgid(message)))
        elif message.fuzzy:
            found.append(Gap(language, "fuzzy", _msgid(message)))
    if template is not None:
        for message in template:
            if message.id and catalogue.get(message.id, message.context) is None:
                found.append(Gap(language, "missing", _msgid(message)))
    return found


def _entries(catalogue: Catalog) -> set[tuple[object, ...]]:
    return {(m.id, m.context, tuple(sorted(m.flags))) for m in catalogue if m.id}


def write_template(template: Catalog, path: Path = TEMPLATE_PATH) -> None:
    if path.exists():
        previous = read_catalogue(path)
        if _entries(previous) == _entries(template):
            return  # unchanged: keep the file (and its date) as it is
    write_catalogue(path, template)


def update_all(languages: Iterable[str] | None = None) -> list[Gap]:
    template = extract()
    write_template(template)
    found: list[Gap] = []
    for language in languages or catalogue_languages():
        update_language(language, template)
        found += gaps(language, read_catalogue(po_path(language), language), template)
    return found


def main(argv: list[str]) -> int:
    if argv[:1] == ["--init"] and len(argv) == 2:
        path = init_language(argv[1], extract())
        print(f"created {path}; translate it, then add {argv[1]} to SAFE_SHARE_LANGUAGES")
    elif argv:
        print("usage: python -m app.catalogues [--init LANGUAGE]")
        return 2
    found = update_all()
    for gap in found:
        print(gap)
    languages = ", ".join(catalogue_languages())
    print(
        f"{len(found)} entries need a translator ({languages})"
        if found
        else f"all catalogues complete ({languages})"
    )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
