"""The dashboard's object graph and its staged startup and shutdown.

`Dashboard` wires store → streams → handlers → gateway; `build_app` puts it behind a FastAPI app whose lifespan
starts and stops it. The NiceGUI UI is mounted on top by `serve` (nixfleet.server) and is optional, so protocol
and integration tests run the same core without a browser stack.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import FastAPI, WebSocket
from fastapi.responses import JSONResponse

from nixfleet import __version__
from nixfleet.api.auth import auth_router
from nixfleet.api.commands_routes import commands_router
from nixfleet.api.deps import ApiAuth, install_unmatched
from nixfleet.api.errors import error_json, install_error_envelope
from nixfleet.api.events_routes import events_router
from nixfleet.api.hosts_routes import hosts_router
from nixfleet.api.metrics import FleetCollector, metrics_router
from nixfleet.api.metrics_window import FinishedWindow
from nixfleet.api.ops_routes import ops_router
from nixfleet.api.schemas import API_SECURITY, document_scope_refusals, malformed, refusals
from nixfleet.api.tokens_routes import tokens_router
from nixfleet.compartments.service import CompartmentService
from nixfleet.config import Settings
from nixfleet.events import EventLog
from nixfleet.gateway.agents import AgentGateway
from nixfleet.gateway.sync_ws import sync_endpoint
from nixfleet.hosts import HostRegistry
from nixfleet.integrations.github import GitHubService
from nixfleet.integrations.remote import IntegrationsRemote
from nixfleet.journal import Journal
from nixfleet.journal.reads import recent_events
from nixfleet.journal.records import last_command_ends
from nixfleet.models import EventLevel
from nixfleet.ops.engine import OpEngine
from nixfleet.scheduling import every
from nixfleet.security.credentials import CredentialCheck
from nixfleet.security.middleware import install_security
from nixfleet.security.service import SHARED, TokenService
from nixfleet.security.sessions import SessionSigner, credential_binding
from nixfleet.security.state import SecurityState
from nixfleet.security.tokens import TokenGrant
from nixfleet.store import Store
from nixfleet.store.retention import Retention
from nixfleet.streams import trim
from nixfleet.streams.live import LiveState
from nixfleet.streams.samples import MetricSamples
from nixfleet.streams.state import FleetState, FleetStateStream
from nixfleet.streams.sync import SyncHub
from nixfleet.streams.version import VersionKeeper
from nixfleet.timeutil import Clock

log = logging.getLogger(__name__)


class Dashboard:
    """Everything the dashboard process runs, built from settings; `start` and `stop` run the stages."""

    def __init__(self, settings: Settings, clock: Clock = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.store = Store(settings.database_path)
        self.journal = Journal(self.store)
        self.versions = VersionKeeper(self.store)
        self.stream = FleetStateStream(FleetState(event_limit=settings.init_event_limit), self.versions.observe)
        self.live = LiveState(self.store, MetricSamples(clock))
        self.events = EventLog(self.store, self.stream, clock)
        self.hosts = HostRegistry(settings, self.store, self.live, self.stream, self.events, clock)
        self.gateway = AgentGateway(
            settings,
            self.hosts,
            self.live,
            self.events,
            self.check_agent_token,
            clock,
            host_has_token=self.host_has_agent_token,
        )
        #: Admin sessions (signed cookies) and the security state persisted with them (nixfleet.security.sessions).
        self.sessions = SessionSigner(
            settings.session_keys, settings.session_duration, clock, bind=credential_binding(settings)
        )
        totp_secret = settings.totp_secret.get_secret_value() if settings.totp_secret else None
        self.security = SecurityState(self.store, self.sessions, self.events, clock, totp_secret=totp_secret or None)
        #: The one TOTP guard: login and TOTP-gated ops share it, so a code works once for either.
        self.totp = self.security.totp
        #: Compartments: version.json, expected agent versions, every host's five statuses, command results.
        #: `active_op` is read lazily: the op engine that knows it is built next and records results into this.
        self.compartments = CompartmentService(settings, self.hosts, self.stream, clock, active_op=self.active_op)
        #: GitHub flake-update PRs: pending PR, merge-pr, merge-deploy's wait for version.json.
        self.github = GitHubService(settings, self.stream, clock, self.compartments)
        #: The op engine: dispatch, command lifecycle (the one owner of busy-ness), pipelines.
        self.ops = OpEngine(
            settings,
            self.store,
            self.stream,
            self.events,
            self.hosts,
            self.gateway,
            clock,
            remote=IntegrationsRemote(self.compartments, self.github),
            compartments=self.compartments,
            finished_listeners=[self.compartments.command_finished],
            totp=self.totp,
        )
        self.sync = SyncHub(self.stream)
        #: Commands and pipeline runs that ended within the last hour, for /metrics (the live state keeps only some).
        self.finished = FinishedWindow(clock)
        #: Per-host agent tokens and API tokens (hashed in SQLite; see nixfleet.security).
        self.tokens = TokenService(self.store, self.events, self.gateway, clock)
        #: Daily deletion of old commands (with their log files), pipelines and events (docs/architecture.md#retention).
        self.retention = Retention.from_settings(settings, self.store, clock)
        #: Extra API tokens held in memory only, by name (tests and the demo); checked before the token store.
        self.api_tokens: dict[str, str] = {}
        #: Who is behind an HTTP request or WebSocket: an API token or the admin session.
        self.credentials = CredentialCheck(self.tokens, self.sessions, self.api_tokens)
        self.scheduler: AsyncIOScheduler | None = None
        self.started = False
        self._agents_closed = 0

    async def check_agent_token(self, token: str) -> TokenGrant | None:
        """Resolve an agent bearer token: a per-host token from the token store, else the shared token."""
        if (grant := await self.tokens.check_agent(token)) is not None:
            return grant
        shared = self.settings.agent_token
        if shared is not None and hmac.compare_digest(token.encode(), shared.get_secret_value().encode()):
            self.tokens.note_shared_use()
            return TokenGrant(name=SHARED)
        return None

    async def host_has_agent_token(self, host: str) -> bool:
        """Whether a host has an active per-host agent token: then only such a token may register it."""
        return self.tokens.has_agent_token(host)

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Open the store, load the state and version, and start periodic jobs (call on the loop thread)."""
        if self.started:
            return
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store.open()
        version = self.versions.load()
        self.store.write_sync(self.hosts.load)
        self.compartments.set_command_ends(self.store.read_sync(last_command_ends))
        self.ops.load()  # unfinished commands first: host views derive busy-ness from them
        self.security.load()
        self.store.read_sync(self.tokens.load)
        events = self.store.read_sync(lambda db: recent_events(db, self.settings.init_event_limit))
        self.stream.load(
            FleetState(
                version=version,
                hosts=self.hosts.all_views(),
                fleet={**self.compartments.fleet_fields(), **self.github.fleet_fields()},
                events=tuple(events),
                event_limit=self.settings.init_event_limit,
            )
        )
        self.ops.publish_loaded()
        self.store.read_sync(self.finished.load)
        self.finished.follow(self.stream)
        self.scheduler = scheduler = AsyncIOScheduler()
        every(scheduler, self.settings.tick_interval, self.tick, 'liveness')
        every(scheduler, self.settings.live_flush_interval, self.live.flush, 'live_flush')
        every(scheduler, self.settings.sync_beacon_interval, self.sync.beacon_all, 'sync_beacon')
        every(scheduler, self.tokens.check_interval, self.tokens.maintain, 'tokens')
        every(scheduler, self.settings.tick_interval, self.ops.tick, 'ops_timeouts')
        every(scheduler, self.settings.stale_cleanup_interval, self.ops.sweep_offline, 'stale_cleanup')
        every(scheduler, trim.INTERVAL, self.ops.trimmer.job, 'state_trim')
        self.compartments.start(self.scheduler)
        self.retention.schedule(self.scheduler)
        self.github.start(self.scheduler)
        self.scheduler.start()
        self.ops.start()
        self.started = True
        log.info(
            'dashboard started at state version %d with %d hosts; serving on %s',
            version,
            len(self.hosts.rows),
            self.settings.listen,
        )

    def active_op(self, host: str) -> str | None:
        """The op of the host's active command, if any (an input of its compartments)."""
        cmd = self.ops.lifecycle.active_for(host)
        return cmd.op if cmd is not None else None

    async def tick(self) -> None:
        """Re-evaluate liveness, close dead links, summarise refused agent connections and end the tabs and sync
        sockets of expired sessions (every `tick_interval`)."""
        self.hosts.check_liveness()
        self.gateway.sweep_idle()
        self.security.links.expire()
        await self.gateway.refusals.flush()

    async def close_agents(self) -> None:
        """First shutdown stage: stop the op engine, then close every agent link with 1001 (idempotent).

        The server runs it before uvicorn's own shutdown, which would close the links with 1012 (nixfleet.server);
        `stop` runs it too. Hosts go offline without a `disconnect` event each: `stop` journals one event instead.
        """
        if not self.started or self.gateway.shutting_down:
            return
        await self.ops.stop()  # the lifecycle ignores the links' ends from now on: commands resume at the next start
        self._agents_closed = await self.gateway.close_all()

    async def stop(self) -> None:
        """Close agents, flush LiveState, persist the version, stop jobs and close the store."""
        if not self.started:
            return
        await self.close_agents()
        self.started = False
        self.finished.stop()
        await self.events.record(
            'shutdown',
            f'dashboard stopped ({self._agents_closed} agents disconnected)',
            details={'agents_disconnected': self._agents_closed},
        )
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.compartments.stop()
        await self.github.aclose()
        await self.security.drain()
        self.live.flush_sync()
        self.tokens.flush_sync()
        self.versions.persist_exact(self.stream.version)
        self.store.close()
        log.info('dashboard stopped at state version %d', self.stream.version)

    async def record_startup(self) -> None:
        """Journal the start of the dashboard."""
        await self.events.record('startup', f'dashboard {__version__} started', level=EventLevel.INFO)


