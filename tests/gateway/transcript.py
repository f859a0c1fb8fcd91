"""The recorded Go agent 3.1.5 session (tests/data/agent-transcript.jsonl), as per-connection frame lists.

Every frame of an observed session of the deployed Go agent; docs/agent-protocol.md describes the contract it shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve()
#: The recorded session, kept with the tests.
TRANSCRIPT = _HERE.parents[1] / 'data' / 'agent-transcript.jsonl'


@dataclass(frozen=True, slots=True)
class TranscriptConnection:
    """The agent → dashboard data frames of one recorded WebSocket connection, in the order they were sent."""

    run: str
    conn: int
    frames: tuple[str, ...]

    @property
    def parsed(self) -> list[dict[str, Any]]:
        return [json.loads(frame) for frame in self.frames]


def transcript_path() -> Path:
    """The recorded transcript (part of the repository: a missing file is an error, not a skip)."""
    return TRANSCRIPT


def agent_connections(path: Path) -> list[TranscriptConnection]:
    """Group the agent → dashboard text/binary frames per (run, conn), runs and connections in recorded order."""
    grouped: dict[tuple[str, int], list[str]] = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        if entry.get('dir') == 'agent->dash' and entry.get('kind') in ('text', 'binary'):
            grouped.setdefault((entry['run'], entry['conn']), []).append(entry['raw'])
    return [TranscriptConnection(run, conn, tuple(frames)) for (run, conn), frames in grouped.items()]
