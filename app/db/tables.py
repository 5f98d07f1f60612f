"""Database tables. A secret row never holds its key; after deletion only a tombstone remains."""

from __future__ import annotations

from piccolo.columns import (
    BigInt,
    BigSerial,
    Bytea,
    Integer,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from app.lifecycle import InvitationState, SecretState

# Secret.creator_role of a guest's submission: its creator is never a signed-in person.
GUEST_ROLE = "guest"


class Secret(Table, tablename="secret"):
    # 128 random bits, the public id in the link; the key is never stored.
    id = Varchar(length=32, primary_key=True)
    state = Varchar(length=10, default=SecretState.WAITING.value, index=True)
    nonce = Bytea(null=True, default=None)
    ciphertext = Bytea(null=True, default=None)
    # Guest submissions only: the per-secret key encrypted by the server's master key.
    wrapped_key = Bytea(null=True, default=None)
    # 1: XChaCha20-Poly1305, the server opens it with the link key; 2: docs/FORMAT.md.
    format_version = Integer(default=1)
    # SHA-256 of the reveal proof (format 2 link secrets); the proof itself is never stored.
    proof_hash = Bytea(null=True, default=None)
    # The passphrase's PBKDF2 salt: set only when the secret has a passphrase.
    kdf_salt = Bytea(null=True, default=None)
    encrypted_by = Varchar(length=10, default="server")  # "browser" or "server"
    creator_email = Varchar(length=320, index=True)
    creator_role = Varchar(length=10)
    recipient_email = Varchar(length=320, null=True, default=None, index=True)
    recipient_group = Varchar(length=64, null=True, default=None)
    invitation_id = Varchar(length=32, null=True, default=None)
    max_views = Integer(default=1)
    views_left = Integer(default=1)
    created_at = Timestamptz()
    expires_at = Timestamptz(index=True)
    opened_at = Timestamptz(null=True, default=None)
    opened_by = Varchar(length=320, null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)
    # The creator's private note ("VPN for ticket 4711"): only on their own list and trail,
    # never on the link page, to the recipient or in audit rows.
    label = Varchar(length=200, default="")
    # A file, when the secret has one: its plaintext size (shown before reveal), its sealed
    # name and type, and its chunks' nonce prefix; the chunks live in secret_chunk.
    file_size = BigInt(null=True, default=None)
    file_meta = Bytea(null=True, default=None)
    file_prefix = Bytea(null=True, default=None)
    # After the view that released the file: who may (re)fetch the chunks, with which ticket
    # (its hash), until when. Broken downloads can be retried in this window, nothing more.
    file_viewer = Varchar(length=320, null=True, default=None)
    file_ticket_hash = Varchar(length=64, null=True, default=None)
    file_until = Timestamptz(null=True, default=None, index=True)


class SecretChunk(Table, tablename="secret_chunk"):
    # Sealed bytes only (docs/FORMAT.md, "Files (stream)"); deleted with the secret's content.
    id = BigSerial(primary_key=True)
    secret_id = Varchar(length=32, index=True)
    idx = Integer()
    data = Bytea()


class Invitation(Table, tablename="invitation"):
    id = Varchar(length=32, primary_key=True)
    # Only the hash of the link's token is stored.
    token_hash = Varchar(length=64, unique=True)
    creator_email = Varchar(length=320, index=True)
    label = Varchar(length=200, default="")
    state = Varchar(length=10, default=InvitationState.OPEN.value, index=True)
    created_at = Timestamptz()
    expires_at = Timestamptz(index=True)
    used_at = Timestamptz(null=True, default=None)
    secret_id = Varchar(length=32, null=True, default=None)


class AuditEvent(Table, tablename="audit_event"):
    id = BigSerial(primary_key=True)
    at = Timestamptz(index=True)
    actor = Varchar(length=320, index=True)  # the person's label, or the kind's name
    # Who acted: a signed-in person, a guest, nobody signed in, or Safe Share itself. A column of
    # its own, so no account name can pass for an internal actor.
    actor_kind = Varchar(length=10, default="user")
    action = Varchar(length=40, index=True)
    outcome = Varchar(length=20)
    secret_id = Varchar(length=32, null=True, default=None, index=True)
    invitation_id = Varchar(length=32, null=True, default=None, index=True)
    # Who or what was addressed (an email or a group key) and a short reason; never content.
    target = Varchar(length=320, default="")
    reason = Varchar(length=60, default="")
    client = Varchar(length=16, default="")  # keyed hash of the client address
    user_agent = Varchar(length=120, default="")  # truncated


TABLES: tuple[type[Table], ...] = (Secret, SecretChunk, Invitation, AuditEvent)
