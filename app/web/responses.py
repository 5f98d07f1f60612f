"""One URL, two answers: a fragment for htmx, the whole page otherwise; and the pages that
several routes share (every refusal a visitor may meet, in their language)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.enums import MediaType
from litestar.plugins.htmx import HTMXDetails, HTMXRequest
from litestar.response import Template
from litestar.utils.empty import value_or_default
from litestar.utils.scope.state import ScopeState
from markupsafe import escape

from app import i18n
from app.i18n import N_, translate
from app.web.templates import CSRF_PLACEHOLDER, localised_name, rendered_once


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    # Handlers get HTMXPlugin's request; a request that middleware built reads the same header.
    return bool(request.htmx if isinstance(request, HTMXRequest) else HTMXDetails(request))


def render(
    request: Request[Any, Any, Any],
    page: str,
    fragment: str | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Template:
    """The fragment for htmx requests (when there is one), else the page that includes it."""
    name = fragment if fragment and is_htmx(request) else page
    # Who and which language, straight from the request's state (`request.state` in a
    # template builds a new object at every use).
    state = request.scope.get("state", {})
    language = i18n.current_language.get()
    return Template(
        template_name=localised_name(language, name),
        context={
            "user": state.get("user"),
            "language": language,
            "account_language": state.get("account_language", False),
            "here": page_path(request),
            **context,
        },
        status_code=status_code,
        headers=headers or {},
        media_type=MediaType.HTML,  # else guessed from the file name on every response
    )


def anonymous_page(request: Request[Any, Any, Any], page: str, **context: Any) -> Response[bytes]:
    """A page every visitor who is not signed in sees alike in one language (the landing page):
    rendered once per language and path, with only this visitor's CSRF token filled in.
    Rendering it again for every visitor was most of the page's cost. `context` must not
    depend on the request."""
    language = i18n.current_language.get()
    name = localised_name(language, page)
    engine = request.app.template_engine
    if engine is None:
        raise RuntimeError("templates are not configured")
    template = engine.get_template(name)
    here = page_path(request)
    html = rendered_once(engine.engine).get(
        (name, here),
        template,
        lambda: render_with_placeholder_token(
            request,
            template,
            name,
            user=None,
            language=language,
            account_language=False,
            here=here,
            **context,
        ),
    )
    token = escape(value_or_default(ScopeState.from_scope(request.scope).csrf_token, ""))
    return Response(html.replace(CSRF_PLACEHOLDER, str(token)).encode(), media_type=MediaType.HTML)


def render_with_placeholder_token(
    request: Request[Any, Any, Any], template: Any, name: str, **context: Any
) -> str:
    """The template as Litestar would render it for this request, with a placeholder wherever
    the visitor's CSRF token goes (`csrf_token()` and `csrf_input`)."""
    state = ScopeState.from_scope(request.scope)
    token = state.csrf_token
    state.csrf_token = CSRF_PLACEHOLDER
    try:
        page: str = template.render(
            **Template(template_name=name, context=context).create_template_context(request)
        )
    finally:
        state.csrf_token = token
    return page


def page_path(request: Request[Any, Any, Any]) -> str:
    """The page's path, as `request.url.path` gives it, without building the whole URL."""
    return str(request.scope.get("root_path", "")) + request.scope["path"]


def error_page(
    request: Request[Any, Any, Any],
    status_code: int,
    title: str,
    message: str,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Template:
    return render(
        request,
        "error.html",
        "fragments/message.html",
        status_code=status_code,
        headers=headers,
        title=title,
        message=message,
        **context,
    )


def safe_next(path: str | None) -> str:
    """Only same-site paths: an open redirect would hand our sign-in to someone else's page."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    if any(ord(ch) < 33 for ch in path) or len(path) > 200:
        return "/"
    return path


def sign_in_required(request: Request[Any, Any, Any], next_path: str) -> Response[Any]:
    if is_htmx(request):
        # A fragment would put a whole page into the form: htmx loads the page instead.
        # Quoted: the path's parameters come from the URL, and a header must stay one line.
        location = quote(next_path, safe="/", errors="replace")
        return Response(content=b"", status_code=401, headers={"HX-Redirect": location})
    return render(request, "sign_in_required.html", status_code=401, next_path=next_path)


@dataclass(frozen=True)
class ErrorPage:
    """A page that says no: its status and its words in English (marked for the catalogues),
    put into the visitor's language each time it is shown."""

    status: int
    title: str
    message: str
    retry_after: int | None = None  # seconds, for a refusal that passes (503, 429)

    def __call__(
        self,
        request: Request[Any, Any, Any],
        retry_after: int | None = None,
        **context: Any,
    ) -> Template:
        title, message = translate(self.title), translate(self.message)
        seconds = retry_after or self.retry_after
        headers = {"retry-after": str(seconds)} if seconds else None
        return error_page(request, self.status, title, message, headers, **context)


_NOT_FOR_YOU = ErrorPage(
    403,
    N_("This secret is meant for someone else"),
    N_(
        "You are signed in, but not as the person or team this secret was shared with. "
        "If it should be for you, sign out and sign in with the right account."
    ),
)
# Unknown, used, expired and revoked all answer exactly this.
unavailable_page = ErrorPage(
    404,
    N_("This secret is not available"),
    N_(
        "The link is wrong, or the secret was already opened, has expired or was revoked. "
        "Ask the person who sent it to share it again."
    ),
)
cannot_open_page = ErrorPage(
    422,
    N_("This secret cannot be opened"),
    N_(
        "Its stored encrypted data is damaged or in a format this version of Safe Share "
        "does not know. It was not counted as opened. Ask the person who sent it to share "
        "it again."
    ),
)
# Also what another person's secret answers on its creator's pages: like an unknown one.
not_found_page = ErrorPage(404, N_("Page not found"), N_("There is nothing at this address."))
bad_page_link = ErrorPage(
    400,
    N_("This page link is not valid"),
    N_("Go back to the first page and follow the links from there."),
)
bad_request_page = ErrorPage(
    400, N_("Bad request"), N_("Safe Share could not understand this request.")
)
unreadable_request_page = ErrorPage(
    400,
    N_("Bad request"),
    N_(
        "What was sent could not be read (it is not valid text). Nothing was stored. "
        "Go back, check what you typed or pasted, and try again."
    ),
)
# A CSRF refusal, whether the request middleware or the streamed form reader found it.
request_refused_page = ErrorPage(
    403, N_("Not allowed"), N_("This request was refused. Reload the page and try again.")
)
too_much_data_page = ErrorPage(
    413,
    N_("Too much data"),
    N_("What you sent is larger than Safe Share accepts. Shorten it and try again."),
)
_TOO_MANY_ATTEMPTS = ErrorPage(
    429, N_("Too many attempts"), N_("Please wait a moment before you try again.")
)
service_unavailable_page = ErrorPage(
    503,
    N_("Safe Share is briefly unavailable"),
    N_("Nothing was shared or opened. Please try again in a minute."),
    retry_after=30,
)


def not_for_you(request: Request[Any, Any, Any], back_to: str) -> Template:
    # Signs out, then in again, back here (a link's key waits in the tab's sessionStorage).
    return _NOT_FOR_YOU(request, switch_account_to=back_to)


def too_many_attempts_page(request: Request[Any, Any, Any], retry_after: int) -> Template:
    return _TOO_MANY_ATTEMPTS(request, retry_after)
