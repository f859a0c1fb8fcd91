"""What each agent command does, written against the Executor (docs/agent-protocol.md#command-vocabulary)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nixfleet.agent import plans
from nixfleet.agent.compartments import Compartment
from nixfleet.agent.system import Restart

if TYPE_CHECKING:
    from nixfleet.agent.executor import Executor


class Stopped(Exception):
    """The running command was ended by `stop` or `kill_command`."""


@dataclass(slots=True, kw_only=True, frozen=True)
class Result:
    """How a command ended; `silent` sends no status (restart, reboot), `restart` ends the agent process."""

    status: str
    exit_code: int = 0
    message: str = ''
    restart: Restart | None = None
    silent: bool = False


def failed(code: int, message: str = 'command failed') -> Result:
    """Return an error result with a positive exit code."""
    return Result(status='error', exit_code=code if code > 0 else 1, message=message)


OK = Result(status='ok')
SWITCH_RESTART = Restart(exit_code=101, reason='switch')

Handler = Callable[['Executor'], Awaitable[Result]]


async def pull(ex: Executor) -> Result:
    """Pull the flake repo; the system becomes outdated when new commits arrived."""
    if code := await _pull_phase(ex):
        return failed(code)
    _post_validation(ex, '✅ Pull goal achieved', 'lock', 'system')
    return OK


async def switch(ex: Executor) -> Result:
    """Apply the configuration, then restart the agent so it runs the new build."""
    if code := await _switch_phase(ex):
        return failed(code)
    _post_validation(ex, '✅ Switch completed successfully', 'lock', 'system', 'tests')
    return Result(status='ok', restart=SWITCH_RESTART)


async def pull_switch(ex: Executor) -> Result:
    """Pull, then switch (only when the pull succeeded)."""
    if (code := await _pull_phase(ex)) or (code := await _switch_phase(ex)):
        return failed(code)
    _post_validation(ex, '✅ Pull+Switch completed: Lock current, switch successful', 'lock', 'system', 'tests')
    return Result(status='ok', restart=SWITCH_RESTART)


async def test(ex: Executor) -> Result:
    """Run the host's test scripts."""
    ex.update_status.set('tests', 'working', 'Tests running...')
    if code := await ex.phase('tests', 8, ex.steps('test')):
        ex.update_status.set('tests', 'error', f'Tests failed (exit {code})')
        return failed(code)
    ex.update_status.set('tests', 'ok', 'All tests passed')
    return OK


async def rollback(ex: Executor) -> Result:
    """Switch back to the previous generation."""
    ex.output('🔄 Rolling back to previous generation...')
    if code := await ex.run_steps(ex.steps('rollback')):
        ex.update_status.set('system', 'error', f'Rollback failed (exit {code})')
        return failed(code)
    ex.update_status.set('system', 'ok', 'Rolled back to previous generation')
    ex.update_status.set('tests', 'outdated', 'Run tests to verify system')
    return OK


async def update(ex: Executor) -> Result:
    """Run `nix flake update` and re-check the lock."""
    if code := await ex.run_steps(ex.steps('update')):
        return failed(code)
    await ex.check_lock()
    return OK


async def refresh_git(ex: Executor) -> Result:
    """Answer like the Go agent: git status is computed by the dashboard."""
    ex.output('Git status is checked by dashboard (GitHub API)')
    return Result(status='ok', message='git status check is dashboard-side')


async def refresh_lock(ex: Executor) -> Result:
    """Re-check flake.lock; the compartment's status is the message."""
    ex.update_status.set('lock', 'working', 'Checking lock...')
    return _refresh_result(ex, 'Lock', await ex.check_lock())


async def refresh_system(ex: Executor) -> Result:
    """Dry-build the configuration and compare it with the running system."""
    return _refresh_result(ex, 'System', await _check_system(ex))


async def refresh_all(ex: Executor) -> Result:
    """Re-check lock and system."""
    lock = await ex.check_lock()
    system = await _check_system(ex)
    ex.output(lock.line('Lock'))
    ex.output(system.line('System'))
    return Result(status='ok', message='all refreshed')


