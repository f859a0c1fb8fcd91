"""The compartment service: every host's five compartments, kept current as their inputs change, and the command
results they are inferred from."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.base import BaseScheduler

from nixfleet.agent.version import AGENT_IMPL, AGENT_VERSION
from nixfleet.compartments.model import NAMES, Compartments, HostInputs, RemoteDesired
from nixfleet.compartments.records import apply_result, inputs_from_row
from nixfleet.compartments.rules import compartments, live_working
from nixfleet.compartments.version_json import VersionJsonFetcher, remote_wire
from nixfleet.compartments.versions import EVERY_IMPL, expected_agent_version, setting_impls
from nixfleet.config import Settings
from nixfleet.hosts import HostRegistry
from nixfleet.models import CommandStatus
from nixfleet.scheduling import every
from nixfleet.streams.changes import Change, ChangeType
from nixfleet.streams.state import FleetStateStream
from nixfleet.timeutil import Clock

if TYPE_CHECKING:
    from nixfleet.ops.commands import Command

log = logging.getLogger(__name__)

#: How often every host's compartments are re-evaluated for time-based rules (stale `working`).
RECHECK_INTERVAL = 30.0
#: Ops whose success may mean the host is now ahead of the cached version.json: fetch it again.
_REFETCH_AFTER = frozenset({'pull', 'pull-switch'})
#: Terminal command states that are a result (True: succeeded). SUCCESS and PARTIAL count as success; so do
#: STALE_BINARY and SUSPICIOUS (the switch itself worked, only the agent binary is in doubt); ERROR as failure. Other
#: ends (killed, cancelled, timed out, orphaned, blocked, skipped) say nothing about the system and are not recorded.
_RESULT_OK = {
    CommandStatus.SUCCESS: True,
    CommandStatus.PARTIAL: True,
    CommandStatus.STALE_BINARY: True,
    CommandStatus.SUSPICIOUS: True,
    CommandStatus.ERROR: False,
}
#: The agent versions this dashboard ships with: the Go agent whose protocol it speaks (docs/agent-protocol.md), and
#: its own Python agent. The last source of the expected versions, after the setting and version.json.
SHIPPED_AGENT_VERSIONS = {'go': '3.1.5', AGENT_IMPL: AGENT_VERSION}


def changes_with_time(inputs: HostInputs) -> bool:
    """Whether the compartments of these inputs can change with the clock alone.

    `compartments()` reads `now` only to age an agent-reported `working` (Lock, System, Tests): it turns `unknown`
    after `STALE_WORKING_AFTER` and then says how many minutes ago it was reported.
    """
    reports = (inputs.lock_report, inputs.system_report, inputs.tests_report)
    return any(live_working(r, inputs.command_ended_at) for r in reports)


class CompartmentService:
    """Compute host compartments from host rows, the remote desired state and the expected agent versions.

    It owns the version.json fetcher and the expected agent versions, adds `compartments` to every host view and
    host change (a HostRegistry deriver), re-publishes the compartments of the hosts that changed when the remote
    desired state or an expected agent version changes, and records command results for the System/Tests inference
    (`command_finished`, the lifecycle's finished-listener). `statuses` is what op validation and
    post-checks read, so the UI and dispatch never disagree.

    The expected agent version of each implementation comes only from what the admin controls (the setting,
    version.json, the version this dashboard ships with; see `expected_agent_version`), never from what agents
    report: one agent's claim cannot change another host's compartments.

    Cost: a host's compartments are computed when its facts or active command change (the registry calls the
    deriver then), not per heartbeat. A registration changes no other host; all hosts are re-derived only when
    version.json changes. The periodic re-check re-derives only the hosts whose compartments can change with time
    alone (an agent-reported `working`), not the fleet.
    """

    def __init__(
        self,
        settings: Settings,
        hosts: HostRegistry,
        stream: FleetStateStream,
        clock: Clock,
        *,
        active_op: Callable[[str], str | None],
        fetcher: VersionJsonFetcher | None = None,
    ) -> None:
        """`active_op` names the op of a host's active command (the lifecycle's; it re-derives a host on change)."""
        self._settings = settings
        self._hosts = hosts
        self._stream = stream
        self._clock = clock
        if fetcher is None and settings.version_url:
            fetcher = VersionJsonFetcher(settings.version_url, clock=clock)
        #: None when version tracking is not configured (no NIXFLEET_VERSION_URL).
        self.fetcher = fetcher
        self._active_op = active_op
        #: Hosts whose compartments can change with time alone (re-derived by the periodic re-check).
        self._aging: set[str] = set()
        #: When each host's last command ended: agent reports of `working` from before it are left over.
        self._ended: dict[str, float] = {}
        hosts.derivers.insert(0, self.derive)  # first: other derived fields (available ops) read compartments
        if fetcher is not None:
            fetcher.listeners.append(self._remote_changed)

    # -- reading -------------------------------------------------------------------------------------------------
    @property
    def remote(self) -> RemoteDesired | None:
        """The remote desired state (None: version tracking not configured)."""
        return self.fetcher.state if self.fetcher is not None else None

    def _inputs(self, host: str, row: Mapping[str, Any], *, idle: bool = False) -> HostInputs:
        return inputs_from_row(row, None if idle else self._active_op(host), self._ended.get(host))

    def _compute(self, inputs: HostInputs) -> Compartments:
        return compartments(inputs, self.remote, self.expected_for(inputs.agent_impl), now=self._clock())

    def statuses(self, view: Mapping[str, Any], *, idle: bool = False) -> dict[str, str]:
        """`{name: status}` of a host view, recomputed with the view's generation and lock hash (op post-checks
        pass a view with the generation from the agent's `status`); the op engine's `CompartmentSource`.

        `idle` leaves the host's active command out: a post-check runs while its command is still the active one,
        and must judge what the command left behind (a pull's Git), not the `working` of its own run.
        """
        row = self._hosts.rows.get(view.get('id', ''))
        if row is None:
            return dict.fromkeys(NAMES, 'unknown')
        overrides = {k: view[k] for k in ('generation', 'lock_hash') if view.get(k) is not None}
        inputs = self._inputs(view['id'], {**row, **overrides}, idle=idle)
        return compartments(inputs, self.remote, self.expected_for(inputs.agent_impl), now=self._clock()).statuses()

    def derive(self, view: dict[str, Any]) -> dict[str, Any]:
        """HostRegistry deriver: the `compartments` field of a host view (noting hosts that age with time)."""
        host = view.get('id')
        if host not in self._hosts.rows:
            return {}
        inputs = self._inputs(host, self._hosts.rows[host])
        if changes_with_time(inputs):
            self._aging.add(host)
        else:
            self._aging.discard(host)
        return {'compartments': self._compute(inputs).to_wire()}

    def expected_for(self, impl: str) -> str | None:
        """The version agents of `impl` should run: the setting, else version.json, else the shipped version."""
        return expected_agent_version(
            impl, self._settings.expected_agent_version, self._published(), SHIPPED_AGENT_VERSIONS
        )

    def expected_agent_versions(self) -> dict[str, str]:
        """The expected agent version of every implementation the admin's sources name (header)."""
        impls = SHIPPED_AGENT_VERSIONS.keys() | setting_impls(self._settings.expected_agent_version)
        impls |= self._published().keys() - {EVERY_IMPL}
        found = {impl: self.expected_for(impl) for impl in impls}
        return {impl: version for impl, version in sorted(found.items()) if version}

    def fleet_fields(self) -> dict[str, Any]:
        """Fleet-wide facts this service owns: the remote desired state and the expected agent versions."""
        return {'remote': remote_wire(self.remote), 'expected_agent_versions': self.expected_agent_versions()}

    def _published(self) -> Mapping[str, str]:
        """The agent versions of the last good version.json (`agentVersion`), if any."""
        remote = self.remote
        return remote.version.agent_versions if remote is not None and remote.version is not None else {}

    # -- publishing ----------------------------------------------------------------------------------------------
    def publish_changed(self) -> list[str]:
        """Re-derive every host (a fleet-wide input changed) and re-publish the derived fields (compartments and
        what depends on them, e.g. available ops) of the hosts where they differ; return those hosts."""
        return self._hosts.refresh_derived()

    def _publish_expected(self) -> bool:
        """Publish the expected agent versions when they differ from the published ones; return whether they did."""
        after = self.expected_agent_versions()
        if after == self._stream.value.fleet.get('expected_agent_versions'):
            return False
        log.info('expected agent versions now %s', after)
        self._stream.emit(Change(ChangeType.FLEET_UPDATED, fields={'expected_agent_versions': after}))
        return True

    def recheck(self) -> list[str]:
        """Re-derive the hosts whose compartments change with time (forgetting removed hosts); publish what changed."""
        self._aging &= self._hosts.rows.keys()
        self._ended = {host: at for host, at in self._ended.items() if host in self._hosts.rows}
        return self._hosts.refresh_derived(sorted(self._aging))

    async def recheck_job(self) -> None:
        """Periodic job: time-based rules (stale `working`) and hosts removed since the last check."""
        self.recheck()

    def _remote_changed(self, old: RemoteDesired, new: RemoteDesired) -> None:
        self._stream.emit(Change(ChangeType.FLEET_UPDATED, fields={'remote': remote_wire(new)}))
        self._publish_expected()  # version.json may name other agent versions
        self.publish_changed()

    # -- commands ------------------------------------------------------------------------------------------------
    def set_command_ends(self, ends: Mapping[str, float]) -> None:
        """Take when each host's last command ended (`journal.records.last_command_ends`, at startup)."""
        self._ended.update(ends)

    async def command_finished(self, command: Command) -> None:
        """Lifecycle finished-listener: note when the host's command ended, then record its result (if it is one).

        The end is noted first, before anything is derived: from then on no compartment says `working` because of
        an agent report received before it (a test that was killed, or whose agent crashed, reported `working` and
        will never report its end). See `_RESULT_OK` for the ends that are a result.
        """
        host, at = command.host, command.finished_at
        if host and at is not None:
            self._ended[host] = max(at, self._ended.get(host, at))
        if not host or (ok := _RESULT_OK.get(command.status)) is None:
            return
        message = command.error or command.message or ''
        await self.record_result(host, command.op, ok, message=message, exit_code=command.exit_code)

    async def record_result(
        self,
        host: str,
        op: str,
        ok: bool,
        generation: str = '',
        message: str = '',
        *,
        exit_code: int | None = None,
    ) -> None:
        """Record a finished command's result for the System/Tests inference (called by the command lifecycle).

        `op` is the op id (agent command names work too), `ok` whether it succeeded (status ok/warning),
        `generation` the one in the agent's `status` (default: the host's current one), `message` the status
        message. Call it for completed commands only (not for killed, cancelled or timed-out ones).
        """
        row = self._hosts.rows.get(host)
        if row is None:
            return
        inputs = inputs_from_row(row)
        system, tests = apply_result(
            inputs.system_record,
            inputs.tests_record,
            op=op,
            ok=ok,
            generation=generation or inputs.generation,
            message=message,
            exit_code=exit_code,
            at=self._clock(),
        )
        records: dict[str, Any] = {}
        if system is not inputs.system_record and system is not None:
            records['system_record_json'] = system.to_json()
        if tests is not inputs.tests_record and tests is not None:
            records.update(tests_record_json=tests.to_json(), tests_generation=tests.generation)
        if records:
            await self._hosts.set_records(host, records)
        if ok and self.fetcher is not None and op in _REFETCH_AFTER:
            self.fetcher.refresh_soon()

    async def refresh_remote(self) -> RemoteDesired | None:
        """Fetch version.json now (the `refresh-git` op); None when version tracking is not configured."""
        return await self.fetcher.refresh() if self.fetcher is not None else None

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def start(self, scheduler: BaseScheduler) -> None:
        """Add the periodic jobs: version.json (first fetch at once) and the compartment re-check."""
        if self.fetcher is not None:
            every(
                scheduler,
                self._settings.version_fetch_ttl,
                self.fetcher.refresh,
                'version_json',
                first=datetime.now(UTC),
            )
        every(scheduler, RECHECK_INTERVAL, self.recheck_job, 'compartments')

    async def stop(self) -> None:
        """Stop fetching and close the HTTP client."""
        if self.fetcher is not None:
            await self.fetcher.aclose()
