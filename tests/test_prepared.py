"""Statements built once (app/db/prepared.py): values are bound per call, never baked in."""

from __future__ import annotations

from typing import Any

import pytest
from piccolo.engine.base import Engine
from piccolo.querystring import QueryString

from app.db.prepared import Prepared
from app.db.tables import Secret


async def test_each_call_binds_its_own_values_on_every_engine(engine: Engine[Any]) -> None:
    find = Prepared(lambda secret_id: Secret.select(Secret.id).where(Secret.id == secret_id))
    assert await find.run(engine, secret_id="A" * 22) == []
    assert await find.run(engine, secret_id="'; DROP TABLE secret; --") == []
    assert await Secret.count() == 0  # the table is still there


async def test_a_value_turned_into_text_is_refused_not_baked_into_the_sql(
    engine: Engine[Any],
) -> None:
    baked = Prepared(lambda secret_id: QueryString("SELECT {}", str(secret_id)))
    with pytest.raises(TypeError, match="not bound as a parameter"):
        await baked.run(engine, secret_id="x")
