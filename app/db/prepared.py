"""Statements built once: Piccolo writes the SQL from the tables, each call only binds values.

Building a query (columns, conditions, values) costs more CPU than sending it and reading the
answer: for the few statements every secret's life runs, the SQL is compiled once per engine
and only the values change. A statement is written as a function whose parameters are the
values; it is called once with placeholders (`Slot`) to learn where each value goes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from piccolo.engine.base import Engine
from piccolo.query.base import Query
from piccolo.querystring import QueryString


class Slot:
    """Where a value goes in a statement built ahead of time."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Slot({self.name!r})"


class _Compiled(QueryString):
    """SQL and values that are already final: the engine runs them as they are."""

    def __init__(self, sql: str, args: list[Any]) -> None:
        super().__init__("")
        self.compiled = (sql, args)

    def compile_string(self, engine_type: str = "postgres") -> tuple[str, list[Any]]:
        return self.compiled

    def __str__(self) -> str:
        return self.compiled[0]  # the SQL with its placeholders, never the values


class Prepared:
    def __init__(
        self,
        build: Callable[..., Query[Any, Any] | QueryString],
        names: tuple[str, ...] | None = None,
    ) -> None:
        self.build = build
        self.names = names or tuple(inspect.signature(build).parameters)
        self._compiled: dict[str, tuple[str, list[Any]]] = {}

    def _compile(self, engine_type: str) -> tuple[str, list[Any]]:
        built = self.build(**{name: Slot(name) for name in self.names})
        querystring = built if isinstance(built, QueryString) else _single(built.querystrings)
        sql, args = querystring.compile_string(engine_type=engine_type)
        # A value Piccolo turned into text would be bound wrongly: refuse the statement. (A
        # shape may leave some values out: a reveal without a file has no file fields.)
        if "Slot(" in sql or any("Slot(" in str(arg) for arg in args if not isinstance(arg, Slot)):
            raise TypeError(f"{self.build.__qualname__}: a value was not bound as a parameter")
        self._compiled[engine_type] = (sql, args)
        return sql, args

    def bind(self, engine_type: str, **values: Any) -> tuple[str, list[Any]]:
        """The SQL for this engine and the values in its parameters' order."""
        compiled = self._compiled.get(engine_type) or self._compile(engine_type)
        sql, template = compiled
        return sql, [values[arg.name] if isinstance(arg, Slot) else arg for arg in template]

    async def run(self, engine: Engine[Any], **values: Any) -> list[dict[str, Any]]:
        sql, args = self.bind(engine.engine_type, **values)
        rows: list[dict[str, Any]] = await engine.run_querystring(_Compiled(sql, args))
        return rows


def _single(querystrings: Any) -> QueryString:
    [querystring] = querystrings
    if not isinstance(querystring, QueryString):
        raise TypeError("a statement is a query or a QueryString")
    return querystring
