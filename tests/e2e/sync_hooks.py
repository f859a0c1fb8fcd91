"""Test-only hooks for the sync browser tests: `python -m tests.e2e.sync_hooks serve` is `nixfleet serve` plus

- `GET /_test/sync`: the delta and beacon observer counts of the stream and what every open tab rendered;
- `POST /_test/sync/drop?client=<NiceGUI client id>&n=<count>`: the tab's next `n` row transactions are lost on the
  way to its browser (the server believes they were sent), so a test can prove the beacon heals such a tab;
- `POST /_test/samples?host=<id>`: an hour of CPU and RAM samples for the host's sparklines, as if it had been
  heartbeating all along (a browser test cannot wait an hour).

Both need a logged-in session, like the pages. The production code knows nothing of them: this launcher adds the
routes before the UI is mounted and notes each dashboard tab as it is built. `run_nixfleet` uses it for a dashboard
started with `NIXFLEET_TEST_HOOKS=1`.
"""

from __future__ import annotations

import math
import random
import sys
import time
import weakref
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request

#: The environment flag that makes the e2e fixtures start the dashboard through this launcher.
ENV = 'NIXFLEET_TEST_HOOKS'

_tabs: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()


def drop_next(tab: Any, count: int) -> None:
    """Make the tab's next `count` transactions vanish before they reach its browser."""
    send: Callable[..., None] = tab.apply
    left = count

    def apply(*args: Any) -> None:
        nonlocal left
        if left > 0:
            left -= 1
            return
        send(*args)

    setattr(tab, 'apply', apply)  # noqa: B010 - shadows the method on this one instance (its sync calls it)


def add_routes(app: FastAPI, parts: Any) -> None:
    """Add the hook routes to `app` (before NiceGUI is mounted on it)."""

    def require_session(request: Request) -> None:
        if parts.sessions.of(request) is None:
            raise HTTPException(401, 'log in first')

    @app.get('/_test/sync', include_in_schema=False)
    def sync_stats(request: Request) -> dict[str, Any]:
        require_session(request)
        return {
            'state_version': parts.stream.version,
            'delta_observers': len(parts.stream.deltas.observers),
            'beacon_observers': len(parts.beacons.observers),
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

    add_sample_route(app, parts, require_session)

    @app.post('/_test/sync/drop', include_in_schema=False)
    def drop(request: Request, client: str, n: int = 1) -> dict[str, Any]:
        require_session(request)
        tab = _tabs.get(client)
        if tab is None:
            raise HTTPException(404, f'no open tab for client {client}')
        drop_next(tab, n)
        return {'client': client, 'dropping': n, 'version': tab.sync.version}


def add_sample_route(app: FastAPI, parts: Any, require_session: Callable[[Request], None]) -> None:
    """`POST /_test/samples?host=<id>`: an hour of plausible samples (a daily rhythm, a build spike, some noise)."""

    @app.post('/_test/samples', include_in_schema=False)
    def seed_samples(request: Request, host: str) -> dict[str, Any]:
        require_session(request)
        samples, now = parts.samples, time.time()
        noise = random.Random(host)
        steps = int(samples.window // samples.step)
        for i in range(steps, 0, -1):
            spike = 48.0 if 46 <= i <= 58 else 0.0
            cpu = 16 + 9 * math.sin(i / 9) + spike + noise.uniform(-4, 4)
            ram = 41 + 6 * math.sin(i / 23) + spike / 3 + noise.uniform(-1.5, 1.5)
            samples.add(host, now - i * samples.step, {'cpu': cpu, 'ram': ram})
        return {'host': host, 'samples': len(samples.recent(host))}


def install() -> None:
    """Add the routes when the UI is mounted, and note every dashboard tab by its NiceGUI client id (weakly)."""
    from nicegui import ui

    import nixfleet.ui
    from nixfleet.ui.pages import FleetPage

    mount_ui = nixfleet.ui.mount_ui
    build = FleetPage.__init__

    def mount_with_hooks(app: FastAPI, parts: Any) -> None:
        add_routes(app, parts)
        mount_ui(app, parts)

    def build_and_track(self: FleetPage, *args: Any, **kwargs: Any) -> None:
        build(self, *args, **kwargs)
        _tabs[ui.context.client.id] = self

    nixfleet.ui.mount_ui = mount_with_hooks  # type: ignore[assignment]
    FleetPage.__init__ = build_and_track  # type: ignore[method-assign]


if __name__ == '__main__':
    install()
    from nixfleet.cli import main

    sys.exit(main())
