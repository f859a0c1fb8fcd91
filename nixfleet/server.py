"""Run the dashboard: the core app plus the NiceGUI UI, served by uvicorn with agent-safe WebSocket settings."""

from __future__ import annotations

import asyncio
import logging

import uvicorn
from fastapi import FastAPI

from nixfleet.app import Dashboard, build_app
from nixfleet.config import Settings

log = logging.getLogger(__name__)


def uvicorn_config(
    app: FastAPI, settings: Settings, *, host: str | None = None, port: int | None = None, log_level: str | None = None
) -> uvicorn.Config:
    """Uvicorn settings every NixFleet server uses.

    Keepalive pings go out every `ws_ping_interval` but no pong deadline is set, because uvicorn would require
    the pong to echo the ping payload and the Go agent's does not; dead links are closed by the idle sweep.
    Frames above `max_frame_bytes` close the link with 1009.
    """
    return uvicorn.Config(
        app,
        host=host or settings.host,
        port=settings.port if port is None else port,
        ws='wsproto',
        ws_max_size=settings.max_frame_bytes,
        ws_ping_interval=settings.ws_ping_interval,
        ws_ping_timeout=None,
        log_level=log_level or settings.log_level,
        lifespan='on',
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
        log_config=None,
    )


def create_web_app(settings: Settings, *, with_ui: bool = True) -> FastAPI:
    """Build the dashboard's ASGI app, with the NiceGUI UI mounted unless `with_ui` is False."""
    dashboard = Dashboard(settings)
    app = build_app(dashboard)
    if with_ui:
        from nixfleet.ui import mount_ui

        mount_ui(app, dashboard)
    return app


def serve(settings: Settings, *, with_ui: bool = True) -> None:
    """Serve the dashboard until SIGINT/SIGTERM."""
    app = create_web_app(settings, with_ui=with_ui)
    server = uvicorn.Server(uvicorn_config(app, settings))
    asyncio.run(server.serve())
