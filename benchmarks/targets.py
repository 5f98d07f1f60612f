"""What each benchmarked server is: its Lua request shapes (benchmarks/lua/) and workloads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks.servers import LOOPBACK, ServerProcess

HOME_ANON = "home_anon"  # the landing page, signed out
HOME = "home"  # the landing page, signed in (Safe Share: the create form)
CREATE = "create"
ROUND_TRIP = "round_trip"  # create → link page → reveal, three requests
REVEAL = "reveal"  # one reveal of a secret made before timing
ALL_WORKLOADS = (HOME_ANON, HOME, CREATE, ROUND_TRIP, REVEAL)


@dataclass
class Target:
    """A server under test and how wrk talks to it."""

    name: str
    server: ServerProcess
    shapes: str  # benchmarks/lua/<shapes>.lua
    workloads: tuple[str, ...] = ALL_WORKLOADS
    # A file with one signed-in creator/recipient pair per line (Safe Share only).
    identities: Path | None = None
    # The ceiling serves its one page for every workload, measured beside each app workload.
    same_page_for_all: bool = False

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server.port}"

    def script_workload(self, workload: str) -> str:
        return HOME_ANON if self.same_page_for_all else workload

    def needs_pool(self, workload: str) -> bool:
        return workload == REVEAL and not self.same_page_for_all
