"""The browser scenario: the dashboard open in Chromium with 2,000 live hosts while they heartbeat.

bench/fleet_load.py drives the agents (with its sync observer, so latency is measured too); once they are all
connected, Chromium (Debian's, via Playwright) logs in with the form at /login and opens the host table. Then, for
`--seconds`, it repeats user input: typing a filter (wait until the table shows the 10 matching rows), clearing it
(all rows back), the Offline status chip on and off, sorting by CPU both ways, ticking a host's checkbox and
unticking it. Each interaction is timed from the input until the DOM shows its effect; the browser's Event Timing
entries (input delay + processing + next paint, what INP is made of) are collected too. Target: every input answered
in under 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from fleet import harness_command
from record import append, log, metadata, percentile
from sampling import Sampler
from serverctl import Server, running_server

CHROMIUM = '/usr/bin/chromium'
ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync']  # fmt: skip
#: Collect Event Timing entries (keyboard and pointer events taking 16 ms or more) in the page.
EVENT_TIMING = """
window.__nfEvents = [];
const nfControl = (t) => !t || !t.closest ? 'other'
  : t.closest('.nf-chip') ? 'chip' : t.closest('.nf-sort') ? 'sort'
  : t.closest('input[aria-label="Filter hosts"]') ? 'filter' : t.closest('.nf-check') ? 'check' : 'other';
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    window.__nfEvents.push({name: e.name, duration: e.duration, delay: e.processingStart - e.startTime,
                            processing: e.processingEnd - e.processingStart, interaction: e.interactionId,
                            control: nfControl(e.target)});
  }
}).observe({type: 'event', durationThreshold: 16, buffered: true});
"""
ROWS = '.nf-row'
FILTER = 'input[aria-label="Filter hosts"]'
#: The table shows `count` rows: every one is in the DOM, or (a windowed table) it says it has `count` rows (plus the
#: header) and the rows it rendered reach the bottom of the viewport, so what the user sees is complete.
SHOWS = """(count) => {
  const table = document.querySelector('.nf-hosts');
  const rows = table ? table.querySelectorAll('.nf-row') : [];
  if (rows.length === count) return true;
  if (!rows.length || Number(table.getAttribute('aria-rowcount')) !== count + 1) return false;
  return rows[rows.length - 1].getBoundingClientRect().bottom >= window.innerHeight;
}"""


#: Renderer main-thread timeline events summed in the trace summary (nested ones overlap: read them side by side).
TIMELINE = (
    'RunTask', 'FunctionCall', 'TimerFire', 'EventDispatch', 'RunMicrotasks', 'UpdateLayoutTree', 'Layout',
    'PrePaint', 'Paint', 'Layerize', 'HitTest', 'MinorGC', 'MajorGC', 'V8.GC_SCAVENGER', 'ParseHTML',
)  # fmt: skip


def js_profile_summary(profile: dict[str, Any], top: int = 15) -> list[tuple[str, float]]:
    """Self time (ms) per JS function of a CDP `Profiler.stop` profile, largest first."""
    nodes = {node['id']: node for node in profile.get('nodes', [])}
    deltas = profile.get('timeDeltas') or []
    spent: dict[str, float] = {}
    for sample, delta in zip(profile.get('samples') or [], [*deltas[1:], 0], strict=False):
        frame = nodes[sample]['callFrame']
        name = f'{frame.get("functionName") or "(anonymous)"} ({frame.get("url", "").rsplit("/", 1)[-1]})'
        spent[name] = spent.get(name, 0.0) + delta / 1000
    return [(name, round(ms, 1)) for name, ms in sorted(spent.items(), key=lambda kv: -kv[1])[:top]]


def timeline_summary(trace: bytes) -> dict[str, Any]:
    """Milliseconds per timeline event on the renderer's main thread (CrRendererMain)."""
    events = json.loads(trace).get('traceEvents', [])
    main = {(e['pid'], e['tid']) for e in events if e.get('name') == 'thread_name'
            and (e.get('args') or {}).get('name') == 'CrRendererMain'}  # fmt: skip
    spent: dict[str, float] = {}
    for event in events:
        if (event.get('pid'), event.get('tid')) in main and event.get('ph') == 'X' and event.get('name') in TIMELINE:
            spent[event['name']] = spent.get(event['name'], 0.0) + event.get('dur', 0) / 1000
    return {name: round(ms) for name, ms in sorted(spent.items(), key=lambda kv: -kv[1])}


def stats(values: list[float]) -> dict[str, float | int | None]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 1)

    return {
        'median': r(percentile(values, 50)),
        'p95': r(percentile(values, 95)),
        'max': r(max(values) if values else None),
        'n': len(values),
    }


async def rows_are(page: Any, count: int, timeout_ms: float = 10_000) -> None:
    """Wait until the table shows `count` rows (see `SHOWS`)."""
    await page.wait_for_function(SHOWS, arg=count, timeout=timeout_ms)


