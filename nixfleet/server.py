"""Run the dashboard: the core app plus the NiceGUI UI, served by uvicorn with agent-safe WebSocket settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from nixfleet.api.errors import error_json
from nixfleet.app import Dashboard, build_app
from nixfleet.config import Settings
from nixfleet.gateway.fair_ws import FairWSProtocol
from nixfleet.models import ErrorCode

if TYPE_CHECKING:
    from nixfleet.ui import UiParts

log = logging.getLogger(__name__)

#: The answer to a request that is not valid HTTP: the `/api` error envelope, as every operation documents it.
_MALFORMED_MESSAGE = 'not a valid HTTP request (e.g. a control character in a header)'
MALFORMED_BODY = error_json(ErrorCode.MALFORMED_REQUEST, _MALFORMED_MESSAGE)


class _MalformedAsEnvelope:
    """Mixin for uvicorn's HTTP protocol: a request it cannot parse gets the error envelope (400, JSON)."""

    server_state: Any
    transport: Any

    def send_400_response(self, msg: str) -> None:
        """Answer 400 with `MALFORMED_BODY` and close (uvicorn's own answer is plain text, documented nowhere)."""
        head = [
            b'HTTP/1.1 400 Bad Request',
            *(name + b': ' + value for name, value in self.server_state.default_headers),
            b'content-type: application/json',
            b'content-length: ' + str(len(MALFORMED_BODY)).encode(),
            b'connection: close',
        ]
        self.transport.write(b'\r\n'.join(head) + b'\r\n\r\n' + MALFORMED_BODY)
        self.transport.close()


#: uvicorn's HTTP protocol (httptools, else h11) with `_MalformedAsEnvelope`.
HTTP_PROTOCOL: type[asyncio.Protocol] = type('EnvelopeHTTPProtocol', (_MalformedAsEnvelope, AutoHTTPProtocol), {})


def uvicorn_config(
    app: FastAPI, settings: Settings, *, host: str | None = None, port: int | None = None, log_level: str | None = None
) -> uvicorn.Config:
    """Uvicorn settings every NixFleet server uses.

    Keepalive pings go out every `ws_ping_interval` but no pong deadline is set, because uvicorn would require
    the pong to echo the ping payload and the Go agent's does not; dead links are closed by the idle sweep.
    Frames above `max_frame_bytes` close the link with 1009. No compression: agents never use it
    (docs/agent-protocol.md#limits), and it let one small socket read expand into thousands of frames or hundreds
    of megabytes. Each connection's frames are handled within a budget, a slice per loop turn (`FairWSProtocol`),
    so a flooding peer cannot stall the server. A request that is not valid HTTP is answered with the error
    envelope (`HTTP_PROTOCOL`).
    """
    return uvicorn.Config(
        app,
        host=host or settings.host,
        port=settings.port if port is None else port,
        http=HTTP_PROTOCOL,
        ws=FairWSProtocol,
        ws_max_size=settings.max_frame_bytes,
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ws_ping_interval,
        ws_ping_timeout=None,
        log_level=log_level or settings.log_level,
        lifespan='on',
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
        log_config=None,
    )


class DashboardServer(uvicorn.Server):
    """uvicorn's server, with the dashboard's first shutdown stage run before uvicorn closes the connections.

    uvicorn's shutdown closes every open WebSocket with 1012 before the app's lifespan shutdown runs; agents must
    see 1001 "going away" from the dashboard itself (docs/architecture.md#startup-and-shutdown), so their links are
    closed first.
    """

    def __init__(self, config: uvicorn.Config, dashboard: Dashboard, *, quiet_exit: bool = False) -> None:
        super().__init__(config)
        self.dashboard = dashboard
        self._quiet_exit = quiet_exit

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """As uvicorn; with `quiet_exit` a stop asked for by SIGINT/SIGTERM then ends the process normally (exit 0).

        uvicorn raises the signal again once it has shut down, so the process ends *by* it: a shell or `just` in
        front of the demo then reports the recipe as killed although it stopped as asked.
        """
        with super().capture_signals():
            yield
            if self._quiet_exit:
                self._captured_signals.clear()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Close the agent links (1001), then shut down as uvicorn does."""
        try:
            await self.dashboard.close_agents()
        except Exception:
            log.exception('closing agent links failed; shutting down anyway')
        await super().shutdown(sockets)


def create_web_app(dashboard: Dashboard, *, with_ui: bool = True) -> FastAPI:
    """Build the dashboard's ASGI app, with the NiceGUI UI mounted unless `with_ui` is False."""
    app = build_app(dashboard)
    if with_ui:
        from nixfleet.ui import mount_ui

        mount_ui(app, ui_parts(dashboard))
    return app


def ui_parts(dashboard: Dashboard) -> UiParts:
    """The parts of `dashboard` the UI uses (what `mount_ui` gets instead of the dashboard)."""
    from nixfleet.ui import UiParts

    return UiParts(
        settings=dashboard.settings,
        stream=dashboard.stream,
        beacons=dashboard.sync.beacons,
        ops=dashboard.ops,
        journal=dashboard.journal,
        tokens=dashboard.tokens,
        links=dashboard.security.links,
        sessions=dashboard.sessions,
        samples=dashboard.live.samples,
        clock=dashboard.clock,
    )


def serve(settings: Settings, *, with_ui: bool = True) -> None:
    """Serve the dashboard until SIGINT/SIGTERM."""
    dashboard = Dashboard(settings)
    server = DashboardServer(uvicorn_config(create_web_app(dashboard, with_ui=with_ui), settings), dashboard)
    asyncio.run(server.serve())
