"""`GET /metrics`: the fleet in Prometheus text format, read from the live objects at scrape time.

Nothing is counted twice: `FleetCollector` reads the fleet state snapshot, the agent gateway's frame counters and
the sync hub when Prometheus scrapes. Commands and pipelines are gauges over "active, or ended within the last hour"
(durations a gauge histogram), not counters since start: the active ones come from the fleet state, the ended ones
from `FinishedWindow` (metrics_window.py), which counts every end of the last hour — the live state keeps only the
newest of them. Access needs an API token (Bearer) or a session, like `/api`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder

from nixfleet import __version__
from nixfleet.api.errors import error_response
from nixfleet.api.metrics_window import DURATION_BUCKETS, FinishedWindow
from nixfleet.compartments.model import NAMES
from nixfleet.gateway.agents import AgentGateway
from nixfleet.models import TERMINAL, CompartmentStatus, Connection, ErrorCode
from nixfleet.security.credentials import CredentialCheck
from nixfleet.streams.state import FleetStateStream
from nixfleet.streams.sync import SyncHub
from nixfleet.timeutil import parse_iso

#: The statuses of a compartment, exported as 0/1 state sets (one set per compartment in `NAMES`).
COMPARTMENT_STATUSES = tuple(status.value for status in CompartmentStatus)


def _compartment_statuses(view: Mapping[str, Any]) -> dict[str, str] | None:
    """Statuses of a host view's `compartments` (`{name: {status, message}}` or `{name: status}`), if it has them."""
    found = view.get('compartments')
    if not isinstance(found, Mapping):
        return None
    statuses = {}
    for name in NAMES:
        value = found.get(name)
        if isinstance(value, Mapping):
            value = value.get('status')
        statuses[name] = value if value in COMPARTMENT_STATUSES else 'unknown'
    return statuses


