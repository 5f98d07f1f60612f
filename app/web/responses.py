"""One URL, two answers: a fragment for htmx, the whole page otherwise; and the pages that
several routes share (every refusal a visitor may meet, in their language)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.plugins.htmx import HTMXDetails, HTMXRequest
from litestar.response import Template

from app.i18n import _


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
    return Template(
        template_name=name, context=context, status_code=status_code, headers=headers or {}
    )


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


def not_for_you(request: Request[Any, Any, Any], back_to: str) -> Template:
    return error_page(
        request,
        403,
        _("This secret is meant for someone else"),
        _(
            "You are signed in, but not as the person or team this secret was shared with. "
            "If it should be for you, sign out and sign in with the right account."
        ),
        # Signs out, then in again, back here (a link's key waits in the tab's sessionStorage).
        switch_account_to=back_to,
    )


def unavailable_page(request: Request[Any, Any, Any]) -> Template:
    # Unknown, used, expired and revoked all answer exactly this.
    return error_page(
        request,
        404,
        _("This secret is not available"),
        _(
            "The link is wrong, or the secret was already opened, has expired or was revoked. "
            "Ask the person who sent it to share it again."
        ),
    )


def cannot_open_page(request: Request[Any, Any, Any]) -> Template:
    return error_page(
        request,
        422,
        _("This secret cannot be opened"),
        _(
            "Its stored encrypted data is damaged or in a format this version of Safe Share "
            "does not know. It was not counted as opened. Ask the person who sent it to share "
            "it again."
        ),
    )


def not_found_page(request: Request[Any, Any, Any]) -> Template:
    # Also what another person's secret answers on its creator's pages: like an unknown one.
    return error_page(request, 404, _("Page not found"), _("There is nothing at this address."))


def bad_page_link(request: Request[Any, Any, Any]) -> Template:
    return error_page(
        request,
        400,
        _("This page link is not valid"),
        _("Go back to the first page and follow the links from there."),
    )


def bad_request_page(request: Request[Any, Any, Any]) -> Template:
    return error_page(
        request, 400, _("Bad request"), _("Safe Share could not understand this request.")
    )


def unreadable_request_page(request: Request[Any, Any, Any]) -> Template:
    return error_page(
        request,
        400,
        _("Bad request"),
        _(
            "What was sent could not be read (it is not valid text). Nothing was stored. "
            "Go back, check what you typed or pasted, and try again."
        ),
    )


def request_refused_page(request: Request[Any, Any, Any]) -> Template:
    # A CSRF refusal, whether Litestar's middleware or the streamed form reader found it.
    return error_page(
        request,
        403,
        _("Not allowed"),
        _("This request was refused. Reload the page and try again."),
    )


def too_much_data_page(request: Request[Any, Any, Any]) -> Template:
    return error_page(
        request,
        413,
        _("Too much data"),
        _("What you sent is larger than Safe Share accepts. Shorten it and try again."),
    )


def too_many_attempts_page(request: Request[Any, Any, Any], retry_after: int) -> Template:
    return error_page(
        request,
        429,
        _("Too many attempts"),
        _("Please wait a moment before you try again."),
        headers={"retry-after": str(retry_after)},
    )


def service_unavailable_page(request: Request[Any, Any, Any]) -> Template:
    return error_page(
        request,
        503,
        _("Safe Share is briefly unavailable"),
        _("Nothing was shared or opened. Please try again in a minute."),
        headers={"retry-after": "30"},
    )
