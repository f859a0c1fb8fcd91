"""A sparkline as inline SVG: one metric (0 to 100 %) over a time span, drawn from samples without a chart library.

The SVG holds numbers the server computed and a label it escaped, nothing else, so it is safe to put into the page
as HTML. A pause longer than `gap` seconds between two samples (the host was offline) breaks the line.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Summary:
    """What a sparkline's readers (and screen readers) want in words: the last, highest and mean value."""

    last: float | None
    peak: float | None
    mean: float | None

    def words(self) -> str:
        """`now 23%, peak 80%, average 31%` ('no samples yet' when there are none)."""
        if self.last is None or self.peak is None or self.mean is None:
            return 'no samples yet'
        return f'now {self.last:.0f}%, peak {self.peak:.0f}%, average {self.mean:.0f}%'


def summary(points: Sequence[tuple[float, float | None]]) -> Summary:
    """Summarise `(at, value)` points (values None are left out)."""
    values = [v for _, v in points if v is not None]
    if not values:
        return Summary(None, None, None)
    return Summary(values[-1], max(values), sum(values) / len(values))


def _runs(points: Sequence[tuple[float, float]], gap: float) -> list[list[tuple[float, float]]]:
    """Split the points where two neighbours lie more than `gap` apart."""
    runs: list[list[tuple[float, float]]] = []
    for point in points:
        if runs and point[0] - runs[-1][-1][0] <= gap:
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs


def sparkline_svg(
    points: Sequence[tuple[float, float | None]],
    *,
    since: float,
    until: float,
    label: str,
    gap: float = 90.0,
    width: int = 240,
    height: int = 48,
) -> str:
    """An SVG of `(at, percent)` points between `since` and `until`: a line, the area under it, the last value as a
    dot, and 50 % as a faint rule. `label` names it for screen readers (with the summary in words)."""
    span = max(until - since, 1e-9)
    pad = 3.0

    def xy(at: float, value: float) -> tuple[float, float]:
        x = (min(max(at, since), until) - since) / span * width
        y = pad + (1 - min(max(value, 0.0), 100.0) / 100) * (height - 2 * pad)
        return round(x, 1), round(y, 1)

    known = [(at, v) for at, v in points if v is not None]
    words = html.escape(f'{label}: {summary(points).words()}', quote=True)
    parts = [
        f'<svg class="nf-spark" viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" '
        f'aria-label="{words}" xmlns="http://www.w3.org/2000/svg">',
        f'<title>{words}</title>',
        f'<line class="nf-spark-mid" x1="0" x2="{width}" y1="{height / 2}" y2="{height / 2}"/>',
    ]
    base = height - pad
    for run in _runs(known, gap):
        coords = [xy(at, v) for at, v in run]
        if len(coords) == 1:  # a lone sample: a short tick, so it is visible
            x, y = coords[0]
            coords = [(max(0.0, x - 1.5), y), (min(float(width), x + 1.5), y)]
        line = ' '.join(f'{x},{y}' for x, y in coords)
        area = f'{coords[0][0]},{base} {line} {coords[-1][0]},{base}'
        parts.append(f'<polygon class="nf-spark-area" points="{area}"/>')
        parts.append(f'<polyline class="nf-spark-line" points="{line}"/>')
    if known:
        x, y = xy(*known[-1])
        # a zero-length line with a round cap: a dot that stays round however the SVG is stretched (CSS: non-scaling)
        parts.append(f'<path class="nf-spark-dot" d="M{x} {y}h0"/>')
    parts.append('</svg>')
    return ''.join(parts)
