"""py-spy profiles of a running dashboard: record collapsed stacks for a window, keep a top-N summary.

`start(pid, out, delay, seconds)` launches `py-spy record` after `delay` seconds (the ramp is not what we want to
see); `finish` waits for it, copies the raw stacks under results/profiles/ and returns the summary. `summarize`
reads a raw (collapsed) py-spy file: share of samples per function, self and inclusive.

    python bench/profiling.py results/profiles/<file>.txt      # print the summary of a recorded profile
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from record import ROOT, log


@dataclass(slots=True)
class Recording:
    """A py-spy process recording into `out`."""

    process: subprocess.Popen[bytes]
    out: Path


def py_spy() -> str:
    """The py-spy executable (the venv's, else PATH)."""
    local = Path(sys.executable).parent / 'py-spy'
    found = str(local) if local.exists() else shutil.which('py-spy')
    if not found:
        raise SystemExit('py-spy is not installed (.venv/bin/pip install py-spy)')
    return found


def start(pid: int, out: Path, delay: float, seconds: float, rate: int = 100) -> Recording:
    """Record `seconds` of the process's on-CPU Python stacks, starting after `delay` seconds."""
    command = [py_spy(), 'record', '--pid', str(pid), '--duration', str(max(1, int(seconds))), '--rate', str(rate),
               '--format', 'raw', '--output', str(out), '--nonblocking', '--threads']  # fmt: skip
    shell = f'sleep {delay:.1f}; exec ' + ' '.join(command)
    return Recording(subprocess.Popen(['sh', '-c', shell], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), out)


def finish(recording: Recording, keep_dir: Path, name: str, top: int = 25) -> dict[str, Any] | None:
    """Wait for the recording, keep its raw stacks in `keep_dir`, return its summary (None when it failed)."""
    try:
        _, err = recording.process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        recording.process.kill()
        return None
    if not recording.out.exists():
        log(f'py-spy wrote nothing: {err.decode(errors="replace")[-500:]}')
        return None
    keep_dir.mkdir(parents=True, exist_ok=True)
    kept = keep_dir / f'{name}.txt'
    index = 1
    while kept.exists():
        index += 1
        kept = keep_dir / f'{name}-{index}.txt'
    shutil.copy(recording.out, kept)
    return {'file': str(kept.relative_to(ROOT)), **summarize(kept, top)}


def _frame_name(frame: str) -> str:
    """`function (path/to/file.py:123)` → `function (file.py)`; nixfleet paths keep their package path."""
    name, _, where = frame.partition(' (')
    path = where.rsplit(':', 1)[0].rstrip(')')
    path = 'nixfleet/' + path.split('nixfleet/', 1)[1] if 'nixfleet/' in path else path.rsplit('/', 1)[-1]
    return f'{name} ({path})'


#: Where a sample's CPU goes: the first entry with a marker anywhere on the sample's stack names it (so the order
#: runs from the most specific to the most general). Samples whose leaf is the loop's wait (`select`) are counted
#: apart: py-spy cannot always tell them idle, and they are not work.
IDLE = 'EpollSelector.select'
COSTS = (
    ('UI (NiceGUI tabs, table sync)', ('nicegui/', 'nixfleet/ui/', 'nixfleet/viewmodels/')),
    ('logging', ('Logger.', 'Handler.')),
    ('delta encode (orjson, once per delta)', ('delta_message', 'DeltaEncoder')),
    ('frame parse: json + pydantic validation', ('parse_agent_frame',)),
    ('derived fields (compartments, available ops)', ('HostRegistry._derive', 'refresh_derived')),
    ('state emit: reduce, counts, subscribers', ('FleetStateStream.emit',)),
    ('events journal', ('EventLog.',)),
    ('store thread (SQLite transactions)', ('Store._atomic', 'Store._plain', 'nixfleet-store')),
    ('sync send: one WebSocket frame + socket write per delta per client', ('SyncClient.run',)),
    ('register handling (row, upsert, view)', ('HostRegistry.register', 'AgentGateway._register')),
    ('heartbeat handling (facts diff, live metrics)', ('HostRegistry.heartbeat',)),
    ('periodic jobs (liveness, live rows, beacons)', ('apscheduler', 'LiveState.', 'beacon_all')),
    ('agent frame receive (WebSocket framing, gateway)', ('AgentGateway.', 'AgentLink.')),
    ('WebSocket handshake (upgrade, accept)', ('handle_connect', 'WebSocket.accept', 'handle_accept')),
    ('uvicorn/wsproto: frame decode, ping/pong, flow control', ('uvicorn/', 'starlette/', 'SecurityMiddleware')),
    ('asyncio machinery (tasks, futures, transports)', ('asyncio/',)),
)


def costs(path: Path) -> dict[str, Any]:
    """Share of the busy samples (all but the loop's wait) per cost in COSTS, each sample counted once."""
    counts: Counter[str] = Counter()
    idle = 0
    for line in path.read_text(errors='replace').splitlines():
        stack, _, count_text = line.rpartition(' ')
        if not stack or not count_text.isdigit():
            continue
        if stack.rsplit(';', 1)[-1].startswith(IDLE):
            idle += int(count_text)
            continue
        counts[next((name for name, marks in COSTS if any(m in stack for m in marks)), 'other')] += int(count_text)
    busy = sum(counts.values())
    shares = [(name, round(100.0 * n / busy, 1)) for name, n in counts.most_common()] if busy else []
    return {'busy_samples': busy, 'idle_samples': idle, 'busy_pct': shares}


def summarize(path: Path, top: int = 25) -> dict[str, Any]:
    """Share of on-CPU samples per function: self (the frame on top) and inclusive (anywhere on the stack)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors='replace').splitlines():
        stack, _, count_text = line.rpartition(' ')
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(';') if f and not f.startswith(('process ', 'thread '))]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100.0 * n / total, 1)) for name, n in counter.most_common(top)] if total else []

    return {'samples': total, 'self_pct': share(own), 'inclusive_pct': share(inclusive), 'costs': costs(path)}


def main(argv: list[str] | None = None) -> int:
    """Print the summary of a recorded profile."""
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print(__doc__)
        return 2
    summary = summarize(Path(args[0]), 40)
    print(f'{summary["samples"]} samples')
    cost = summary['costs']
    print(f"-- costs, % of {cost['busy_samples']} busy samples ({cost['idle_samples']} in the loop's wait)")
    for name, pct in cost['busy_pct']:
        print(f'{pct:6.1f}  {name}')
    for title, key in (('self', 'self_pct'), ('inclusive', 'inclusive_pct')):
        print(f'-- {title} %')
        for name, pct in summary[key]:
            print(f'{pct:6.1f}  {name}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
