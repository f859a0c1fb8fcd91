"""A host's five compartments (SPEC §9): one pure function of the host's inputs and the remote desired state.

`compartments()` is the only place a compartment status is decided; the UI, sync, validation and the API all read
its result (the host view's `compartments` field). Nothing here does I/O or reads a clock: callers pass `now`.

System and Tests are inferred, never checked expensively. Their inputs are the dashboard's own *records* of command
results (`apply_result`, persisted per host, so they survive agent restarts) and the agent's *reports* (heartbeat
`update_status`, which the agent forgets on restart). A record is scoped to the generation it was made on, so a
pull that moves the generation makes System outdated and a no-op pull does not; a report only says `working` or
fills in when the dashboard has no record (e.g. a database taken over from the Go dashboard).

`working` means work that is going on: the host's active command, or an agent report received after the host's
last command ended. A report from before that end (a killed test, a switch whose agent crashed) is left over and
says nothing, however recent it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nixfleet.models import CompartmentStatus as S
from nixfleet.timeutil import iso, parse_iso

NAMES = ('agent', 'git', 'lock', 'system', 'tests')
#: An agent-reported `working` older than this (and newer than any record) is taken as interrupted.
STALE_WORKING_AFTER = 300.0
#: Longest piece of agent-supplied text quoted in a message.
MAX_MESSAGE = 200
NOT_CONFIGURED = 'Version tracking not configured'
NOT_CONFIGURED_HINT = "Set NIXFLEET_VERSION_URL to the config repo's version.json to compare hosts with it"
EXPECTED_HINT = 'Set NIXFLEET_EXPECTED_AGENT_VERSION (e.g. 3.1.5, or go=3.1.5,python=0.2.0) to pin it'
AHEAD_HINT = (
    'The expected version comes from NIXFLEET_EXPECTED_AGENT_VERSION, else version.json `agentVersion`, else the '
    'version this dashboard ships with; pin the version you deploy there'
)
#: A version.json `agentVersion` given as one string applies to every agent implementation.
EVERY_IMPL = '*'

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
_AGENT_COMMAND_OPS = {'update': 'bump-flake', 'force-update': 'force-rebuild'}
#: Ops whose success deploys the configuration at the host's generation.
_DEPLOY_OPS = frozenset({'switch', 'pull-switch', 'force-rebuild'})


# -- values -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class Compartment:
    """One compartment: status, a human sentence, an optional hint, and the op a click should dispatch."""

    status: S
    message: str
    hint: str | None = None
    action: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """JSON form: `{status, message, hint, action}`."""
        return {'status': self.status.value, 'message': self.message, 'hint': self.hint, 'action': self.action}


@dataclass(frozen=True, slots=True, kw_only=True)
class Compartments:
    """The five compartments of one host, in display order."""

    agent: Compartment
    git: Compartment
    lock: Compartment
    system: Compartment
    tests: Compartment

    def to_wire(self) -> dict[str, dict[str, Any]]:
        """JSON form: `{agent: {...}, git: {...}, lock: {...}, system: {...}, tests: {...}}`."""
        return {name: getattr(self, name).to_wire() for name in NAMES}

    def statuses(self) -> dict[str, str]:
        """`{name: status}` for the five compartments."""
        return {name: getattr(self, name).status.value for name in NAMES}


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionInfo:
    """One parsed version.json; `problems` names each unusable field and why (missing, wrong type, ...)."""

    git_commit: str | None = None
    lock_hash: str | None = None
    message: str = ''
    branch: str = ''
    timestamp: str = ''
    repo: str = ''
    #: `agentVersion`: the agent version per implementation (`EVERY_IMPL` when one string names it for all).
    agent_versions: Mapping[str, str] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteDesired:
    """The remote desired state: the last good version.json and, while fetching fails, why."""

    version: VersionInfo | None = None  #: the last good fetch (kept while later fetches fail)
    error: str | None = None  #: why the last fetch failed; None after a success
    fetched_at: float | None = None  #: time of the last successful fetch
    checked_at: float | None = None  #: time of the last attempt


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """A compartment as the agent last reported it in a heartbeat, with the time the dashboard received it."""

    status: str
    message: str = ''
    at: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """The dashboard's own record of a command result, scoped to the generation it was made on."""

    status: S
    message: str
    generation: str = ''
    op: str = ''
    at: float = 0.0

    def to_json(self) -> str:
        """Stored form (a JSON object with an ISO time)."""
        return json.dumps(
            {'status': self.status.value, 'message': self.message, 'generation': self.generation, 'op': self.op,
             'at': iso(self.at)},
            sort_keys=True,
        )  # fmt: skip

    @classmethod
    def from_json(cls, text: str | None) -> Record | None:
        """Parse the stored form; None when absent or unreadable."""
        data = _json_object(text)
        try:
            return cls(
                status=S(data['status']),
                message=str(data.get('message') or ''),
                generation=str(data.get('generation') or ''),
                op=str(data.get('op') or ''),
                at=parse_iso(data.get('at')) or 0.0,
            )
        except (KeyError, ValueError, TypeError):
            return None


