"""The hour of CPU and RAM samples the host page draws: one per host per step, bounded, on the virtual clock, fed by
heartbeats through `LiveState`, dropped with the host."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from nixfleet.store import Store
from nixfleet.streams.live import LiveState
from nixfleet.streams.samples import MetricSamples, Sample
from tests.support import ManualClock


def beat(samples: MetricSamples, clock: ManualClock, host: str, cpu: float, ram: float = 50.0) -> None:
    samples.add(host, clock(), {'cpu': cpu, 'ram': ram, 'swap': 0.0, 'load': 0.1})


def test_one_sample_per_step_the_newest_heartbeat_of_a_step_stands_for_it() -> None:
    clock = ManualClock(1_800_000_000.0)  # a step boundary
    samples = MetricSamples(clock, window=3600, step=30)
    for cpu in (10.0, 20.0, 30.0):  # three heartbeats 10 s apart: one step
        beat(samples, clock, 'web-01', cpu)
        clock.advance(10)
    beat(samples, clock, 'web-01', 40.0)  # the next step

    assert samples.recent('web-01') == [
        Sample(at=1_800_000_020.0, cpu=30.0, ram=50.0),
        Sample(at=1_800_000_030.0, cpu=40.0, ram=50.0),
    ]


def test_a_host_keeps_at_most_an_hour_and_older_samples_leave_as_time_passes() -> None:
    clock = ManualClock()
    samples = MetricSamples(clock, window=3600, step=30)
    for i in range(500):  # more than four hours of 30 s heartbeats
        beat(samples, clock, 'web-01', float(i % 100))
        clock.advance(30)

    kept = samples.recent('web-01')
    assert len(kept) == 120  # an hour of steps (the oldest just left)
    assert all(s.at >= clock() - 3600 for s in kept)
    assert kept[-1].cpu == 99.0 and kept == sorted(kept, key=lambda s: s.at)

    clock.advance(1770)  # the last heartbeat was half an hour ago: the older half of the hour has left
    assert len(samples.recent('web-01')) == 61
    clock.advance(3600)
    assert samples.recent('web-01') == []


def test_odd_metrics_are_bounded_or_left_out() -> None:
    clock = ManualClock()
    samples = MetricSamples(clock, step=30)
    samples.add('a', clock(), {'cpu': 250.0, 'ram': -3})
    samples.add('b', clock(), {'cpu': float('nan'), 'ram': 'lots'})
    samples.add('c', clock(), None)
    samples.add('d', clock(), {'cpu': True, 'ram': 12.345})

    assert samples.recent('a') == [Sample(at=clock(), cpu=100.0, ram=0.0)]
    assert samples.recent('b') == [] and samples.recent('c') == []
    assert samples.recent('d') == [Sample(at=clock(), cpu=None, ram=12.3)]
    assert samples.recent('nobody') == []


def test_heartbeats_through_live_state_fill_the_samples_and_removing_the_host_drops_them(tmp_path: Path) -> None:
    clock = ManualClock()
    samples = MetricSamples(clock, step=30)
    live = LiveState(Store(tmp_path / 'x.db'), samples)
    for cpu in (5.0, 6.0, 7.0):
        live.beat('web-01', clock(), {'cpu': cpu, 'ram': 40.0})
        live.beat('web-02', clock(), {'cpu': 1.0, 'ram': 2.0})
        clock.advance(30)
    live.seen('web-01', clock())  # a registration: no metrics, no sample

    assert [s.cpu for s in samples.recent('web-01')] == [5.0, 6.0, 7.0]
    live.forget('web-01')
    assert samples.recent('web-01') == [] and len(samples) == 1
    assert [s.ram for s in samples.recent('web-02')] == [2.0, 2.0, 2.0]


def test_an_hour_of_two_thousand_hosts_stays_small() -> None:
    """Packed, not an object per sample: 2,000 hosts' hour is a few MB (objects per sample took ~30 MB)."""
    clock = ManualClock()
    samples = MetricSamples(clock, window=3600, step=30)
    hosts = [f'host-{i:04d}' for i in range(2000)]
    tracemalloc.start()
    try:
        for _ in range(samples.per_host + 5):
            for host in hosts:
                samples.add(host, clock(), {'cpu': 12.3, 'ram': 45.6})
            clock.advance(30)
        used = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(samples.recent('host-0000')) == 120
    assert used < 8_000_000, f'{used / 1e6:.1f} MB for 2,000 hosts'