#: Triage inputs timed besides the filter: a status chip on and off, a column sorted one way and the other.
TRIAGE = ('chip', 'unchip', 'sort', 'resort')
#: The table sorts by `key` in direction `dir` (its header says so; the rows re-render in the same frame).
SORTED = """([key, dir]) => document.querySelector(`.nf-th.c-${key}`)?.getAttribute('aria-sort') === dir"""


def by_control(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Event Timing per interaction (its longest event: pointerdown, pointerup, click or a key) by the control it
    hit: the status chips, the sort headers, the text filter, the selection boxes (events under 16 ms are not
    reported by the browser, so these figures lean high)."""
    longest: dict[tuple[str, int], float] = {}
    for event in events:
        if event.get('interaction'):
            key = (str(event.get('control')), int(event['interaction']))
            longest[key] = max(longest.get(key, 0.0), float(event['duration']))
    controls = sorted({control for control, _ in longest})
    return {c: stats([d for (k, _), d in longest.items() if k == c]) for c in controls}


async def triage(page: Any, agents: int, timings: dict[str, list[float]]) -> None:
    """Time the Offline chip (no host is offline: the empty state, then every row again) and sorting by CPU."""
    chip = page.locator('.nf-chip[data-chip="offline"]')
    if not await chip.count():
        return  # a tree without the chips
    steps = (
        ('chip', chip, 'document.querySelector(".nf-hosts")?.getAttribute("aria-rowcount") === "1"', None),
        ('unchip', chip, None, agents),
        ('sort', page.locator('.nf-th.c-cpu .nf-sort'), SORTED, ['cpu', 'descending']),
        ('resort', page.locator('.nf-th.c-cpu .nf-sort'), SORTED, ['cpu', 'ascending']),
    )
    for name, target, check, arg in steps:
        t = time.monotonic()
        await target.click()
        if check is None:
            await rows_are(page, arg)
        else:
            await page.wait_for_function(check, arg=arg)
        timings[name].append((time.monotonic() - t) * 1000)
        await asyncio.sleep(0.5)
    await page.locator('.nf-th.c-host .nf-sort').click()  # back to the name order


async def interact(
    server: Server, agents: int, prefix: str, seconds: float, trace: bool, *, reduced_motion: bool = False
) -> dict[str, Any]:
    """Log in, open the table, and time user input for `seconds`."""
    from playwright.async_api import async_playwright

    timings: dict[str, list[float]] = {name: [] for name in ('filter', 'clear', 'tick', 'untick', *TRIAGE)}
    lag: list[int] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        motion = 'reduce' if reduced_motion else 'no-preference'
        page = await browser.new_page(viewport={'width': 1400, 'height': 900}, reduced_motion=motion)
        await page.add_init_script(EVENT_TIMING)
        t0 = time.monotonic()
        await page.goto(f'{server.http}/login')
        await page.fill('input[name="password"]', server.password)
        await page.click('button[type="submit"]')
        await page.wait_for_url(f'{server.http}/', timeout=30_000)
        await rows_are(page, agents, 60_000)
        first_render = time.monotonic() - t0
        log(f'table with {agents} rows rendered {first_render:.1f} s after opening /login')
        needle = f'{prefix}{(agents - 10) // 10:04d}'  # the last ten hosts (fleet_load names them <prefix>00000…)
        box = page.locator(FILTER)
        if trace:  # what the renderer's main thread does meanwhile: timeline events and a JS CPU profile
            cdp = await page.context.new_cdp_session(page)
            await cdp.send('Profiler.enable')
            await cdp.send('Profiler.start')
            await browser.start_tracing(page=page, categories=['devtools.timeline'])
            traced_from = time.monotonic()
        selectable = await page.locator(f'{ROWS} button.nf-check').count() > 0  # rows with a selection checkbox
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t = time.monotonic()
            await box.fill(needle)
            await rows_are(page, 10)
            timings['filter'].append((time.monotonic() - t) * 1000)
            await asyncio.sleep(0.5)
            t = time.monotonic()
            await box.fill('')
            await rows_are(page, agents)
            timings['clear'].append((time.monotonic() - t) * 1000)
            await asyncio.sleep(0.5)
            rendered = await page.evaluate('Number(document.querySelector(".nf-host-table")?.dataset.version || 0)')
            lag.append(max(0, await asyncio.to_thread(server_version, server) - int(rendered)))
            await triage(page, agents, timings)
            if not selectable:
                continue
            check = page.locator(f'{ROWS} button.nf-check').nth(3)
            for name, state in (('tick', 'true'), ('untick', 'false')):
                t = time.monotonic()
                await check.click()
                await page.wait_for_function(
                    f'document.querySelectorAll("{ROWS} button.nf-check")[3].getAttribute("aria-checked") === "{state}"'
                )
                timings[name].append((time.monotonic() - t) * 1000)
                await asyncio.sleep(0.5)
        events = await page.evaluate('window.__nfEvents')
        diagnosis: dict[str, Any] = {}
        if trace:
            diagnosis['traced_s'] = round(time.monotonic() - traced_from, 1)
            diagnosis['main_thread_ms'] = timeline_summary(await browser.stop_tracing())
            diagnosis['js_self_ms'] = js_profile_summary((await cdp.send('Profiler.stop'))['profile'])
        await browser.close()
    durations = [float(e['duration']) for e in events]
    # where an event's time went: waiting for the main thread, its handlers, then until the next frame was presented
    delays = [float(e['delay']) for e in events]
    handlers = [float(e['processing']) for e in events]
    presented = [max(0.0, d - a - b) for d, a, b in zip(durations, delays, handlers, strict=True)]
    return {
        'first_render_s': round(first_render, 2),
        'input_ms': {name: stats(values) for name, values in timings.items() if values},
        'input_ms_all': stats([v for values in timings.values() for v in values]),
        'event_timing_ms': stats(durations),
        'event_timing_by_control_ms': by_control(events),
        'event_timing_over_200ms': sum(1 for d in durations if d > 200),
        'event_timing_parts_ms': {'delay': stats(delays), 'processing': stats(handlers), 'to_paint': stats(presented)},
        'version_lag': stats([float(v) for v in lag]),
        **({'renderer': diagnosis} if diagnosis else {}),
    }


def server_version(server: Server) -> int:
    with urllib.request.urlopen(f'{server.http}/health', timeout=5) as response:
        return int(json.loads(response.read()).get('state_version') or 0)


def wait_connected(server: Server, agents: int, harness: subprocess.Popen[str], timeout: float = 90) -> None:
    """Wait until every agent is connected (from /health)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and harness.poll() is None:
        with urllib.request.urlopen(f'{server.http}/health', timeout=5) as response:
            if json.loads(response.read()).get('agents_connected', 0) >= agents:
                return
        time.sleep(0.5)
    raise SystemExit(f'the agents did not all connect:\n{server.log_tail()}')


def browser_once(args: argparse.Namespace, tree: Path | None) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix='nixfleet-bench-') as tmp,
        running_server(Path(tmp), ui=True, tree=tree) as server,
    ):
        fleet_args = argparse.Namespace(agents=args.agents, interval=args.interval, duration=args.seconds + 75)
        harness = subprocess.Popen(
            harness_command(fleet_args, server, 'sync', 'browser'), stdout=subprocess.PIPE, text=True
        )
        try:
            wait_connected(server, args.agents, harness)
            sampler = Sampler(server.pid)
            sampler.start()
            t0 = time.monotonic()
            result = asyncio.run(
                interact(server, args.agents, 'sim-', args.seconds, args.trace, reduced_motion=args.reduced_motion)
            )
            t1 = time.monotonic()
            sampler.stop()
            out, _ = harness.communicate(timeout=args.seconds + 240)
        finally:
            if harness.poll() is None:
                harness.kill()
                harness.wait()
        lines = [line for line in out.splitlines() if line.startswith('{')]
        fleet = json.loads(lines[-1]) if lines else {}
        result['server'] = sampler.summary(t0, t1)
        result['fleet'] = {k: fleet.get(k) for k in ('connected', 'disconnects', 'cpu_pct_median', 'cpu_pct_p95',
                                                       'rss_mb_max', 'latency_ms_median', 'latency_ms_p99',
                                                       'delivered_pct', 'observer_stats')}  # fmt: skip
        return result


