"""The browser-latency scenario (issue 4): heartbeat sent → the host table's DOM shows it, and the table's render time.

N marker agents (bench/marker_agents.py: each heartbeat sets the CPU column to `seq % 100` percent) heartbeat to a
fresh dashboard. Chromium (Debian's, via Playwright) logs in with the form at /login; a probe injected with
`add_init_script` stamps, with the machine's wall clock (`performance.timeOrigin + performance.now()`, corrected by
`Date.now()` at the end), three moments of each change (the agents log the wall-clock send time):

- `socket`: the row transaction (`run_method('apply', …)` over NiceGUI's socket) arrives in the page;
- `dom`: a MutationObserver sees the row's CPU cell text change to the marker value (Vue has patched the DOM);
- `paint`: a task posted from the next animation frame runs, i.e. that frame's style, layout and paint are done.

Two more, stamped with CLOCK_MONOTONIC and joined with the agents' monotonic send time: `sync`, a /api/sync client in
this process receives the `host_updated` delta (the server's change stream, without NiceGUI); `wire`, DevTools'
`Network.webSocketFrameReceived` for the socket.io frame (Chromium's TimeTicks, CLOCK_MONOTONIC on Linux; it is
emitted in the renderer when the message reaches the page's WebSocket, so a busy main thread delays it too). The
page also records its long tasks (main thread busy 50 ms or more) in the window. Each stage is joined with the
agent's send time of the same (host, value). Only changes sent inside the `--seconds` window, to hosts whose rows are
in the DOM for the whole window, count; the page keeps listening `--drain` seconds longer. Seen/sent says how many
of them the DOM showed.

Render time, per page load with all N hosts connected (the first load is the login, then `--reloads` reloads):
times from the action (login submit click, or `goto('/')` with the session) to the start of the first animation
frame in which `first_row` the first `.nf-row` is in the DOM; `screen` the rows reach the bottom of the viewport (or
all rows are there); `data_all` the table component holds all N hosts (`aria-rowcount` = N, what a virtualized table
still exposes); `rows_all` all N `.nf-row` elements are in the DOM (null when the table virtualizes); `complete`
data_all and screen both hold. `first_row_painted` and `complete_painted`: that frame's paint is done (as above).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from browser import ARGS, CHROMIUM, wait_connected
from record import BENCH, RESULTS, append, log, median, metadata, percentile
from sampling import Sampler
from serverctl import Server, running_server, session_cookie

AGENTS = BENCH / 'marker_agents.py'
#: The page probe (see the module docstring); `__WANT__` is the number of hosts the table should hold.
PROBE = """
(() => {
  const want = __WANT__;
  const now = () => performance.timeOrigin + performance.now();
  const nf = (window.__nfLat = { recording: false, dom: [], sock: [], long: [], last: {}, render: {} });
  new PerformanceObserver((list) => {
    if (!nf.recording) return;
    for (const e of list.getEntries()) nf.long.push([performance.timeOrigin + e.startTime, e.duration]);
  }).observe({ type: "longtask" });
  // after the current frame's rendering steps (style, layout, paint): a task posted from requestAnimationFrame
  const afterPaint = (fn) => requestAnimationFrame(() => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => fn();
    ch.port2.postMessage(0);
  });
  let sock;
  Object.defineProperty(window, "socket", {
    configurable: true,
    get: () => sock,
    set(value) {
      sock = value;
      value.onAny((event, msg) => {  // runs before NiceGUI's own handler for the event
        if (!nf.recording || event !== "run_javascript" || typeof msg?.code !== "string") return;
        const at = msg.code.indexOf('"apply", ');
        if (at < 0) return;
        const t = now();
        try {
          const args = JSON.parse(msg.code.slice(at + 9, msg.code.lastIndexOf(")")));
          for (const row of args[0].upsert || []) if (row.cpu != null) nf.sock.push([row.id, Math.round(row.cpu), t]);
        } catch (e) {}
      });
    },
  });
  const cpuOf = (row) => parseInt(row.querySelector(".c-cpu .nf-num")?.textContent ?? "", 10);
  let paintPending = [];
  const observer = new MutationObserver((mutations) => {
    if (!nf.recording) return;
    const t = now();
    const rows = new Set();
    for (const m of mutations) {
      const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
      const row = el?.closest?.(".nf-row");
      if (row) rows.add(row);
      else
        for (const n of m.addedNodes) if (n.nodeType === 1) n.querySelectorAll(".nf-row").forEach((x) => rows.add(x));
    }
    for (const row of rows) {
      const host = row.dataset.host;
      const value = cpuOf(row);
      if (!host || Number.isNaN(value) || nf.last[host] === value) continue;
      nf.last[host] = value;
      const record = [host, value, t, null];
      nf.dom.push(record);
      if (paintPending.push(record) === 1)
        afterPaint(() => {
          const tp = now();
          for (const r of paintPending) r[3] = tp;
          paintPending = [];
        });
    }
  });
  observer.observe(document, { subtree: true, childList: true, characterData: true });
  const hosts = () => [...document.querySelectorAll(".nf-row")].map((r) => r.dataset.host);
  nf.start = () => {
    for (const row of document.querySelectorAll(".nf-row")) nf.last[row.dataset.host] = cpuOf(row);
    nf.recording = true;
    return { at: Date.now(), mono: performance.now(), hosts: hosts() };
  };
  nf.stop = () => {
    nf.recording = false;
    return { skew: Date.now() - now(), hosts: hosts(), dom: nf.dom, sock: nf.sock, long: nf.long };
  };
  // render milestones, ms since timeOrigin, checked at the start of every frame (before its style/layout/paint)
  const r = nf.render;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) r.lcp = e.renderTime || e.startTime;
  }).observe({ type: "largest-contentful-paint", buffered: true });
  const poll = () => {
    const t = performance.now();
    const rows = document.querySelectorAll(".nf-row");
    const held = Number(document.querySelector(".nf-hosts")?.getAttribute("aria-rowcount") || 0);
    if (rows.length && r.first_row == null) {
      r.first_row = t;
      afterPaint(() => (r.first_row_painted = performance.now()));
    }
    if (rows.length && r.screen == null &&
        (rows.length >= want || rows[rows.length - 1].getBoundingClientRect().bottom >= innerHeight)) r.screen = t;
    if (held >= want && r.data_all == null) r.data_all = t;
    if (rows.length >= want && r.rows_all == null) r.rows_all = t;
    r.rows_in_dom = rows.length;
    if (r.data_all != null && r.screen != null && r.complete == null) {  // all data, and the screen is full
      r.complete = t;
      afterPaint(() => (r.complete_painted = performance.now()));
    }
    if (r.complete == null || (r.rows_all == null && t - r.complete < 5000)) requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
})();
"""
#: Render milestones, in order.
MILESTONES = ('first_row', 'first_row_painted', 'screen', 'data_all', 'rows_all', 'complete', 'complete_painted')


def stats(values: list[float]) -> dict[str, float | int | None]:
    """Median, p95, p99, max and count, in ms."""

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 1)

    return {
        'median': r(percentile(values, 50)),
        'p95': r(percentile(values, 95)),
        'p99': r(percentile(values, 99)),
        'max': r(max(values) if values else None),
        'n': len(values),
    }


async def render_times(page: Any, action_at: float, want: int, timeout_s: float = 60) -> dict[str, Any]:
    """Wait for the probe's milestones on the current document; return them in ms since `action_at` (wall ms)."""
    await page.wait_for_function(
        '(r => r.complete_painted != null && (r.rows_all != null || performance.now() - r.data_all > 3000))'
        '(window.__nfLat.render)',
        timeout=timeout_s * 1000,
    )
    got = await page.evaluate(
        '({r: window.__nfLat.render, origin: performance.timeOrigin,'
        ' nav: performance.getEntriesByType("navigation")[0]?.toJSON(),'
        ' fcp: performance.getEntriesByName("first-contentful-paint")[0]?.startTime})'
    )
    since = got['origin'] - action_at  # the document's time origin, ms after the action

    def at(value: float | None) -> float | None:
        return None if value is None else round(value + since, 1)

    nav = got.get('nav') or {}
    return {
        **{f'{name}_ms': at(got['r'].get(name)) for name in MILESTONES},
        'rows_in_dom': got['r'].get('rows_in_dom'),
        'hosts': want,
        'response_end_ms': at(nav.get('responseEnd')),
        'dom_content_loaded_ms': at(nav.get('domContentLoadedEventEnd')),
        'fcp_ms': at(got.get('fcp')),
        'lcp_ms': at(got['r'].get('lcp')),
    }


