"""Test-only hooks for the sync browser tests, installed only with NIXFLEET_TEST_HOOKS=1 (never in production).

- `GET /_test/sync`: the delta and beacon observer counts of the stream and what every open tab rendered;
- `POST /_test/sync/drop?client=<NiceGUI client id>&n=<count>`: the tab's next `n` row transactions are lost on the
  way to its browser (the server believes they were sent), so a test can prove the beacon heals such a tab.

Both need a logged-in session, like the pages.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import FastAPI, HTTPException, Request

from nixfleet.api.auth import session_from_request
from nixfleet.viewmodels.table_sync import HostTableSync

if TYPE_CHECKING:
    from nixfleet.app import Dashboard

#: The environment flag that installs the hooks.
ENV = 'NIXFLEET_TEST_HOOKS'


class Tab(Protocol):
    """The part of a dashboard tab the hooks touch."""

    @property
    def sync(self) -> HostTableSync: ...

    def apply(self, *args: Any) -> None: ...


_tabs: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()


def enabled() -> bool:
    """Whether the test hooks are on in this process."""
    return os.environ.get(ENV) == '1'


def track(client_id: str, tab: Tab) -> None:
    """Remember an open tab by its NiceGUI client id (weakly; only when the hooks are on)."""
    if enabled():
        _tabs[client_id] = tab


def drop_next(tab: Tab, count: int) -> None:
    """Make the tab's next `count` transactions vanish before they reach its browser."""
    send: Callable[..., None] = tab.apply
    left = count

    def apply(*args: Any) -> None:
        nonlocal left
        if left > 0:
            left -= 1
            return
        send(*args)

    setattr(tab, 'apply', apply)  # noqa: B010 - shadows the method on this one instance


def install(app: FastAPI, dashboard: Dashboard) -> None:
    """Add the hook routes to `app` (before NiceGUI is mounted on it)."""

    def require_session(request: Request) -> None:
        if session_from_request(request, dashboard.settings) is None:
            raise HTTPException(401, 'log in first')

    @app.get('/_test/sync', include_in_schema=False)
    def sync_stats(request: Request) -> dict[str, Any]:
        require_session(request)
        return {
            'state_version': dashboard.stream.version,
            'delta_observers': len(dashboard.stream.deltas.observers),
            'beacon_observers': len(dashboard.sync.beacons.observers),
            'tabs': {
                client_id: {
                    'version': tab.sync.version,
                    'attached': tab.sync.attached,
                    'resyncs': tab.sync.resyncs,
                    'catch_ups': tab.sync.catch_ups,
                    'beacons_checked': tab.sync.beacons_checked,
                }
                for client_id, tab in list(_tabs.items())
            },
        }

    @app.post('/_test/sync/drop', include_in_schema=False)
    def drop(request: Request, client: str, n: int = 1) -> dict[str, Any]:
        require_session(request)
        tab = _tabs.get(client)
        if tab is None:
            raise HTTPException(404, f'no open tab for client {client}')
        drop_next(tab, n)
        return {'client': client, 'dropping': n, 'version': tab.sync.version}
