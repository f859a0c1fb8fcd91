"""The host edge of the agent: the `System` interface shared by `RealSystem` and `SimulatedSystem`."""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

#: Receives one output line: (stream, line) with stream 'stdout' or 'stderr'.
Emit = Callable[[str, str], None]


class Platform(StrEnum):
    """How the host applies its configuration."""

    NIXOS = 'nixos'
    NIX_DARWIN = 'nix-darwin'
    HOME_MANAGER = 'home-manager'

    @property
    def host_type(self) -> str:
        """Return the `host_type` reported in `register` ('nixos' or 'macos')."""
        return 'nixos' if self is Platform.NIXOS else 'macos'


@dataclass(slots=True, kw_only=True, frozen=True)
class Step:
    """One external program run by a command; `kind` names the tool the simulator fakes."""

    kind: str
    argv: tuple[str, ...]
    cwd: str | None = None


@dataclass(slots=True, kw_only=True, frozen=True)
class Freshness:
    """Identity of the running agent build: compared by the dashboard before and after a switch."""

    source_commit: str = ''
    store_path: str = ''
    binary_hash: str = ''


@dataclass(slots=True, kw_only=True, frozen=True)
class Facts:
    """What the agent learns about its host once per (simulated) process start."""

    platform: Platform
    os_version: str = ''
    nixpkgs_version: str = ''
    agent_version: str = ''
    freshness: Freshness = field(default_factory=Freshness)


@dataclass(slots=True, kw_only=True, frozen=True)
class Probe:
    """Host state read for every heartbeat and status."""

    generation: str = ''
    lock_hash: str | None = None
    metrics: dict[str, float] | None = None


@dataclass(slots=True, kw_only=True, frozen=True)
class Restart:
    """A request to end the agent process: `exit_code` 101 after a switch, 0 for restart and reboot."""

    exit_code: int
    reason: str


class Job(Protocol):
    """One started step: stream its output to EOF, then return its exit code (negative = killed by signal)."""

    pid: int

    async def run(self, emit: Emit) -> int: ...

    def signal(self, signum: int) -> None: ...


class System(Protocol):
    """Everything the agent needs from its host; `RealSystem` and `SimulatedSystem` implement it."""

    simulated: bool

    def facts(self) -> Facts: ...

    async def prepare(self, emit: Emit) -> None: ...

    async def probe(self) -> Probe: ...

    async def start(self, step: Step) -> Job: ...

    async def current_system(self) -> str: ...


class HostLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefix log messages with the hostname: many simulated agents may share one process."""

    def __init__(self, logger: logging.Logger, hostname: str) -> None:
        super().__init__(logger, {'host': hostname})

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        """Return the message with the host in front."""
        return f'{self.extra["host"] if self.extra else "?"}: {msg}', kwargs
