"""`nixfleet demo`: the dashboard plus a simulated fleet and its remote side, with generated credentials.

Nothing to set up: the demo serves its own version.json and a GitHub API for a simulated config repo on its own port
(`nixfleet.integrations.demo_remote`), and points NIXFLEET_VERSION_URL / NIXFLEET_GITHUB_* at them. The hosts start
one commit behind with a flake-update PR open, so Do All and Merge & Deploy work at once; every
`NIXFLEET_DEMO_ADVANCE_EVERY` (default 5m) the repo moves on by itself (a commit, a flake-update PR, an agent
release, in turn), and `POST /demo/advance` (`{"pr": true}` for a PR, `{"agent": true}` for an agent release) moves
it on demand. NIXFLEET_SIM_SPEED / NIXFLEET_SIM_FAIL / NIXFLEET_SIM_SLOW tune the simulated hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bcrypt
from pydantic import SecretStr

from nixfleet import logsetup
from nixfleet.config import ConfigError, Settings, load_settings, parse_duration

if TYPE_CHECKING:
    from fastapi import FastAPI

    from nixfleet.agent import SimBehaviour, SimulatedFleet
    from nixfleet.app import Dashboard
    from nixfleet.integrations.demo_remote import DemoConfigRepo

#: Demo host names, in the order agents are created. The index decides the simulated platform, location and kind
#: (`nixfleet.agent.fleet.host_profile`: every 4th a Mac, every 3rd in the cloud), so the names say what they are.
DEMO_HOSTS = (
    'atlas',  # NixOS desktop, home
    'hyperion',  # NixOS desktop, office
    'edge-fra1',  # NixOS server, cloud: switches slowly
    'macbook-ana',  # macOS, home-manager
    'workstation',  # NixOS laptop, office
    'vps-hel1',  # NixOS server, cloud
    'pi-garden',  # NixOS server, home: its tests fail
    'mac-mini',  # macOS, nix-darwin
    'builder',  # NixOS server, cloud
    'nas',  # NixOS, home
    'media',  # NixOS, office
    'macbook-tom',  # macOS, home-manager
)
#: The demo's misbehaving hosts: one slow to switch, one whose test op fails.
SLOW_SWITCH_HOST = 'edge-fra1'
FAILING_TEST_HOST = 'pi-garden'
#: How often the simulated config repo moves on by itself (NIXFLEET_DEMO_ADVANCE_EVERY).
ADVANCE_EVERY = 300.0


def demo_settings(listen: str | None) -> tuple[Settings, str]:
    """Settings for the demo: generated secrets (unless configured), `./data/demo`, the simulated remote side."""
    password = os.environ.get('NIXFLEET_DEMO_PASSWORD') or secrets.token_urlsafe(9)
    listen = listen or os.environ.get('NIXFLEET_LISTEN') or '127.0.0.1:8000'
    overrides: dict[str, Any] = {
        'listen': listen,
        'data_dir': Path(os.environ.get('NIXFLEET_DATA_DIR') or './data/demo'),
        'password_hash': bcrypt.hashpw(password.encode(), bcrypt.gensalt(10)).decode(),
        'session_secret': os.environ.get('NIXFLEET_SESSION_SECRET') or secrets.token_urlsafe(32),
        'agent_token': os.environ.get('NIXFLEET_AGENT_TOKEN') or secrets.token_urlsafe(24),
    }
    settings = load_settings(**overrides)
    from nixfleet.integrations.demo_remote import REPO

    base = f'http://{_loopback(settings)}:{settings.port}/demo'
    remote_side = {
        'version_url': f'{base}/version.json',
        'version_fetch_ttl': 30.0,
        'github_token': SecretStr(f'ghp_demo{secrets.token_hex(16)}'),
        'github_repo': REPO,
        'github_api_url': f'{base}/github',
        'github_poll_ttl': 300.0,
    }
    return settings.model_copy(update=remote_side), password


def _loopback(settings: Settings) -> str:
    return '127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host


def listening_socket(settings: Settings) -> socket.socket:
    """Bind and listen before the app starts: its first version.json and GitHub requests (to itself, made while
    it is still starting up) then wait in the backlog instead of failing with "connection refused"."""
    family = socket.AF_INET6 if ':' in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def demo_names(count: int) -> list[str]:
    """Host names for `count` simulated agents."""
    names = list(DEMO_HOSTS[:count])
    names += [f'sim-{i:02d}' for i in range(len(names) + 1, count + 1)]
    return names


@dataclass(slots=True, kw_only=True)
class Demo:
    """The demo's parts: the dashboard app, the simulated config repo and the simulated fleet."""

    settings: Settings
    app: FastAPI
    dashboard: Dashboard
    repo: DemoConfigRepo
    fleet: SimulatedFleet
    advance_every: float = ADVANCE_EVERY
    _timer: asyncio.Task[None] | None = field(default=None, repr=False)

    async def start(self) -> None:
        """Start the simulated agents and the repo's timer (the dashboard must be serving)."""
        self.look_again()
        await self.fleet.start()
        if self.advance_every > 0:
            self._timer = asyncio.create_task(self.repo.run(self.advance_every), name='demo-repo-timer')

    async def stop(self) -> None:
        """Stop the timer and the agents."""
        if self._timer is not None:
            self._timer.cancel()
            await asyncio.gather(self._timer, return_exceptions=True)
        await self.fleet.stop()

    def look_again(self) -> None:
        """Have the dashboard re-read version.json and the PRs now (after the repo changed)."""
        if not self.dashboard.started:
            return
        if self.dashboard.compartments.fetcher is not None:
            self.dashboard.compartments.fetcher.refresh_soon()
        self.dashboard.github.poll_soon()


