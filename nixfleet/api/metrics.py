"""`GET /metrics`: the fleet in Prometheus text format, read from the live objects at scrape time.

Nothing is counted twice: `FleetCollector` reads the fleet state snapshot, the agent gateway's frame counters and
the sync hub when Prometheus scrapes. Commands and pipelines come from the fleet state, which holds the active ones
and those that ended within the last hour, so their metrics are gauges over that window (durations a gauge
histogram), not counters since start. Access needs an API token (Bearer) or a session, like `/api`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

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
from nixfleet.api.tokens_routes import error_response
from nixfleet.models import TERMINAL, Connection, ErrorCode
from nixfleet.timeutil import parse_iso

if TYPE_CHECKING:
    from nixfleet.app import Dashboard

#: The five compartments and their statuses (SPEC §9), exported as 0/1 state sets.
COMPARTMENTS = ('agent', 'git', 'lock', 'system', 'tests')
COMPARTMENT_STATUSES = ('ok', 'outdated', 'error', 'working', 'unknown')
#: Op duration buckets (seconds): a pull takes seconds, a switch can take half an hour.
DURATION_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)


def _compartment_statuses(view: Mapping[str, Any]) -> dict[str, str] | None:
    """Statuses of a host view's `compartments` (`{name: {status, message}}` or `{name: status}`), if it has them."""
    found = view.get('compartments')
    if not isinstance(found, Mapping):
        return None
    statuses = {}
    for name in COMPARTMENTS:
        value = found.get(name)
        if isinstance(value, Mapping):
            value = value.get('status')
        statuses[name] = value if value in COMPARTMENT_STATUSES else 'unknown'
    return statuses


def _duration(command: Mapping[str, Any]) -> float | None:
    finished = parse_iso(command.get('finished_at'))
    started = parse_iso(command.get('started_at')) or parse_iso(command.get('created_at'))
    if finished is None or started is None or finished < started:
        return None
    return finished - started


class FleetCollector:
    """A Prometheus collector over one dashboard's live state."""

    def __init__(self, dashboard: Dashboard) -> None:
        self._dashboard = dashboard

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
            value=self._dashboard.stream.version,
        )  # fmt: skip

    def _hosts(self) -> Iterator[Metric]:
        hosts = self._dashboard.stream.value.hosts
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
        gateway = self._dashboard.gateway
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
        hub = self._dashboard.sync
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
        commands = getattr(self._dashboard.stream.value, 'commands', None) or {}
        by_status = GaugeMetricFamily(
            'nixfleet_commands',
            'Commands in the live window (active, or ended within the last hour) by op and status.',
            labels=['op', 'status'],
        )
        counts: dict[tuple[str, str], int] = {}
        durations: dict[str, list[float]] = {}
        for command in commands.values():
            op, status = str(command.get('op') or 'unknown'), str(command.get('status') or 'unknown')
            counts[op, status] = counts.get((op, status), 0) + 1
            if status in TERMINAL and (seconds := _duration(command)) is not None:
                durations.setdefault(op, []).append(seconds)
        for (op, status), count in sorted(counts.items()):
            by_status.add_metric([op, status], count)
        yield by_status
        histogram = GaugeHistogramMetricFamily(
            'nixfleet_command_duration_seconds',
            'Durations of the commands that ended within the last hour, by op.',
            labels=['op'],
        )
        for op, values in sorted(durations.items()):
            buckets = [(str(bound), float(sum(v <= bound for v in values))) for bound in DURATION_BUCKETS]
            histogram.add_metric([op], [*buckets, ('+Inf', float(len(values)))], gsum_value=sum(values))
        yield histogram

    def _pipelines(self) -> Iterator[Metric]:
        pipelines = getattr(self._dashboard.stream.value, 'pipelines', None) or {}
        runs = GaugeMetricFamily(
            'nixfleet_pipeline_runs',
            'Pipeline runs in the live window (running, or ended within the last hour) by pipeline and status.',
            labels=['pipeline', 'status'],
        )
        counts: dict[tuple[str, str], int] = {}
        for run in pipelines.values():
            key = (str(run.get('name') or run.get('pipeline') or 'unknown'), str(run.get('status') or 'unknown'))
            counts[key] = counts.get(key, 0) + 1
        for (name, status), count in sorted(counts.items()):
            runs.add_metric([name, status], count)
        yield runs


def metrics_registry(dashboard: Dashboard) -> CollectorRegistry:
    """A registry holding the fleet collector and the process collector (CPU, memory, open files)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(dashboard))
    ProcessCollector(registry=registry)
    return registry


def metrics_router(dashboard: Dashboard) -> APIRouter:
    """The `GET /metrics` route for this dashboard."""
    router = APIRouter(tags=['meta'])
    registry = metrics_registry(dashboard)

    @router.get('/metrics', response_class=Response, responses={200: {'content': {'text/plain': {}}}})
    async def metrics(request: Request) -> Response:
        """The fleet in Prometheus text format (OpenMetrics when asked for); needs an API token or a session."""
        if await dashboard.authenticate(request) is None:
            return error_response(ErrorCode.UNAUTHORIZED, 'send an API token (Bearer) or log in')
        encoder, content_type = choose_encoder(request.headers.get('accept', ''))
        return Response(encoder(registry), media_type=content_type)

    return router
