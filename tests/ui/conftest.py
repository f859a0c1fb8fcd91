"""Harness for the UI tests: the whole dashboard served on the test's loop, opened by NiceGUI `User`s.

NiceGUI's `user` fixture runs a main file against NiceGUI's own app, but our UI is mounted into the dashboard's app
by `mount_ui` (login, API and the agent socket around it). So the whole dashboard is served by uvicorn on the test's
event loop, and NiceGUI `User`s (its simulated browser: elements and events, no JavaScript) open its pages over real
HTTP after logging in through the real form. Fake agents (the Go agent's protocol) and simulated agents (the real
agent code with simulated tools) connect to the same server, so a test drives click → dispatch → agent → state → page
end to end.

The host table is a JavaScript component: a test plays the browser's part by triggering its events (`row_action`,
`compartment`, `selection`, `hotkey`) and reads what the server sent it (`TableRows`).

Modules that need other settings (TOTP, version.json, a manual clock) define their own server fixture from
`running_ui`; the plain one is `ui_server`.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp
import pytest
import uvicorn
from fastapi.dependencies import models as fastapi_models
from nicegui import Client, ui
from nicegui.elements.mixins.disableable_element import DisableableElement
from nicegui.functions.download import download
from nicegui.functions.navigate import Navigate
from nicegui.functions.notify import notify
from nicegui.slot import Slot
from nicegui.testing.general import nicegui_reset_globals
from nicegui.testing.user import User
from nicegui.testing.user_notify import UserNotify
from pydantic import SecretStr

from nixfleet.agent import SimBehaviour, SimulatedFleet
from nixfleet.app import Dashboard, build_app
from nixfleet.config import Settings
from nixfleet.server import ui_parts, uvicorn_config
from nixfleet.streams.state import FleetState
from nixfleet.timeutil import Clock
from nixfleet.ui import mount_ui
from nixfleet.ui.actions import FleetActions
from nixfleet.ui.host_table import HostTable
from nixfleet.ui.output_panel import OutputPanel
from nixfleet.viewmodels.table_sync import Row
from tests.integrations.fake_version import FakeVersionServer
from tests.support import PASSWORD, WAIT, FakeAgent, eventually, free_port, idle, simulated_agents

#: `should_see` tries every 0.1 s: as long as `WAIT`.
SEE_RETRIES = int(WAIT * 10)
#: Simulated durations are divided by this (a do-all pipeline takes well under a second).
SPEED = 50.0


@dataclass
class TableRows:
    """The rows one user's host table received (snapshot plus transactions), as its browser would hold them."""

    table: HostTable
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._load()
        send = self.table.run_method
        reset = self.table.reset

        def run_method(name: str, *args: Any, **kwargs: Any) -> Any:
            if name == 'apply':
                tx = args[0]
                for row in tx['upsert']:  # as the browser does: bulky fields left out are kept
                    self.rows[row['id']] = {**self.rows.get(row['id'], {}), **row}
                for host in tx['remove']:
                    self.rows.pop(host, None)
            return send(name, *args, **kwargs)

        def reset_and_load(state: FleetState, rows: list[Row]) -> None:
            reset(state, rows)
            self._load()

        self.table.run_method = run_method  # type: ignore[method-assign]
        self.table.reset = reset_and_load  # type: ignore[method-assign]

    def _load(self) -> None:
        self.rows = {row['id']: row for row in json.loads(self.table.props['snapshot']['rows'])}

    def row(self, host: str) -> dict[str, Any]:
        return self.rows.get(host) or {}


