"""Keyset pagination: a page of rows and the cursor where the next one starts.

A page is one query seeking an index on (time, id), so it costs the same whether a person has
ten rows or ten thousand; offsets would grow with every page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from piccolo.columns.combination import WhereRaw

from app import crypto

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T = TypeVar("T")


class BadCursor(ValueError):
    """A page link that this app did not make."""


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: the (time, id) of the last row shown."""

    at: datetime
    id: str

    def encode(self) -> str:
        return f"{(self.at - _EPOCH) // timedelta(microseconds=1)}.{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        micros, _dot, row_id = text.partition(".")
        if not micros.isdigit() or len(micros) > 18 or not crypto.plausible_id(row_id):
            raise BadCursor(text[:40])
        try:
            return cls(_EPOCH + timedelta(microseconds=int(micros)), row_id)
        except OverflowError:  # past the year 9999
            raise BadCursor(text[:40]) from None

    def before(self, time_column: str, row_id: str | int) -> WhereRaw:
        # A row-value comparison, so PostgreSQL and SQLite seek the index instead of filtering.
        return WhereRaw(f'("{time_column}", "id") < ({{}}, {{}})', utc(self.at), row_id)


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    next_cursor: str | None


def page_of(rows: list[T], page_size: int, cursor_of: Callable[[T], Cursor]) -> Page[T]:
    """Rows were fetched one more than shown: that one tells whether a next page exists."""
    shown = rows[:page_size]
    more = len(rows) > page_size and shown
    return Page(shown, cursor_of(shown[-1]).encode() if more else None)


def utc(moment: datetime) -> datetime:
    # SQLite compares stored text, so every parameter must be in the zone rows are stored in.
    return moment.astimezone(UTC)
