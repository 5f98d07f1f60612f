"""Read a secret's form as it streams in: URL-encoded, or multipart with at most one file.

A CSRF check that reads the form first would buffer a whole multipart body, so routes that
take files leave the check to this reader (opt csrf.CHECKED_BY_READER): the body is parsed
incrementally, the CSRF token is checked before any file byte is accepted, and the file is
sealed into a spool as it arrives. Memory stays at about one chunk; nothing is stored on any
refusal.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl

from litestar import Request
from litestar.exceptions import ClientException, InternalServerException
from multipart import MultipartError, MultipartSegment, PushMultipartParser, parse_options_header

from app import crypto
from app.services import files
from app.web import csrf
from app.web.csrf import CsrfTokens

MAX_FIELDS_BYTES = 160_000  # the text fields: as much as the app accepts for any form
FILE_FIELD = "file"  # plaintext (JavaScript off): sealed here as it arrives
SEALED_FIELD = "file_sealed"  # a stream the browser sealed (JavaScript on)
MAX_NAME_CHARS = 200
MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")
# Past the limit the body is read on (and dropped) up to this factor, so a browser gets to
# see the 413 page instead of a reset connection; beyond it the connection is simply cut.
DRAIN_FACTOR = 2


MakeKeys = Callable[[dict[str, str]], Awaitable[crypto.DerivedKeys]]


class Refusal(StrEnum):
    CSRF = "csrf"
    UNREADABLE = "unreadable"
    TOO_LARGE = "too_large"
    FILE_TOO_LARGE = "file_too_large"
    CUT_OFF = "cut_off"
    UNSUPPORTED = "unsupported"


class FormRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal


@dataclass
class ReceivedForm:
    fields: dict[str, str] = field(default_factory=dict)
    file: files.SpooledFile | None = None
    file_empty: bool = False  # a file was chosen but had no bytes

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def safe_filename(raw: str) -> str:
    """A name fit to save under: no directories, no control characters, bounded length."""
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().strip(".")
    if len(name) > MAX_NAME_CHARS:
        _stem, dot, extension = name.rpartition(".")
        keep = extension if dot and 0 < len(extension) <= 16 else ""
        name = name[: MAX_NAME_CHARS - len(keep) - 1].rstrip() + ("." + keep if keep else "")
    return name or "file"


def safe_media_type(raw: str | None) -> str:
    value = (raw or "").strip().lower()
    return value if MEDIA_TYPE.match(value) else "application/octet-stream"


def _csrf_valid(request: Request[Any, Any, Any], token: str | None) -> bool:
    # RequestMiddleware leaves these routes to us (opt csrf.CHECKED_BY_READER); same scheme.
    tokens: CsrfTokens = request.app.state.csrf
    return tokens.matches(request.cookies.get(csrf.COOKIE_NAME), token)


class _Reader:
    def __init__(
        self,
        request: Request[Any, Any, Any],
        max_fields_bytes: int,
        max_file_bytes: int,
        make_keys: MakeKeys,
    ) -> None:
        self.request = request
        self.max_fields_bytes = max_fields_bytes
        self.max_file_bytes = max_file_bytes
        self.make_keys = make_keys
        self.keys: crypto.DerivedKeys | None = None
        self.form = ReceivedForm()
        self.csrf_checked = False
        self.fields_bytes = 0
        self.segment: MultipartSegment | None = None
        self.value = bytearray()
        self.plain: files.PlainSpool | None = None
        self.sealed: files.SealedSpool | None = None
        self.file_name = ""
        self.file_type = ""

    def check_csrf(self) -> None:
        if not self.csrf_checked:
            token = self.request.headers.get(csrf.HEADER_NAME) or self.form.fields.get(
                csrf.FIELD_NAME
            )
            if not _csrf_valid(self.request, token):
                raise FormRefused(Refusal.CSRF)
            self.csrf_checked = True

    async def begin(self, segment: MultipartSegment) -> None:
        self.segment = segment
        self.value.clear()
        if self.keys is not None and segment.name == "passphrase":
            raise FormRefused(Refusal.UNREADABLE)  # too late: the file is sealed without it
        if not segment.filename:
            return
        if segment.name not in (FILE_FIELD, SEALED_FIELD):
            raise FormRefused(Refusal.UNREADABLE)  # no form of ours sends any other file
        self.check_csrf()
        if self.plain is not None or self.sealed is not None:
            raise FormRefused(Refusal.UNREADABLE)  # one file per secret
        if segment.name == SEALED_FIELD:
            self.sealed = files.SealedSpool(self.max_file_bytes)
        else:
            self.keys = await self.make_keys(self.form.fields)
            self.plain = files.PlainSpool(self.keys.file_key, self.max_file_bytes)
            self.file_name = safe_filename(segment.filename)
            self.file_type = safe_media_type(segment.content_type)

    async def data(self, chunk: bytes) -> None:
        segment = self.segment
        if segment is None:
            return
        if segment.filename and segment.name == SEALED_FIELD and self.sealed is not None:
            await self.sealed.feed(chunk)
        elif segment.filename and segment.name == FILE_FIELD and self.plain is not None:
            await self.plain.feed(chunk)
        elif not segment.filename:
            self.fields_bytes += len(chunk)
            if self.fields_bytes > self.max_fields_bytes:
                raise FormRefused(Refusal.TOO_LARGE)
            self.value += chunk

    def end(self) -> None:
        segment = self.segment
        self.segment = None
        if segment is None or segment.filename or not segment.name:
            return
        try:
            self.form.fields[segment.name] = bytes(self.value).decode("utf-8")
        except UnicodeDecodeError:
            raise FormRefused(Refusal.UNREADABLE) from None

    async def finish(self) -> ReceivedForm:
        self.check_csrf()
        if self.plain is not None and self.keys is not None:
            if self.plain.size == 0:
                self.plain.close()
                self.form.file_empty = bool(self.file_name)
            else:
                self.form.file = await self.plain.finish(
                    self.keys.content_key, self.file_name, self.file_type
                )
        if self.sealed is not None:
            meta = crypto.b64u_decode(self.form.fields.get("file_meta", "")) or b""
            prefix = crypto.b64u_decode(self.form.fields.get("file_prefix", "")) or b""
            try:
                self.form.file = self.sealed.finish(meta, prefix)
            except files.BadUpload:
                raise FormRefused(Refusal.UNREADABLE) from None
        return self.form

    def close(self) -> None:
        for spool in (self.plain, self.sealed):
            if spool is not None:
                spool.close()


async def _drain(request: Request[Any, Any, Any], budget: int) -> None:
    """Read the rest of a refused body (up to a budget) so the browser sees the answer."""
    try:
        async for chunk in request.stream():
            budget -= len(chunk)
            if budget < 0:
                return
    except (ClientException, InternalServerException):
        return


async def _read_multipart(
    request: Request[Any, Any, Any], boundary: str, reader: _Reader
) -> ReceivedForm:
    try:
        with PushMultipartParser(boundary, max_segment_count=64, strict=True) as parser:
            async for chunk in request.stream():
                try:
                    events = list(parser.parse(chunk))
                except MultipartError:
                    # At the end of the body the parser wants its closing boundary.
                    raise FormRefused(
                        Refusal.CUT_OFF if not chunk else Refusal.UNREADABLE
                    ) from None
                for event in events:
                    if isinstance(event, MultipartSegment):
                        await reader.begin(event)
                    elif event:
                        await reader.data(event)
                    else:
                        reader.end()
                if parser.closed:
                    break
            if not parser.closed:
                raise FormRefused(Refusal.CUT_OFF)
    except MultipartError:
        raise FormRefused(Refusal.UNREADABLE) from None
    except InternalServerException:
        # Litestar's word for a client that went away mid-body.
        raise FormRefused(Refusal.CUT_OFF) from None
    return await reader.finish()


@asynccontextmanager
async def secret_form(
    request: Request[Any, Any, Any], *, max_file_bytes: int, make_keys: MakeKeys
) -> AsyncIterator[ReceivedForm]:
    """The submitted fields, and the file spooled (sealed with the keys `make_keys` gives for
    the fields that came before it, or as the browser sealed it) until the block ends.
    Raises FormRefused (app.web.errors answers it); on it nothing was kept."""
    received = await _read_form(request, max_file_bytes, make_keys)
    try:
        yield received
    finally:
        received.close()


async def _read_form(
    request: Request[Any, Any, Any], max_file_bytes: int, make_keys: MakeKeys
) -> ReceivedForm:
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    # No content type at all: a form without fields (as clients send an empty one).
    if media_type in ("application/x-www-form-urlencoded", ""):
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_FIELDS_BYTES:
                    raise FormRefused(Refusal.TOO_LARGE)
        except InternalServerException:
            raise FormRefused(Refusal.CUT_OFF) from None
        try:
            fields = dict(parse_qsl(body.decode("ascii"), keep_blank_values=True, errors="strict"))
        except (UnicodeDecodeError, ValueError):
            raise FormRefused(Refusal.UNREADABLE) from None
        form = ReceivedForm(fields=fields)
        token = request.headers.get(csrf.HEADER_NAME) or fields.get(csrf.FIELD_NAME)
        if not _csrf_valid(request, token):
            raise FormRefused(Refusal.CSRF)
        return form
    boundary = options.get("boundary", "")
    if media_type != "multipart/form-data" or not boundary:
        raise FormRefused(Refusal.UNSUPPORTED)
    reader = _Reader(request, MAX_FIELDS_BYTES, max_file_bytes, make_keys)
    try:
        return await _read_multipart(request, boundary, reader)
    except files.UploadTooLarge:
        reader.close()
        await _drain(request, DRAIN_FACTOR * max_file_bytes)
        raise FormRefused(Refusal.FILE_TOO_LARGE) from None
    except BaseException:
        reader.close()
        raise
