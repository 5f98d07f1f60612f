"""The life of a secret: create → seal → store → (link) → authorise → reveal → delete.

Format 2 (docs/FORMAT.md): with JavaScript the browser seals and sends ciphertext and a reveal
proof; without it the server makes the link key K here, seals, returns K once for the link and
forgets it. Only a hash of the proof is stored. Reveal runs in one transaction that locks the
row, checks the recipient, then the proof in constant time, so concurrent reveals never exceed
the allowed views; a wrong person, key, proof or passphrase rolls back and spends no view.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from piccolo.query.base import Query
from piccolo.query.methods.update import Update

from app import crypto, filecrypto
from app.auth.identity import User
from app.auth.rules import Recipient, check_may_address, may_open
from app.db.engine import write_transaction
from app.db.prepared import Prepared
from app.db.tables import GUEST_ROLE, AuditEvent, Secret
from app.lifecycle import SecretState
from app.services import audit, files
from app.services.audit import AuditAction, ClientInfo

# The one list of lifetimes and view limits: forms, templates and validators all read these.
EXPIRY_CHOICES: tuple[timedelta, ...] = (timedelta(hours=1), timedelta(days=1), timedelta(days=7))
DEFAULT_EXPIRY = timedelta(days=1)
MAX_VIEWS = 10


class SecretUnavailable(Exception):
    """Unknown, used, expired or revoked: deliberately indistinguishable."""


class NotForYou(Exception):
    """The secret is waiting, but for someone else."""


class WrongKey(Exception):
    """The key, proof or passphrase does not open this secret."""


class CannotOpen(Exception):
    """The right key, but the stored data does not authenticate (altered, or an unknown format)."""


class EncryptedBy(StrEnum):
    BROWSER = "browser"
    SERVER = "server"


@dataclass(frozen=True)
class SealedSecret:
    """Format 2, ready to store: from the browser (JS) or from seal_on_server (no JS)."""

    sealed: crypto.Sealed
    proof: bytes
    kdf_salt: bytes | None


@dataclass(frozen=True)
class ByProof:
    """JS path: the browser derived the proof from K; the answer is the ciphertext."""

    proof: bytes | None  # None: malformed, refused like a wrong proof


@dataclass(frozen=True)
class ByLinkKey:
    """No-JS path (and every format-1 row): the server derives from the pasted key."""

    key: bytes | None  # None: not a key at all
    stretched_passphrase: bytes | None = None


@dataclass(frozen=True)
class ByMasterKeys:
    """Guest submissions: K is stored wrapped by the master key."""

    master_keys: Sequence[bytes]


Opener = ByProof | ByLinkKey | ByMasterKeys


@dataclass(frozen=True)
class CreatedSecret:
    id: str
    key: str | None  # url-safe text for the link fragment; None when the browser holds K
    expires_at: datetime
    max_views: int
    encrypted_by: EncryptedBy
    has_passphrase: bool


@dataclass(frozen=True)
class SecretSummary:
    """What the pages show of a secret: its tombstone columns, never content or keys."""

    id: str
    state: SecretState  # as stored; current_state() counts expiry the sweeper has not marked
    creator_email: str
    recipient: Recipient
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None
    views_left: int
    max_views: int
    opened_at: datetime | None
    opened_by: str | None
    is_guest_submission: bool
    format_version: int
    kdf_salt: bytes | None
    encrypted_by: EncryptedBy
    file_size: int | None = None  # shown as "file, 2.3 MB"; the name is encrypted
    file_viewer: str | None = None
    file_until: datetime | None = None
    label: str = ""  # the creator's private note: read only for the creator's own pages

    @property
    def has_passphrase(self) -> bool:
        return self.kdf_salt is not None

    @property
    def kdf_salt_text(self) -> str:
        return crypto.b64u_encode(self.kdf_salt) if self.kdf_salt else ""

    def is_waiting(self, now: datetime) -> bool:
        return self.state is SecretState.WAITING and self.expires_at > now

    def current_state(self, now: datetime) -> SecretState:
        # Expiry counts from the moment it passes, whether or not the sweeper has run yet.
        if self.state is SecretState.WAITING and self.expires_at <= now:
            return SecretState.EXPIRED
        return self.state

    def ended_at(self) -> datetime:
        return self.closed_at or self.expires_at

    def may_download(self, viewer: User, now: datetime) -> bool:
        """Inside the window after the view that released the file, for that viewer only."""
        return (
            self.file_viewer == viewer.label
            and self.file_until is not None
            and self.file_until > now
        )


@dataclass(frozen=True)
class RevealedFile:
    size: int
    prefix: bytes
    sealed_meta: bytes  # the browser opens it with the content key (JS path)
    ticket: str  # fetches the chunks inside the download window; only its hash is stored
    meta: filecrypto.FileMeta | None = None  # opened here (no-JS path and guests)
    file_key: bytes | None = None


@dataclass(frozen=True)
class RevealedSecret:
    content: str | None  # None on the JS path: the browser decrypts `sealed`
    views_left: int
    sealed: crypto.Sealed | None = None
    encrypted_by: EncryptedBy = EncryptedBy.SERVER
    file: RevealedFile | None = None

    @property
    def nonce_text(self) -> str:
        return crypto.b64u_encode(self.sealed.nonce) if self.sealed else ""

    @property
    def ciphertext_text(self) -> str:
        return crypto.b64u_encode(self.sealed.ciphertext) if self.sealed else ""


# Never the label: the link page must not carry the creator's private note (see OWNER_COLUMNS).
SUMMARY_COLUMNS = (
    Secret.id,
    Secret.state,
    Secret.creator_email,
    Secret.recipient_email,
    Secret.recipient_group,
    Secret.created_at,
    Secret.expires_at,
    Secret.closed_at,
    Secret.views_left,
    Secret.max_views,
    Secret.opened_at,
    Secret.opened_by,
    Secret.invitation_id,
    Secret.format_version,
    Secret.kdf_salt,
    Secret.encrypted_by,
    Secret.file_size,
    Secret.file_viewer,
    Secret.file_until,
)
OWNER_COLUMNS = (*SUMMARY_COLUMNS, Secret.label)


def summary_of(row: dict[str, Any]) -> SecretSummary:
    return SecretSummary(
        id=row["id"],
        state=SecretState(row["state"]),
        creator_email=row["creator_email"],
        recipient=Recipient(email=row["recipient_email"], group=row["recipient_group"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        closed_at=row["closed_at"],
        views_left=row["views_left"],
        max_views=row["max_views"],
        opened_at=row["opened_at"],
        opened_by=row["opened_by"],
        is_guest_submission=row["invitation_id"] is not None,
        format_version=row["format_version"],
        kdf_salt=row["kdf_salt"],
        encrypted_by=EncryptedBy(row["encrypted_by"]),
        file_size=row["file_size"],
        file_viewer=row["file_viewer"],
        file_until=row["file_until"],
        label=row.get("label") or "",
    )


async def stretch_passphrase(passphrase: str, salt: bytes) -> bytes:
    # PBKDF2 is deliberately slow: it runs in a thread so the event loop keeps serving.
    return await asyncio.to_thread(crypto.stretch_passphrase, passphrase, salt)


async def by_link_key(key: bytes | None, passphrase: str, kdf_salt: bytes | None) -> ByLinkKey:
    """The no-JS opener: the pasted key, with the passphrase stretched when the secret has one."""
    stretched = None
    if key is not None and kdf_salt is not None and passphrase:
        stretched = await stretch_passphrase(passphrase, kdf_salt)
    return ByLinkKey(key, stretched)


@dataclass(frozen=True)
class ServerKeys:
    """The no-JS path's K, salt and derived keys: made before an upload is sealed with them."""

    link_key: bytes
    kdf_salt: bytes | None
    keys: crypto.DerivedKeys


