"""The rollout options of a pipeline run's confirmation (dialogs.confirm_run): all hosts at once, or in waves with a
gate after each, what a failed gate does, and a soak (nixfleet.ops.rollout)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nicegui import ui

from nixfleet.ops.pipelines import PipelineOptions
from nixfleet.ops.rollout import MAX_SOAK, FailurePolicy, RolloutError, resolve_waves

#: What each failure policy does, in the words of the dialog.
POLICIES = {
    FailurePolicy.ROLLBACK_AND_HALT.value: 'Roll it back, stop the rollout',
    FailurePolicy.ROLLBACK_AND_CONTINUE.value: 'Roll it back, go on',
    FailurePolicy.HALT.value: 'Stop the rollout, roll back nothing',
    FailurePolicy.CONTINUE.value: 'Go on',
}
#: The wave spec the form starts with: one canary, a tenth, then the rest.
DEFAULT_WAVES = '1,10%,rest'


@dataclass(frozen=True, slots=True)
class RolloutChoice:
    """What the user chose: no waves (all at once, today's rules), or waves with a policy and a soak."""

    waves: str | None = None
    on_failure: str | None = None
    soak: float | None = None

    def options(self) -> PipelineOptions:
        """The run's options."""
        return PipelineOptions(waves=self.waves, on_failure=self.on_failure, soak=self.soak)


def waves_problem(spec: Any, hosts: list[str]) -> str | None:
    """What is wrong with a typed wave spec for these hosts (None: nothing), shown under the field."""
    try:
        waves = resolve_waves(str(spec or ''), hosts)
    except RolloutError as exc:
        return str(exc).removeprefix('waves: ')
    return None if waves else 'no wave'


class RolloutForm:
    """The form in the dialog; `choice()` is what the user chose, or None while the wave spec does not fit."""

    def __init__(self, hosts: list[str]) -> None:
        self.hosts = hosts

    def build(self) -> None:
        """Add the form to the dialog being built."""
        with ui.element('div').classes('nf-rollout').mark('rollout'):
            self.waved = ui.switch('Roll out in waves, each checked before the next').mark('rollout-on')
            with ui.element('div').classes('nf-rollout-opts') as opts:
                self.spec = (
                    ui.input('Waves', value=DEFAULT_WAVES, validation=lambda v: waves_problem(v, self.hosts))
                    .props('outlined dense dark spellcheck=false hint="counts, shares, rest, or hosts joined by +"')
                    .mark('rollout-waves')
                )
                self.policy = (
                    ui.select(POLICIES, value=FailurePolicy.ROLLBACK_AND_HALT.value, label='When a host fails its gate')
                    .props('outlined dense dark')
                    .mark('rollout-policy')
                )
                self.soak = (
                    ui.number('Soak after each wave (s)', value=0, min=0, max=MAX_SOAK, step=10, format='%.0f')
                    .props('outlined dense dark')
                    .mark('rollout-soak')
                )
            opts.bind_visibility_from(self.waved, 'value')

    def choice(self) -> RolloutChoice | None:
        """The options chosen (None: the wave spec does not fit the hosts; its field says why)."""
        if not self.waved.value:
            return RolloutChoice()
        spec = str(self.spec.value or '').strip()
        if waves_problem(spec, self.hosts) is not None:
            self.spec.validate()
            return None
        soak = float(self.soak.value or 0)
        return RolloutChoice(waves=spec, on_failure=str(self.policy.value), soak=soak or None)