def build_app(dashboard: Dashboard) -> FastAPI:
    """Return the FastAPI app of this dashboard: agent and sync sockets, login, the API, metrics and health."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        dashboard.start()
        await dashboard.record_startup()
        try:
            yield
        finally:
            await dashboard.stop()

    # no slash redirects: `/api/*` answers JSON, never a redirect; `/api/hosts/` is a 404 envelope
    app = FastAPI(title='NixFleet', version=__version__, lifespan=lifespan, redirect_slashes=False)
    # proxy rules, origin checks, security headers (NiceGUI too)
    settings, clock = dashboard.settings, dashboard.clock
    install_security(app, settings, error_json)
    login = auth_router(settings, dashboard.sessions, dashboard.totp, dashboard.security, dashboard.events, clock)
    app.include_router(login)

    @app.websocket('/ws')
    async def agent_socket(ws: WebSocket) -> None:
        await dashboard.gateway.endpoint(ws)

    @app.websocket('/api/sync')
    async def sync_socket(ws: WebSocket) -> None:
        await sync_endpoint(
            ws,
            dashboard.sync,
            dashboard.credentials.credential,
            hold=dashboard.tokens.hold_link,
            links=dashboard.security.links,
        )

    include_api(app, dashboard)

    @app.get('/health', tags=['meta'], responses=malformed())
    async def health() -> JSONResponse:
        status = 'starting' if not dashboard.started else 'ok' if dashboard.store.file_intact() else 'database lost'
        body: dict[str, Any] = {
            'status': status,
            'version': __version__,
            'state_version': dashboard.stream.version,
            'agents_connected': len(dashboard.gateway.links),
        }
        return JSONResponse(body, status_code=200 if status == 'ok' else 503)

    return app


def include_api(app: FastAPI, dashboard: Dashboard) -> None:
    """Add the `/api` routers and `/metrics`, each built from the parts it uses, and the error envelope."""
    auth = ApiAuth(dashboard.credentials)
    tokens = tokens_router(dashboard.tokens, dashboard.credentials)
    app.include_router(tokens, dependencies=API_SECURITY, responses=malformed())
    collector = FleetCollector(dashboard.stream, dashboard.gateway, dashboard.sync, dashboard.finished)
    metrics = metrics_router(collector, dashboard.credentials)
    app.include_router(metrics, dependencies=API_SECURITY, responses=refusals() | malformed())
    routers = (
        hosts_router(dashboard.stream, dashboard.ops, auth, dashboard.live.samples),
        ops_router(dashboard.ops, auth),
        commands_router(dashboard.journal, dashboard.ops, dashboard.stream, auth),
        events_router(dashboard.journal, auth),
    )
    for router in routers:
        app.include_router(document_scope_refusals(router), dependencies=API_SECURITY, responses=malformed())
    install_unmatched(app, auth)  # after the last `/api` route: it takes every `/api` request no route took
    install_error_envelope(app)
