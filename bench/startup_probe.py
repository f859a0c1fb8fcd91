"""Where a dashboard's startup time goes, measured in-process on a data dir (run by run.py in a subprocess).

    python bench/startup_probe.py DATA_DIR [--ui]

Prints one JSON line: seconds to import the server (and the UI), to build the `Dashboard`, to run its `start()`
(open + migrate the store, load hosts, commands, events, build every host view), the top functions of `start()`
by cumulative time (cProfile), and the time to encode an `init` message of the loaded state (median of 20).
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def top_functions(profile: cProfile.Profile, count: int = 15) -> list[tuple[str, float]]:
    """The `count` functions with the largest cumulative time (name, seconds)."""
    stats = pstats.Stats(profile)
    rows = []
    for (filename, line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename.split('site-packages/')[-1].split('/work/')[-1]
        rows.append((f'{name} ({where}:{line})', round(cumulative, 4)))
    rows.sort(key=lambda r: -r[1])
    return rows[:count]


async def probe(data_dir: Path, ui: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    from nixfleet.app import Dashboard, build_app
    from nixfleet.config import Settings
    from nixfleet.streams.sync import state_message

    if ui:
        import nixfleet.ui  # noqa: F401
    t_import = time.perf_counter() - t0
    settings = Settings(
        data_dir=data_dir, agent_token='bench-agent-token-0123456789', session_secret='s' * 32, listen='127.0.0.1:0'
    )
    t1 = time.perf_counter()
    dashboard = Dashboard(settings)
    build_app(dashboard)
    t_build = time.perf_counter() - t1
    profile = cProfile.Profile()
    t2 = time.perf_counter()
    profile.enable()
    dashboard.start()
    profile.disable()
    t_start = time.perf_counter() - t2
    state = dashboard.stream.value
    encode = []
    for _ in range(20):
        t = time.perf_counter()
        message = state_message('init', state)
        encode.append((time.perf_counter() - t) * 1000)
    await dashboard.stop()
    return {
        'import_s': round(t_import, 3),
        'build_s': round(t_build, 3),
        'start_s': round(t_start, 3),
        'hosts': len(state.hosts),
        'commands_in_state': len(state.commands),
        'events_in_state': len(state.events),
        'init_encode_ms_median': round(statistics.median(encode), 2),
        'init_bytes': len(message),
        'start_top': top_functions(profile),
    }


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    os.environ.setdefault('NIXFLEET_LOG_LEVEL', 'warning')
    result = asyncio.run(probe(Path(sys.argv[1]), '--ui' in sys.argv[2:]))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
