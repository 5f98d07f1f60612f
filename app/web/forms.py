"""Parse and validate submitted forms into domain values, with translated per-field errors.

A refused form is shown again with everything the person typed, so nothing is lost.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from app import crypto
from app.auth.identity import User
from app.auth.rules import Recipient
from app.i18n import _
from app.services import invitations
from app.services.secrets import DEFAULT_EXPIRY, EXPIRY_CHOICES, MAX_VIEWS, SealedSecret
from app.settings import Settings
from app.web.upload import ReceivedForm

MAX_PASSPHRASE_CHARS = 200

EMAIL_PATTERN = re.compile(
    # No control characters (NUL included: PostgreSQL text refuses it) in the local part.
    r"^[^@\s\x00-\x1f\x7f<>\"',;:()\[\]\\]{1,64}@[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)+$"
)


@dataclass
class FormResult:
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def is_blank(self) -> bool:
        return not self.values and not self.errors


BLANK_FORM = FormResult(values={})


@dataclass(frozen=True)
class SecretForm:
    content: str | SealedSecret  # plaintext without JS; what the browser sealed with JS
    recipient: Recipient
    expires_in: timedelta
    max_views: int
    passphrase: str = ""  # no-JS path only: the browser never sends it
    label: str = ""  # the creator's private note


def _text(form: Mapping[str, object], name: str, limit: int = 400) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def normalise_email(raw: str) -> str | None:
    email = raw.strip().lower()
    if len(email) > 254 or not EMAIL_PATTERN.match(email):
        return None
    return email


class FileStatus(StrEnum):
    NONE = "none"
    ATTACHED = "attached"
    EMPTY = "empty"


def file_status(received: ReceivedForm) -> FileStatus:
    if received.file is not None:
        return FileStatus.ATTACHED
    return FileStatus.EMPTY if received.file_empty else FileStatus.NONE


def _check_file(file: FileStatus, result: FormResult) -> None:
    if file is FileStatus.EMPTY:
        result.errors["file"] = _("The file is empty. Choose a file that has something in it.")


def parse_content(
    form: Mapping[str, object],
    settings: Settings,
    result: FormResult,
    file: FileStatus = FileStatus.NONE,
) -> str:
    raw = form.get("content")
    content = raw if isinstance(raw, str) else ""
    # Keep what was typed (bounded) so the re-shown form loses nothing.
    result.values["content"] = content[: settings.max_secret_chars * 2]
    _check_file(file, result)
    if not content.strip() and file is FileStatus.ATTACHED:
        content = ""  # a file alone is a secret too
    elif not content.strip() and file is FileStatus.NONE:
        result.errors["content"] = _("Type the secret you want to share, or choose a file.")
    elif len(content) > settings.max_secret_chars:
        result.errors["content"] = _(
            "The secret is too long: at most %(limit)s characters (you typed %(count)s).",
            limit=f"{settings.max_secret_chars:,}",
            count=f"{len(content):,}",
        )
    return content


def parse_passphrase(form: Mapping[str, object], result: FormResult) -> str:
    raw = form.get("passphrase")
    passphrase = raw if isinstance(raw, str) else ""
    result.values["passphrase"] = passphrase[: MAX_PASSPHRASE_CHARS * 2]
    if len(passphrase) > MAX_PASSPHRASE_CHARS:
        result.errors["passphrase"] = _(
            "The passphrase is too long: at most %(limit)s characters.",
            limit=MAX_PASSPHRASE_CHARS,
        )
    return passphrase


def _b64u_field(form: Mapping[str, object], name: str, limit: int) -> bytes | None:
    raw = form.get(name)
    if not isinstance(raw, str) or not raw or len(raw) > limit:
        return None
    return crypto.b64u_decode(raw)


def parse_browser_sealed(
    form: Mapping[str, object],
    settings: Settings,
    result: FormResult,
    file: FileStatus = FileStatus.NONE,
) -> SealedSecret | None:
    """The JS path's fields: ciphertext, nonce, format, proof, optional kdf_salt; no plaintext."""
    # Safe Share counts characters; UTF-8 takes at most 4 bytes for one, plus GCM's tag.
    max_bytes = settings.max_secret_chars * 4 + crypto.GCM_TAG_BYTES
    raw_ciphertext = form.get("ciphertext")
    if isinstance(raw_ciphertext, str) and len(raw_ciphertext) > (max_bytes * 4 + 2) // 3:
        result.errors["content"] = _(
            "The secret is too long: at most %(limit)s characters.",
            limit=f"{settings.max_secret_chars:,}",
        )
        return None
    if form.get("format") != str(crypto.FORMAT_V2):
        result.errors["content"] = _(
            "Your browser encrypted the secret in a format Safe Share does not know. "
            "Reload the page and try again."
        )
        return None
    ciphertext = _b64u_field(form, "ciphertext", (max_bytes * 4 + 2) // 3)
    nonce = _b64u_field(form, "nonce", 16)
    proof = _b64u_field(form, "proof", crypto.PROOF_TEXT_LENGTH)
    has_salt = bool(form.get("kdf_salt"))
    salt = _b64u_field(form, "kdf_salt", 24) if has_salt else None
    if (
        ciphertext is None
        or len(ciphertext) < crypto.GCM_TAG_BYTES
        or nonce is None
        or len(nonce) != crypto.GCM_NONCE_BYTES
        or proof is None
        or len(proof) != crypto.PROOF_BYTES
        or (has_salt and (salt is None or len(salt) != crypto.SALT_BYTES))
    ):
        result.errors["content"] = _(
            "Your browser sent an encrypted secret Safe Share cannot read. "
            "Reload the page and try again."
        )
        return None
    _check_file(file, result)
    if len(ciphertext) == crypto.GCM_TAG_BYTES and file is FileStatus.NONE:
        result.errors["content"] = _("Type the secret you want to share, or choose a file.")
        return None
    return SealedSecret(crypto.Sealed(nonce, ciphertext), proof, salt)


def expiry_value(choice: timedelta) -> str:
    """An expiry as the forms send it: whole seconds."""
    return str(int(choice.total_seconds()))


def _read_expiry(form: Mapping[str, object], result: FormResult) -> timedelta | None:
    raw = _text(form, "expires_in", 20).strip() or expiry_value(DEFAULT_EXPIRY)
    result.values["expires_in"] = raw
    return {expiry_value(choice): choice for choice in EXPIRY_CHOICES}.get(raw)


def parse_expiry(form: Mapping[str, object], result: FormResult) -> timedelta:
    expires_in = _read_expiry(form, result)
    if expires_in is None:
        result.errors["expires_in"] = _(
            "Choose how long the secret lives: 1 hour, 1 day or 7 days."
        )
        return DEFAULT_EXPIRY
    return expires_in


def parse_secret_form(
    form: Mapping[str, object], user: User, settings: Settings, file: FileStatus = FileStatus.NONE
) -> tuple[FormResult, SecretForm | None]:
    result = FormResult(values={})
    content: str | SealedSecret | None
    passphrase = ""
    if "ciphertext" in form:
        # Encrypted in the browser: the server never sees the text, K or the passphrase.
        content = parse_browser_sealed(form, settings, result, file)
    else:
        content = parse_content(form, settings, result, file)
        passphrase = parse_passphrase(form, result)
    expires_in = parse_expiry(form, result)

    raw_views = _text(form, "max_views", 20).strip() or "1"
    result.values["max_views"] = raw_views
    max_views = int(raw_views) if raw_views.isdigit() and len(raw_views) <= 3 else 0
    if not 1 <= max_views <= MAX_VIEWS:
        result.errors["max_views"] = _(
            "Choose how many times it may be opened: 1 to %(max)s.", max=MAX_VIEWS
        )

    recipient = Recipient()
    if user.is_staff:
        raw_email = _text(form, "recipient_email", 400)
        result.values["recipient_email"] = raw_email
        email = normalise_email(raw_email)
        if email is None:
            result.errors["recipient_email"] = _(
                "Type the recipient's email address, like name@example.com."
            )
        else:
            recipient = Recipient(email=email)
    else:
        group = _text(form, "recipient_group", 80).strip()
        result.values["recipient_group"] = group
        if group not in settings.groups:
            result.errors["recipient_group"] = _("Choose the team that should receive it.")
        else:
            recipient = Recipient(group=group)

    label = parse_label(form, result)
    if not result.ok or content is None:
        if file is FileStatus.ATTACHED:
            # A refused form keeps what was typed, but a file input cannot be filled again.
            result.errors["file"] = _("Choose the file again: it was not kept.")
        return result, None
    return result, SecretForm(content, recipient, expires_in, max_views, passphrase, label)


def extract_key(raw: str) -> str:
    """Accept the bare key or the whole link pasted into the key field."""
    text = raw.strip()
    return text.rpartition("#")[2] if "#" in text else text


@dataclass(frozen=True)
class RevealForm:
    proof: bytes | None  # JS path: the proof the browser derived (None when malformed)
    by_proof: bool
    link_key: bytes | None  # no-JS path: the pasted key (None when it is not a key)
    passphrase: str
    kdf_salt: bytes | None
    passphrase_missing: bool


def parse_reveal_form(form: Mapping[str, object]) -> RevealForm:
    proof_text = _text(form, "proof", 100)
    key_text = extract_key(_text(form, "key", 2000))
    passphrase = _text(form, "passphrase", MAX_PASSPHRASE_CHARS)
    salt = _b64u_field(form, "kdf_salt", 24)
    return RevealForm(
        proof=crypto.decode_proof(proof_text),
        by_proof="proof" in form,
        link_key=crypto.decode_key(key_text),
        passphrase=passphrase,
        kdf_salt=salt if salt is not None and len(salt) == crypto.SALT_BYTES else None,
        passphrase_missing="kdf_salt" in form and not passphrase,
    )


@dataclass(frozen=True)
class InvitationForm:
    label: str
    expires_in: timedelta


def parse_label(form: Mapping[str, object], result: FormResult) -> str:
    """An optional private label (invitations, secrets): one line of plain text."""
    raw_label = _text(form, "label", invitations.MAX_LABEL_CHARS * 2)
    result.values["label"] = raw_label
    # Control characters (line breaks included) become spaces.
    label = " ".join("".join(c if c.isprintable() else " " for c in raw_label).split())
    if len(label) > invitations.MAX_LABEL_CHARS:
        result.errors["label"] = _(
            "The label is too long: at most %(limit)s characters.",
            limit=invitations.MAX_LABEL_CHARS,
        )
    return label


def parse_invitation_form(form: Mapping[str, object]) -> tuple[FormResult, InvitationForm | None]:
    result = FormResult(values={})
    label = parse_label(form, result)
    expires_in = _read_expiry(form, result)
    if expires_in is None:
        result.errors["expires_in"] = _(
            "Choose how long the invitation stays open: 1 hour, 1 day or 7 days."
        )
    if not result.ok or expires_in is None:
        return result, None
    return result, InvitationForm(label, expires_in)


def parse_guest_form(
    form: Mapping[str, object], settings: Settings, file: FileStatus = FileStatus.NONE
) -> tuple[FormResult, str | None]:
    result = FormResult(values={})
    content = parse_content(form, settings, result, file)
    if not result.ok and file is FileStatus.ATTACHED:
        result.errors["file"] = _("Choose the file again: it was not kept.")
    return result, (content if result.ok else None)