async def force_update(ex: Executor) -> Result:
    """Pull, update the nixfleet input and rebuild, bypassing the negative narinfo cache."""
    for line in ('╔══════════════════════════════════════╗', '║  FORCE UPDATE: pull, bump, rebuild  ║',
                 '╚══════════════════════════════════════╝'):  # fmt: skip
        ex.output(line)
    if code := await ex.run_steps(plans.force_update_steps(ex.config, ex.facts.platform)):
        ex.update_status.set('system', 'error', f'Force update failed (exit {code})')
        return failed(code, 'force update failed')
    await ex.check_lock()
    ex.update_status.set('system', 'ok', 'Current (force update)')
    return Result(status='ok', message='force update complete')


async def check_version(ex: Executor) -> Result:
    """Compare the running agent version with the installed one (`warning` on mismatch)."""
    lines: list[str] = []
    code = await ex.run_steps(ex.steps('check-version'), capture=lines)
    words = lines[-1].split() if lines else []
    if code or not words:
        return failed(code or 1, 'cannot read the installed agent version')
    running, installed = ex.facts.agent_version, words[-1]
    if running == installed:
        return Result(status='ok', message=f'running={running} installed={installed}')
    return Result(status='warning', message=f'mismatch: running={running} installed={installed}')


async def restart(ex: Executor) -> Result:
    """End the agent process (exit 0) so its supervisor starts it again; no status."""
    return Result(status='ok', silent=True, restart=Restart(exit_code=0, reason='restart'))


async def reboot(ex: Executor) -> Result:
    """Reboot the machine after 3 s; no status unless the reboot fails to start."""
    ex.output('⚠️  Reboot command received. System will reboot in 3 seconds...', 'stderr')
    if code := await ex.run_steps(ex.steps('reboot')):
        return failed(code, 'reboot failed')
    return Result(status='ok', silent=True, restart=Restart(exit_code=0, reason='reboot'))


HANDLERS: dict[str, Handler] = {
    'pull': pull,
    'switch': switch,
    'pull-switch': pull_switch,
    'test': test,
    'rollback': rollback,
    'update': update,
    'refresh-git': refresh_git,
    'refresh-lock': refresh_lock,
    'refresh-system': refresh_system,
    'refresh-all': refresh_all,
    'force-update': force_update,
    'check-version': check_version,
    'restart': restart,
    'reboot': reboot,
}


async def _pull_phase(ex: Executor) -> int:
    before = (await ex.probe()).generation
    if code := await ex.phase('pull', 4, ex.steps('pull')):
        return code
    await ex.check_lock()
    if (await ex.probe()).generation != before:
        ex.update_status.set('system', 'outdated', 'Outdated (rebuild needed)')
    return 0


async def _switch_phase(ex: Executor) -> int:
    ex.update_status.set('system', 'working', 'Switch in progress...')
    if code := await ex.phase('system', 3, ex.steps('switch')):
        ex.update_status.set('system', 'error', f'Switch failed (exit {code})')
        return code
    ex.update_status.set('system', 'ok', 'Current (switched)')
    ex.update_status.set('tests', 'outdated', 'Run tests to verify system')
    return 0


async def _check_system(ex: Executor) -> Compartment:
    ex.update_status.set('system', 'working', 'Checking system...')
    lines: list[str] = []
    if code := await ex.run_steps(ex.steps('refresh-system'), capture=lines):
        return ex.update_status.set('system', 'error', f'Dry build failed (exit {code})')
    try:
        wanted = json.loads('\n'.join(lines))[0]['outputs']['out']
    except (ValueError, LookupError, TypeError):
        return ex.update_status.set('system', 'error', 'Cannot parse the dry-build output')
    if wanted == await ex.system.current_system():
        return ex.update_status.set('system', 'ok', 'Current')
    return ex.update_status.set('system', 'outdated', 'Outdated (rebuild needed)')


def _refresh_result(ex: Executor, label: str, compartment: Compartment) -> Result:
    ex.output(f'✓ {label} status: {compartment.status} ({compartment.message})')
    if compartment.status == 'error':
        return Result(status='error', exit_code=1, message=compartment.message)
    return Result(status='ok', message=compartment.status)


def _post_validation(ex: Executor, goal: str, *compartments: str) -> None:
    labels = {'lock': 'Lock', 'system': 'System', 'tests': 'Tests'}
    status = ex.update_status
    lines = ['', '📊 Post-validation: Checking goal achievement...', status.lock.line('Lock'), '', goal]
    lines += [getattr(status, name).line(labels[name]) for name in compartments if name != 'lock']
    for line in lines:
        ex.output(line)
