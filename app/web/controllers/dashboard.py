"""The creator's pages: "My secrets" (paginated) and the trail of one secret."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Redirect, Template

from app.auth.identity import User
from app.i18n import _
from app.services import dashboard
from app.web.guards import SIGN_IN_NEXT, requires_signed_in
from app.web.responses import error_page, is_htmx, render


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
    guards = (requires_signed_in,)
    opt: Mapping[str, Any] = {SIGN_IN_NEXT: "/dashboard"}

    @get("/")
    async def my_secrets(
        self,
        request: Request[Any, Any, Any],
        user: User,
        now: datetime,
        after: str | None = None,
    ) -> Template:
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

    @get(
        "/secrets/{secret_id:str}/trail", opt={SIGN_IN_NEXT: "/dashboard/secrets/{secret_id}/trail"}
    )
    async def trail(
        self,
        request: Request[Any, Any, Any],
        secret_id: str,
        user: User,
        now: datetime,
    ) -> Template:
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

    @get("/secrets/{secret_id:str}/revoke")
    async def confirm_revoke(
        self,
        request: Request[Any, Any, Any],
        secret_id: str,
        user: User,
        now: datetime,
    ) -> Template:
        """Asks before revoking; changes nothing (the POST to /s/<id>/revoke does)."""
        secret = await dashboard.find_my_secret(user, secret_id)
        if secret is None:
            return not_found(request)
        return render(
            request,
            "revoke_confirm.html",
            "fragments/dashboard_row.html",
            secret=secret,
            now=now,
            confirming=True,
        )

    @get("/secrets/{secret_id:str}")
    async def row(
        self,
        request: Request[Any, Any, Any],
        secret_id: str,
        user: User,
        now: datetime,
    ) -> Template | Redirect:
        """One row of "My secrets" for htmx ("No, keep it"); the list itself otherwise."""
        secret = await dashboard.find_my_secret(user, secret_id)
        if secret is None:
            return not_found(request)
        if not is_htmx(request):
            return Redirect(f"/dashboard#secret-{secret_id}", status_code=303)
        return render(
            request,
            "dashboard.html",
            "fragments/dashboard_row.html",
            secret=secret,
            now=now,
            swapped=True,
        )