async def make_server_keys(passphrase: str) -> ServerKeys:
    link_key = crypto.new_key()
    salt = crypto.new_salt() if passphrase else None
    stretched = await stretch_passphrase(passphrase, salt) if salt else None
    return ServerKeys(link_key, salt, crypto.derive_keys(link_key, stretched))


async def seal_on_server(
    content: str, passphrase: str, server_keys: ServerKeys | None = None
) -> tuple[bytes, SealedSecret]:
    """The no-JS path does the browser's steps: K, (P), derive, seal. Returns K and the result."""
    server = server_keys or await make_server_keys(passphrase)
    sealed = crypto.seal_text(content.encode(), server.keys.content_key)
    return server.link_key, SealedSecret(sealed, server.keys.proof, server.kdf_salt)


async def create_secret(
    *,
    content: str | SealedSecret,
    passphrase: str = "",
    recipient: Recipient,
    creator: User,
    expires_in: timedelta,
    max_views: int,
    now: datetime,
    client: ClientInfo,
    server_keys: ServerKeys | None = None,
    file: files.SpooledFile | None = None,
    label: str = "",
) -> CreatedSecret:
    """`content` is the plaintext (no JS: sealed here) or what the browser sealed (JS); a file
    comes sealed already (under `server_keys`, or by the browser), its text may be empty."""
    check_may_address(creator, recipient)
    secret_id = crypto.new_id()
    link_key: bytes | None = None
    if isinstance(content, SealedSecret):
        sealed, encrypted_by = content, EncryptedBy.BROWSER
    else:
        link_key, sealed = await seal_on_server(content, passphrase, server_keys)
        encrypted_by = EncryptedBy.SERVER
    expires_at = now + expires_in
    row: dict[str, Any] = {
        "id": secret_id,
        "state": SecretState.WAITING.value,
        "nonce": sealed.sealed.nonce,
        "ciphertext": sealed.sealed.ciphertext,
        "format_version": crypto.FORMAT_V2,
        "proof_hash": crypto.hash_proof(sealed.proof),
        "kdf_salt": sealed.kdf_salt,
        "encrypted_by": encrypted_by.value,
        "file_size": file.size if file else None,
        "file_meta": file.meta if file else None,
        "file_prefix": file.prefix if file else None,
        "creator_email": creator.email,
        "creator_role": creator.role.value,
        "recipient_email": recipient.email,
        "recipient_group": recipient.group,
        "max_views": max_views,
        "views_left": max_views,
        "created_at": now,
        "expires_at": expires_at,
        "label": label,  # private: not in the audit row below
    }
    created = audit.event_values(
        AuditAction.SECRET_CREATED,
        at=now,
        actor=creator.label,
        client=client,
        secret_id=secret_id,
        target=recipient.label,
        reason=f"file:{file.size}" if file else "",
    )
    if file is None:
        # The secret and its audit row in one statement on PostgreSQL (one round trip).
        await audit.insert_with_event(Secret, row, created)
    else:
        async with write_transaction():
            await Secret.insert(Secret(**row))
            await files.store_chunks(secret_id, file)
            await AuditEvent.insert(AuditEvent(**created))
    return CreatedSecret(
        id=secret_id,
        key=crypto.encode_key(link_key) if link_key else None,
        expires_at=expires_at,
        max_views=max_views,
        encrypted_by=encrypted_by,
        has_passphrase=sealed.kdf_salt is not None,
    )


