"""Compartment inputs from storage: recording a command's result, and reading a host's row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nixfleet.compartments.model import (
    MAX_MESSAGE,
    HostInputs,
    Record,
    Report,
    as_str,
    canonical_op,
    json_object,
    show,
)
from nixfleet.models import CompartmentStatus as S
from nixfleet.timeutil import parse_iso

#: Ops whose success deploys the configuration at the host's generation.
_DEPLOY_OPS = frozenset({'switch', 'pull-switch', 'force-rebuild'})


# -- recording results (pure) -------------------------------------------------------------------------------------
def apply_result(
    system: Record | None,
    tests: Record | None,
    *,
    op: str,
    ok: bool,
    generation: str,
    message: str = '',
    exit_code: int | None = None,
    at: float,
) -> tuple[Record | None, Record | None]:
    """Return the (system, tests) records after a command result; ops that affect neither leave them unchanged."""
    op = canonical_op(op) or ''
    gen = generation.strip()
    detail = show(message.strip(), MAX_MESSAGE)
    failed = f'(exit {exit_code})' if exit_code not in (None, 0) else ''
    because = ' '.join(p for p in (failed, detail) if p)

    def rec(status: S, text: str) -> Record:
        return Record(status=status, message=text, generation=gen, op=op, at=at)

    if op in _DEPLOY_OPS:
        name = {'switch': 'Switch', 'pull-switch': 'Pull + Switch', 'force-rebuild': 'Force rebuild'}[op]
        if not ok:
            return rec(S.ERROR, f'{name} failed{" " + because if because else ""}'), tests
        return rec(S.OK, f'{name} deployed {gen[:7] or "the configuration"}'), rec(
            S.OUTDATED, f'Tests need a re-run after the {name.lower()}'
        )
    if op == 'rollback':
        if not ok:
            return rec(S.ERROR, f'Rollback failed{" " + because if because else ""}'), tests
        return rec(S.OUTDATED, 'Rolled back to the previous generation: switch to redeploy'), rec(
            S.OUTDATED, 'Tests need a re-run after the rollback'
        )
    if op == 'test':
        if ok:
            return system, rec(S.OK, f'All tests passed on {gen[:7]}' if gen else 'All tests passed')
        return system, rec(S.ERROR, f'Tests failed{" " + because if because else ""}')
    if op == 'refresh-system':
        verdict = detail.lower()
        if not ok:
            return rec(S.ERROR, f'System check failed{": " + detail if detail else ""}'), tests
        if verdict in (S.OK, S.OUTDATED, S.ERROR):
            text = {S.OK: 'System check: current', S.OUTDATED: 'System check: rebuild needed'}.get(
                S(verdict), 'System check: error'
            )
            return rec(S(verdict), text), tests
    return system, tests


# -- host rows ----------------------------------------------------------------------------------------------------
def report_from_json(text: str | None) -> Report | None:
    """Parse a persisted agent report (`{status, message, checked_at, received_at}`); None when empty."""
    data = json_object(text)
    status = data.get('status')
    if not isinstance(status, str) or not status:
        return None
    at = parse_iso(as_str(data.get('received_at'))) or parse_iso(as_str(data.get('checked_at')))
    return Report(status=status, message=as_str(data.get('message')), at=at)


def inputs_from_row(
    row: Mapping[str, Any], active_op: str | None = None, command_ended_at: float | None = None
) -> HostInputs:
    """Build the inputs of one host from its `hosts` row (plus what the lifecycle knows of its commands)."""
    return HostInputs(
        agent_version=as_str(row.get('agent_version')),
        agent_impl=as_str(row.get('agent_impl')) or 'go',
        generation=as_str(row.get('generation')),
        lock_hash=as_str(row.get('lock_hash')),
        active_op=active_op,
        lock_report=report_from_json(row.get('lock_status_json')),
        system_report=report_from_json(row.get('system_status_json')),
        tests_report=report_from_json(row.get('tests_status_json')),
        system_record=Record.from_json(row.get('system_record_json')),
        tests_record=Record.from_json(row.get('tests_record_json')),
        tests_generation=as_str(row.get('tests_generation')),
        command_ended_at=command_ended_at,
    )
