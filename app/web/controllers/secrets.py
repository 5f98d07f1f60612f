"""HTTP for secrets: create, the link page (GET changes nothing), reveal in place; revoking is
on the creator's own pages (controllers/dashboard.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from app import crypto
from app.auth.identity import User
from app.auth.rules import NotAllowed, may_open
from app.i18n import _
from app.services import downloads, secrets
from app.services.audit import AuditAction, ClientInfo, record, record_once
from app.settings import Settings
from app.web import csrf
from app.web.dependencies import (
    posted_form,
    provide_client,
    provide_now,
    provide_settings,
    signed_in_user,
)
from app.web.downloads import file_attachment, sealed_stream
from app.web.forms import file_status, parse_reveal_form, parse_secret_form
from app.web.guards import REQUIRES, SIGN_IN_NEXT, Access
from app.web.responses import error_page, not_for_you, render, unavailable_page
from app.web.upload import FormRefused, ReceivedForm, Refusal, secret_form

# A non-recipient reloading a link is audited once per hour, not once per reload.
REPEAT_COALESCE = timedelta(hours=1)
Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def secret_link(settings: Settings, secret_id: str) -> str:
    return f"{settings.base_url}/s/{secret_id}"


class SecretController(Controller):
    """SecretUnavailable, NotForYou and CannotOpen from the services, and FormRefused from a
    streamed form, answer with the same pages on every route (app.web.errors)."""

    opt: Mapping[str, Any] = {REQUIRES: Access.SIGNED_IN, SIGN_IN_NEXT: "/s/{secret_id}"}

    # Multipart bodies are read as a stream (app.web.upload), which checks CSRF itself.
    @post(
        "/secrets",
        status_code=200,
        request_max_body_size=None,
        opt={csrf.CHECKED_BY_READER: True, SIGN_IN_NEXT: "/"},
    )
    async def create(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        # The hot routes read the person, time, client, settings and form from the request
        # instead of having them injected: Litestar resolves injected values (and checks a
        # form against the signature) per request, which cost more than the work itself.
        settings, now, client = (
            provide_settings(request),
            provide_now(request),
            provide_client(request),
        )
        user = signed_in_user(request)
        made: list[secrets.ServerKeys] = []

        async def server_keys(fields: dict[str, str]) -> crypto.DerivedKeys:
            # JavaScript off: the file is sealed as it arrives, under the keys the text gets too.
            made.append(await secrets.make_server_keys(fields.get("passphrase", "")))
            return made[0].keys

        async with secret_form(
            request, max_file_bytes=settings.max_file_bytes, make_keys=server_keys
        ) as received:
            if ("ciphertext" in received.fields) == bool(made) and received.file is not None:
                # Text and file sealed under different keys (one by the browser, one here).
                raise FormRefused(Refusal.UNREADABLE)
            return await self._create(
                request, received, made[0] if made else None, user, settings, now, client
            )

    async def _create(
        self,
        request: Request[Any, Any, Any],
        received: ReceivedForm,
        server_keys: secrets.ServerKeys | None,
        user: User,
        settings: Settings,
        now: datetime,
        client: ClientInfo,
    ) -> Template | Redirect:
        data = received.fields
        forged = data.get("recipient_email") if not user.is_staff else data.get("recipient_group")
        if forged or user.email is None:
            # The form never offers this: a customer addressing an email is a forged request.
            await record(
                AuditAction.SECRET_CREATE_REFUSED,
                at=now,
                actor=user.label,
                outcome="refused",
                client=client,
                target=str(forged or "")[:320],
                reason="customer_addressed_email" if not user.is_staff else "staff_addressed_group",
            )
            return error_page(
                request,
                403,
                _("Not allowed"),
                _("You can only share with the recipients this form offers."),
            )
        result, form = parse_secret_form(data, user, settings, file_status(received))
        if form is None:
            return render(
                request,
                "home.html",
                "fragments/create_form.html",
                status_code=400,
                form=result,
            )
        try:
            created = await secrets.create_secret(
                content=form.content,
                passphrase=form.passphrase,
                recipient=form.recipient,
                creator=user,
                expires_in=form.expires_in,
                max_views=form.max_views,
                now=now,
                client=client,
                server_keys=server_keys,
                file=received.file,
                label=form.label,
            )
        except NotAllowed:
            return error_page(
                request, 403, _("Not allowed"), _("You cannot share with this recipient.")
            )
        return render(
            request,
            "created.html",
            "fragments/created.html",
            link=secret_link(settings, created.id),
            key=created.key,
            created=created,
            recipient=form.recipient,
            file_size=received.file.size if received.file else None,
        )

    @get("/s/{secret_id:str}")
    async def show(self, request: Request[Any, Any, Any], secret_id: str) -> Template | Redirect:
        now, client = provide_now(request), provide_client(request)
        user = signed_in_user(request)
        # Changes nothing: link previews and mail scanners must never consume a secret.
        summary = await secrets.find_secret(secret_id)
        if summary is None:
            return unavailable_page(request)
        if summary.is_guest_submission:
            # Guest secrets have no link: their key is wrapped on the server, opened from the list.
            return (
                unavailable_page(request)
                if not is_recipient(user, summary)
                else Redirect("/invitations")
            )
        is_creator = user.email is not None and summary.creator_email == user.email
        if summary.is_waiting(now) and may_open(
            user, summary.recipient.email, summary.recipient.group
        ):
            return render(
                request,
                "secret.html",
                secret=summary,
                key_error=None,
                passphrase_error=None,
                now=now,
            )
        if summary.file_size is not None and summary.may_download(user, now):
            # A broken download may be fetched again by its viewer, for a short while.
            return render(request, "download_again.html", secret=summary)
        if is_creator:
            return render(request, "secret_status.html", secret=summary, now=now)
        if summary.is_waiting(now):
            await record_once(
                AuditAction.SECRET_REFUSED,
                at=now,
                actor=user.label,
                outcome="refused",
                client=client,
                secret_id=summary.id,
                target=summary.recipient.label,
                reason="wrong_person",
                within=REPEAT_COALESCE,
            )
            return not_for_you(request, f"/s/{secret_id}")
        return unavailable_page(request)

    @post("/s/{secret_id:str}/reveal", status_code=200)
    async def reveal(
        self, request: Request[Any, Any, Any], secret_id: str
    ) -> Template | Response[Any]:
        now, client = provide_now(request), provide_client(request)
        data, user = posted_form(request), signed_in_user(request)
        form = parse_reveal_form(data)
        if form.passphrase_missing:
            # Nothing tried, nothing spent: the form asks for what is missing.
            return await _reveal_form_again(
                request, secret_id, now, passphrase_error=_("Type the passphrase you were given.")
            )
        opener: secrets.Opener
        if form.by_proof:
            opener = secrets.ByProof(form.proof)
        else:
            opener = await secrets.by_link_key(form.link_key, form.passphrase, form.kdf_salt)
        try:
            revealed = await secrets.reveal_secret(
                secret_id=secret_id, opener=opener, viewer=user, now=now, client=client
            )
        except secrets.WrongKey:
            return await _reveal_form_again(request, secret_id, now, wrong_key=True)
        file = revealed.file
        if file is not None and file.file_key is not None and not revealed.content:
            # JavaScript off and only a file: the reveal answers with the file itself.
            return file_attachment(downloads.from_reveal(secret_id, file))
        return render(
            request,
            "revealed.html",
            "fragments/revealed.html",
            revealed=revealed,
            in_place=True,
            download_action=f"/s/{secret_id}/file",
            key=data.get("key") if file is not None and file.file_key is not None else None,
            passphrase=form.passphrase if file is not None and file.file_key is not None else "",
        )

    @post("/s/{secret_id:str}/file", status_code=200)
    async def download(
        self,
        secret_id: str,
        data: Form,
        user: User,
        now: datetime,
    ) -> Response[Any]:
        """The file again, inside the window after its view: sealed for the browser to open
        (with the reveal's ticket), or opened here with the link's key (JavaScript off)."""
        ticket = data.get("ticket")
        sealed = data.get("sealed") == "1"
        opener: secrets.ByLinkKey | None = None
        if not sealed:
            form = parse_reveal_form(data)
            salt = await downloads.kdf_salt(secret_id)
            opener = await secrets.by_link_key(form.link_key, form.passphrase, salt)
        download = await downloads.open_download(
            secret_id=secret_id,
            viewer=user,
            now=now,
            ticket=ticket if isinstance(ticket, str) and ticket else None,
            opener=opener,
        )
        return sealed_stream(download) if sealed else file_attachment(download)


async def _reveal_form_again(
    request: Request[Any, Any, Any],
    secret_id: str,
    now: datetime,
    *,
    wrong_key: bool = False,
    passphrase_error: str | None = None,
) -> Template:
    summary = await secrets.find_secret(secret_id)
    if summary is None:
        return unavailable_page(request)
    key_error = None
    if wrong_key and summary.has_passphrase:
        key_error = _(
            "This key or passphrase does not open the secret. Check the passphrase, and copy the whole link, including the part after #, or paste the key you were sent."
        )
    elif wrong_key:
        key_error = _(
            "This key does not open the secret. Copy the whole link, including the part after #, or paste the key you were sent."
        )
    return render(
        request,
        "secret.html",
        "fragments/reveal_form.html",
        status_code=400,
        secret=summary,
        now=now,
        key_error=key_error,
        passphrase_error=passphrase_error,
    )


def is_recipient(user: User, summary: secrets.SecretSummary) -> bool:
    return may_open(user, summary.recipient.email, summary.recipient.group)
