"""The creator's pages: "My secrets" (paginated) and the trail of one secret."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from app.auth.identity import User
from app.i18n import _
from app.services import dashboard
from app.web.controllers.secrets import sign_in_required
from app.web.responses import error_page, render


def bad_page_link(request: Request[Any, Any, Any]) -> Template:
    return error_page(
        request,
        400,
        _("This page link is not valid"),
        _("Go back to the first page and follow the links from there."),
    )


def not_found(request: Request[Any, Any, Any]) -> Template:
    # Another person's secret answers exactly like an unknown one.
    return error_page(request, 404, _("Page not found"), _("There is nothing at this address."))


class DashboardController(Controller):
    path = "/dashboard"

    @get("/")
    async def my_secrets(
        self,
        request: Request[Any, Any, Any],
        user: User | None,
        now: datetime,
        after: str | None = None,
    ) -> Template:
        if user is None:
            return sign_in_required(request, "/dashboard")
        try:
            cursor = dashboard.Cursor.decode(after) if after else None
        except dashboard.BadCursor:
            return bad_page_link(request)
        page = await dashboard.list_my_secrets(user, cursor)
        return render(
            request,
            "dashboard.html",
            "fragments/dashboard_list.html",
            listing=page,
            now=now,
            first_page=cursor is None,
        )

    @get("/secrets/{secret_id:str}/trail")
    async def trail(
        self,
        request: Request[Any, Any, Any],
        secret_id: str,
        user: User | None,
        now: datetime,
    ) -> Template:
        if user is None:
            return sign_in_required(request, f"/dashboard/secrets/{secret_id}/trail")
        found = await dashboard.secret_trail(user, secret_id)
        if found is None:
            return not_found(request)
        secret, events = found
        return render(
            request,
            "trail.html",
            "fragments/trail_events.html",
            secret=secret,
            events=events,
            now=now,
        )
