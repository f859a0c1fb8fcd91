"""Safe rollouts (docs/architecture.md#safe-rollouts): a run split into waves, each wave gated before the next starts,
and a host that fails its gate rolled back.

A wave spec is a comma list read left to right over the run's hosts in their given order: a count (`1`), a share
(`10%`, rounded up, at least one host), `rest`, or hosts named with `+` (`web-01+web-02`). The spec is resolved into
host lists when the run starts and journaled with it, so a resumed run has exactly the waves it started with.

A wave's gate: every stage of the pipeline passed on the host (a pipeline's `test` stage is the health check), then
the soak time with no disconnect. A host that fails after its switch activated a new generation is rolled back
(the `rollback` op, journaled under the run as its rollback stage), and the failure policy decides whether the next
wave starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from nixfleet.models import ErrorCode


class RolloutError(ValueError):
    """A rollout option that cannot be used (the request is refused with `code` and this message)."""

    code = ErrorCode.INVALID_REQUEST


class FailurePolicy(StrEnum):
    """What a failed gate does: roll the failed hosts back or not, and stop the run before the next wave or not."""

    ROLLBACK_AND_HALT = 'rollback-and-halt'
    ROLLBACK_AND_CONTINUE = 'rollback-and-continue'
    HALT = 'halt'
    CONTINUE = 'continue'

    @property
    def rolls_back(self) -> bool:
        return self in (FailurePolicy.ROLLBACK_AND_HALT, FailurePolicy.ROLLBACK_AND_CONTINUE)

    @property
    def halts(self) -> bool:
        return self in (FailurePolicy.ROLLBACK_AND_HALT, FailurePolicy.HALT)


#: Longest soak a run may ask for (seconds).
MAX_SOAK = 24 * 3600.0
#: Checks a gate may add after a host's switch: `test` runs the test op (when the pipeline has no test stage).
GATE_CHECKS = ('test',)


def resolve_waves(spec: str, hosts: list[str]) -> list[list[str]]:
    """The waves of `spec` over `hosts` (in order); every host in exactly one wave, none empty."""
    parts = [part.strip() for part in spec.split(',') if part.strip()]
    if not parts:
        raise RolloutError('waves: give at least one wave, e.g. "1,10%,rest"')
    left = list(hosts)
    named = {part for part in parts if '+' in part or _is_host(part, hosts)}
    taken_by_name = {h for part in named for h in part.split('+')}
    waves: list[list[str]] = []
    for index, part in enumerate(parts):
        if part == 'rest':
            if index != len(parts) - 1:
                raise RolloutError('waves: "rest" can only be the last wave')
            wave = list(left)
        elif part in named:
            wave = [h for h in part.split('+') if h]
            if unknown := [h for h in wave if h not in hosts]:
                raise RolloutError(f'waves: {", ".join(unknown)} is not a target of this run')
            if twice := [h for h in wave if h not in left]:
                raise RolloutError(f'waves: {", ".join(twice)} is in more than one wave')
        else:
            pool = [h for h in left if h not in taken_by_name]
            wave = pool[: _size(part, len(hosts))]
        left = [h for h in left if h not in wave]
        if wave:
            waves.append(wave)
    if left:
        waves.append(left)  # hosts no wave named: one last wave, as if the spec ended with "rest"
    return waves


def _is_host(part: str, hosts: list[str]) -> bool:
    return part in hosts and not part.rstrip('%').isdigit()


def _size(part: str, total: int) -> int:
    try:
        if part.endswith('%'):
            share = float(part[:-1])
            if not 0 < share <= 100:
                raise ValueError
            return max(1, math.ceil(total * share / 100))
        count = int(part)
        if count < 1:
            raise ValueError
        return count
    except ValueError:
        raise RolloutError(f'waves: {part!r} is not a count, a share (10%), "rest" or hosts joined with "+"') from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rollout:
    """How one run rolls out: its waves, the soak after each, and the failure policy (read from the run's options)."""

    waves: list[list[str]]
    soak: float = 0.0
    policy: FailurePolicy = FailurePolicy.CONTINUE
    gated: bool = False
    test: bool = False

    @classmethod
    def of(cls, options: dict[str, Any], hosts: list[str]) -> Rollout:
        """The rollout of a run: without rollout options, one wave of every host and today's rules."""
        waves = options.get('waves')
        policy = options.get('on_failure')
        soak = float(options.get('soak') or 0.0)
        test = options.get('gate') == 'test'
        if not waves and policy is None and not soak and not test:
            return cls(waves=[list(hosts)])
        return cls(
            waves=[list(w) for w in waves] if waves else [list(hosts)],
            soak=soak,
            policy=FailurePolicy(policy or FailurePolicy.ROLLBACK_AND_HALT),
            gated=True,
            test=test,
        )


def rollout_options(
    hosts: list[str],
    *,
    waves: str | None = None,
    on_failure: str | None = None,
    soak: float | None = None,
    gate: str | None = None,
) -> dict[str, Any]:
    """Validate rollout options and return what the run journals (`{}` when none are given)."""
    options: dict[str, Any] = {}
    if gate is not None:
        if gate not in GATE_CHECKS:
            raise RolloutError(f'gate: {gate!r} is not one of {", ".join(GATE_CHECKS)}')
        options['gate'] = gate
    if waves:
        options['wave_spec'] = waves
        options['waves'] = resolve_waves(waves, hosts)
    if on_failure is not None:
        try:
            options['on_failure'] = FailurePolicy(on_failure).value
        except ValueError:
            choices = ', '.join(p.value for p in FailurePolicy)
            raise RolloutError(f'on_failure: {on_failure!r} is not one of {choices}') from None
    elif options:  # waves or a gate: a failure rolls back and halts unless the run says otherwise
        options['on_failure'] = FailurePolicy.ROLLBACK_AND_HALT.value
    if soak:
        if not 0 <= soak <= MAX_SOAK:
            raise RolloutError(f'soak: {soak:g} s is not between 0 and {MAX_SOAK:g} s')
        options['soak'] = float(soak)
        options.setdefault('on_failure', FailurePolicy.ROLLBACK_AND_HALT.value)
    return options
