"""The ceiling target: one GET of a template-rendered page, nothing else to do.

It answers every workload with that same GET, so each app workload has a ceiling measured
right next to it (the machine's other load changes over a run; adjacent runs share it).
"""

from __future__ import annotations

from benchmarks.loadgen import Recorder, Scenario
from benchmarks.targets import CREATE, LANDING, REVEAL, ROUND_TRIP, Target, VirtualUser


class CeilingTarget(Target):
    name = "ceiling"
    workloads = (LANDING, CREATE, ROUND_TRIP, REVEAL)

    async def prepare_pool(self, users: list[VirtualUser], per_user: int) -> None:
        """Nothing to prepare: the ceiling's reveal-side run is the same GET."""

    def scenario(self, workload: str) -> Scenario[VirtualUser]:
        async def landing(user: VirtualUser, rec: Recorder) -> None:
            await rec.timed("landing", user.conn, "GET", "/", (200,))

        return landing
