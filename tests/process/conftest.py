"""Fixtures for process-level tests: the real `nixfleet serve` as a child process (isolation: fresh data dir)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import AGENT_TOKEN, PASSWORD_HASH, SESSION_SECRET, eventually, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


class Dashboard:
    """`python -m nixfleet serve` as a child process, its output kept in a log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        with log.open('wb') as out:
            self.proc = subprocess.Popen(
                [sys.executable, '-m', 'nixfleet', 'serve'], env=env, cwd=log.parent, stdout=out, stderr=out
            )

    @property
    def http(self) -> str:
        return f'http://{self.env["NIXFLEET_LISTEN"]}'

    @property
    def ws_url(self) -> str:
        return f'ws://{self.env["NIXFLEET_LISTEN"]}/ws'

    def output(self) -> str:
        return self.log.read_text(errors='replace')[-4000:]

    async def healthy(self, timeout: float = 30) -> dict[str, Any]:
        """Wait for GET /health to answer 200 and return its body."""

        async def probe() -> dict[str, Any] | None:
            assert self.proc.poll() is None, f'nixfleet serve exited:\n{self.output()}'
            async with httpx.AsyncClient() as client:
                try:
                    response = await client.get(f'{self.http}/health', timeout=1)
                except httpx.TransportError:
                    return None
            return response.json() if response.status_code == 200 else None

        try:
            return await eventually(probe, timeout=timeout, interval=0.05)  # type: ignore[no-any-return]
        except AssertionError as exc:
            raise AssertionError(f'{exc}\n{self.output()}') from None

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, nothing buffered is flushed."""
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL when it does not stop in time."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def serve_env(tmp_path: Path) -> dict[str, str]:
    """Environment for `nixfleet serve`: test secrets, a free port, a fresh data dir under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('NIXFLEET_')}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        NIXFLEET_LISTEN=f'127.0.0.1:{free_port()}',
        NIXFLEET_DATA_DIR=str(tmp_path / 'data'),
        NIXFLEET_AGENT_TOKEN=AGENT_TOKEN,
        NIXFLEET_PASSWORD_HASH=PASSWORD_HASH,
        NIXFLEET_SESSION_SECRET=SESSION_SECRET,
        NIXFLEET_LIVE_FLUSH_INTERVAL='0.1',
        NIXFLEET_LOG_LEVEL='warning',
    )
    return env


@pytest.fixture
def api_token(serve_env: dict[str, str]) -> str:
    """An API token created with `nixfleet token create` before the dashboard first starts (actor `api:t`)."""
    created = subprocess.run(
        [sys.executable, '-m', 'nixfleet', 'token', 'create', '--kind', 'api', '--name', 't'],
        env=serve_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = created.stdout.strip()
    assert token and '\n' not in token, created
    return token


@pytest.fixture
def start_dashboard(serve_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[], Dashboard]]:
    """Start `nixfleet serve` on the test's env and data dir (again after a kill); all are stopped at the end."""
    started: list[Dashboard] = []

    def start() -> Dashboard:
        dashboard = Dashboard(serve_env, tmp_path / f'serve-{len(started) + 1}.log')
        started.append(dashboard)
        return dashboard

    yield start
    for dashboard in started:
        dashboard.stop()
