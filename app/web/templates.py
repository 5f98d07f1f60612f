"""Templates compiled once per language, with their fixed texts translated at compile time.

A page has a few hundred `_("…")` calls; looked up at every render they cost more than the rest
of the page. Here `home.html` in Dutch is the template `@nl/home.html`: the same file, compiled
with each `_("constant")` replaced by its Dutch text (folded into the page's static output), and
each `_("constant %(x)s", x=…)` by the Dutch pattern, filled in and escaped at render time as
Jinja's own gettext does. Whatever is not a constant still goes through gettext at render time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, MutableMapping
from dataclasses import dataclass
from typing import Any

from jinja2 import BaseLoader, Environment, Template, nodes, pass_context, pass_eval_context
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.visitor import NodeTransformer
from markupsafe import Markup, escape

from app import i18n
from app.web.forms import BLANK_FORM

PREFIX = "@"


def localised_name(language: str, name: str) -> str:
    return f"{PREFIX}{language}/{name}"


def split_name(name: str) -> tuple[str | None, str]:
    if name.startswith(PREFIX):
        language, _, rest = name[1:].partition("/")
        return language, rest
    return None, name


class LanguageLoader(BaseLoader):
    """`@nl/home.html` is `home.html`: one file, one compiled template per language."""

    def __init__(self, inner: BaseLoader) -> None:
        self.inner = inner

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        return self.inner.get_source(environment, split_name(template)[1])


@pass_eval_context
def fill_in(eval_ctx: EvalContext, pattern: str, **variables: Any) -> str:
    """Jinja's newstyle gettext after the lookup: the translation is trusted, values escaped."""
    text = Markup(pattern) if eval_ctx.autoescape else pattern  # noqa: S704 - our catalogues
    return text % variables


def field_error(form: Any, field: str) -> Markup:
    """A field's error under it, if it has one: on every form, so a function, not an include
    (an include or a macro import costs more than the rest of the form)."""
    message = form.errors.get(field)
    if not message:
        return Markup("")
    return Markup(  # noqa: S704 - both values escaped
        f'<p class="field-error" id="{escape(field)}-error">{escape(message)}</p>'
    )


def copy_field(field_id: str, label: str, value: str, flags: tuple[str, ...] = ()) -> Markup:
    """A labelled read-only field with a Copy button (app.js shows the button when it can copy).
    A function, not a macro: a page of links has three, and macro calls cost more than the
    rest of the page. (f-strings with escape(): Markup.format's formatter cost as much again.)"""
    field, extra = escape(field_id), "".join(f" {escape(flag)}" for flag in flags)
    copy = escape(i18n.gettext("Copy"))  # not inside the f-string: the extractor looks here
    return Markup(  # noqa: S704 - every value escaped
        '<div class="field">\n'
        f'  <label for="{field}" id="{field}-label">{escape(label)}</label>\n'
        '  <div class="copy-row">\n'
        f'    <input id="{field}" type="text" readonly value="{escape(value)}"{extra}'
        " data-select-on-focus>\n"
        f'    <button type="button" class="button" data-copy="{field}"'
        f' aria-describedby="{field}-label" hidden>{copy}</button>\n'
        "  </div>\n"
        "</div>"
    )


BLANK_CREATE_FORM = "fragments/create_form.html"
PAGE_HEADER = "fragments/header.html"
# What differs per request in an HTML fragment rendered once: NUL-delimited, since no template
# or translation can produce a NUL.
CSRF_PLACEHOLDER = "\x00csrf\x00"
NEXT_PLACEHOLDER = "\x00next\x00"


class RenderedOnce:
    """HTML rendered once per key, with placeholders where each request's own values go.

    An entry remembers the template it came from: while templates reload (development) an
    edited file is seen at once. Keys that name a person are bounded by forgetting everything
    when the table is full, rather than growing with every account that signs in."""

    def __init__(self, max_entries: int = 4096) -> None:
        self.entries: dict[Hashable, tuple[Template, str]] = {}
        self.max_entries = max_entries

    def get(self, key: Hashable, template: Template, render: Callable[[], str]) -> str:
        cached = self.entries.get(key)
        if cached is None or cached[0] is not template:
            if len(self.entries) >= self.max_entries:
                self.entries.clear()
            cached = self.entries[key] = (template, render())
        return cached[1]


@dataclass(frozen=True)
class FormViewer:
    """All a blank create form may know of the person: whether they address customers (staff)
    or teams. Anything else the form read would render empty, and its test would fail."""

    is_staff: bool


@pass_context
def blank_create_form(context: Context, is_staff: bool) -> Markup:
    """The create form with nothing typed in, rendered once per language and kind of person,
    with only the CSRF field filled in per request: the home page's biggest cost, otherwise."""
    env = context.environment
    language = context["language"]
    template = env.get_template(localised_name(language, BLANK_CREATE_FORM))
    html = rendered_once(env).get(
        (BLANK_CREATE_FORM, language, is_staff),
        template,
        lambda: template.render(
            settings=context["settings"],
            language=language,
            user=FormViewer(is_staff),
            form=BLANK_FORM,
            csrf_input=CSRF_PLACEHOLDER,
        ),
    )
    return Markup(html.replace(CSRF_PLACEHOLDER, str(context["csrf_input"])))  # noqa: S704


@dataclass(frozen=True)
class HeaderViewer:
    """All the page header may know of the person: what it shows and which links it offers."""

    label: str
    can_share: bool
    is_staff: bool
    is_auditor: bool