async def open_dashboard(page: Any, server: Server, want: int, reloads: int) -> list[dict[str, Any]]:
    """Log in with the form, then reload `reloads` times; the render milestones of each load."""
    loads = []
    await page.goto(f'{server.http}/login')
    await page.fill('input[name="password"]', server.password)
    action_at = time.time() * 1000
    await page.click('button[type="submit"]')
    await page.wait_for_url(f'{server.http}/', timeout=30_000)
    loads.append({'load': 'login', **await render_times(page, action_at, want)})
    for _ in range(reloads):
        await asyncio.sleep(1.0)
        action_at = time.time() * 1000
        await page.goto(f'{server.http}/')
        loads.append({'load': 'reload', **await render_times(page, action_at, want)})
    for entry in loads:
        log(f'render ({entry["load"]}): ' + ', '.join(f'{m} {entry[f"{m}_ms"]} ms' for m in MILESTONES))
    return loads


async def follow_sync(server: Server, records: list[tuple[str, int, float]], recording: asyncio.Event) -> None:
    """Record (host, rounded CPU, monotonic ms) of every `host_updated` on /api/sync while `recording` is set."""
    from fleet_load import dig, iter_changes
    from websockets.asyncio.client import connect

    cookie = await asyncio.to_thread(session_cookie, server)
    headers = [('Origin', server.http), ('Cookie', cookie or '')]
    async with connect(f'{server.ws}/api/sync', additional_headers=headers, max_size=None) as ws:
        async for raw in ws:
            if not recording.is_set():
                continue
            t = time.monotonic() * 1000
            message = json.loads(raw)
            if message.get('type') != 'delta':
                continue
            for change in iter_changes(message.get('payload')):
                cpu = dig(change.get('fields') or {}, ['metrics', 'cpu'])
                if change.get('type') == 'host_updated' and isinstance(cpu, int | float):
                    records.append((str(change.get('id')), round(cpu), t))