@dataclass(frozen=True, slots=True, kw_only=True)
class HostInputs:
    """Everything the compartments of one host depend on, apart from the remote state and expected version."""

    agent_version: str = ''
    agent_impl: str = 'go'
    generation: str = ''
    lock_hash: str = ''
    active_op: str | None = None  #: the op of the host's active command (from the lifecycle), if any
    lock_report: Report | None = None
    system_report: Report | None = None
    tests_report: Report | None = None
    system_record: Record | None = None
    tests_record: Record | None = None
    tests_generation: str = ''  #: generation the (Go dashboard's) tests report was scoped to, when no record exists
    command_ended_at: float | None = None  #: when the host's last command ended (None: none known)


# -- the function -------------------------------------------------------------------------------------------------
def compartments(
    inputs: HostInputs, remote: RemoteDesired | None, expected_agent: str | None, *, now: float
) -> Compartments:
    """Compute the five compartments; `remote` None means version tracking is not configured."""
    op = canonical_op(inputs.active_op)
    git = _git(inputs, remote, op)
    lock = _lock(inputs, remote, op, git, now)
    system = _system_action(_gate_system(_system(inputs, op, now), git, lock), git, lock)
    tests = _gate_tests(_tests(inputs, op, now), git, lock, system)
    return Compartments(agent=_agent(inputs, expected_agent, op), git=git, lock=lock, system=system, tests=tests)


def canonical_op(op: str | None) -> str | None:
    """Map an agent command name to its op id (`update` → `bump-flake`); op ids pass through."""
    return _AGENT_COMMAND_OPS.get(op, op) if op else None


def live_working(report: Report | None, ended_at: float | None) -> bool:
    """Whether an agent report says `working` for work that has not ended: it came after the last command's end."""
    if report is None or report.status != S.WORKING:
        return False
    return ended_at is None or (report.at is not None and report.at > ended_at)


def _working(name: str, op: str | None) -> Compartment | None:
    message = _WORKING_OPS[name].get(op or '')
    return Compartment(status=S.WORKING, message=message) if message else None


# -- Agent --------------------------------------------------------------------------------------------------------
def _agent(inputs: HostInputs, expected: str | None, op: str | None) -> Compartment:
    if working := _working('agent', op):
        return working
    version = inputs.agent_version.strip()
    if not version:
        return Compartment(status=S.UNKNOWN, message='Agent version not reported', action='check-version')
    if not expected:
        return Compartment(status=S.UNKNOWN, message=f'Agent {_show(version)}; no expected version', hint=EXPECTED_HINT)
    if _plain_version(version) == _plain_version(expected):
        return Compartment(status=S.OK, message=f'Agent {_show(version)} (current)')
    if version_key(_plain_version(version)) > version_key(_plain_version(expected)):
        # newer than expected is not outdated: a switch of this host is not expected to replace its agent
        return Compartment(
            status=S.OK, message=f'Agent {_show(version)} (newer than the expected {_show(expected)})', hint=AHEAD_HINT
        )
    return Compartment(
        status=S.OUTDATED,
        message=f'Agent {_show(version)} (expected {_show(expected)})',
        hint='Update the agent through the config repo (bump its flake input, then Pull + Switch)',
        action='check-version',
    )


