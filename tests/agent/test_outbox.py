"""Outbox: bounded, ordered, and never drops a status."""

from __future__ import annotations

import json

from nixfleet.agent.outbox import Outbox


async def test_overflow_drops_the_oldest_output_but_keeps_statuses() -> None:
    outbox = Outbox(maxlen=3)
    outbox.put('status', {'status': 'ok', 'command': 'pull'})
    for n in range(4):
        outbox.put('output', {'line': f'line {n}'})

    sent = []
    while len(outbox):
        frame = await outbox.peek()
        sent.append(json.loads(frame.text))
        outbox.pop()

    assert [m['type'] for m in sent] == ['status', 'output', 'output']
    assert [m['payload']['line'] for m in sent[1:]] == ['line 2', 'line 3']
    assert outbox.take_dropped() == 2 and outbox.take_dropped() == 0


async def test_discard_removes_one_type_and_drained_resolves_when_empty() -> None:
    outbox = Outbox()
    outbox.put('heartbeat', {})
    outbox.put('output', {'line': 'x'})

    outbox.discard('heartbeat')
    assert (await outbox.peek()).type == 'output'
    outbox.pop()

    await outbox.drained()
    assert len(outbox) == 0
