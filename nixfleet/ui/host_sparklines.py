"""The host page's CPU and RAM of the last hour: the current value beside an inline SVG sparkline of the samples.

Redrawn only when a heartbeat changed the samples (at most one new sample per step; the newest of a step replaces the
one before it), so a page costs nothing between heartbeats.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nicegui import ui

from nixfleet.viewmodels.sparkline import sparkline_svg

if TYPE_CHECKING:
    from nixfleet.streams.samples import MetricSamples
    from nixfleet.timeutil import Clock

#: The metrics drawn: key, label.
METRICS = (('cpu', 'CPU'), ('ram', 'RAM'))


class Sparklines:
    """CPU and RAM of one host: the value now and the last hour's line."""

    def __init__(self, samples: MetricSamples, clock: Clock, host: str) -> None:
        self._samples = samples
        self._clock = clock
        self._host = host
        self._drawn: tuple[Any, ...] | None = None
        self._values: dict[str, ui.label] = {}
        self._lines: dict[str, ui.html] = {}
        self._note: ui.label | None = None

    def build(self) -> None:
        """Create the elements (in the current container)."""
        self._drawn = None
        for key, label in METRICS:
            with ui.element('div').classes(f'nf-spark-row is-{key}').mark(f'host-spark-{key}'):
                with ui.element('div').classes('nf-spark-head'):
                    ui.label(label).classes('nf-spark-label')
                    self._values[key] = ui.label('—').classes('nf-spark-value')
                self._lines[key] = ui.html('', sanitize=False).classes('nf-spark-box').mark(f'host-spark-{key}-line')
        minutes = round(self._samples.window / 60)
        self._note = ui.label(f'Last {minutes} min · one point per {self._samples.step:.0f} s').classes('nf-spark-note')

    def show(self, view: Mapping[str, Any]) -> None:
        """Show the host's current values and, when the samples changed, redraw the lines."""
        metrics = view.get('metrics') or {}
        for key, _ in METRICS:
            value = metrics.get(key) if isinstance(metrics, Mapping) else None
            text = f'{value:.0f}%' if isinstance(value, int | float) and not isinstance(value, bool) else '—'
            if key in self._values and self._values[key].text != text:
                self._values[key].set_text(text)
        samples = self._samples.recent(self._host)
        drawn = (len(samples), samples[-1] if samples else None, samples[0] if samples else None)
        if drawn == self._drawn or not self._lines:
            return
        self._drawn = drawn
        now = self._clock()
        since = now - self._samples.window
        gap = 3 * self._samples.step
        for key, label in METRICS:
            points = [(s.at, getattr(s, key)) for s in samples]
            svg = sparkline_svg(points, since=since, until=now, label=f'{label} over the last hour', gap=gap)
            self._lines[key].set_content(svg)
