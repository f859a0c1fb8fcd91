"""Op engine routes: ops, dispatch, one command and its user actions, pipelines.

Every route needs a session or API token (`ApiAuth`); refusals come back as `{"error": {code, message}}`.
The command list and output live in `commands_routes`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from nixfleet.api.deps import ApiAuth
from nixfleet.api.errors import ApiError, EnvelopeRoute
from nixfleet.api.schemas import (
    Catalog,
    CommandOut,
    DispatchOut,
    PipelineList,
    PipelineRunOut,
    PipelineStarted,
    refusals,
)
from nixfleet.models import ErrorCode
from nixfleet.ops.dispatch import DispatchError, DispatchResult
from nixfleet.ops.engine import OpEngine
from nixfleet.ops.lifecycle import CommandError
from nixfleet.ops.pipelines import PipelineOptions
from nixfleet.ops.rollout import MAX_SOAK, FailurePolicy


class DispatchBody(BaseModel):
    """Run one op on hosts."""

    model_config = ConfigDict(extra='forbid')

    op: str
    hosts: list[str] = Field(default_factory=list, max_length=5000)
    force: bool = False
    totp: str | None = None
    args: dict[str, Any] = Field(default_factory=dict, description='Op arguments, e.g. `{"color": "#ff9e64"}`.')


class PipelineBody(BaseModel):
    """Start a pipeline run."""

    model_config = ConfigDict(extra='forbid')

    pipeline: str
    hosts: list[str] = Field(max_length=5000)
    totp: str | None = None
    max_parallel: int | None = Field(None, ge=1)
    stop_on_failure_pct: float | None = Field(None, ge=0, le=100)
    force: bool = False
    waves: str | None = Field(
        None, max_length=10_000, description='Roll out in waves: e.g. "1,10%,rest" or "web-01,web-02+web-03,rest"'
    )
    on_failure: FailurePolicy | None = Field(
        None, description='What a wave that fails its gate does (default with waves or a soak: rollback-and-halt)'
    )
    soak: float | None = Field(None, ge=0, le=MAX_SOAK, description='Seconds each wave must stay connected')
    gate: Literal['test'] | None = Field(
        None, description="Health check after each host's switch: the test op (when the pipeline has no test stage)"
    )


class WaitBody(BaseModel):
    """Give a running command `minutes` from now: no deadline of it passes before then."""

    minutes: float = Field(5.0, gt=0, le=1440)


def _refused(exc: DispatchError | CommandError) -> ApiError:
    return ApiError(exc.code, exc.message)


def _dispatch_out(results: list[DispatchResult]) -> dict[str, Any]:
    """The answer to a dispatch: per host `started` or `blocked`, and the counts."""
    started = sum(r.started for r in results)
    status = 'success' if started == len(results) else ('partial' if started else 'failed')
    return {
        'status': status,
        'results': [r.to_wire() for r in results],
        'summary': {'started': started, 'blocked': len(results) - started, 'total': len(results)},
    }


def ops_router(ops: OpEngine, auth: ApiAuth) -> APIRouter:
    """Routes of the op engine under `/api`: ops, dispatch, pipelines, one command and its user actions."""
    router = APIRouter(prefix='/api', tags=['ops'], route_class=EnvelopeRoute)
    _dispatch_routes(router, ops, auth)
    _pipeline_routes(router, ops, auth)
    _command_routes(router, ops, auth)
    return router


def _dispatch_routes(router: APIRouter, ops: OpEngine, auth: ApiAuth) -> None:
    """Add the op catalog and dispatch of ops and pipelines to `router`."""

    @router.get('/ops', response_model=Catalog, responses=refusals())
    async def list_ops(_: str = Depends(auth)) -> dict[str, Any]:
        """Every op and pipeline definition."""
        return ops.catalog()

    @router.post('/dispatch', response_model=DispatchOut, responses=refusals(400, 403))
    async def dispatch(body: DispatchBody, actor: str = Depends(auth)) -> dict[str, Any]:
        """Run an op; per host `started` (with `command_id`) or `blocked` (with `code` and `message`)."""
        try:
            results = await ops.dispatch(
                body.op, body.hosts, force=body.force, totp=body.totp, actor=actor, args=body.args
            )
        except DispatchError as exc:
            raise _refused(exc) from None
        return _dispatch_out(results)

    @router.post('/dispatch/pipeline', response_model=PipelineStarted, responses=refusals(400, 403, 404, 409))
    async def dispatch_pipeline(body: PipelineBody, actor: str = Depends(auth)) -> dict[str, Any]:
        """Start a pipeline run on hosts (refused when a host is unknown or busy)."""
        options = PipelineOptions(
            max_parallel=body.max_parallel,
            stop_on_failure_pct=body.stop_on_failure_pct,
            force=body.force,
            waves=body.waves,
            on_failure=body.on_failure,
            soak=body.soak,
            gate=body.gate,
        )
        try:
            run = await ops.start_pipeline(body.pipeline, body.hosts, actor=actor, totp=body.totp, options=options)
        except DispatchError as exc:
            raise _refused(exc) from None
        return {'status': 'started', 'pipeline': run.view()}


def _pipeline_routes(router: APIRouter, ops: OpEngine, auth: ApiAuth) -> None:
    """Add the pipeline runs: list, one, cancel, retry the failed hosts."""

    @router.get('/pipelines', response_model=PipelineList, responses=refusals())
    async def list_pipelines(_: str = Depends(auth), limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
        """Pipeline runs, newest first."""
        return {'pipelines': await ops.list_pipelines(limit)}

    @router.get('/pipelines/{pipeline_id}', response_model=PipelineRunOut, responses=refusals(404))
    async def get_pipeline(pipeline_id: str, _: str = Depends(auth)) -> dict[str, Any]:
        """One pipeline run with per-host per-stage statuses."""
        run = await ops.get_pipeline(pipeline_id)
        if run is None:
            raise ApiError(ErrorCode.UNKNOWN_PIPELINE, f'there is no pipeline run {pipeline_id}')
        return run.view()

    @router.post('/pipelines/{pipeline_id}/cancel', response_model=PipelineRunOut, responses=refusals(409))
    async def cancel_pipeline(pipeline_id: str, actor: str = Depends(auth)) -> dict[str, Any]:
        """Cancel a running pipeline: running commands finish, pending stages are CANCELLED."""
        try:
            return (await ops.cancel_pipeline(pipeline_id, actor)).view()
        except DispatchError as exc:
            raise _refused(exc) from None

    @router.post(
        '/pipelines/{pipeline_id}/retry-failed', response_model=PipelineStarted, responses=refusals(400, 404, 409)
    )
    async def retry_failed(pipeline_id: str, actor: str = Depends(auth)) -> dict[str, Any]:
        """Start a new run with exactly the failed hosts and the same parameters."""
        try:
            return {'status': 'started', 'pipeline': (await ops.retry_failed(pipeline_id, actor)).view()}
        except DispatchError as exc:
            raise _refused(exc) from None

    @router.post('/pipelines/{pipeline_id}/continue', response_model=PipelineStarted, responses=refusals(404, 409))
    async def continue_halted(pipeline_id: str, actor: str = Depends(auth)) -> dict[str, Any]:
        """Continue a HALTED rollout: a new run of the waves it never started (same gates and policy)."""
        try:
            return {'status': 'started', 'pipeline': (await ops.continue_halted(pipeline_id, actor)).view()}
        except DispatchError as exc:
            raise _refused(exc) from None

    @router.post('/pipelines/{pipeline_id}/rollback-wave', response_model=DispatchOut, responses=refusals(404, 409))
    async def roll_back_wave(pipeline_id: str, actor: str = Depends(auth)) -> dict[str, Any]:
        """Roll back the hosts of a HALTED rollout's failed wave that switched and were not rolled back yet."""
        try:
            results = await ops.roll_back_wave(pipeline_id, actor)
        except DispatchError as exc:
            raise _refused(exc) from None
        return _dispatch_out(results)


