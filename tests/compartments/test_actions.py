"""A compartment's click action is always an op that validation accepts in that very state
(docs/architecture.md#compartments, issue 6)."""

from __future__ import annotations

import pytest

from nixfleet.compartments.rules import compartments
from nixfleet.ops.registry import OPS, Scope
from nixfleet.ops.validation import CheckContext
from tests.compartments.test_rules import (
    AGENT,
    GIT,
    LOCK_ROWS,
    NOW,
    PATTERNS,
    SYSTEM,
    SYSTEM_GATE,
    TESTS,
    TESTS_GATE,
)

ROWS = AGENT + GIT + LOCK_ROWS + SYSTEM + SYSTEM_GATE + TESTS + TESTS_GATE
STATES = [(r.id, r.host, r.remote, r.expected) for r in ROWS]
STATES += [(name, host, remote, '3.1.5') for name, host, remote, _ in PATTERNS]


@pytest.mark.parametrize(('host', 'remote', 'expected'), [s[1:] for s in STATES], ids=[s[0] for s in STATES])
def test_every_click_action_is_accepted_by_validation(host, remote, expected) -> None:  # type: ignore[no-untyped-def]
    comps = compartments(host, remote, expected, now=NOW)
    ctx = CheckContext({'id': 'web-01', 'connection': 'online'}, comps.statuses(), {})
    for name, part in comps.to_wire().items():
        action = part['action']
        if action is None:
            continue
        op = OPS[action]
        if op.scope is Scope.HOST:
            assert op.validate(ctx) is None, (name, part)