async def find_secret(secret_id: str) -> SecretSummary | None:
    """One query, no side effect: what the link page needs to show (never the content)."""
    if not crypto.plausible_id(secret_id):
        return None
    rows = await _FIND.run(Secret._meta.db, secret_id=secret_id)
    return summary_of(rows[0]) if rows else None


_FIND = Prepared(lambda secret_id: Secret.select(*SUMMARY_COLUMNS).where(Secret.id == secret_id))


async def reveal_secret(
    *,
    secret_id: str,
    viewer: User,
    now: datetime,
    client: ClientInfo,
    opener: Opener,
) -> RevealedSecret:
    """Open a secret for its recipient and count the view.

    Link secrets open with the browser's proof (JS) or the pasted key (no JS); a guest's
    secret has no link, and its key is unwrapped with the server's master keys instead.

    Two statements, no lock: read the row and check everything, then count the view with an
    update that holds only if the count is still the one read (with its audit row). When
    another reveal counted first, look again: each retry means a view was spent elsewhere,
    so concurrent reveals never exceed the allowed views, and a refusal spends none.
    """
    if not crypto.plausible_id(secret_id):
        raise SecretUnavailable
    for _attempt in range(MAX_VIEWS + 1):
        row = await _waiting_row(secret_id, now, isinstance(opener, ByMasterKeys))
        opened, file, counted = await _open_and_count(row, secret_id, viewer, now, client, opener)
        if counted:
            break
    else:
        raise SecretUnavailable
    views_left = row["views_left"] - 1
    encrypted_by = EncryptedBy(row["encrypted_by"])
    if isinstance(opened, crypto.Sealed):
        return RevealedSecret(None, views_left, sealed=opened, encrypted_by=encrypted_by, file=file)
    return RevealedSecret(
        content=opened.decode("utf-8", errors="replace"),
        views_left=views_left,
        encrypted_by=encrypted_by,
        file=file,
    )