NAV_SECTIONS = ("/dashboard", "/invitations", "/audit")


def nav_section(here: str) -> str:
    """Which main link is the current page's: "/" for the home page, "" for none."""
    if here == "/":
        return "/"
    return next((section for section in NAV_SECTIONS if here.startswith(section)), "")


@pass_context
def page_header(context: Context) -> Markup:
    """The header of every page, rendered once per language, person and section, with the
    CSRF token and the language form's return path filled in per request: as a template
    rendered at every request it cost more than most pages' own content."""
    env = context.environment
    user = context.get("user")
    viewer = (
        None
        if user is None
        # A NUL in a provider's name would read as a placeholder: shown as � instead.
        else HeaderViewer(
            user.label.replace("\x00", "\ufffd"), user.can_share, user.is_staff, user.is_auditor
        )
    )
    language = context["language"]
    account_language = bool(context.get("account_language"))
    section = nav_section(context["here"])
    template = env.get_template(localised_name(language, PAGE_HEADER))
    html = rendered_once(env).get(
        (PAGE_HEADER, language, viewer, account_language, section),
        template,
        lambda: template.render(
            settings=context["settings"],
            language=language,
            user=viewer,
            account_language=account_language,
            section=section,
            csrf_input=CSRF_PLACEHOLDER,
            next_path=NEXT_PLACEHOLDER,
        ),
    )
    # Back to this page after a language change, unless it answered a form (a POST's page).
    next_path = context["here"] if context["request"].method == "GET" else "/"
    return Markup(  # noqa: S704 - our template's output; the two values are escaped
        html.replace(CSRF_PLACEHOLDER, str(context["csrf_input"])).replace(
            NEXT_PLACEHOLDER, str(escape(next_path))
        )
    )


def rendered_once(env: Environment) -> RenderedOnce:
    cache: RenderedOnce = env.globals["_rendered_once"]  # type: ignore[assignment]
    return cache


class TranslateConstants(NodeTransformer):
    def __init__(self, translate: Callable[[str], str]) -> None:
        self.translate = translate

    def visit_Call(self, node: nodes.Call) -> nodes.Node:  # noqa: N802 - Jinja names visitors so
        node = self.generic_visit(node)  # type: ignore[assignment]
        if not (
            isinstance(node.node, nodes.Name)
            and node.node.name == "_"
            and len(node.args) == 1
            and isinstance(node.args[0], nodes.Const)
            and isinstance(node.args[0].value, str)
            and node.dyn_args is None
            and node.dyn_kwargs is None
        ):
            return node
        pattern = self.translate(node.args[0].value)
        if node.kwargs:
            return nodes.Call(
                nodes.Name("_fill_in", "load"),
                [nodes.Const(pattern)],
                node.kwargs,
                None,
                None,
                lineno=node.lineno,
            )
        # Newstyle gettext formats even without variables ("%%" becomes "%").
        return nodes.MarkSafeIfAutoescape(nodes.Const(pattern % {}), lineno=node.lineno)


class LocalisedEnvironment(Environment):
    """Templates named `@<language>/<file>` have their constant texts in that language."""

    def join_path(self, template: str, parent: str) -> str:
        # `{% extends "base.html" %}` inside `@nl/home.html` means `@nl/base.html`.
        language, _ = split_name(parent)
        if language is None or template.startswith(PREFIX):
            return template
        return localised_name(language, template)

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        # A plain dict, not Jinja's ChainMap: each render copies a template's globals into its
        # context, and copying a ChainMap runs key by key in Python (a few per cent of a page).
        # The copy is taken when the template loads; Jinja already asks that globals be set
        # before then.
        return {**self.globals, **(d or {})}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        static_url = self.globals.get("static_url")
        if callable(static_url):
            tree = FoldStaticUrls(static_url).visit(tree)
        language = split_name(name or "")[0]
        if language is None:
            return tree
        translate = i18n.translator(language)
        translated: nodes.Template = TranslateConstants(translate).visit(tree)
        return translated


class FoldStaticUrls(NodeTransformer):
    """`static_url("app.css")` becomes its hashed address when the template is compiled: the
    static files are read once at start-up, so the address cannot change while it runs."""

    def __init__(self, static_url: Callable[[str], str]) -> None:
        self.static_url = static_url

    def visit_Call(self, node: nodes.Call) -> nodes.Node:  # noqa: N802 - Jinja names visitors so
        node = self.generic_visit(node)  # type: ignore[assignment]
        if (
            isinstance(node.node, nodes.Name)
            and node.node.name == "static_url"
            and len(node.args) == 1
            and isinstance(node.args[0], nodes.Const)
            and isinstance(node.args[0].value, str)
            and not node.kwargs
            and node.dyn_args is None
            and node.dyn_kwargs is None
        ):
            return nodes.Const(self.static_url(node.args[0].value), lineno=node.lineno)
        return node


def make_environment(loader: BaseLoader, *, auto_reload: bool) -> LocalisedEnvironment:
    env = LocalisedEnvironment(
        loader=LanguageLoader(loader), autoescape=True, auto_reload=auto_reload
    )
    env.globals.update(
        _fill_in=fill_in,
        field_error=field_error,
        copy_field=copy_field,
        blank_create_form=blank_create_form,
        page_header=page_header,
        _rendered_once=RenderedOnce(),
    )
    return env