def _command_routes(router: APIRouter, ops: OpEngine, auth: ApiAuth) -> None:
    """Add one command and its user actions."""

    @router.get('/commands/{command_id}', response_model=CommandOut, responses=refusals(404))
    async def get_command(command_id: str, _: str = Depends(auth)) -> dict[str, Any]:
        """One command."""
        cmd = await ops.get_command(command_id)
        if cmd is None:
            raise ApiError(ErrorCode.UNKNOWN_COMMAND, f'there is no command {command_id}')
        return cmd.view()

    @router.post('/commands/{command_id}/{action}', response_model=CommandOut, responses=refusals(400, 404, 409))
    async def command_action(
        command_id: str, action: str, actor: str = Depends(auth), body: WaitBody | None = None
    ) -> dict[str, Any]:
        """User actions on a running command: `wait` (body `minutes`), `kill`, `ignore`, `cancel`."""
        try:
            if action == 'wait':
                cmd = await ops.wait_command(command_id, (body or WaitBody(minutes=5.0)).minutes, actor)
            elif action == 'kill':
                cmd = await ops.kill_command(command_id, actor)
            elif action == 'ignore':
                cmd = await ops.ignore_command(command_id, actor)
            elif action == 'cancel':
                cmd = await ops.cancel_command(command_id, actor)
            else:
                raise ApiError(ErrorCode.NOT_FOUND, f'unknown action {action!r} (wait, kill, ignore, cancel)')
        except CommandError as exc:
            raise _refused(exc) from None
        return cmd.view()
