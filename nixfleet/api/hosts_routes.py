"""`/api/hosts`: the hosts as clients see them, their CPU and RAM of the last hour, and the host ops `remove` and
`set-color` run through dispatch.

Removing a host and setting its colour are ops like any other: they go through the op engine's dispatch,
so they are journaled as commands, audited, and refused by the same rules (an online host cannot be removed; one
command per host at a time).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from nixfleet.api.deps import ApiAuth
from nixfleet.api.errors import ApiError, EnvelopeRoute
from nixfleet.api.schemas import HostChange, HostList, HostOut, refusals
from nixfleet.models import Connection, ErrorCode
from nixfleet.ops.commands import SUCCEEDED
from nixfleet.ops.engine import OpEngine
from nixfleet.streams.samples import MetricSamples
from nixfleet.streams.state import FleetStateStream
from nixfleet.timeutil import iso

#: HTTP status of a host op blocked with this code (409 unless listed).
_BLOCKED_STATUS: dict[str, int] = {
    ErrorCode.UNKNOWN_HOST: 404,
    ErrorCode.INVALID_COLOR: 422,
    ErrorCode.INVALID_REQUEST: 422,
}
COLOR_PATTERN = r'^(#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6}|default|agent)?$'


class ColorBody(BaseModel):
    """A theme colour for the host; null, `""`, `default` or `agent` go back to the agent's own colour."""

    model_config = ConfigDict(extra='forbid')

    color: str | None = Field(pattern=COLOR_PATTERN, examples=['#ff9e64', None])


class MetricSampleOut(BaseModel):
    """CPU and RAM use of a host at one moment, from its heartbeats (percent; null when not reported)."""

    at: str = Field(description='UTC ISO-8601.')
    cpu: float | None = None
    ram: float | None = None


class HostMetricsOut(BaseModel):
    """A host's samples of the last `window` seconds, oldest first: one per `step` seconds while it heartbeats."""

    host_id: str
    window: float
    step: float
    samples: list[MetricSampleOut]


def hosts_router(stream: FleetStateStream, ops: OpEngine, auth: ApiAuth, samples: MetricSamples) -> APIRouter:
    """Routes under `/api/hosts`: hosts read from the fleet state, their metric samples, host ops dispatched
    through `ops`."""
    router = APIRouter(prefix='/api/hosts', tags=['hosts'], route_class=EnvelopeRoute)

    def host(host_id: str) -> dict[str, Any]:
        view = stream.value.hosts.get(host_id)
        if view is None:
            raise ApiError(ErrorCode.UNKNOWN_HOST, f'there is no host {host_id!r}', 404)
        return dict(view)

    async def host_op(op: str, host_id: str, actor: str, args: dict[str, Any]) -> dict[str, Any]:
        """Dispatch a dashboard op on one host; refuse as the error envelope unless it ended successfully."""
        host(host_id)
        [result] = await ops.dispatch(op, [host_id], actor=actor, args=args)
        if not result.started:
            code = result.code or ErrorCode.INVALID_STATE
            raise ApiError(code, result.message or f'{op} was refused', _BLOCKED_STATUS.get(code, 409))
        cmd = await ops.get_command(result.command_id or '')
        if cmd is None or cmd.status not in SUCCEEDED:
            message = (cmd.error or cmd.message) if cmd is not None else None
            raise ApiError(ErrorCode.INVALID_STATE, message or f'{op} on {host_id} did not succeed', 500)
        view = stream.value.hosts.get(host_id)
        return {'host_id': host_id, 'command': cmd.view(), 'host': dict(view) if view is not None else None}

    @router.get('', response_model=HostList, responses=refusals())
    async def list_hosts(
        _: str = Depends(auth),
        connection: Annotated[Connection | None, Query(description='Only hosts in this connection state.')] = None,
    ) -> dict[str, Any]:
        """Every host, ordered by id, with derived fields (compartments, busy, available ops)."""
        state = stream.value
        hosts = [h for _, h in sorted(state.hosts.items()) if connection is None or h.get('connection') == connection]
        return {'hosts': hosts, 'counts': state.counts()}

    @router.get('/{host_id}', response_model=HostOut, responses=refusals(404))
    async def get_host(host_id: str, _: str = Depends(auth)) -> dict[str, Any]:
        """One host."""
        return host(host_id)

    _add_metrics(router, host, samples, auth)

    @router.delete('/{host_id}', response_model=HostChange, responses=refusals(404, 409, 500))
    async def remove_host(host_id: str, actor: str = Depends(auth)) -> dict[str, Any]:
        """Remove an offline host with its commands and logs (events stay), as the op `remove`."""
        return await host_op('remove', host_id, actor, {})

    @router.put('/{host_id}/color', response_model=HostChange, responses=refusals(404, 409, 500))
    @router.post('/{host_id}/color', response_model=HostChange, responses=refusals(404, 409, 500))
    async def set_color(host_id: str, body: ColorBody, actor: str = Depends(auth)) -> dict[str, Any]:
        """Set the host's theme colour (or reset it to the agent's), as the op `set-color`."""
        return await host_op('set-color', host_id, actor, {'color': body.color})

    return router


def _add_metrics(
    router: APIRouter, host: Callable[[str], dict[str, Any]], samples: MetricSamples, auth: ApiAuth
) -> None:
    """`GET /api/hosts/{id}/metrics` (`host` refuses an unknown host)."""

    @router.get('/{host_id}/metrics', response_model=HostMetricsOut, responses=refusals(404))
    async def host_metrics(host_id: str, _: str = Depends(auth)) -> dict[str, Any]:
        """The host's CPU and RAM of the last hour (kept in memory: a restarted dashboard starts afresh)."""
        host(host_id)
        return {
            'host_id': host_id,
            'window': samples.window,
            'step': samples.step,
            'samples': [{'at': iso(s.at), 'cpu': s.cpu, 'ram': s.ram} for s in samples.recent(host_id)],
        }
