"""A fleet state stream whose delivery to a tab loses or repeats chosen versions, for the per-tab sync tests."""

from __future__ import annotations

from typing import Any

from nixfleet.streams.changes import VersionedChange
from nixfleet.streams.state import FleetState, FleetStateStream


class LossyStream:
    """A stream whose delivery to the tab loses (or repeats) chosen versions, as a broken transport would."""

    def __init__(self, stream: FleetStateStream, drop: set[int] = frozenset(), repeat: bool = False) -> None:
        self.stream, self.drop, self.repeat = stream, drop, repeat

    @property
    def value(self) -> FleetState:
        return self.stream.value

    def snapshot_and_subscribe(self, on_delta: Any, on_error: Any = None) -> Any:
        def deliver(item: VersionedChange) -> None:
            if item.version not in self.drop:
                on_delta(item)
                if self.repeat:
                    on_delta(item)

        return self.stream.snapshot_and_subscribe(deliver, on_error)
