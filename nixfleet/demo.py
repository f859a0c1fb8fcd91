"""`nixfleet demo`: the dashboard plus a simulated fleet, with generated credentials, and nothing to set up."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from pathlib import Path

import bcrypt
import uvicorn

from nixfleet import logsetup
from nixfleet.config import ConfigError, Settings, load_settings

#: Demo host names, in the order agents are created (profiles and colours follow the index).
DEMO_HOSTS = (
    'atlas',
    'hyperion',
    'macbook-ana',
    'nas',
    'edge-fra1',
    'workstation',
    'pi-garden',
    'mac-mini',
    'builder',
    'vps-hel1',
    'laptop-tom',
    'media',
)


def demo_settings(listen: str | None) -> tuple[Settings, str]:
    """Settings for the demo: generated secrets (unless configured) and `./data/demo` as data dir."""
    password = os.environ.get('NIXFLEET_DEMO_PASSWORD') or secrets.token_urlsafe(9)
    overrides = {
        'listen': listen or os.environ.get('NIXFLEET_LISTEN') or '127.0.0.1:8000',
        'data_dir': Path(os.environ.get('NIXFLEET_DATA_DIR') or './data/demo'),
        'password_hash': bcrypt.hashpw(password.encode(), bcrypt.gensalt(10)).decode(),
        'session_secret': os.environ.get('NIXFLEET_SESSION_SECRET') or secrets.token_urlsafe(32),
        'agent_token': os.environ.get('NIXFLEET_AGENT_TOKEN') or secrets.token_urlsafe(24),
    }
    return load_settings(**overrides), password


def demo_names(count: int) -> list[str]:
    """Host names for `count` simulated agents."""
    names = list(DEMO_HOSTS[:count])
    names += [f'sim-{i:02d}' for i in range(len(names) + 1, count + 1)]
    return names


async def _run(settings: Settings, password: str, agents: int) -> None:
    from nixfleet.agent import SimulatedFleet
    from nixfleet.server import create_web_app, uvicorn_config

    app = create_web_app(settings, with_ui=True)
    server = uvicorn.Server(uvicorn_config(app, settings))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.05)
    host = '127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host
    token = settings.agent_token.get_secret_value() if settings.agent_token else ''
    fleet = SimulatedFleet(url=f'ws://{host}:{settings.port}/ws', token=token, count=0, interval=5, ramp=1.5)
    for index, name in enumerate(demo_names(agents)):
        fleet.add(
            name,
            index=index,
            url=f'ws://{host}:{settings.port}/ws',
            token=token,
            interval=5,
            behaviour=fleet_behaviour(index),
        )
    print(
        _banner(f'http://{"localhost" if host == "127.0.0.1" else host}:{settings.port}', password, agents), flush=True
    )
    await fleet.start()
    try:
        await serving
    finally:
        with contextlib.suppress(Exception):
            await fleet.stop()


def fleet_behaviour(index: int):  # type: ignore[no-untyped-def]
    """Simulated behaviour for the index-th demo host (one slow builder, one flaky test host)."""
    from nixfleet.agent import SimBehaviour

    behaviour = SimBehaviour()
    if index == 4:
        behaviour.slow_ops['switch'] = 3.0
    if index == 6:
        behaviour.fail_ops.add('test')
    return behaviour


def _banner(url: str, password: str, agents: int) -> str:
    line = '─' * 58
    return (
        f'\n{line}\n  NixFleet demo: {agents} simulated agents\n  Open      {url}\n'
        f'  Password  {password}\n  (set NIXFLEET_DEMO_PASSWORD to choose it; Ctrl+C stops)\n{line}\n'
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
