"""A fake config repo behind the fake GitHub API and version.json, and helpers to read a tracked dashboard's state.

The fake config repo ties the fakes together the way GitHub and the Pages workflow do: merging the PR (or `push`)
moves `main` (the simulated agents pull from it) and — at once, or when the test says so — version.json.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from nixfleet.agent import SimRemote, Timing
from nixfleet.ops.pipeline_store import PipelineRun
from tests.integrations.fake_github import FakeGitHub, FakePR, sha_of
from tests.integrations.fake_version import FakeVersionServer, version_json
from tests.support import RunningServer

FAST = Timing(reconnect_delay=0.05, backoff_initial=0.05, backoff_max=0.4)
HOSTS = ['sim-01', 'sim-02', 'sim-03']
GREEN = dict.fromkeys(('agent', 'git', 'lock', 'system', 'tests'), 'ok')

Cells = dict[tuple[str | None, int], str]


class ConfigRepo:
    """The config repo's `main` (head, flake.lock hash), shared with simulated agents and published to version.json."""

    def __init__(self, version_server: FakeVersionServer, github: FakeGitHub) -> None:
        self.version_server = version_server
        self.head = sha_of('initial')
        self.lock = hashlib.sha256(b'initial lock').hexdigest()
        self.sim = SimRemote(head=self.head[:7], lock_hash=self.lock)
        self.auto_publish = True
        github.on_merge = self.merged
        self.publish()

    def merged(self, pr: FakePR, sha: str) -> None:
        """GitHub merged a flake-update PR (called on the fake's thread): main moves to the merge, with a new lock."""
        self.push(sha, lock=True)

    def push(self, sha: str, *, lock: bool = False) -> None:
        """A commit lands on main (with a new flake.lock when `lock`); published at once when `auto_publish`."""
        self.head = sha
        if lock:
            self.lock = hashlib.sha256(sha.encode()).hexdigest()
        self.sim.head, self.sim.lock_hash = sha[:7], self.lock
        if self.auto_publish:
            self.publish()

    def publish(self) -> None:
        """The Pages workflow ran: version.json shows main."""
        self.version_server.serve(version_json(commit=self.head, lock=self.lock))


def fleet_state(server: RunningServer) -> dict[str, Any]:
    return dict(server.dashboard.stream.value.fleet)


def compartments(server: RunningServer, host: str) -> dict[str, str]:
    view = server.dashboard.stream.value.hosts.get(host) or {}
    return {name: part['status'] for name, part in (view.get('compartments') or {}).items()}


async def finished(server: RunningServer, run: PipelineRun, timeout: float = 20.0) -> PipelineRun:
    return await asyncio.wait_for(server.dashboard.ops.pipelines.wait(run.id), timeout)


def skipped(hosts: tuple[str, ...], stages: tuple[int, ...] = (1, 2, 3)) -> Cells:
    return {(h, k): 'SKIPPED' for h in hosts for k in stages}


async def cells(server: RunningServer, run: PipelineRun) -> Cells:
    rows = await server.dashboard.store.read(
        lambda db: db.execute('SELECT host_id, stage, status FROM commands WHERE pipeline_id = ?', [run.id]).fetchall()
    )
    return {(h, s): st for h, s, st in rows}


def commands_of(server: RunningServer, op: str) -> list[dict[str, Any]]:
    return [dict(c) for c in server.dashboard.stream.value.commands.values() if c.get('op') == op]
