"""The compartment rules: one pure function from a host's inputs and the remote desired state to its five
compartments, the only place a compartment status is decided."""

from __future__ import annotations

import re
from collections.abc import Mapping

from nixfleet.compartments.model import (
    MAX_MESSAGE,
    Compartment,
    Compartments,
    HostInputs,
    Record,
    RemoteDesired,
    Report,
    VersionInfo,
    canonical_op,
    show,
)
from nixfleet.compartments.versions import agent_compartment
from nixfleet.models import CompartmentStatus as S

#: An agent-reported `working` older than this (and newer than any record) is taken as interrupted.
STALE_WORKING_AFTER = 300.0
NOT_CONFIGURED = 'Version tracking not configured'
NOT_CONFIGURED_HINT = "Set NIXFLEET_VERSION_URL to the config repo's version.json to compare hosts with it"

_HEX = re.compile(r'[0-9a-fA-F]+')
#: Ops that make a compartment `working` while they run (op ids; agent command names are mapped to them).
_WORKING_OPS: dict[str, dict[str, str]] = {
    'agent': {'restart': 'Agent restarting', 'reboot': 'Host rebooting', 'check-version': 'Checking agent version'},
    'git': {'pull': 'Pull in progress', 'pull-switch': 'Pull in progress'},
    'lock': {'bump-flake': 'Updating flake.lock', 'refresh-lock': 'Checking flake.lock'},
    'system': {
        'switch': 'Switch in progress',
        'pull-switch': 'Pull + Switch in progress',
        'rollback': 'Rollback in progress',
        'force-rebuild': 'Force rebuild in progress',
        'refresh-system': 'Checking the system',
    },
    'tests': {'test': 'Tests running'},
}


# -- the function -------------------------------------------------------------------------------------------------
def compartments(
    inputs: HostInputs, remote: RemoteDesired | None, expected_agent: str | None, *, now: float
) -> Compartments:
    """Compute the five compartments; `remote` None means version tracking is not configured.

    The UI, sync, validation and the API all read this result (the host view's `compartments` field). Nothing here
    does I/O or reads a clock: callers pass `now`.

    System and Tests are inferred, never checked expensively. Their inputs are the dashboard's own *records* of
    command results (`records.apply_result`, persisted per host, so they survive agent restarts) and the agent's
    *reports* (heartbeat `update_status`, which the agent forgets on restart). A record is scoped to the generation
    it was made on, so a pull that moves the generation makes System outdated and a no-op pull does not; a report
    only says `working` or fills in when the dashboard has no record (e.g. a database taken over from the Go
    dashboard).

    `working` means work that is going on: the host's active command, or an agent report received after the host's
    last command ended. A report from before that end (a killed test, a switch whose agent crashed) is left over
    and says nothing, however recent it is.
    """
    op = canonical_op(inputs.active_op)
    agent = _working('agent', op) or agent_compartment(inputs.agent_version, expected_agent)
    git = _git(inputs, remote, op)
    lock = _lock(inputs, remote, op, git, now)
    system = _system_action(_gate_system(_system(inputs, op, now), git, lock), git, lock)
    tests = _gate_tests(_tests(inputs, op, now), git, lock, system)
    return Compartments(agent=agent, git=git, lock=lock, system=system, tests=tests)


def live_working(report: Report | None, ended_at: float | None) -> bool:
    """Whether an agent report says `working` for work that has not ended: it came after the last command's end."""
    if report is None or report.status != S.WORKING:
        return False
    return ended_at is None or (report.at is not None and report.at > ended_at)


def _working(name: str, op: str | None) -> Compartment | None:
    message = _WORKING_OPS[name].get(op or '')
    return Compartment(status=S.WORKING, message=message) if message else None


# -- Git and Lock -------------------------------------------------------------------------------------------------
def _remote_field(remote: RemoteDesired, name: str) -> tuple[str | None, Compartment | None]:
    """The remote value of a version.json field, and the compartment that overrides the comparison, if any."""
    failing = (
        Compartment(status=S.ERROR, message=f'version.json fetch failing: {remote.error}', action='refresh-git')
        if remote.error
        else None
    )
    if remote.version is None:
        return None, failing or Compartment(status=S.UNKNOWN, message='Waiting for the first version.json fetch')
    value = remote.version.git_commit if name == 'gitCommit' else remote.version.lock_hash
    problem = remote.version.problems.get(name) or (None if value else f'has no {name}')
    if problem or not value:
        return None, failing or Compartment(
            status=S.ERROR, message=f'Remote version.json {problem}', action='refresh-git'
        )
    return value, failing  # a failing fetch still compares with the last good copy, but says it fails


def _with_last_good(failing: Compartment, compared: Compartment) -> Compartment:
    hint = f'Compared with the last good version.json: {compared.message}'
    return Compartment(status=failing.status, message=failing.message, hint=hint, action=failing.action)


