"""`SimulatedSystem`: the twin of `RealSystem` that fakes git and the Nix tools with realistic output and timing."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import random
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from nixfleet.agent.compartments import utc_now
from nixfleet.agent.sim_tools import script_for
from nixfleet.agent.system import Emit, Facts, Freshness, Platform, Probe, Restart, Step
from nixfleet.agent.version import AGENT_VERSION

_PIDS = itertools.count(40000)  # fake pids, never passed to os.kill


def new_commit(rng: random.Random | None = None) -> str:
    """Return a random 40-hex commit id."""
    return f'{(rng or random).getrandbits(160):040x}'


@dataclass(slots=True, kw_only=True)
class SimBehaviour:
    """How a simulated host behaves: `speed` divides every duration, `slow_ops` multiplies, `fail_ops` fail."""

    fail_ops: set[str] = field(default_factory=set)
    slow_ops: dict[str, float] = field(default_factory=dict)
    speed: float = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SimBehaviour:
        """Read NIXFLEET_SIM_FAIL=pull,switch  NIXFLEET_SIM_SLOW=switch:10  NIXFLEET_SIM_SPEED=1."""
        env = os.environ if env is None else env
        fail = {op.strip() for op in env.get('NIXFLEET_SIM_FAIL', '').split(',') if op.strip()}
        slow: dict[str, float] = {}
        for item in env.get('NIXFLEET_SIM_SLOW', '').split(','):
            op, _, factor = item.partition(':')
            if op.strip():
                slow[op.strip()] = float(factor or 10)
        return cls(fail_ops=fail, slow_ops=slow, speed=float(env.get('NIXFLEET_SIM_SPEED') or 1.0))

    def copy(self) -> SimBehaviour:
        """Return an independent copy (one per host, so hosts can be tuned separately)."""
        return SimBehaviour(fail_ops=set(self.fail_ops), slow_ops=dict(self.slow_ops), speed=self.speed)

    def seconds(self, op: str, seconds: float) -> float:
        """Scale a realistic duration of `op` by the slow-down and the speed factor."""
        return seconds * self.slow_ops.get(op, 1.0) / self.speed


@dataclass(slots=True, kw_only=True)
class SimRemote:
    """The simulated upstream flake repo; share one between hosts and `push()` to make them all behind."""

    head: str = field(default_factory=lambda: new_commit()[:7])
    lock_hash: str = field(default_factory=lambda: hashlib.sha256(new_commit().encode()).hexdigest())
    agent_version: str = AGENT_VERSION
    url: str = 'git@github.com:example/nixcfg.git'

    def push(self, *, agent_version: str | None = None, lock: bool = False) -> str:
        """Commit upstream (optionally a new lock and a new agent release); return the new short head."""
        self.head = new_commit()[:7]
        if lock or agent_version:
            self.lock_hash = hashlib.sha256(self.head.encode()).hexdigest()
        if agent_version:
            self.agent_version = agent_version
        return self.head


def sim_freshness(version: str) -> Freshness:
    """Return the (stable) freshness triple of a simulated agent build of `version`."""
    digest = hashlib.sha256(f'nixfleet-agent-{version}'.encode()).hexdigest()
    commit = hashlib.sha1(f'nixfleet-source-{version}'.encode()).hexdigest()
    return Freshness(
        source_commit=commit, store_path=f'/nix/store/{digest[:32]}-nixfleet-{version}', binary_hash=digest
    )


class SimJob:
    """A fake process: runs a script of timed output lines; `signal` ends it like a killed process."""

    def __init__(self, script: Callable[[Emit], Coroutine[Any, Any, int]], on_exit: Callable[[], None]) -> None:
        self.pid = next(_PIDS)
        self._script = script
        self._on_exit = on_exit
        self._inner: asyncio.Task[int] | None = None
        self._signalled: int | None = None

    async def run(self, emit: Emit) -> int:
        """Play the script to its end and return its exit code (-signal when killed)."""
        self._inner = asyncio.create_task(self._script(emit))
        if self._signalled is not None:
            self._inner.cancel()
        try:
            return await self._inner
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._signalled is None or (current is not None and current.cancelling()):
                self._inner.cancel()
                raise
            return -self._signalled
        finally:
            self._on_exit()

    def signal(self, signum: int) -> None:
        """End the fake process as if `signum` killed its process group."""
        self._signalled = signum
        if self._inner is not None:
            self._inner.cancel()


class SimulatedSystem:
    """A NixOS or macOS host in memory: generation, lock, switched system, agent build, drifting metrics."""

    simulated = True

    def __init__(
        self,
        *,
        hostname: str = 'sim-host',
        platform: Platform = Platform.NIXOS,
        behaviour: SimBehaviour | None = None,
        remote: SimRemote | None = None,
        lock_age_days: int = 1,
        nixpkgs_version: str = '25.11',
        os_version: str = '',
    ) -> None:
        self.hostname = hostname
        self.platform = platform
        self.behaviour = behaviour or SimBehaviour()
        self.remote = remote or SimRemote()
        self.rng = random.Random(hostname)
        self.nixpkgs_version = nixpkgs_version if platform is Platform.NIXOS else ''
        self.os_version = os_version or ('25.11' if platform is Platform.NIXOS else '15.5')
        self.generation = self.remote.head
        self.lock_hash = self.remote.lock_hash
        self.lock_date: datetime = utc_now() - timedelta(days=lock_age_days, hours=1)
        self.switched: list[tuple[str, str]] = [(self.generation, self.lock_hash)]  # system history, newest last
        self.agent_version = AGENT_VERSION  # running build
        self.installed_agent_version = AGENT_VERSION  # what the last switch installed
        self.pulled_agent_version = AGENT_VERSION  # what the checkout would install
        self.freshness = sim_freshness(self.agent_version)
        self.restarts = 0
        self._busy = 0
        self._cpu, self._ram = self.rng.uniform(3, 25), self.rng.uniform(20, 60)

    @property
    def remote_generation(self) -> str:
        """The upstream head a pull moves to (shared when the remote is shared)."""
        return self.remote.head

    @remote_generation.setter
    def remote_generation(self, commit: str) -> None:
        self.remote.head = commit

    @property
    def busy(self) -> bool:
        """Whether a fake tool is running right now."""
        return self._busy > 0

    def publish_agent(self, version: str) -> None:
        """Make the next switch install agent `version` (new store path and hash after the restart)."""
        self.pulled_agent_version = version

    def facts(self) -> Facts:
        """Return the facts of the running (simulated) agent process."""
        return Facts(
            platform=self.platform,
            os_version=self.os_version,
            nixpkgs_version=self.nixpkgs_version,
            agent_version=self.agent_version,
            freshness=self.freshness,
        )

    async def prepare(self, emit: Emit) -> None:
        """Nothing to prepare: the simulated repo always exists."""

    async def probe(self) -> Probe:
        """Return the simulated state with drifting metrics (higher while a command runs)."""
        target_cpu = 65.0 if self._busy else 12.0
        self._cpu = min(99.0, max(0.5, self._cpu + (target_cpu - self._cpu) * 0.3 + self.rng.gauss(0, 4)))
        self._ram = min(95.0, max(5.0, self._ram + self.rng.gauss(0, 1.5)))
        metrics = {
            'cpu': round(self._cpu, 1),
            'ram': round(self._ram, 1),
            'swap': round(max(0.0, self._ram - 70.0) / 2, 1),
            'load': round(self._cpu / 25 + self.rng.uniform(0, 0.2), 2),
        }
        return Probe(generation=self.generation, lock_hash=self.lock_hash, metrics=metrics)

    async def start(self, step: Step) -> SimJob:
        """Start the fake tool for `step.kind`."""
        self._busy += 1
        return SimJob(script_for(self, step), self._job_exited)

    async def current_system(self) -> str:
        """Return the store path of the switched system."""
        return self.system_path(*self.switched[-1])

    def system_path(self, generation: str, lock_hash: str) -> str:
        """Return the toplevel store path a configuration evaluates to."""
        digest = hashlib.sha256(f'{self.hostname}{generation}{lock_hash}'.encode()).hexdigest()
        return f'/nix/store/{digest[:32]}-nixos-system-{self.hostname}-{self.nixpkgs_version or "darwin"}'

    async def restart(self, restart: Restart) -> bool:
        """Play the supervisor: wait (RestartSec or a reboot), then run the installed build; always continue."""
        base = self.rng.uniform(20, 40) if restart.reason == 'reboot' else self.rng.uniform(1, 3)
        await asyncio.sleep(self.behaviour.seconds('restart', base))
        self.agent_version = self.installed_agent_version
        self.freshness = sim_freshness(self.agent_version)
        self.restarts += 1
        return True

    def _job_exited(self) -> None:
        self._busy -= 1
