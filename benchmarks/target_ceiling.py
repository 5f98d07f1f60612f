"""The ceiling target: one GET of a template-rendered page, nothing else to do."""

from __future__ import annotations

from benchmarks.loadgen import Recorder, Scenario
from benchmarks.targets import LANDING, Target, VirtualUser


class CeilingTarget(Target):
    name = "ceiling"
    workloads = (LANDING,)

    def scenario(self, workload: str) -> Scenario[VirtualUser]:
        if workload != LANDING:
            raise ValueError(f"ceiling has no {workload} workload")

        async def landing(user: VirtualUser, rec: Recorder) -> None:
            await rec.timed("landing", user.conn, "GET", "/", (200,))

        return landing