def _git(inputs: HostInputs, remote: RemoteDesired | None, op: str | None) -> Compartment:
    if working := _working('git', op):
        return working
    if remote is None:
        return Compartment(status=S.UNKNOWN, message=NOT_CONFIGURED, hint=NOT_CONFIGURED_HINT)
    wanted, problem = _remote_field(remote, 'gitCommit')
    if wanted is None:
        assert problem is not None
        return problem
    compared = _compare_git(inputs.generation.strip(), wanted, remote.version)
    return _with_last_good(problem, compared) if problem is not None else compared


def _compare_git(generation: str, wanted: str, version: VersionInfo | None) -> Compartment:
    if not generation:
        return Compartment(
            status=S.UNKNOWN,
            message='Agent has not reported its generation',
            hint="The agent reads it from the config checkout's HEAD; an empty value means it could not",
        )
    if not _is_hex(generation, 7, 64):
        return Compartment(status=S.ERROR, message=f'Host reports an invalid generation {show(generation)!r}')
    if generation[:7].lower() == wanted[:7].lower():
        return Compartment(status=S.OK, message=f'Up to date with remote ({generation[:7]})')
    subject = (version.message if version else '').strip().splitlines()[0:1]
    suffix = f': {show(subject[0], 80)}' if subject else ''
    return Compartment(
        status=S.OUTDATED,
        message=f'Behind remote ({generation[:7]} → {wanted[:7]}){suffix}',
        hint="Pull to move the host's config checkout to the remote commit",
        action='pull',
    )


def _lock(
    inputs: HostInputs, remote: RemoteDesired | None, op: str | None, git: Compartment, now: float
) -> Compartment:
    if working := _working('lock', op):
        return working
    report = inputs.lock_report
    if (
        report is not None
        and live_working(report, inputs.command_ended_at)
        and _age(report, now) <= STALE_WORKING_AFTER
    ):
        return Compartment(status=S.WORKING, message=show(report.message, MAX_MESSAGE) or 'Checking flake.lock')
    if remote is None:
        return Compartment(status=S.UNKNOWN, message=NOT_CONFIGURED, hint=NOT_CONFIGURED_HINT)
    wanted, problem = _remote_field(remote, 'lockHash')
    if wanted is None:
        assert problem is not None
        return problem
    compared = _compare_lock(inputs.lock_hash.strip(), wanted, git)
    return _with_last_good(problem, compared) if problem is not None else compared


def _compare_lock(host_hash: str, wanted: str, git: Compartment) -> Compartment:
    if not host_hash:
        return Compartment(status=S.UNKNOWN, message='Agent has not reported a flake.lock hash', action='refresh-lock')
    if not _is_hex(host_hash, 8, 128):
        return Compartment(status=S.ERROR, message=f'Host reports an invalid lock hash {show(host_hash)!r}')
    if host_hash.lower() == wanted.lower():
        return Compartment(status=S.OK, message='flake.lock is current')
    message = f'flake.lock outdated (host {host_hash[:8]}, remote {wanted[:8]})'
    if git.status is S.OK:  # same commit, different lock: changed on the host (e.g. a local flake update)
        return Compartment(
            status=S.OUTDATED, message=message, hint='flake.lock was changed on the host; commit or reset it'
        )
    return Compartment(status=S.OUTDATED, message=message, hint='Pull to get the remote flake.lock', action='pull')