def _plain_version(version: str) -> str:
    return version.strip().removeprefix('v')


def version_key(version: str) -> tuple[tuple[int, ...], str]:
    """Sort key for agent versions: numeric parts first (3.1.10 > 3.1.9), then the text."""
    return tuple(int(n) for n in re.findall(r'\d+', version)[:8]), version


def expected_agent_version(
    impl: str, setting: str, published: Mapping[str, str], shipped: Mapping[str, str]
) -> str | None:
    """The version agents of `impl` should run, from sources only the admin controls; the first that names it wins.

    1. `NIXFLEET_EXPECTED_AGENT_VERSION`: a plain value (`3.1.5`) applies to every implementation;
       `go=3.1.5,python=0.2.0` pins them one by one, and an implementation it leaves out falls through.
    2. version.json `agentVersion` (`published`): per implementation, or `EVERY_IMPL` for all.
    3. The version this dashboard ships with (`shipped`): its own Python agent, and the Go agent it speaks to.

    Never a version an agent reports: any agent holding the shared token can claim one (`agent_version 99.0.0`
    made every other host "outdated", and their healthy switches then ended STALE_BINARY).
    """
    return _from_setting(impl, setting) or published.get(impl) or published.get(EVERY_IMPL) or shipped.get(impl)


def setting_impls(setting: str) -> set[str]:
    """The implementations `NIXFLEET_EXPECTED_AGENT_VERSION` pins one by one (`go=3.1.5,...`)."""
    return {part.partition('=')[0].strip() for part in setting.split(',') if '=' in part} - {''}