@dataclass
class Browser:
    """One logged-in user with the dashboard open."""

    user: User
    table: HostTable
    rows: TableRows

    @property
    def actions(self) -> FleetActions:
        actions = actions_of(self.user.client)
        assert actions is not None
        return actions

    def trigger(self, event: str, **args: Any) -> None:
        """Play the browser's part: the table component emits `event` with `args`."""
        self.user.find(HostTable).trigger(event, args)

    def row_action(self, host: str, key: str) -> None:
        self.trigger('row_action', host=host, key=key)

    def select(self, *hosts: str) -> None:
        self.trigger('selection', ids=list(hosts))

    def click(self, marker: str) -> None:
        self.user.find(marker=marker).click()

    def enabled(self, marker: str) -> bool:
        """Whether the (one) element with `marker` can be used."""
        element = self.user.find(marker=marker).elements.pop()
        assert isinstance(element, DisableableElement)
        return element.enabled

    def toasts(self) -> list[str]:
        return list(self.user.notify.messages)

    async def see(self, text: str | None = None, *, marker: str | None = None) -> None:
        """Wait (up to `WAIT`) until the page shows `text` / an element with `marker`."""
        if text:
            await self.user.should_see(text, retries=SEE_RETRIES)
        else:
            await self.user.should_see(marker=marker, retries=SEE_RETRIES)

    async def gone(self, text: str | None = None, *, marker: str | None = None) -> None:
        """Wait (up to `WAIT`) until the page no longer shows `text` / an element with `marker`."""
        if text:
            await self.user.should_not_see(text, retries=SEE_RETRIES)
        else:
            await self.user.should_not_see(marker=marker, retries=SEE_RETRIES)


class TabNotify(UserNotify):
    """A user's toasts, wherever they were raised from.

    NiceGUI's `User` puts its own recorder in place of the global `ui.notify` whenever the test touches it, so with two
    users a toast raised by one user's click (in a background task) was recorded for whichever user the test or the
    simulation touched last. This recorder hands each toast to the user whose tab raised it.
    """

    def __init__(self, owner: User, users: list[User]) -> None:
        super().__init__()
        self._owner = owner
        self._users = users

    def __call__(self, message: str, **kwargs: Any) -> None:
        stack = Slot.get_stack()  # not `ui.context`: with no slot it may make a pseudo client
        tab = stack[-1].parent.client if stack else None
        target = next((u for u in self._users if tab is not None and u.client is tab), self._owner)
        target.notify.messages.append(message)