_REVEAL_COLUMNS = (
    Secret.nonce,
    Secret.ciphertext,
    Secret.wrapped_key,
    Secret.format_version,
    Secret.proof_hash,
    Secret.encrypted_by,
    Secret.recipient_email,
    Secret.recipient_group,
    Secret.views_left,
    Secret.invitation_id,
    Secret.file_size,
    Secret.file_meta,
    Secret.file_prefix,
)


def _select_waiting(guest_submission: bool) -> Prepared:
    def build(secret_id: str, now: datetime) -> Query[Any, Any]:
        return Secret.select(*_REVEAL_COLUMNS).where(
            (Secret.id == secret_id)
            & (Secret.state == SecretState.WAITING.value)
            & (Secret.expires_at > now)
            # A link's key never opens a guest's secret, and the other way round.
            & (
                Secret.invitation_id.is_not_null()
                if guest_submission
                else Secret.invitation_id.is_null()
            )
        )

    return Prepared(build)


_SELECT_WAITING = {guest: _select_waiting(guest) for guest in (False, True)}


async def _waiting_row(secret_id: str, now: datetime, guest_submission: bool) -> dict[str, Any]:
    rows = await _SELECT_WAITING[guest_submission].run(
        Secret._meta.db, secret_id=secret_id, now=now
    )
    if not rows or rows[0]["ciphertext"] is None or rows[0]["views_left"] < 1:
        raise SecretUnavailable
    return rows[0]


async def _open_and_count(
    row: dict[str, Any],
    secret_id: str,
    viewer: User,
    now: datetime,
    client: ClientInfo,
    opener: Opener,
) -> tuple[bytes | crypto.Sealed, RevealedFile | None, bool]:
    """Check the recipient, then the key, then count the view; False if another reveal counted
    first. A refusal is audited and raised, and spends no view."""
    guest_submission = isinstance(opener, ByMasterKeys)
    target = row["recipient_email"] or row["recipient_group"] or ""
    try:
        # The recipient first, then the proof: nobody else learns whether a key is right.
        if not may_open(viewer, row["recipient_email"], row["recipient_group"], guest_submission):
            raise NotForYou
        opened = _open(row, secret_id, opener)
        file = _reveal_file(row, secret_id, opener)
    except (NotForYou, WrongKey, CannotOpen) as refusal:
        await audit.record(
            AuditAction.SECRET_REFUSED,
            at=now,
            actor=viewer.label,
            outcome="refused",
            client=client,
            secret_id=secret_id,
            target=target,
            reason=_REFUSAL_REASONS[type(refusal)],
        )
        raise
    views_left = row["views_left"] - 1
    revealed = audit.event_values(
        AuditAction.SECRET_REVEALED,
        at=now,
        actor=viewer.label,
        client=client,
        secret_id=secret_id,
        invitation_id=row["invitation_id"],
        target=target,
        reason="guest_secret" if guest_submission else "last_view" if not views_left else "",
    )
    counted = await _count_view(
        CountedView(
            secret_id=secret_id,
            seen_views=row["views_left"],
            views_left=views_left,
            viewer=viewer.label,
            now=now,
            ticket_hash=crypto.hash_token(file.ticket) if file else None,
            file_until=now + files.DOWNLOAD_WINDOW if file else None,
        ),
        revealed,
    )
    return opened, file, counted