async def watch(server: Server, want: int, seconds: float, drain: float, reloads: int) -> dict[str, Any]:
    """Open the dashboard (timing its render), then record every table change for `seconds` (+ `drain`)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = await browser.new_page(viewport={'width': 1400, 'height': 900})
        errors: list[str] = []
        page.on('pageerror', lambda exc: errors.append(str(exc)))
        await page.add_init_script(PROBE.replace('__WANT__', str(int(want))))
        wire: list[tuple[str, int, float]] = []
        recording = False

        frames: list[float] = []  # (DevTools timestamp - monotonic now) of each frame: checks the clock assumption

        def on_frame(params: dict[str, Any]) -> None:
            frames.append(params['timestamp'] * 1000 - time.monotonic() * 1000)
            if recording:
                wire.extend((host, value, params['timestamp'] * 1000) for host, value in apply_rows(params))

        cdp = await page.context.new_cdp_session(page)
        await cdp.send('Network.enable')
        cdp.on('Network.webSocketFrameReceived', on_frame)
        loads = await open_dashboard(page, server, want, reloads)
        sync: list[tuple[str, int, float]] = []
        sync_on = asyncio.Event()
        follower = asyncio.create_task(follow_sync(server, sync, sync_on))
        await page.wait_for_function('window.socket?.connected && window.did_handshake', timeout=15_000)
        await asyncio.sleep(2.0)  # let the transactions queued during the render settle
        recording = True
        sync_on.set()
        started = await page.evaluate('window.__nfLat.start()')
        sampler = Sampler(server.pid)
        sampler.start()
        psutil.cpu_percent(None)
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        t1 = time.monotonic()
        machine_cpu = psutil.cpu_percent(None)
        await asyncio.sleep(drain)
        sampler.stop()
        stopped = await page.evaluate('window.__nfLat.stop()')
        recording = False
        sync_on.clear()
        follower.cancel()
        sync_error = None if not follower.done() or follower.cancelled() else repr(follower.exception())
        await browser.close()
    return {
        'loads': loads,
        'window': (started['at'], started['at'] + seconds * 1000),
        'hosts': sorted(set(started['hosts']) & set(stopped['hosts'])),
        'skew': stopped['skew'],
        'dom': stopped['dom'],
        'sock': stopped['sock'],
        'wire': wire,
        'sync': sync,
        'sync_error': sync_error,
        'long_tasks': long_tasks(stopped['long'], started['at'], started['at'] + seconds * 1000),
        'wire_clock': {'frames': len(frames), 'stamp_minus_now_ms': stats(frames)},
        'server': sampler.summary(t0, t1),
        'machine_cpu_pct_of_all_cores': machine_cpu,
        'page_errors': errors[:5],
    }


def apply_rows(params: dict[str, Any]) -> list[tuple[str, int]]:
    """(host, rounded CPU) of each row in a socket.io frame carrying a host table `apply` transaction."""
    data = (params.get('response') or {}).get('payloadData') or ''
    if not data.startswith('42["run_javascript"') or 'apply' not in data:
        return []
    try:
        code = json.loads(data[2:])[1]['code']
        at = code.index('"apply", ')
        upsert = json.loads(code[at + 9 : code.rindex(')')])[0]['upsert']
    except (ValueError, LookupError, TypeError):
        return []
    return [(str(row['id']), round(row['cpu'])) for row in upsert if isinstance(row.get('cpu'), int | float)]


#: Stages of a change, in order, and the clock each is stamped with (the agents log both).
STAGES = {'sync': 'mono', 'wire': 'mono', 'socket': 'wall', 'dom': 'wall', 'paint': 'wall'}
#: Time between consecutive stages, per change.
SPLITS = (('sync', 'wire'), ('wire', 'socket'), ('socket', 'dom'), ('dom', 'paint'))


def join(sent: list[list[Any]], seen: dict[str, Any]) -> dict[str, Any]:
    """Latency of every change sent in the window to a host shown in the DOM, per stage, plus the splits."""
    w0, w1 = seen['window']
    hosts, skew = set(seen['hosts']), float(seen['skew'])
    index: dict[str, dict[tuple[str, int], list[float]]] = {stage: {} for stage in STAGES}
    for stage in ('sync', 'wire'):
        for host, value, t in seen[stage]:
            index[stage].setdefault((host, value), []).append(t)
    for host, value, t in seen['sock']:
        index['socket'].setdefault((host, value), []).append(t + skew)
    for host, value, t, painted in seen['dom']:
        index['dom'].setdefault((host, value), []).append(t + skew)
        if painted is not None:
            index['paint'].setdefault((host, value), []).append(painted + skew)
    for table in index.values():
        for times in table.values():
            times.sort()
    lat: dict[str, list[float]] = {stage: [] for stage in STAGES}
    splits: dict[str, list[float]] = {f'{a}_to_{b}': [] for a, b in SPLITS}
    window = [(h, v, wall, mono) for h, v, wall, mono in sent if w0 <= wall < w1 and h in hosts]
    for host, value, wall, mono in window:
        got: dict[str, float] = {}
        for stage, clock in STAGES.items():
            t = mono if clock == 'mono' else wall
            times = index[stage].get((host, value), [])
            k = bisect.bisect_left(times, t - 2.0)  # 2 ms: clock reading tolerance
            if k < len(times):
                got[stage] = times[k] - t
                lat[stage].append(got[stage])
        for a, b in SPLITS:
            if a in got and b in got:
                splits[f'{a}_to_{b}'].append(got[b] - got[a])
    sent_n = len(window)
    return {
        'latency_ms': {stage: stats(values) for stage, values in lat.items()},
        'split_ms': {name: stats(values) for name, values in splits.items()},
        'changes': {
            'sent': sent_n,
            'seen': len(lat['dom']),
            'seen_pct': round(100 * len(lat['dom']) / sent_n, 2) if sent_n else None,
            **{f'{stage}_seen': len(lat[stage]) for stage in ('sync', 'wire', 'socket', 'paint')},
            'hosts_in_dom': len(hosts),
        },
    }


def long_tasks(entries: list[list[float]], start: float, end: float) -> dict[str, Any]:
    """The page's long tasks (main thread busy 50 ms or more) that began in the window: count, total, largest."""
    durations = [d for t, d in entries if start <= t < end]
    return {
        'count': len(durations),
        'total_ms': round(sum(durations)),
        'busy_pct': round(100 * sum(durations) / (end - start), 1),
        'max_ms': round(max(durations, default=0)),
    }