def build_demo(settings: Settings, *, agents: int, with_ui: bool = True, advance_every: float | None = None) -> Demo:
    """Build the dashboard with the demo routes, the simulated repo (one commit ahead, a PR open) and the fleet."""
    from nixfleet.agent import SimRemote, SimulatedFleet
    from nixfleet.app import Dashboard, build_app
    from nixfleet.integrations.demo_remote import DemoConfigRepo, demo_router

    dashboard = Dashboard(settings)
    app = build_app(dashboard)
    repo = DemoConfigRepo(SimRemote())
    token = settings.github_token.get_secret_value() if settings.github_token else ''
    app.include_router(demo_router(repo, github_token=token, credential=dashboard.credentials.credential))
    if with_ui:  # NiceGUI is mounted at `/`: after every other route
        from nixfleet.server import ui_parts
        from nixfleet.ui import mount_ui

        mount_ui(app, ui_parts(dashboard))
    url = f'ws://{_loopback(settings)}:{settings.port}/ws'
    agent_token = settings.agent_token.get_secret_value() if settings.agent_token else ''
    fleet = SimulatedFleet(url=url, token=agent_token, count=0, interval=5, ramp=1.5, remote=repo.remote)
    for index, name in enumerate(demo_names(agents)):
        fleet.add(name, index=index, url=url, token=agent_token, interval=5, behaviour=fleet_behaviour(name))
    repo.advance('hosts: enable zram on the servers')  # the hosts were built at the initial commit: one behind
    repo.open_flake_pr()
    if advance_every is None:
        advance_every = parse_duration(os.environ.get('NIXFLEET_DEMO_ADVANCE_EVERY') or ADVANCE_EVERY)
    demo = Demo(settings=settings, app=app, dashboard=dashboard, repo=repo, fleet=fleet, advance_every=advance_every)
    repo.listeners.append(demo.look_again)
    return demo


async def _run(settings: Settings, password: str, agents: int) -> None:
    from nixfleet.server import DashboardServer, uvicorn_config

    demo = build_demo(settings, agents=agents)
    server = DashboardServer(uvicorn_config(demo.app, settings), demo.dashboard, quiet_exit=True)
    serving = asyncio.create_task(server.serve(sockets=[listening_socket(settings)]))
    while not server.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.05)
    host = _loopback(settings)
    print(
        _banner(f'http://{"localhost" if host == "127.0.0.1" else host}:{settings.port}', password, agents), flush=True
    )
    await demo.start()
    try:
        await serving
    finally:
        with contextlib.suppress(Exception):
            await demo.stop()


def fleet_behaviour(name: str) -> SimBehaviour:
    """Simulated behaviour for a demo host (NIXFLEET_SIM_*; `SLOW_SWITCH_HOST` and `FAILING_TEST_HOST` misbehave)."""
    from nixfleet.agent import SimBehaviour

    behaviour = SimBehaviour.from_env()
    if name == SLOW_SWITCH_HOST:
        behaviour.slow_ops['switch'] = 3.0
    if name == FAILING_TEST_HOST:
        behaviour.fail_ops.add('test')
    return behaviour


def _banner(url: str, password: str, agents: int) -> str:
    line = '─' * 58
    return (
        f'\n{line}\n  NixFleet demo: {agents} simulated agents\n  Open      {url}\n'
        f'  Password  {password}   (no user name: the dashboard has one admin)\n'
        f'            (set NIXFLEET_DEMO_PASSWORD to choose it; Ctrl+C stops the demo)\n'
        f'  Remote    {url}/demo/version.json  (POST /demo/advance moves it on)\n{line}\n'
    )


def run_demo(*, agents: int = 6, listen: str | None = None) -> int:
    """Run the demo until interrupted; return the process exit code."""
    try:
        settings, password = demo_settings(listen)
    except ConfigError as exc:
        print(f'nixfleet demo: {exc}')
        return 2
    logsetup.configure(settings.log_level, [*settings.secret_values(), password])
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(settings, password, agents))
    return 0
