"""HTTP for guest invitations: staff invite and receive; a guest sends one secret without an account.

The guest's token is in the path (/i/<token>) so the link works without JavaScript; nothing
here logs a path, and every answer for a dead invitation is the same page.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from app import crypto
from app.auth.identity import User
from app.auth.rules import may_invite
from app.i18n import N_
from app.services import downloads, invitations
from app.services.audit import AuditAction, ClientInfo, record
from app.services.secrets import ByMasterKeys
from app.settings import Settings
from app.web import csrf
from app.web.downloads import file_attachment
from app.web.forms import FormResult, file_status, parse_guest_form, parse_invitation_form
from app.web.guards import REQUIRES, SIGN_IN_NEXT, Access, not_staff
from app.web.responses import ErrorPage, render
from app.web.upload import FormRefused, ReceivedForm, Refusal, secret_form

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
INVITATIONS_PATH = "/invitations"


def invitation_link(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/i/{token}"


# Used, expired, revoked and unknown all answer exactly this.
invitation_unavailable = ErrorPage(
    404,
    N_("This invitation is not available"),
    N_(
        "This invitation has been used or has expired. "
        "Ask the person who invited you for a new link."
    ),
)


async def _page_context(user: User, now: datetime, form: FormResult) -> dict[str, Any]:
    return {
        "form": form,
        "open_invitations": await invitations.list_open_invitations(user, now),
        "received": await invitations.list_received(user),
        "now": now,
    }


class InvitationController(Controller):
    """SecretUnavailable, NotForYou and CannotOpen from the services, and FormRefused from a
    streamed form, answer with the same pages on every route (app.web.errors)."""

    opt: Mapping[str, Any] = {SIGN_IN_NEXT: INVITATIONS_PATH}

    @get(INVITATIONS_PATH, opt={REQUIRES: Access.STAFF})
    async def overview(
        self, request: Request[Any, Any, Any], user: User, now: datetime
    ) -> Template:
        context = await _page_context(user, now, FormResult(values={}))
        return render(request, "invitations.html", **context)

    @post(INVITATIONS_PATH, status_code=200, opt={REQUIRES: Access.SIGNED_IN})
    async def create(
        self,
        request: HTMXRequest,
        data: Form,
        user: User,
        settings: Settings,
        now: datetime,
        client: ClientInfo,
    ) -> Template:
        if not may_invite(user):
            # Not Access.STAFF: a signed-in person's try to invite is on the trail.
            await record(
                AuditAction.INVITATION_CREATE_REFUSED,
                at=now,
                actor=user.label,
                outcome="refused",
                client=client,
                reason="not_staff",
            )
            raise not_staff()
        result, form = parse_invitation_form(data)
        if form is None:
            context = await _page_context(user, now, result)
            return render(
                request,
                "invitations.html",
                "fragments/invitation_form.html",
                status_code=400,
                **context,
            )
        created = await invitations.create_invitation(
            creator=user, label=form.label, expires_in=form.expires_in, now=now, client=client
        )
        return render(
            request,
            "invitation_created.html",
            "fragments/invitation_created.html",
            link=invitation_link(settings, created.token),
            created=created,
            label=form.label,
            # htmx swaps the form only; the list below it is refreshed out of band.
            oob=bool(request.htmx),
            open_invitations=await invitations.list_open_invitations(user, now),
        )

    @post(
        INVITATIONS_PATH + "/{invitation_id:str}/revoke",
        status_code=200,
        opt={REQUIRES: Access.STAFF},
    )
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        invitation_id: str,
        user: User,
        now: datetime,
        client: ClientInfo,
    ) -> Template:
        revoked = await invitations.revoke_invitation(
            invitation_id=invitation_id, user=user, now=now, client=client
        )
        if not revoked:
            return invitation_unavailable(request)
        context = await _page_context(user, now, FormResult(values={}))
        return render(request, "invitations.html", "fragments/open_invitations.html", **context)

    @get("/i/{token:str}")
    async def guest_form(
        self, request: Request[Any, Any, Any], token: str, now: datetime, client: ClientInfo
    ) -> Template:
        # Reads and audits only: link previews and mail scanners must not use the invitation up.
        invitation = await invitations.find_open_invitation(token, now)
        if invitation is None:
            return invitation_unavailable(request)
        await invitations.record_opened(invitation, now, client)
        return render(
            request,
            "guest.html",
            invitation=invitation,
            token=token,
            form=FormResult(values={}),
            now=now,
        )

    # Multipart bodies are read as a stream (app.web.upload), which checks CSRF itself.
    @post(
        "/i/{token:str}",
        status_code=200,
        request_max_body_size=None,
        opt={csrf.CHECKED_BY_READER: True},
    )
    async def guest_submit(
        self,
        request: Request[Any, Any, Any],
        token: str,
        settings: Settings,
        now: datetime,
        client: ClientInfo,
    ) -> Template:
        # Guests have no link: the server makes K, seals (the file as it arrives), wraps K.
        link_key = crypto.new_key()

        async def guest_keys(fields: dict[str, str]) -> crypto.DerivedKeys:
            return crypto.derive_keys(link_key)

        async with secret_form(
            request, max_file_bytes=settings.max_file_bytes, make_keys=guest_keys
        ) as received:
            if received.file is not None and "ciphertext" in received.fields:
                raise FormRefused(Refusal.UNREADABLE)
            return await self._guest_submit(
                request, token, received, link_key, settings, now, client
            )

    async def _guest_submit(
        self,
        request: Request[Any, Any, Any],
        token: str,
        received: ReceivedForm,
        link_key: bytes,
        settings: Settings,
        now: datetime,
        client: ClientInfo,
    ) -> Template:
        result, content = parse_guest_form(received.fields, settings, file_status(received))
        if content is None:
            invitation = await invitations.find_open_invitation(token, now)
            if invitation is None:
                return invitation_unavailable(request)
            return render(
                request,
                "guest.html",
                "fragments/guest_form.html",
                status_code=400,
                invitation=invitation,
                token=token,
                form=result,
                now=now,
            )
        try:
            invitation = await invitations.submit_guest_secret(
                token=token,
                content=content,
                now=now,
                master_keys=settings.secret_keys,
                client=client,
                link_key=link_key,
                file=received.file,
            )
        except invitations.InvitationUnavailable:
            return invitation_unavailable(request)
        return render(
            request, "guest_sent.html", "fragments/guest_sent.html", invitation=invitation
        )

    @post("/received/{secret_id:str}/reveal", status_code=200, opt={REQUIRES: Access.SIGNED_IN})
    async def reveal_received(
        self,
        request: HTMXRequest,
        secret_id: str,
        user: User,
        settings: Settings,
        now: datetime,
        client: ClientInfo,
    ) -> Template | Response[Any]:
        # Anyone signed in reaches the service, so a customer's or colleague's try is audited.
        revealed = await invitations.reveal_guest_secret(
            secret_id=secret_id,
            viewer=user,
            now=now,
            master_keys=settings.secret_keys,
            client=client,
        )
        if revealed.file is not None and not revealed.content and not request.htmx:
            # JavaScript off and only a file: the reveal answers with the file itself.
            return file_attachment(downloads.from_reveal(secret_id, revealed.file))
        return render(
            request,
            "received_revealed.html",
            "fragments/received_revealed.html",
            revealed=revealed,
            secret_id=secret_id,
            download_action=f"/received/{secret_id}/file",
        )

    @post("/received/{secret_id:str}/file", status_code=200, opt={REQUIRES: Access.SIGNED_IN})
    async def download_received(
        self,
        request: Request[Any, Any, Any],
        secret_id: str,
        data: Form,
        user: User,
        settings: Settings,
        now: datetime,
    ) -> Response[Any]:
        """A guest's file, inside the window after its reveal, opened with the wrapped key."""
        ticket = data.get("ticket")
        download = await downloads.open_download(
            secret_id=secret_id,
            viewer=user,
            now=now,
            ticket=ticket if isinstance(ticket, str) and ticket else None,
            opener=ByMasterKeys(settings.secret_keys),
        )
        return file_attachment(download)