def start_agents(args: argparse.Namespace, server: Server) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(AGENTS), '--url', f'{server.ws}/ws', f'--token={server.agent_token}',
         '--count', str(args.agents), '--interval', str(args.interval), '--ramp', str(args.ramp)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def stop_agents(agents: subprocess.Popen[str]) -> dict[str, Any]:
    """Close the agents' stdin (they stop and report); their JSON report."""
    try:
        out, _ = agents.communicate(input='', timeout=60)
    except subprocess.TimeoutExpired:
        agents.kill()
        out, _ = agents.communicate()
    lines = [line for line in out.splitlines() if line.startswith('{"agents"')]
    return json.loads(lines[-1]) if lines else {}


def latency_once(args: argparse.Namespace, tree: Path | None) -> dict[str, Any]:
    """One run on a fresh dashboard: agents, browser, join."""
    load_before = [round(x, 2) for x in os.getloadavg()]
    with (
        tempfile.TemporaryDirectory(prefix='nixfleet-bench-') as tmp,
        running_server(Path(tmp), ui=True, tree=tree) as server,
    ):
        agents = start_agents(args, server)
        try:
            wait_connected(server, args.agents, agents)  # type: ignore[arg-type]
            seen = asyncio.run(watch(server, args.agents, args.seconds, args.drain, args.reloads))
        finally:
            report = stop_agents(agents)
    result = join(report.get('sent') or [], seen)
    result.update(
        agents=args.agents,
        interval_s=args.interval,
        window_s=args.seconds,
        loadavg_before=load_before,
        render=seen['loads'],
        server=seen['server'],
        machine_cpu_pct_of_all_cores=seen['machine_cpu_pct_of_all_cores'],
        clock_skew_ms=round(seen['skew'], 2),
        wire_clock=seen['wire_clock'],
        long_tasks=seen['long_tasks'],
        sync_error=seen['sync_error'],
        page_errors=seen['page_errors'],
        fleet={k: v for k, v in report.items() if k != 'sent'},
    )
    return result


