"""Periodic jobs on the dashboard's APScheduler: one shape for every interval job."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from apscheduler.schedulers.base import BaseScheduler

log = logging.getLogger(__name__)


def every(
    scheduler: BaseScheduler, seconds: float, job: Callable[[], Any], name: str, *, first: datetime | None = None
) -> None:
    """Run `job` every `seconds` under the id `name`, first at `first` (default: one interval from now).

    A run still going when the next one is due is not doubled, runs missed while the loop was busy collapse into one
    (`max_instances=1`, `coalesce=True`), and adding a job under a name already scheduled replaces it.
    """
    timing: dict[str, Any] = {} if first is None else {'next_run_time': first}
    if inspect.iscoroutinefunction(job):
        job = _called_off_quietly(job, name)
    scheduler.add_job(
        job, 'interval', seconds=seconds, id=name, max_instances=1, coalesce=True, replace_existing=True, **timing
    )


def _called_off_quietly(job: Callable[[], Awaitable[Any]], name: str) -> Callable[[], Awaitable[Any]]:
    """`job`, ending quietly when the scheduler's shutdown cancels a run under way (APScheduler logs a cancelled run
    as a failed job, with a traceback, at every stop of the dashboard)."""

    @functools.wraps(job)
    async def run() -> Any:
        try:
            return await job()
        except asyncio.CancelledError:
            log.debug('job %s called off by the shutdown', name)
            return None

    return run