_REFUSAL_REASONS: dict[type[Exception], str] = {
    NotForYou: "wrong_person",
    WrongKey: "wrong_key",
    CannotOpen: "cannot_open",
}


def _reveal_file(row: dict[str, Any], secret_id: str, opener: Opener) -> RevealedFile | None:
    """The file's part of a reveal (its key was checked with the text's): a download ticket,
    and, where the server holds the key (no JS, guests), the opened name and the file key."""
    if row["file_meta"] is None:
        return None
    file = RevealedFile(row["file_size"], row["file_prefix"], row["file_meta"], crypto.new_id())
    if isinstance(opener, ByProof):
        return file
    if isinstance(opener, ByMasterKeys):
        link_key = crypto.unwrap_key(row["wrapped_key"], opener.master_keys, secret_id.encode())
        keys = crypto.derive_keys(link_key)
    elif opener.key is not None:
        keys = crypto.derive_keys(opener.key, opener.stretched_passphrase)
    else:
        raise WrongKey
    try:
        meta = filecrypto.open_meta(keys.content_key, row["file_meta"])
    except filecrypto.StreamError:
        raise CannotOpen from None
    return replace(file, meta=meta, file_key=keys.file_key)


def _open(row: dict[str, Any], secret_id: str, opener: Opener) -> bytes | crypto.Sealed:
    """The plaintext, or on the JS path the ciphertext once the proof is right."""
    sealed = crypto.Sealed(nonce=row["nonce"], ciphertext=row["ciphertext"])
    version = row["format_version"]
    if isinstance(opener, ByMasterKeys):
        try:
            link_key = crypto.unwrap_key(row["wrapped_key"], opener.master_keys, secret_id.encode())
        except crypto.DecryptionError:
            # Wrapped under a master key that was rotated away: nothing can open it any more.
            raise SecretUnavailable from None
        if version == crypto.FORMAT_V1:
            return _open_v1(sealed, link_key, secret_id, CannotOpen)
        return _open_v2(sealed, version, crypto.derive_keys(link_key).content_key)
    if isinstance(opener, ByProof):
        if version == crypto.FORMAT_V1:
            raise WrongKey  # format-1 rows open only with the key itself
        _check_proof(opener.proof, row["proof_hash"])
        if version != crypto.FORMAT_V2 or len(sealed.nonce) != crypto.GCM_NONCE_BYTES:
            raise CannotOpen
        return sealed
    if opener.key is None:
        raise WrongKey
    if version == crypto.FORMAT_V1:
        return _open_v1(sealed, opener.key, secret_id, WrongKey)
    keys = crypto.derive_keys(opener.key, opener.stretched_passphrase)
    _check_proof(keys.proof, row["proof_hash"])
    return _open_v2(sealed, version, keys.content_key)


def _check_proof(proof: bytes | None, proof_hash: bytes | None) -> None:
    if proof is None or proof_hash is None or not crypto.proof_matches(proof, proof_hash):
        raise WrongKey


def _open_v1(sealed: crypto.Sealed, key: bytes, secret_id: str, failure: type[Exception]) -> bytes:
    if len(sealed.nonce) != crypto.NONCE_BYTES:
        raise CannotOpen
    try:
        return crypto.open_sealed(sealed, key, secret_id.encode())
    except crypto.DecryptionError:
        # Format 1 has no proof: a wrong key and altered data look the same.
        raise failure from None


def _open_v2(sealed: crypto.Sealed, version: int, content_key: bytes) -> bytes:
    if version != crypto.FORMAT_V2:
        raise CannotOpen
    try:
        return crypto.open_text(sealed, content_key)
    except crypto.DecryptionError:
        raise CannotOpen from None


