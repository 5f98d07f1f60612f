"""snappass driven through its real forms: POST / → link page, GET link (preview), POST link."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from benchmarks.loadgen import PoolExhaustedError, Recorder, Scenario, ScenarioError
from benchmarks.targets import (
    CREATE,
    LANDING,
    REVEAL,
    ROUND_TRIP,
    SECRET_TEXT,
    PoolItem,
    Target,
    VirtualUser,
)

# confirm.html puts the link in a read-only input; the token is storage key "~" Fernet key.
LINK_INPUT = re.compile(r'id="password-link" value="([^"]+)"')
FORM = {"password": SECRET_TEXT, "ttl": "Week"}


class SnappassTarget(Target):
    name = "snappass"
    workloads = (LANDING, CREATE, ROUND_TRIP, REVEAL)

    async def _create(self, user: VirtualUser, rec: Recorder) -> str:
        response = await rec.timed("create", user.conn, "POST", "/", (200,), form=FORM)
        match = LINK_INPUT.search(response.text)
        if match is None:
            raise ScenarioError("create: no link in the confirm page")
        return urlsplit(match.group(1)).path

    async def make_pool_item(self, user: VirtualUser, scratch: Recorder) -> PoolItem:
        return PoolItem(await self._create(user, scratch), "")

    def scenario(self, workload: str) -> Scenario[VirtualUser]:
        async def landing(user: VirtualUser, rec: Recorder) -> None:
            await rec.timed("landing", user.conn, "GET", "/", (200,))

        async def create(user: VirtualUser, rec: Recorder) -> None:
            await self._create(user, rec)

        async def round_trip(user: VirtualUser, rec: Recorder) -> None:
            path = await self._create(user, rec)
            await rec.timed("open", user.conn, "GET", path, (200,))
            await self._reveal(user, rec, path)

        async def reveal(user: VirtualUser, rec: Recorder) -> None:
            if not user.pool:
                raise PoolExhaustedError
            await self._reveal(user, rec, user.pool.pop().secret)

        scenarios = {LANDING: landing, CREATE: create, ROUND_TRIP: round_trip, REVEAL: reveal}
        return scenarios[workload]

    async def _reveal(self, user: VirtualUser, rec: Recorder, path: str) -> None:
        # preview.js submits an empty form by POST to the same URL.
        response = await rec.timed("reveal", user.conn, "POST", path, (200,), form={})
        if SECRET_TEXT not in response.text:
            raise ScenarioError("reveal: secret not in the page")