@dataclass
class UiServer:
    """A dashboard with its UI served on 127.0.0.1:`port` from the test's loop, and the agents and users of a test."""

    dashboard: Dashboard
    port: int
    agents: list[FakeAgent] = field(default_factory=list)
    clients: list[httpx.AsyncClient] = field(default_factory=list)
    fleets: list[SimulatedFleet] = field(default_factory=list)
    users: list[User] = field(default_factory=list)

    @property
    def http(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An HTTP client for this server (the same call as `RunningServer.client`)."""
        return httpx.AsyncClient(base_url=self.http, **kwargs)

    async def user(self) -> User:
        """A new browser (its own cookies) that logged in through the form; it has not opened a page yet."""
        client = httpx.AsyncClient(base_url=self.http, timeout=10)
        self.clients.append(client)
        form = {'password': PASSWORD}
        if (secret := self.dashboard.settings.totp_secret) is not None:
            # the current time step's code: still accepted if the step ends before the server checks it (a code is
            # good for the steps around it); a test's reboot types the next step's code (`reboot_code`)
            form['totp'] = pyotp.TOTP(secret.get_secret_value()).at(self.dashboard.clock())
        response = await client.post('/login', data=form)
        assert response.status_code == 303 and response.headers['location'] == '/', response.headers
        user = User(client)
        user.notify = TabNotify(user, self.users)
        self.users.append(user)
        return user

    async def browser(self) -> Browser:
        """A new logged-in browser with the dashboard open."""
        user = await self.user()
        await user.open('/')
        table = user.find(HostTable).elements.pop()
        return Browser(user, table, TableRows(table))

    async def agent(self, hostname: str, heartbeat: dict[str, Any] | None = None, **register: Any) -> FakeAgent:
        """A fake agent, registered (and with one heartbeat, when given), online in the state."""
        agent = FakeAgent(f'ws://127.0.0.1:{self.port}/ws', hostname)
        self.agents.append(agent)
        await agent.connect(**register)
        if heartbeat is not None:
            await agent.heartbeat(**heartbeat)
        await self.until(lambda: self.host(hostname).get('connection') == 'online')
        return agent

    async def fleet(self, count: int = 3, behaviours: dict[str, SimBehaviour] | None = None) -> list[str]:
        """Simulated agents `sim-01`… (real protocol, realistic output at `SPEED`), online and idle; their names."""
        fleet = simulated_agents(f'ws://127.0.0.1:{self.port}/ws', count, speed=SPEED, behaviours=behaviours)
        self.fleets.append(fleet)
        await fleet.start()
        hosts = list(fleet.hosts)
        await self.until(lambda: idle(self.dashboard.stream.value.hosts, hosts), timeout=10)
        return hosts

    def host(self, host: str) -> dict[str, Any]:
        return dict(self.dashboard.stream.value.hosts.get(host) or {})

    def commands(self, op: str | None = None, host: str | None = None) -> list[dict[str, Any]]:
        """Commands in the state, oldest first."""
        found = [
            dict(c)
            for c in self.dashboard.stream.value.commands.values()
            if (op is None or c.get('op') == op) and (host is None or c.get('host_id') == host)
        ]
        return sorted(found, key=lambda c: str(c.get('created_at')))

    def pipelines(self, name: str | None = None) -> list[dict[str, Any]]:
        return [dict(p) for p in self.dashboard.stream.value.pipelines.values() if name in (None, p.get('name'))]

    @staticmethod
    async def until(check: Callable[[], Any], timeout: float = WAIT) -> Any:
        return await eventually(check, timeout=timeout)


#: The page object (`FleetPage`, `ViewPage`) of each open tab by its NiceGUI client id, noted by `tracking_pages`.
_pages: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()


@contextmanager
def tracking_pages() -> Iterator[None]:
    """Note every page object built meanwhile by its client id, so a test can reach the tab's parts."""
    from nixfleet.ui.pages import FleetPage
    from nixfleet.ui.pipelines_page import ViewPage

    originals: dict[type, Callable[..., None]] = {cls: cls.__init__ for cls in (FleetPage, ViewPage)}

    def tracked(build: Callable[..., None]) -> Callable[..., None]:
        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            build(self, *args, **kwargs)
            _pages[ui.context.client.id] = self

        return init

    for cls, build in originals.items():
        cls.__init__ = tracked(build)  # type: ignore[misc]
    try:
        yield
    finally:
        for cls, build in originals.items():
            cls.__init__ = build  # type: ignore[misc]


def page_of(client: Client | None) -> Any | None:
    """The page object of a tab (None: no such tab, or a page without one, like the login page)."""
    return _pages.get(client.id) if client is not None else None


def panel_of(client: Client | None) -> OutputPanel | None:
    """The output panel of a tab."""
    page = page_of(client)
    return page.output if page is not None else None


def actions_of(client: Client | None) -> FleetActions | None:
    """The action controller of a tab."""
    page = page_of(client)
    return page.actions if page is not None else None


@asynccontextmanager
async def running_ui(settings: Settings, *, clock: Clock | None = None) -> AsyncIterator[UiServer]:
    """Serve a fresh dashboard with its UI (on `clock`, default real time); stop it and reset NiceGUI afterwards."""
    modules = dict(sys.modules)
    with nicegui_reset_globals(), tracking_pages():
        os.environ['NICEGUI_USER_SIMULATION'] = 'true'
        dashboard = Dashboard(settings) if clock is None else Dashboard(settings, clock=clock)
        app = build_app(dashboard)
        mount_ui(app, ui_parts(dashboard))
        port = free_port()
        server = uvicorn.Server(uvicorn_config(app, settings, host='127.0.0.1', port=port, log_level='warning'))
        task = asyncio.create_task(server.serve())
        running = UiServer(dashboard, port)
        try:
            await eventually(lambda: server.started or task.done(), timeout=15)
            if task.done():
                task.result()
            yield running
        finally:
            for agent in running.agents:
                await agent.close()
            for fleet in running.fleets:
                await fleet.stop()
            for client in running.clients:
                await client.aclose()
            server.should_exit = True
            await asyncio.wait_for(task, 15)
            os.environ.pop('NICEGUI_USER_SIMULATION', None)
            ui.navigate = Navigate()
            ui.notify = notify
            ui.download = download
            forget_route_callables()
    # the reset drops the page module and its parents from sys.modules; later tests must find the same objects
    sys.modules.update({name: module for name, module in modules.items() if name not in sys.modules})
    # The reset ends with a full collection; what survives it is the process's own (modules, classes, the stack's
    # caches), so it is frozen: NiceGUI's reset collects twice per test, and each collection otherwise walks every
    # object of every earlier test again (0.7 s each after a few dozen tests: half of this folder's time).
    gc.freeze()


def forget_route_callables() -> None:
    """Drop FastAPI's module-level caches of route and dependency callables (4,096 entries each).

    Each test builds a dashboard whose routes are closures over it; those caches kept every earlier test's whole
    object graph alive (~17,000 objects a test). Checked with `hasattr`: a FastAPI without them has nothing to drop.
    """
    for name in ('_is_gen_callable_cached', '_is_async_gen_callable_cached', '_is_coroutine_callable_cached'):
        cached = getattr(fastapi_models, name, None)
        if cached is not None and hasattr(cached, 'cache_clear'):
            cached.cache_clear()


def fail_on_error_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Fail the test if anything logged an ERROR (as NiceGUI's own `user` fixture does)."""
    errors = [r for r in caplog.get_records('call') if r.levelno >= logging.ERROR]
    assert not errors, [f'{r.name}: {r.getMessage()}' for r in errors]


@pytest.fixture
async def ui_server(settings: Settings, caplog: pytest.LogCaptureFixture) -> AsyncIterator[UiServer]:
    """The dashboard and its UI served from the test's loop (fresh database); fails the test on any ERROR log."""
    async with running_ui(settings) as server:
        yield server
    fail_on_error_logs(caplog)


#: The TOTP secret of `ui_with_totp` (tests type `reboot_code(ui)` into the reboot dialog).
TOTP_SECRET = pyotp.random_base32()


def reboot_code(ui: UiServer) -> str:
    """A right code for a TOTP-gated op after logging in: the next time step's, so it is never the login's step (a
    code works once) and stays good if a step ends on the way (the server accepts the steps around its own)."""
    return pyotp.TOTP(TOTP_SECRET).at(ui.dashboard.clock() + 30)


def wrong_code(ui: UiServer) -> str:
    """A six-digit code no step around the login's or the reboot's has."""
    now = ui.dashboard.clock()
    valid = {pyotp.TOTP(TOTP_SECRET).at(now + offset * 30) for offset in range(-1, 3)}
    return next(code for code in ('000000', '111111', '222222', '333333', '444444') if code not in valid)


@pytest.fixture
async def ui_with_totp(settings: Settings, caplog: pytest.LogCaptureFixture) -> AsyncIterator[UiServer]:
    """`ui_server` with TOTP configured (`TOTP_SECRET`): reboot asks for a code."""
    async with running_ui(settings.model_copy(update={'totp_secret': SecretStr(TOTP_SECRET)})) as server:
        yield server
    fail_on_error_logs(caplog)


@pytest.fixture
def version_server() -> Iterator[FakeVersionServer]:
    """A fake version.json (tests/integrations/fake_version.py) serving the fleet target."""
    server = FakeVersionServer()
    server.serve()
    server.start()
    yield server
    server.stop()