def _from_setting(impl: str, setting: str) -> str | None:
    setting = setting.strip()
    if setting and '=' not in setting:
        return setting
    for part in setting.split(','):
        name, _, version = part.partition('=')
        if name.strip() == impl and version.strip():
            return version.strip()
    return None


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
        return Compartment(status=S.ERROR, message=f'Host reports an invalid generation {_show(generation)!r}')
    if generation[:7].lower() == wanted[:7].lower():
        return Compartment(status=S.OK, message=f'Up to date with remote ({generation[:7]})')
    subject = (version.message if version else '').strip().splitlines()[0:1]
    suffix = f': {_show(subject[0], 80)}' if subject else ''
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
        return Compartment(status=S.WORKING, message=_show(report.message, MAX_MESSAGE) or 'Checking flake.lock')
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
        return Compartment(status=S.ERROR, message=f'Host reports an invalid lock hash {_show(host_hash)!r}')
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
    said = _show(report.message, MAX_MESSAGE)
    if age <= STALE_WORKING_AFTER:
        return Compartment(status=S.WORKING, message=said or f'{what} in progress')
    minutes = int(age // 60) if age != float('inf') else None
    since = f' {minutes} min ago' if minutes is not None else ''
    return Compartment(status=S.UNKNOWN, message=f'{said or what} reported{since} and never finished (interrupted?)')


def _from_report(report: Report | None) -> Compartment | None:
    if report is None or report.status not in (S.OK, S.OUTDATED, S.ERROR):
        return None
    text = _show(report.message, MAX_MESSAGE) or report.status
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


# -- recording results (pure) -------------------------------------------------------------------------------------
def apply_result(
    system: Record | None,
    tests: Record | None,
    *,
    op: str,
    ok: bool,
    generation: str,
    message: str = '',
    exit_code: int | None = None,
    at: float,
) -> tuple[Record | None, Record | None]:
    """Return the (system, tests) records after a command result; ops that affect neither leave them unchanged."""
    op = canonical_op(op) or ''
    gen = generation.strip()
    detail = _show(message.strip(), MAX_MESSAGE)
    failed = f'(exit {exit_code})' if exit_code not in (None, 0) else ''
    because = ' '.join(p for p in (failed, detail) if p)

    def rec(status: S, text: str) -> Record:
        return Record(status=status, message=text, generation=gen, op=op, at=at)

    if op in _DEPLOY_OPS:
        name = {'switch': 'Switch', 'pull-switch': 'Pull + Switch', 'force-rebuild': 'Force rebuild'}[op]
        if not ok:
            return rec(S.ERROR, f'{name} failed{" " + because if because else ""}'), tests
        return rec(S.OK, f'{name} deployed {gen[:7] or "the configuration"}'), rec(
            S.OUTDATED, f'Tests need a re-run after the {name.lower()}'
        )
    if op == 'rollback':
        if not ok:
            return rec(S.ERROR, f'Rollback failed{" " + because if because else ""}'), tests
        return rec(S.OUTDATED, 'Rolled back to the previous generation: switch to redeploy'), rec(
            S.OUTDATED, 'Tests need a re-run after the rollback'
        )
    if op == 'test':
        if ok:
            return system, rec(S.OK, f'All tests passed on {gen[:7]}' if gen else 'All tests passed')
        return system, rec(S.ERROR, f'Tests failed{" " + because if because else ""}')
    if op == 'refresh-system':
        verdict = detail.lower()
        if not ok:
            return rec(S.ERROR, f'System check failed{": " + detail if detail else ""}'), tests
        if verdict in (S.OK, S.OUTDATED, S.ERROR):
            text = {S.OK: 'System check: current', S.OUTDATED: 'System check: rebuild needed'}.get(
                S(verdict), 'System check: error'
            )
            return rec(S(verdict), text), tests
    return system, tests


# -- host rows ----------------------------------------------------------------------------------------------------
def report_from_json(text: str | None) -> Report | None:
    """Parse a persisted agent report (`{status, message, checked_at, received_at}`); None when empty."""
    data = _json_object(text)
    status = data.get('status')
    if not isinstance(status, str) or not status:
        return None
    at = parse_iso(_str(data.get('received_at'))) or parse_iso(_str(data.get('checked_at')))
    return Report(status=status, message=_str(data.get('message')), at=at)


def inputs_from_row(
    row: Mapping[str, Any], active_op: str | None = None, command_ended_at: float | None = None
) -> HostInputs:
    """Build the inputs of one host from its `hosts` row (plus what the lifecycle knows of its commands)."""
    return HostInputs(
        agent_version=_str(row.get('agent_version')),
        agent_impl=_str(row.get('agent_impl')) or 'go',
        generation=_str(row.get('generation')),
        lock_hash=_str(row.get('lock_hash')),
        active_op=active_op,
        lock_report=report_from_json(row.get('lock_status_json')),
        system_report=report_from_json(row.get('system_status_json')),
        tests_report=report_from_json(row.get('tests_status_json')),
        system_record=Record.from_json(row.get('system_record_json')),
        tests_record=Record.from_json(row.get('tests_record_json')),
        tests_generation=_str(row.get('tests_generation')),
        command_ended_at=command_ended_at,
    )


# -- helpers ------------------------------------------------------------------------------------------------------
def _json_object(text: Any) -> dict[str, Any]:
    if not isinstance(text, str) or not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ''


def _is_hex(value: str, shortest: int, longest: int) -> bool:
    return shortest <= len(value) <= longest and _HEX.fullmatch(value) is not None


def _moved(recorded: str, current: str) -> bool:
    """Whether the host's generation is no longer the one a record was made on (unknown ones never moved)."""
    return bool(recorded) and bool(current) and recorded[:7].lower() != current[:7].lower()


def _moved_message(what: str, recorded: str, current: str) -> str:
    return f'{what} {recorded[:7]}; the host is now at {current[:7]}'


def _age(report: Report, now: float) -> float:
    return now - report.at if report.at is not None else float('inf')


def _show(value: str, limit: int = 24) -> str:
    """Shorten an untrusted value for a message."""
    value = value.replace('\n', ' ')
    return value if len(value) <= limit else value[: limit - 1] + '…'
