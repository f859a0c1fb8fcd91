"""The browser UI (SPEC §11): NiceGUI pages rendering the versioned fleet state, thin by design.

`mount_ui` is the only entry point; NiceGUI is imported lazily so the NiceGUI-free parts of this package
(`table_sync`, `lifetime`) can be used and tested without it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from nixfleet.app import Dashboard


def mount_ui(app: FastAPI, dashboard: Dashboard) -> None:
    """Register the pages and mount NiceGUI on `app` (once per process; after every route of `app`).

    NiceGUI is mounted at `/`, so routes added to `app` afterwards would be shadowed by it.
    """
    from nicegui import app as nicegui_app
    from nicegui import ui
    from nicegui.storage import Storage

    from nixfleet.ui import sync_hooks
    from nixfleet.ui.pages import register_pages
    from nixfleet.ui.theme import STATIC_DIR, install_theme

    settings = dashboard.settings
    if 'NICEGUI_STORAGE_PATH' not in os.environ:
        Storage.path = (settings.data_dir / 'nicegui').resolve()
    # pages are served by NiceGUI's app, whose requests carry it (not `app`) as `request.app`
    nicegui_app.state.sessions = app.state.sessions
    nicegui_app.state.dashboard = dashboard
    install_theme()
    register_pages(dashboard)
    if sync_hooks.enabled():  # browser tests only
        sync_hooks.install(app, dashboard)
    keys = settings.session_keys
    ui.run_with(
        app,
        title='NixFleet',
        dark=True,
        favicon=STATIC_DIR / 'logo.svg',
        storage_secret=keys[0] if keys else None,
        show_welcome_message=False,
        tailwind=False,  # its in-browser JIT rescans the DOM on every mutation: ~20 % of a tab's CPU at 2,000 hosts
    )
