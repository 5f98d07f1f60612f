"""Accessibility without a browser: contrast of both palettes, labels, scripts and styles.

tests/browser/test_layout.py adds the real-browser checks (axe-core, overflow at 360 px).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser

import httpx
import pytest

from app.settings import PROJECT_ROOT
from tests.support.flows import visit_every_page

CSS = (PROJECT_ROOT / "static" / "app.css").read_text(encoding="utf-8")

# (foreground, background, minimum): text needs 4.5:1 (WCAG 1.4.3), the focus ring and
# field borders 3:1 (1.4.11 non-text contrast).
PAIRS = [
    ("--fg", "--bg", 4.5),
    ("--fg", "--card", 4.5),
    ("--muted", "--bg", 4.5),
    ("--muted", "--card", 4.5),
    ("--accent", "--bg", 4.5),
    ("--accent", "--card", 4.5),
    ("--accent-fg", "--accent", 4.5),
    ("--danger", "--bg", 4.5),
    ("--danger", "--card", 4.5),
    ("--ok", "--bg", 4.5),
    ("--ok", "--card", 4.5),
    ("--focus", "--bg", 3.0),
    ("--focus", "--card", 3.0),
]


def custom_properties(block: str) -> dict[str, str]:
    return dict(re.findall(r"(--[\w-]+)\s*:\s*(#[0-9a-fA-F]{3,6})\b", block))


def palettes(css: str) -> dict[str, dict[str, str]]:
    light_block = re.search(r"^:root\s*{(.*?)}", css, re.S | re.M)
    dark_block = re.search(
        r"@media\s*\(prefers-color-scheme:\s*dark\)\s*{\s*:root\s*{(.*?)}", css, re.S
    )
    assert light_block, "app.css must define a light palette"
    assert dark_block, "app.css must define a dark palette"
    light = custom_properties(light_block.group(1))
    # The dark palette overrides the light one; anything it leaves out stays light.
    return {"light": light, "dark": {**light, **custom_properties(dark_block.group(1))}}


def luminance(colour: str) -> float:
    hex_digits = colour.lstrip("#")
    if len(hex_digits) == 3:
        hex_digits = "".join(c * 2 for c in hex_digits)
    channels = [int(hex_digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula_matches_known_values() -> None:
    assert contrast("#000", "#fff") == pytest.approx(21.0)
    assert contrast("#777", "#fff") == pytest.approx(4.48, abs=0.01)  # famously just fails


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_palette_meets_wcag_aa_contrast(theme: str) -> None:
    palette = palettes(CSS)[theme]
    ratios = {(fg, bg): round(contrast(palette[fg], palette[bg]), 2) for fg, bg, _minimum in PAIRS}
    print(theme, ratios)
    failing = [(fg, bg, ratios[fg, bg]) for fg, bg, minimum in PAIRS if ratios[fg, bg] < minimum]
    assert failing == []


def test_focus_is_always_visible_and_touch_targets_are_44px() -> None:
    assert re.search(r":focus-visible\s*{[^}]*outline:\s*3px solid var\(--focus\)", CSS)
    assert not re.search(r"outline:\s*(none|0)\b", CSS)
    for selector in (r"\.button, button", r"input\[type=text\], input\[type=email\], textarea"):
        rule = re.search(selector + r"[^{]*{([^}]*)}", CSS)
        assert rule, selector
        assert "min-height: 44px" in rule.group(1), selector


class PageAudit(HTMLParser):
    """Fields without a label, inline scripts and styles, and which scripts load."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.labelled: set[str] = set()
        self.fields: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.inline: list[str] = []
        self.described_by: list[str] = []
        self.ids: set[str] = set()
        self._label_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if values.get("aria-describedby"):
            self.described_by += str(values["aria-describedby"]).split()
        if "style" in values or tag == "style":
            self.inline.append(f"<{tag} style>")
        if any(name.startswith("on") for name in values):
            self.inline.append(f"<{tag} on...>")
        if tag == "script":
            if values.get("src"):
                self.scripts.append(str(values["src"]))
            else:
                self.inline.append("<script>")
        if tag == "label":
            self._label_depth += 1
            if values.get("for"):
                self.labelled.add(str(values["for"]))
        if tag in ("input", "select", "textarea") and values.get("type") != "hidden":
            labelled = self._label_depth > 0 or "aria-label" in values
            self.fields.append((tag, {**values, "wrapped": "yes" if labelled else None}))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self._label_depth:
            self._label_depth -= 1

    def unlabelled(self) -> list[str]:
        return [
            f"{tag}#{values.get('id')}"
            for tag, values in self.fields
            if not values.get("wrapped")
            and values.get("id") not in self.labelled
            and values.get("aria-hidden") != "true"
        ]


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def test_every_page_labels_its_fields_and_loads_only_our_four_scripts(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    pages = await visit_every_page(client, new_client, issuer, headers={})
    for name, response in pages.items():
        audit = PageAudit()
        audit.feed(response.text)
        assert audit.unlabelled() == [], name
        assert audit.inline == [], name
        assert [re.sub(r"\.[0-9a-f]{10}\.", ".", s) for s in audit.scripts] == [
            "/static/htmx.min.js",
            "/static/crypto.js",
            "/static/files.js",
            "/static/app.js",
        ], name
        # Every aria-describedby points at something that exists on the page.
        assert set(audit.described_by) <= audit.ids, name


async def test_field_errors_are_tied_to_their_fields(
    client: httpx.AsyncClient, new_client: Callable[[], httpx.AsyncClient], issuer: str
) -> None:
    pages = await visit_every_page(client, new_client, issuer, headers={})
    form = pages["form errors"].text
    for field in ("content", "recipient_email"):
        tag = re.search(rf'<(?:textarea|input) id="{field}"[^>]*>', form)
        assert tag, field
        assert 'aria-invalid="true"' in tag.group(0)
        assert f'aria-describedby="{field}-error"' in tag.group(0)
        assert f'id="{field}-error"' in form
    wrong_key = pages["wrong key"].text
    assert re.search(
        r'<input id="key"[^>]*aria-invalid="true"[^>]*aria-describedby="key-error"', wrong_key, re.S
    )