def _median_of(runs: list[dict[str, Any]], path: str) -> Any:
    values = []
    for run in runs:
        value: Any = run
        for key in path.split('.'):
            value = value.get(key) if isinstance(value, dict) else None
        values.append(value)
    return median(values)


LATENCY_HEAD = (
    '| agents | code | DOM median | DOM p99 | painted median / p99 | wire median / p99 | seen/sent '
    '| server CPU %, median (p95) | load avg 1 min before | runs |\n|---:|---|---:|---:|---:|---:|---:|---|---|---:|'
)
SPLIT_HEAD = (
    '| agents | code | agent → /api/sync client | /api/sync → frame at the page | frame → socket.io handler '
    '| handler → DOM | DOM → painted | page long tasks |\n|---:|---|---:|---:|---:|---:|---:|---:|'
)
RENDER_HEAD = (
    '| hosts | page load | code | first row in DOM | first row painted | all hosts in the table | all rows in DOM '
    '| screen full, painted | LCP | rows in DOM | loads |\n|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|'
)


def summary_row(runs: list[dict[str, Any]]) -> str:
    """A README latency row: medians across runs (seen/sent summed)."""

    def m(path: str) -> str:
        value = _median_of(runs, path)
        return '—' if value is None else f'{value:,.0f}'

    sent = sum(run['changes']['sent'] for run in runs)
    seen = sum(run['changes']['seen'] for run in runs)
    loads = [run['loadavg_before'][0] for run in runs]
    revisions = sorted({str((run.get('bench') or {}).get('revision')) for run in runs})
    return (
        f'| {runs[0]["agents"]:,} | {", ".join(revisions)} | {m("latency_ms.dom.median")} ms '
        f'| {m("latency_ms.dom.p99")} ms | {m("latency_ms.paint.median")} / {m("latency_ms.paint.p99")} ms '
        f'| {m("latency_ms.wire.median")} / {m("latency_ms.wire.p99")} ms | {seen:,}/{sent:,} '
        f'| {m("server.cpu_pct_median")} ({m("server.cpu_pct_p95")}) | {min(loads)}–{max(loads)} | {len(runs)} |'
    )


def split_row(runs: list[dict[str, Any]]) -> str:
    """A README row: median (p99) of each stage's share, medians across runs."""

    def m(path: str) -> str:
        mid, p99 = _median_of(runs, f'{path}.median'), _median_of(runs, f'{path}.p99')
        return '—' if mid is None else f'{mid:,.1f} ({p99:,.0f}) ms'

    busy = _median_of(runs, 'long_tasks.busy_pct')
    return (
        f'| {runs[0]["agents"]:,} | {runs[0]["bench"]["revision"]} | {m("latency_ms.sync")} '
        f'| {m("split_ms.sync_to_wire")} | {m("split_ms.wire_to_socket")} | {m("split_ms.socket_to_dom")} '
        f'| {m("split_ms.dom_to_paint")} | {"—" if busy is None else f"{busy:g} % of the window"} |'
    )