@dataclass(frozen=True)
class CountedView:
    secret_id: str
    seen_views: int
    views_left: int
    viewer: str
    now: datetime
    ticket_hash: str | None  # a file's download ticket (only its hash is stored)
    file_until: datetime | None


def _count_view_query(view: CountedView, *, with_file: bool, last_view: bool) -> Update[Any]:
    """One view fewer, if the secret is still waiting with the count that was read."""
    values: dict[Any, Any] = {
        Secret.views_left: view.views_left,
        Secret.opened_at: view.now,
        Secret.opened_by: view.viewer,
    }
    if with_file:
        # This viewer, and only this one, may fetch the file for a short while; the chunks go
        # when the download completes or the window closes (sweeper), whichever comes first.
        values |= {
            Secret.file_viewer: view.viewer,
            Secret.file_ticket_hash: view.ticket_hash,
            Secret.file_until: view.file_until,
        }
    if last_view:
        # The last view deletes the content; a tombstone remains for the creator and the audit.
        # A file's chunks (and a guest's wrapped key, which opens them) last to the window's end.
        values |= {
            Secret.state: SecretState.OPENED.value,
            Secret.ciphertext: None,
            Secret.nonce: None,
            Secret.closed_at: view.now,
        }
        if not with_file:
            values[Secret.wrapped_key] = None
    return (
        Secret.update(values)
        .where(
            (Secret.id == view.secret_id)
            & (Secret.state == SecretState.WAITING.value)
            & (Secret.views_left == view.seen_views)
            & (Secret.expires_at > view.now)
        )
        .returning(Secret.id)
    )


def _count_view_change(with_file: bool, last_view: bool) -> audit.ChangeWithEvent:
    def build(**values: Any) -> Update[Any]:
        view = CountedView(**values)
        return _count_view_query(view, with_file=with_file, last_view=last_view)

    return audit.ChangeWithEvent(build, tuple(field.name for field in fields(CountedView)))


# The view and its audit row, one statement per shape (with a file or not, last view or not).
_COUNT_VIEW = {
    (with_file, last_view): _count_view_change(with_file, last_view)
    for with_file in (False, True)
    for last_view in (False, True)
}


async def _count_view(view: CountedView, revealed: dict[str, Any]) -> bool:
    """Whether the view counted (False: another reveal changed the count first)."""
    shape = (view.ticket_hash is not None, view.views_left == 0)
    return await _COUNT_VIEW[shape].run(revealed, **vars(view))


def tombstone(state: SecretState, now: datetime) -> dict[Any, Any]:
    """The update that ends a secret early (revoked, expired): content, keys and file gone at
    once; state and times stay for the creator's list and the audit trail."""
    return {
        Secret.state: state.value,
        Secret.ciphertext: None,
        Secret.nonce: None,
        Secret.wrapped_key: None,
        Secret.closed_at: now,
        **files.CLOSED_FILE,
    }


async def revoke_secret(*, secret_id: str, user: User, now: datetime, client: ClientInfo) -> bool:
    """Only the creator revokes, and only a waiting secret; returns whether it was revoked."""
    if not crypto.plausible_id(secret_id) or user.email is None:
        return False
    async with write_transaction():
        revoked = await (
            Secret.update(tombstone(SecretState.REVOKED, now))
            .where(
                (Secret.id == secret_id)
                & (Secret.creator_email == user.email)
                & (Secret.creator_role != GUEST_ROLE)
                & (Secret.state == SecretState.WAITING.value)
                # Expired but not yet swept is expired: it stays for the sweeper to mark.
                & (Secret.expires_at > now)
            )
            .returning(Secret.id)
        )
        if revoked:
            await files.delete_chunks([secret_id])
            await audit.record(
                AuditAction.SECRET_REVOKED,
                at=now,
                actor=user.label,
                client=client,
                secret_id=secret_id,
            )
    return bool(revoked)