def cmd_browser(args: argparse.Namespace) -> int:
    tree = Path(args.tree).resolve() if args.tree else None
    for index in range(args.repeat):
        log(f'browser: run {index + 1} of {args.repeat}')
        result = browser_once(args, tree)
        result['bench'] = metadata(
            args.name or 'browser',
            tree=tree,
            agents=args.agents,
            interval=args.interval,
            reduced_motion=args.reduced_motion,
        )
        append(args.name or 'browser', result)
        print(json.dumps({k: v for k, v in result.items() if k != 'bench'}), flush=True)
    return 0


def add_parser(sub: Any) -> None:
    """The `browser` subcommand."""
    browser = sub.add_parser(
        'browser',
        help='Chromium with the host table open while N agents heartbeat: input-to-screen times',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    browser.add_argument('--agents', type=int, default=2000)
    browser.add_argument('--interval', type=float, default=5.0)
    browser.add_argument('--seconds', type=float, default=40.0, help='how long to keep interacting')
    browser.add_argument('--repeat', type=int, default=1)
    browser.add_argument('--trace', action='store_true', help="summarize the renderer's main thread (timeline, JS)")
    browser.add_argument(
        '--reduced-motion', action='store_true', help='the page prefers reduced motion (no ripples, no pulses)'
    )
    browser.add_argument('--tree', help='run the server from this checkout')
    browser.add_argument('--name', help='results/<name>.jsonl')
    browser.set_defaults(func=cmd_browser)