def render_rows(runs: list[dict[str, Any]]) -> list[str]:
    """README render rows: medians over the login loads, and over the reloads, of all runs."""
    rows = []
    for kind, what in (('login', 'login submit →'), ('reload', 'reload (session) →')):
        loads = [load for run in runs for load in run['render'] if load['load'] == kind]
        if not loads:
            continue

        def m(key: str, loads: list[dict[str, Any]] = loads) -> str:
            value = median(load.get(key) for load in loads)
            return '—' if value is None else f'{value:,.0f} ms'

        rows.append(
            f'| {runs[0]["agents"]:,} | {what} | {runs[0]["bench"]["revision"]} '
            f'| {m("first_row_ms")} | {m("first_row_painted_ms")} '
            f'| {m("data_all_ms")} | {m("rows_all_ms")} | {m("complete_painted_ms")} | {m("lcp_ms")} '
            f'| {median(load.get("rows_in_dom") for load in loads) or 0:,.0f} | {len(loads)} |'
        )
    return rows


def cmd_report(args: argparse.Namespace) -> int:
    """Print the README tables from recorded results."""
    groups = []
    for name in args.report:
        path = RESULTS / f'{name}.jsonl'
        by_revision: dict[str, list[dict[str, Any]]] = {}
        for line in path.read_text(encoding='utf-8').splitlines():
            run = json.loads(line)
            meta = run.get('bench') or {}
            if args.since <= str(meta.get('at') or ''):
                by_revision.setdefault(str(meta.get('revision')), []).append(run)
        groups.extend(by_revision.values())
    print(LATENCY_HEAD)
    for runs in groups:
        print(summary_row(runs))
    print()
    print(SPLIT_HEAD)
    for runs in groups:
        print(split_row(runs))
    print()
    print(RENDER_HEAD)
    for runs in groups:
        print('\n'.join(render_rows(runs)))
    return 0


def cmd_browser_latency(args: argparse.Namespace) -> int:
    if args.report:
        return cmd_report(args)
    tree = Path(args.tree).resolve() if args.tree else None
    name = args.name or f'browser-latency-{args.agents}x{args.interval:g}s'
    runs = []
    for index in range(args.repeat):
        log(f'{name}: run {index + 1} of {args.repeat}')
        result = latency_once(args, tree)
        result['bench'] = metadata(name, tree=tree, agents=args.agents, interval=args.interval)
        if not args.dry_run:
            append(name, result)
        runs.append(result)
        lat, changes = result['latency_ms'], result['changes']
        log(
            f'dom median {lat["dom"]["median"]} ms, p99 {lat["dom"]["p99"]} ms; '
            f'wire median {lat["wire"]["median"]} ms; socket median {lat["socket"]["median"]} ms; '
            f'seen {changes["seen"]}/{changes["sent"]}; server cpu '
            f'{result["server"]["cpu_pct_median"]} %; load {result["bench"]["machine"]["loadavg"]}'
        )
        print(json.dumps({k: v for k, v in result.items() if k != 'bench'}), flush=True)
    print(LATENCY_HEAD)
    print(summary_row(runs))
    return 0


def add_parser(sub: Any) -> None:
    """The `browser-latency` subcommand."""
    p = sub.add_parser(
        'browser-latency',
        help='heartbeat → host table DOM latency in Chromium, and the table render time, with N agents',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument('--agents', type=int, default=500)
    p.add_argument('--interval', type=float, default=5.0, help='heartbeat interval, seconds')
    p.add_argument('--seconds', type=float, default=45.0, help='measurement window')
    p.add_argument('--drain', type=float, default=3.0, help='seconds the page keeps listening after the window')
    p.add_argument('--ramp', type=float, default=10.0, help='agents connect over this many seconds')
    p.add_argument('--reloads', type=int, default=2, help='page reloads timed after the login render')
    p.add_argument('--repeat', type=int, default=1)
    p.add_argument('--tree', help='run the server from this checkout')
    p.add_argument('--name', help='results/<name>.jsonl (default browser-latency-<N>x<H>s)')
    p.add_argument('--dry-run', action='store_true', help='print the result lines, record nothing')
    p.add_argument('--report', nargs='+', metavar='NAME', help='no run: README tables from results/<NAME>.jsonl')
    p.add_argument('--since', default='', help='with --report: runs recorded at or after this UTC time (ISO prefix)')
    p.set_defaults(func=cmd_browser_latency)