# -- System and Tests: raw inference ------------------------------------------------------------------------------
def _reported_working(
    report: Report | None, record: Record | None, inputs: HostInputs, now: float, what: str
) -> Compartment | None:
    """`working` from the agent's report, `unknown` when it is stale; None when the report is not newer work."""
    if report is None or not live_working(report, inputs.command_ended_at):
        return None  # not working, or sent before the host's last command ended: left over
    if record is not None and (report.at is None or report.at <= record.at):
        return None  # the record (a result) came after: the report is left over
    age = _age(report, now)
    said = show(report.message, MAX_MESSAGE)
    if age <= STALE_WORKING_AFTER:
        return Compartment(status=S.WORKING, message=said or f'{what} in progress')
    minutes = int(age // 60) if age != float('inf') else None
    since = f' {minutes} min ago' if minutes is not None else ''
    return Compartment(status=S.UNKNOWN, message=f'{said or what} reported{since} and never finished (interrupted?)')


def _from_report(report: Report | None) -> Compartment | None:
    if report is None or report.status not in (S.OK, S.OUTDATED, S.ERROR):
        return None
    text = show(report.message, MAX_MESSAGE) or report.status
    return Compartment(status=S(report.status), message=f'{text} (reported by the agent)')


def _system(inputs: HostInputs, op: str | None, now: float) -> Compartment:
    if working := _working('system', op):
        return working
    record = inputs.system_record
    if reported := _reported_working(inputs.system_report, record, inputs, now, 'Switch'):
        return reported
    if record is None:
        return _from_report(inputs.system_report) or Compartment(status=S.UNKNOWN, message='No switch recorded yet')
    generation = inputs.generation.strip()
    if record.status is S.OK and _moved(record.generation, generation):
        return Compartment(status=S.OUTDATED, message=_moved_message('Deployed', record.generation, generation))
    return Compartment(status=record.status, message=record.message)


def _tests(inputs: HostInputs, op: str | None, now: float) -> Compartment:
    if working := _working('tests', op):
        return working
    record = inputs.tests_record
    if reported := _reported_working(inputs.tests_report, record, inputs, now, 'Tests'):
        return reported
    generation = inputs.generation.strip()
    if record is None:
        scoped = inputs.tests_generation.strip()
        found = _from_report(inputs.tests_report)
        if found is not None and _moved(scoped, generation):
            return Compartment(status=S.OUTDATED, message=_moved_message('Tests ran on', scoped, generation))
        return found or Compartment(status=S.UNKNOWN, message='Tests not run yet')
    if record.status is not S.OUTDATED and _moved(record.generation, generation):
        return Compartment(status=S.OUTDATED, message=_moved_message('Tests ran on', record.generation, generation))
    return Compartment(status=record.status, message=record.message)


# -- gating and actions -------------------------------------------------------------------------------------------
def _gate_reason(parts: Mapping[str, Compartment]) -> tuple[S, str] | None:
    """Why `parts` keep another compartment from being ok (worst first); None when they are all ok."""
    for status, verdict, gated in (
        (S.OUTDATED, 'not current', S.OUTDATED),
        (S.ERROR, 'not verified', S.OUTDATED),
        (S.WORKING, 'waiting', S.UNKNOWN),
        (S.UNKNOWN, 'not verified', S.UNKNOWN),
    ):
        names = [name.capitalize() for name, part in parts.items() if part.status is status]
        if names:
            return gated, f'{verdict}: {" and ".join(names)} {status.value}'
    return None


def _gate_system(raw: Compartment, git: Compartment, lock: Compartment) -> Compartment:
    """System is never ok unless Git and Lock are; a missing System next to a bad Git or Lock is not gray."""
    reason = _gate_reason({'git': git, 'lock': lock})
    if reason is None or raw.status not in (S.OK, S.UNKNOWN):
        return raw
    status, why = reason
    if raw.status is S.UNKNOWN and status is S.UNKNOWN:
        return raw
    return Compartment(status=status, message=f'System {why} ({raw.message})')


def _system_action(system: Compartment, git: Compartment, lock: Compartment) -> Compartment:
    """Click action of System: deploy what is behind, or check a system nothing is known about."""
    current = git.status is S.OK and lock.status is S.OK
    action, hint = None, system.hint
    behind = git.status is S.OUTDATED or (lock.status is S.OUTDATED and git.status is not S.OK)
    if system.status is S.OUTDATED and behind:
        action, hint = 'pull-switch', 'Pull + Switch to deploy the remote state'
    elif system.status is S.OUTDATED and current:
        action, hint = 'switch', 'Switch to deploy the pulled configuration'
    elif system.status is S.UNKNOWN and current:
        action = 'refresh-system'
    elif system.status is S.ERROR:
        hint = "See the host's log, fix the cause, then Switch again"
    return Compartment(status=system.status, message=system.message, hint=hint, action=action)


def _gate_tests(raw: Compartment, git: Compartment, lock: Compartment, system: Compartment) -> Compartment:
    """Tests are never ok unless Git, Lock and System are; click runs the tests unless a deploy must come first."""
    if raw.status is S.OK:
        reason = _gate_reason({'git': git, 'lock': lock}) or _gate_reason({'system': system})
        if reason is not None:
            status, why = reason
            hint = 'Deploy first (Pull + Switch), then Test' if status is S.OUTDATED else None
            return Compartment(status=status, message=f'Tests {why} ({raw.message})', hint=hint)
        return raw
    if raw.status in (S.OUTDATED, S.ERROR, S.UNKNOWN):
        return Compartment(status=raw.status, message=raw.message, hint=raw.hint, action='test')
    return raw


# -- helpers ------------------------------------------------------------------------------------------------------
def _is_hex(value: str, shortest: int, longest: int) -> bool:
    return shortest <= len(value) <= longest and _HEX.fullmatch(value) is not None


def _moved(recorded: str, current: str) -> bool:
    """Whether the host's generation is no longer the one a record was made on (unknown ones never moved)."""
    return bool(recorded) and bool(current) and recorded[:7].lower() != current[:7].lower()


def _moved_message(what: str, recorded: str, current: str) -> str:
    return f'{what} {recorded[:7]}; the host is now at {current[:7]}'


def _age(report: Report, now: float) -> float:
    return now - report.at if report.at is not None else float('inf')
