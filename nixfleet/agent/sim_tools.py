"""Fake git / nixos-rebuild / nix tools: timed, realistic output; state changes only when a tool succeeds."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any

from nixfleet.agent.compartments import utc_now
from nixfleet.agent.system import Emit, Platform, Step

if TYPE_CHECKING:
    from nixfleet.agent.sim import SimulatedSystem

Script = Callable[[Emit], Coroutine[Any, Any, int]]
Line = tuple[str, str]  # (stream, text)

TESTS = ('hello: checking basics', 'network reachable', 'ssh daemon running', 'nix daemon healthy',
         'disk space above 10 %', 'time in sync', 'journald without errors', 'flake checks')  # fmt: skip


def script_for(sim: SimulatedSystem, step: Step) -> Script:
    """Return the fake tool for a step, keyed by its kind; unknown kinds succeed silently."""
    tool = TOOLS.get(step.kind, _noop)
    return partial(tool, sim, step)


async def _play(sim: SimulatedSystem, op: str, seconds: float, lines: list[Line], emit: Emit) -> None:
    """Emit lines spread evenly over `seconds` (scaled by the host's behaviour)."""
    pause = sim.behaviour.seconds(op, seconds) / max(1, len(lines))
    for stream, text in lines:
        await asyncio.sleep(pause)
        emit(stream, text)
    if not lines:
        await asyncio.sleep(pause)


def _store(sim: SimulatedSystem, name: str) -> str:
    digest = hashlib.sha256(f'{sim.rng.random()}{name}'.encode()).hexdigest()
    return f'/nix/store/{digest[:32]}-{name}'


async def _fail(sim: SimulatedSystem, op: str, lines: list[Line], emit: Emit) -> int:
    await _play(sim, op, sim.rng.uniform(0.5, 2.0), lines, emit)
    return 1


async def _pull(sim: SimulatedSystem, step: Step, emit: Emit) -> int:
    if 'pull' in sim.behaviour.fail_ops:
        host = sim.remote.url.partition('@')[2].partition(':')[0] or 'github.com'
        message = f"fatal: unable to access '{sim.remote.url}': Could not resolve host: {host}"
        return await _fail(sim, 'pull', [('stderr', message)], emit)
    old, new = sim.generation, sim.remote.head
    lines: list[Line] = [('stdout', 'Already up to date.')]
    if old != new:
        changed = [f' hosts/{sim.hostname}/configuration.nix | 3 ++-']
        if sim.lock_hash != sim.remote.lock_hash:
            changed.append(' flake.lock                        | 6 +++---')
        lines = [
            ('stderr', f'From {sim.remote.url}'),
            ('stderr', f'   {old}..{new}  main       -> origin/main'),
            ('stdout', f'Updating {old}..{new}'),
            ('stdout', 'Fast-forward'),
            *(('stdout', line) for line in changed),
            ('stdout', f' {len(changed)} files changed, {2 + 3 * len(changed)} insertions(+), 4 deletions(-)'),
        ]
    await _play(sim, 'pull', sim.rng.uniform(1, 3), lines, emit)
    sim.generation, sim.lock_hash = new, sim.remote.lock_hash
    sim.pulled_agent_version = sim.remote.agent_version
    if old != new:
        sim.lock_date = utc_now()
    return 0


async def _switch(sim: SimulatedSystem, step: Step, emit: Emit) -> int:
    host, nixpkgs = sim.hostname, sim.nixpkgs_version or 'darwin'
    drv = _store(sim, f'nixos-system-{host}-{nixpkgs}.drv')
    if 'switch' in sim.behaviour.fail_ops:
        return await _fail(sim, 'switch', [
            ('stderr', 'building the system configuration...'),
            ('stderr', f"error: builder for '{drv}' failed with exit code 1;"),
            ('stderr', '       last 1 log lines:'),
            ('stderr', f"       > error: The option `services.{host}.enable' does not exist."),
        ], emit)  # fmt: skip
    built = [_store(sim, name) for name in ('etc.drv', 'system-units.drv', 'unit-nixfleet-agent.service.drv')]
    lines: list[Line] = [
        ('stderr', 'building the system configuration...'),
        ('stderr', f'these {len(built) + 1} derivations will be built:'),
        *(('stderr', f'  {path}') for path in [*built, drv]),
        ('stderr', f"copying path '{_store(sim, 'source')}' from 'https://cache.nixos.org'..."),
        *(('stderr', f"building '{path}'...") for path in [*built, drv]),
    ]
    if sim.platform is Platform.NIXOS:
        lines += [
            ('stderr', 'activating the configuration...'),
            ('stderr', 'setting up /etc...'),
            ('stderr', 'reloading user units for admin...'),
            ('stderr', 'restarting sysinit-reactivation.target'),
            ('stderr', 'the following new units were started: nixfleet-agent.service'),
        ]
    else:
        lines += [
            ('stdout', 'Starting Home Manager activation'),
            ('stdout', 'Activating checkFilesChanged'),
            ('stdout', 'Activating linkGeneration'),
            ('stdout', 'Activating onFilesChange'),
        ]
    await _play(sim, 'switch', sim.rng.uniform(5, 15), lines, emit)
    sim.switched.append((sim.generation, sim.lock_hash))
    sim.installed_agent_version = sim.pulled_agent_version
    return 0


async def _test(sim: SimulatedSystem, step: Step, emit: Emit) -> int:
    failing = 5 if 'test' in sim.behaviour.fail_ops else 0
    lines: list[Line] = []
    for number, name in enumerate(TESTS, start=1):
        lines.append(('stdout', f'T{number:02d} {name}'))
        if number == failing:
            lines.append(('stderr', f'T{number:02d} FAIL: expected ok, got timeout'))
        else:
            lines.append(('stdout', f'T{number:02d} PASS'))
    await _play(sim, 'test', sim.rng.uniform(2, 5), lines, emit)
    return 1 if failing else 0


async def _rollback(sim: SimulatedSystem, step: Step, emit: Emit) -> int:
    if 'rollback' in sim.behaviour.fail_ops or len(sim.switched) < 2:
        return await _fail(sim, 'rollback', [('stderr', 'error: no generation older than the current one')], emit)
    lines: list[Line] = [
        ('stderr', 'switching profile from version 42 to 41'),
        ('stderr', 'activating the configuration...'),
        ('stderr', 'setting up /etc...'),
    ]
    await _play(sim, 'rollback', sim.rng.uniform(2, 5), lines, emit)
    sim.switched.pop()
    return 0


async def _update(sim: SimulatedSystem, step: Step, emit: Emit) -> int:
    if 'update' in sim.behaviour.fail_ops:
        return await _fail(sim, 'update', [('stderr', "error: unable to download 'https://api.github.com/'")], emit)
    old, new = sim.lock_hash[:12], hashlib.sha256(f'{sim.lock_hash}{utc_now()}'.encode()).hexdigest()
    lines: list[Line] = [
        ('stderr', f"warning: updating lock file '{step.cwd or '.'}/flake.lock':"),
        ('stderr', f"• Updated input '{step.argv[3] if len(step.argv) > 3 else 'nixpkgs'}':"),
        ('stderr', f"    'github:nixos/nixpkgs/{old}' (2026-11-18)"),
        ('stderr', f"  → 'github:nixos/nixpkgs/{new[:12]}' ({utc_now():%Y-%m-%d})"),
    ]
    await _play(sim, 'update', sim.rng.uniform(2, 4), lines, emit)
    sim.lock_hash, sim.lock_date = new, utc_now()
    sim.pulled_agent_version = sim.remote.agent_version
    return 0


async def _lock_date(sim: SimulatedSystem, step: Step, emit: Emit) -> int:
    await _play(sim, 'refresh-lock', 0.05, [('stdout', f'{sim.lock_date:%Y-%m-%d %H:%M:%S} +0000')], emit)
    return 0


async def _dry_build(sim: SimulatedSystem, step: Step, emit: Emit) -> int:
    if 'refresh-system' in sim.behaviour.fail_ops:
        return await _fail(sim, 'refresh-system', [('stderr', 'error: flake has no nixosConfigurations')], emit)
    wanted = sim.system_path(sim.generation, sim.lock_hash)
    built = json.dumps([{'drvPath': f'{wanted}.drv', 'outputs': {'out': wanted}}])
    await _play(sim, 'refresh-system', sim.rng.uniform(1, 3), [('stdout', built)], emit)
    return 0


async def _version(sim: SimulatedSystem, step: Step, emit: Emit) -> int:
    await _play(sim, 'check-version', 0.1, [('stdout', f'nixfleet-agent {sim.installed_agent_version}')], emit)
    return 0


async def _reboot(sim: SimulatedSystem, step: Step, emit: Emit) -> int:
    await _play(sim, 'reboot', 3.0, [], emit)
    return 1 if 'reboot' in sim.behaviour.fail_ops else 0


async def _noop(sim: SimulatedSystem, step: Step, emit: Emit) -> int:
    await _play(sim, step.kind, 0.1, [], emit)
    return 0


TOOLS: dict[str, Callable[[SimulatedSystem, Step, Emit], Coroutine[Any, Any, int]]] = {
    'pull': _pull,
    'switch': _switch,
    'test': _test,
    'rollback': _rollback,
    'update': _update,
    'refresh-lock': _lock_date,
    'refresh-system': _dry_build,
    'check-version': _version,
    'reboot': _reboot,
}
