"""`iso` formats every timestamp NixFleet writes: the same text as datetime's own formatting, for any moment."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from nixfleet.timeutil import iso, parse_iso


def formatted_by_datetime(ts: float) -> str:
    moment = datetime.fromtimestamp(ts, tz=UTC)
    return moment.strftime('%Y-%m-%dT%H:%M:%S.') + f'{moment.microsecond // 1000:03d}Z'


@given(st.floats(min_value=-1e9, max_value=4e9, allow_nan=False))
@example(1_700_000_000.9999996)  # rounds up into the next second
@example(1_700_000_000.0009995)
@example(-0.0000004)
@example(0.0)
def test_iso_matches_datetime_for_any_moment(ts: float) -> None:
    assert iso(ts) == formatted_by_datetime(ts)


def test_iso_of_consecutive_moments_crosses_seconds_and_days() -> None:
    """The per-second cache never answers for another second."""
    moments = [86_399.998, 86_399.9995, 86_400.0, 86_400.001, 86_399.5, 1_700_000_000.25]
    assert [iso(ts) for ts in moments] == [formatted_by_datetime(ts) for ts in moments]
    assert iso(86_400.0) == '1970-01-02T00:00:00.000Z' and parse_iso(iso(86_400.0)) == 86_400.0