class FleetCollector:
    """A Prometheus collector over the dashboard's live state: fleet state, agent links, sync clients, recent ends."""

    def __init__(
        self, stream: FleetStateStream, gateway: AgentGateway, sync: SyncHub, finished: FinishedWindow
    ) -> None:
        self._stream = stream
        self._gateway = gateway
        self._sync_hub = sync
        self._finished = finished

    def collect(self) -> Iterator[Metric]:
        """Yield every metric family, built from the state as it is right now."""
        yield from self._fleet()
        yield from self._hosts()
        yield from self._agents()
        yield from self._sync()
        yield from self._commands()
        yield from self._pipelines()

    def _fleet(self) -> Iterator[Metric]:
        info = InfoMetricFamily('nixfleet', 'NixFleet dashboard build.', labels=['version'])
        info.add_metric([__version__], {})
        yield info
        yield GaugeMetricFamily(
            'nixfleet_state_version', 'Version of the fleet state (grows with every change).',
            value=self._stream.version,
        )  # fmt: skip

    def _hosts(self) -> Iterator[Metric]:
        hosts = self._stream.value.hosts
        by_state = GaugeMetricFamily('nixfleet_hosts', 'Known hosts by connection state.', labels=['state'])
        up = GaugeMetricFamily(
            'nixfleet_host_up', '1 while the host is online (link open, heartbeats).', labels=['host']
        )
        connection = GaugeMetricFamily(
            'nixfleet_host_connection',
            'Connection state of each host (1 for its current state).',
            labels=['host', 'state'],
        )
        last_seen = GaugeMetricFamily(
            'nixfleet_host_last_seen_timestamp_seconds', 'When the host was last heard from.', labels=['host']
        )
        compartments = GaugeMetricFamily(
            'nixfleet_host_compartment',
            'Compartment status of each host (1 for the current status, 0 for the others).',
            labels=['host', 'compartment', 'status'],
        )
        counts = dict.fromkeys(Connection, 0)
        for host_id, view in sorted(hosts.items()):
            try:
                state = Connection(view.get('connection') or Connection.OFFLINE)
            except ValueError:
                state = Connection.OFFLINE
            counts[state] += 1
            up.add_metric([host_id], 1.0 if state is Connection.ONLINE else 0.0)
            for candidate in Connection:
                connection.add_metric([host_id, candidate.value], 1.0 if candidate is state else 0.0)
            if (seen := parse_iso(view.get('last_seen'))) is not None:
                last_seen.add_metric([host_id], seen)
            for name, status in (_compartment_statuses(view) or {}).items():
                for label in COMPARTMENT_STATUSES:
                    compartments.add_metric([host_id, name, label], 1.0 if label == status else 0.0)
        for state, count in counts.items():
            by_state.add_metric([state.value], count)
        yield from (by_state, up, connection, last_seen, compartments)

    def _agents(self) -> Iterator[Metric]:
        gateway = self._gateway
        yield GaugeMetricFamily('nixfleet_agent_links', 'Registered agent links open now.', value=len(gateway.links))
        messages = CounterMetricFamily(
            'nixfleet_agent_messages', 'Well-formed agent frames received, by message type.', labels=['type']
        )
        for mtype, count in sorted(gateway.frames.items()):
            messages.add_metric([mtype], count)
        malformed = CounterMetricFamily(
            'nixfleet_agent_malformed_frames', 'Agent frames ignored or refused, by kind of problem.', labels=['kind']
        )
        for kind, count in sorted(gateway.malformed.items()):
            malformed.add_metric([kind], count)
        yield from (messages, malformed)

    def _sync(self) -> Iterator[Metric]:
        hub = self._sync_hub
        clients = list(hub.clients)
        yield GaugeMetricFamily('nixfleet_sync_clients', 'Connected state-sync clients.', value=len(clients))
        yield GaugeMetricFamily(
            'nixfleet_sync_client_resyncs',
            'Full-state resyncs forced on the connected clients by queue overflow.',
            value=sum(client.resyncs for client in clients),
        )
        yield CounterMetricFamily(
            'nixfleet_sync_state_requests', 'Full states requested by clients (get_state).', value=hub.resyncs_requested
        )

    def _commands(self) -> Iterator[Metric]:
        state, totals = self._stream.value, self._finished.totals()
        by_status = GaugeMetricFamily(
            'nixfleet_commands',
            'Commands active now, or ended within the last hour (to the minute), by op and status.',
            labels=['op', 'status'],
        )
        counts = Counter(totals.commands)
        for command in state.commands.values():
            if (status := str(command.get('status') or 'unknown')) not in TERMINAL:
                counts[str(command.get('op') or 'unknown'), status] += 1
        for (op, status), count in sorted(counts.items()):
            by_status.add_metric([op, status], count)
        yield by_status
        histogram = GaugeHistogramMetricFamily(
            'nixfleet_command_duration_seconds',
            'Durations of the commands that ended within the last hour, by op.',
            labels=['op'],
        )
        for op, durations in sorted(totals.durations.items()):
            buckets = [(str(bound), float(n)) for bound, n in zip(DURATION_BUCKETS, durations.le, strict=True)]
            histogram.add_metric([op], [*buckets, ('+Inf', float(durations.count))], gsum_value=durations.total)
        yield histogram
        yield GaugeMetricFamily(
            'nixfleet_state_commands',
            'Commands held in the live state (active, plus the newest finished; what every `init` carries).',
            value=len(state.commands),
        )

    def _pipelines(self) -> Iterator[Metric]:
        state, totals = self._stream.value, self._finished.totals()
        runs = GaugeMetricFamily(
            'nixfleet_pipeline_runs',
            'Pipeline runs running now, or ended within the last hour (to the minute), by pipeline and status.',
            labels=['pipeline', 'status'],
        )
        counts = Counter(totals.pipelines)
        for run in state.pipelines.values():
            if run.get('status') == 'RUNNING':
                counts[str(run.get('name') or 'unknown'), 'RUNNING'] += 1
        for (name, status), count in sorted(counts.items()):
            runs.add_metric([name, status], count)
        yield runs
        yield GaugeMetricFamily(
            'nixfleet_state_pipelines',
            'Pipeline runs held in the live state (running, plus the newest finished).',
            value=len(state.pipelines),
        )


def metrics_registry(collector: FleetCollector) -> CollectorRegistry:
    """A registry holding the fleet collector and the process collector (CPU, memory, open files)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    ProcessCollector(registry=registry)
    return registry


def metrics_router(collector: FleetCollector, credentials: CredentialCheck) -> APIRouter:
    """The `GET /metrics` route: what `collector` reads, for requests `credentials` accepts."""
    router = APIRouter(tags=['meta'])
    registry = metrics_registry(collector)

    @router.get('/metrics', response_class=Response, responses={200: {'content': {'text/plain': {}}}})
    async def metrics(request: Request) -> Response:
        """The fleet in Prometheus text format (OpenMetrics when asked for); needs an API token or a session."""
        if await credentials.actor(request) is None:
            return error_response(ErrorCode.UNAUTHORIZED, 'send an API token (Bearer) or log in')
        encoder, content_type = choose_encoder(request.headers.get('accept', ''))
        return Response(encoder(registry), media_type=content_type)

    return router
