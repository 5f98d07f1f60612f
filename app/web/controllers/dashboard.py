"""The creator's pages: "My secrets" (paginated), the trail of one secret, and revoking."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template

from app.auth.identity import User
from app.services import dashboard, secrets
from app.services.audit import ClientInfo
from app.services.paging import Cursor
from app.web.guards import REQUIRES, SIGN_IN_NEXT, Access
from app.web.responses import not_found_page, render, unavailable_page

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _row(request: HTMXRequest, secret: secrets.SecretSummary, now: datetime) -> Template | Redirect:
    """One row of "My secrets": htmx swaps it in place, a plain request goes back to the list."""
    if not request.htmx:
        return Redirect(f"/dashboard#secret-{secret.id}", status_code=303)
    context = {"secret": secret, "now": now, "swapped": True}
    return Template("fragments/dashboard_row.html", context=context)


class DashboardController(Controller):
    """A page link this app did not make (BadCursor) answers app.web.errors' page."""

    opt: Mapping[str, Any] = {REQUIRES: Access.SIGNED_IN, SIGN_IN_NEXT: "/dashboard"}

    @get("/dashboard")
    async def my_secrets(
        self,
        request: Request[Any, Any, Any],
        user: User,
        now: datetime,
        after: str | None = None,
    ) -> Template:
        page = await dashboard.list_my_secrets(user, Cursor.decode(after) if after else None)
        return render(request, "dashboard.html", listing=page, now=now, first_page=not after)

    @get(
        "/dashboard/secrets/{secret_id:str}/trail",
        opt={SIGN_IN_NEXT: "/dashboard/secrets/{secret_id}/trail"},
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
            return not_found_page(request)
        secret, events = found
        return render(request, "trail.html", secret=secret, events=events, now=now)

    @get("/dashboard/secrets/{secret_id:str}/revoke")
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
            return not_found_page(request)
        return render(
            request,
            "revoke_confirm.html",
            "fragments/dashboard_row.html",
            secret=secret,
            now=now,
            confirming=True,
        )

    @get("/dashboard/secrets/{secret_id:str}")
    async def row(
        self,
        request: HTMXRequest,
        secret_id: str,
        user: User,
        now: datetime,
    ) -> Template | Redirect:
        """One row of "My secrets" for htmx ("No, keep it"); the list itself otherwise."""
        secret = await dashboard.find_my_secret(user, secret_id)
        return not_found_page(request) if secret is None else _row(request, secret, now)

    @post("/s/{secret_id:str}/revoke", status_code=200, opt={SIGN_IN_NEXT: "/s/{secret_id}"})
    async def revoke(
        self,
        request: HTMXRequest,
        secret_id: str,
        data: Form,
        user: User,
        now: datetime,
        client: ClientInfo,
    ) -> Template | Redirect:
        revoked = await secrets.revoke_secret(
            secret_id=secret_id, user=user, now=now, client=client
        )
        if data.get("view") == "dashboard":
            # Already opened or expired meanwhile: the row shows its real state instead.
            secret = await dashboard.find_my_secret(user, secret_id)
            # Not the creator's: the same answer as for an unknown link, and nothing changed.
            return unavailable_page(request) if secret is None else _row(request, secret, now)
        if not revoked:
            return unavailable_page(request)
        summary = await secrets.find_secret(secret_id)
        return render(request, "secret_status.html", secret=summary, now=now)
