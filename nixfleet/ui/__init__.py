"""The browser UI: NiceGUI pages rendering the versioned fleet state, thin by design.

`mount_ui` is the only entry point; it gets the parts the UI uses (`UiParts`), never the dashboard itself. NiceGUI is
imported lazily, so importing this package costs nothing where no UI is served.

Naming: this package holds NiceGUI modules only, named for what they show, without a suffix (`host_table.py`); a
component's JavaScript and CSS sit beside it under the same name (`host_table.js`). The NiceGUI-free models they
render live in `nixfleet.viewmodels`. Every tab follows the state through one subscription (`HostTableSync`, the
page is its sink; parts needing every delta are its `DeltaFollower`s), reaches its output panel only through its
`PageEvents`, and tells the user things only through `toasts.toast`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI
    from reactivex import Observable

    from nixfleet.config import Settings
    from nixfleet.journal import Journal
    from nixfleet.ops.engine import OpEngine
    from nixfleet.security.links import SessionLinks
    from nixfleet.security.service import TokenService
    from nixfleet.security.sessions import SessionSigner
    from nixfleet.streams.samples import MetricSamples
    from nixfleet.streams.state import FleetStateStream
    from nixfleet.timeutil import Clock


@dataclass(frozen=True, slots=True, kw_only=True)
class UiParts:
    """The parts of the dashboard the pages use, and nothing else."""

    settings: Settings
    #: The versioned fleet state every tab follows.
    stream: FleetStateStream
    #: The version beacons a dashboard tab checks its rendered version against.
    beacons: Observable[int]
    #: Dispatch, command actions, pipelines and command logs.
    ops: OpEngine
    #: Reads of the journal (history, older pipeline runs, a host's newest commands).
    journal: Journal
    #: Agent and API tokens (the Tokens page).
    tokens: TokenService
    #: The live connections of each admin session (a tab leaves when its session ends).
    links: SessionLinks
    #: Admin sessions: who may see a page (the signed cookie, logouts included).
    sessions: SessionSigner
    #: Each host's CPU and RAM of the last hour (the host page's sparklines).
    samples: MetricSamples
    clock: Clock

    @property
    def totp_configured(self) -> bool:
        """Whether a TOTP secret is set (login asks for a code, reboot can be authorised)."""
        secret = self.settings.totp_secret
        return secret is not None and bool(secret.get_secret_value())


def mount_ui(app: FastAPI, parts: UiParts) -> None:
    """Register the pages and mount NiceGUI on `app` (once per process; after every route of `app`).

    NiceGUI is mounted at `/`, so routes added to `app` afterwards would be shadowed by it.
    """
    from nicegui import ui
    from nicegui.storage import Storage

    from nixfleet.ui.pages import register_pages
    from nixfleet.ui.theme import STATIC_DIR, install_theme

    settings = parts.settings
    if 'NICEGUI_STORAGE_PATH' not in os.environ:
        Storage.path = (settings.data_dir / 'nicegui').resolve()
    install_theme()
    register_pages(parts)
    keys = settings.session_keys
    ui.run_with(
        app,
        title='NixFleet',
        language='en-US',  # <html lang>: screen readers pick their voice by it
        dark=True,
        favicon=STATIC_DIR / 'logo.svg',
        storage_secret=keys[0] if keys else None,
        show_welcome_message=False,
        tailwind=False,  # its in-browser JIT rescans the DOM on every mutation: ~20 % of a tab's CPU at 2,000 hosts
    )
