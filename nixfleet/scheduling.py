"""Periodic jobs on the dashboard's APScheduler: one shape for every interval job."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.schedulers.base import BaseScheduler


def every(
    scheduler: BaseScheduler, seconds: float, job: Callable[[], Any], name: str, *, first: datetime | None = None
) -> None:
    """Run `job` every `seconds` under the id `name`, first at `first` (default: one interval from now).

    A run still going when the next one is due is not doubled, runs missed while the loop was busy collapse into one
    (`max_instances=1`, `coalesce=True`), and adding a job under a name already scheduled replaces it.
    """
    timing: dict[str, Any] = {} if first is None else {'next_run_time': first}
    scheduler.add_job(
        job, 'interval', seconds=seconds, id=name, max_instances=1, coalesce=True, replace_existing=True, **timing
    )
