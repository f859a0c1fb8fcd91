"""The dashboard's dialogs: confirm, reboot with TOTP, colour picker, refused dispatch. Each is awaited once.

Every dialog is built when needed and deleted once answered and hidden (Escape, a backdrop click and Cancel answer
None; the focus goes back where it was), so a page with 2,000 hosts carries none of them until one is open. The one
confirmation (`confirm`) has the focus on its confirming button: Enter confirms. What a dialog decides is only a
choice: dispatch and
its validation stay with the caller, so a dialog left open while the state changed underneath it can do no harm —
the server refuses, and the refusal is shown.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nicegui import ui

from nixfleet.ui.rollout_form import RolloutChoice, RolloutForm
from nixfleet.viewmodels.actions_model import Alternative

#: The previous dashboard's colour presets (name, colour).
COLOR_PRESETS: tuple[tuple[str, str], ...] = (
    ('Ice blue', '#98b8d8'),
    ('Blue', '#769ff0'),
    ('Yellow', '#d4c060'),
    ('Green', '#68c878'),
    ('Orange', '#e09050'),
    ('Purple', '#9868d0'),
    ('Pink', '#e070a0'),
    ('Light grey', '#a8aeb8'),
    ('Dark grey', '#686c70'),
    ('Warm grey', '#a8a098'),
    ('Rose gold', '#c8a8a0'),
)
_HEX = re.compile(r'^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$')
#: What the colour dialog returns for "back to the agent's colour".
RESET = 'default'


def normalise_hex(text: str) -> str | None:
    """`#abc` / `abc` / `#aabbcc` → `#aabbcc` (lower case); None for anything else."""
    match = _HEX.match(text.strip())
    if match is None:
        return None
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = ''.join(c * 2 for c in digits)
    return f'#{digits}'


def _hex_problem(text: Any) -> str | None:
    """What is wrong with a typed colour, shown under the field (None: nothing)."""
    typed = str(text or '').strip()
    if normalise_hex(typed) is not None:
        return None
    return f'“{typed}” is not a colour: use #rgb or #rrggbb' if typed else 'Type a colour: #rgb or #rrggbb'


def _dialog(label: str, *, danger: bool = False) -> ui.dialog:
    """A dialog owned by the page, not by the element whose click opened it: a list that re-renders (a token row
    when another token is created, a host row) would otherwise delete the open dialog with its old row."""
    with ui.context.client.layout:
        dialog = ui.dialog().props(f'aria-label="{label}"')
    dialog.classes('nf-dlg-wrap' + (' is-danger' if danger else ''))
    return dialog


def button(text: str, tone: str, marker: str, on_click: Any = None, *, icon: str | None = None) -> ui.button:
    """A dialog or context-bar button (`tone`: is-primary, is-quiet, is-danger, is-warn); no Quasar colour, so the
    stylesheet's colours apply (Quasar's layered `bg-primary !important` would beat them)."""
    return (
        ui.button(text, icon=icon, on_click=on_click, color=None)
        .props('unelevated no-caps')
        .classes(f'nf-act {tone}')
        .mark(marker)
    )


def _title(icon: str, text: str, tone: str = '') -> None:
    with ui.element('div').classes(f'nf-dlg-title {tone}'.strip()):
        ui.icon(icon).classes('nf-dlg-icon').props('aria-hidden=true')
        ui.label(text).classes('nf-dlg-heading')


#: Seconds an answered dialog waits for the browser's `hide` before it is deleted anyway (a closed socket).
DELETE_AFTER = 2.0


async def _answer(dialog: ui.dialog) -> Any:
    try:
        return await dialog
    finally:
        _dispose(dialog)


def _dispose(dialog: ui.dialog) -> None:
    """Remove an answered dialog from the page at once (deleted once the browser has hidden it), and give the focus
    back to what had it before the dialog opened."""
    if dialog.is_deleted:
        return

    def delete() -> None:
        if not dialog.is_deleted:
            dialog.delete()

    dialog.set_visibility(False)
    dialog.on('hide', delete)
    with dialog:
        ui.timer(DELETE_AFTER, delete, once=True)
        ui.run_javascript('window.nfRestoreFocus?.()')  # nixfleet.js: back to what had the focus before


async def confirm(
    title: str,
    message: str,
    ok: str,
    *,
    icon: str = 'help_outline',
    danger: bool = False,
    details: Sequence[str] = (),
    cancel: str = 'Cancel',
    all_details: bool = False,
) -> bool:
    """Ask before doing something; True only for the confirming button (or Enter: it has the focus). Escape, a
    backdrop click and the `cancel` button answer False; the focus goes back where it was. `details`: the first 12
    hosts it concerns, or every one with `all_details`, in a scrolling list."""
    answer = await _ask(title, message, ok, icon, danger, details, cancel, all_details, form=None)
    return answer is True


async def confirm_run(title: str, message: str, ok: str, *, icon: str, hosts: Sequence[str]) -> RolloutChoice | None:
    """`confirm` for a pipeline run, with its rollout options (at once, or in waves with a gate after each); the
    options chosen, or None when the user said no. A wave spec that does not fit the hosts keeps the dialog open
    with the field saying why."""
    form = RolloutForm(list(hosts))
    answer = await _ask(title, message, ok, icon, False, hosts, 'Cancel', False, form=form)
    return answer if isinstance(answer, RolloutChoice) else None


async def _ask(
    title: str,
    message: str,
    ok: str,
    icon: str,
    danger: bool,
    details: Sequence[str],
    cancel: str,
    all_details: bool,
    *,
    form: RolloutForm | None,
) -> Any:
    with _dialog(title, danger=danger) as dialog, ui.card().classes('nf-dlg').mark('dialog-confirm'):
        _title(icon, title, 'is-danger' if danger else '')
        ui.label(message).classes('nf-dlg-text')
        if details:
            shown = len(details) if all_details else 12
            with ui.element('div').classes('nf-dlg-hosts').mark('dialog-hosts'):
                for line in details[:shown]:
                    ui.label(line).classes('nf-dlg-host')
                if len(details) > shown:
                    ui.label(f'… and {len(details) - shown} more').classes('nf-dlg-more')
        if form is not None:
            form.build()
        with ui.element('div').classes('nf-dlg-actions'):
            back = button(cancel, 'is-quiet', 'dialog-cancel')
            confirmed = button(ok, 'is-danger' if danger else 'is-primary', 'dialog-ok').props('autofocus')

        def answer(value: Any) -> None:
            if value is None:  # the form says what to change
                return
            for action in (back, confirmed):  # answered: a second click (a double click) is ignored
                action.disable()
            dialog.submit(value)

        back.on_click(lambda: answer(False))
        confirmed.on_click(lambda: answer(form.choice() if form is not None else True))
    return await _answer(dialog)


@dataclass(frozen=True, slots=True)
class CodeRefused:
    """Why a reboot dialog's code did not reboot: `kept` when the code was not used and can be sent again."""

    message: str
    kept: bool = False


async def totp_prompt(host: str, submit: Callable[[str], Awaitable[CodeRefused | None]], *, configured: bool) -> bool:
    """Ask for a TOTP code to reboot `host`; `submit(code)` returns why not (the dialog stays) or None.

    True once a code was accepted. Without a configured TOTP secret the dialog only explains why reboot is off.
    A refusal that did not use the code (the host is busy or offline) keeps it in the field for another try.
    """
    with _dialog(f'Reboot {host}', danger=True) as dialog, ui.card().classes('nf-dlg').mark('dialog-totp'):
        _title('power_settings_new', f'Reboot {host}', 'is-danger')
        ui.label(f'This reboots {host} immediately. Running services stop until it is back.').classes('nf-dlg-text')
        if not configured:
            ui.label('Reboot needs a TOTP code, but NIXFLEET_TOTP_SECRET is not configured on this dashboard.').classes(
                'nf-dlg-error'
            ).props('role=alert')
            with ui.element('div').classes('nf-dlg-actions'):
                button('Close', 'is-quiet', 'dialog-cancel', lambda: dialog.submit(False))
            return bool(await _answer(dialog))
        code = (
            ui.input('TOTP code', placeholder='6 digits')
            .props('outlined dense dark autofocus inputmode=numeric maxlength=7 autocomplete=one-time-code')
            .classes('nf-totp-input')
            .mark('totp-code')
        )
        error = ui.label('').classes('nf-dlg-error').props('role=alert')
        error.set_visibility(False)
        with ui.element('div').classes('nf-dlg-actions'):
            button('Cancel', 'is-quiet', 'dialog-cancel', lambda: dialog.submit(False))
            ok = button('Reboot', 'is-danger', 'dialog-ok')
        ok.disable()
        sending = False  # a code is on its way, or was accepted: further clicks and Enter are ignored

        def digits() -> str:
            return re.sub(r'\D', '', str(code.value or ''))

        def changed() -> None:
            ok.set_enabled(len(digits()) == 6 and not sending)

        async def send() -> None:
            nonlocal sending
            if sending or len(digits()) != 6:
                return
            sending = True
            ok.disable()
            problem: CodeRefused | None = CodeRefused('the code could not be checked')
            try:
                problem = await submit(digits())
            finally:
                sending = problem is None
            if problem is None:
                dialog.submit(True)
                return
            error.set_text(problem.message)
            error.set_visibility(True)
            if not problem.kept:
                code.set_value('')
            changed()

        code.on_value_change(changed)
        code.on('keydown.enter', send)
        ok.on_click(send)
    return bool(await _answer(dialog))


def _swatches(choose: Callable[[str], Any]) -> dict[str, ui.button]:
    """The preset colour buttons, by colour; a click chooses that colour."""
    swatches: dict[str, ui.button] = {}
    with ui.element('div').classes('nf-swatches').props('role=radiogroup aria-label="Presets"'):
        for name, value in COLOR_PRESETS:
            swatches[value] = (
                ui.button(on_click=functools.partial(choose, value), color=None)
                .props(f'flat round dense aria-label="{name}" title="{name}"')
                .classes('nf-swatch')
                .style(f'--sw: {value}')
                .mark(f'swatch-{value}')
            )
    return swatches


async def pick_color(host: str, current: str | None, *, from_dashboard: bool) -> str | None:
    """Choose a theme colour for `host`: `#rrggbb`, `RESET` (the agent's own colour) or None (cancelled)."""
    start = normalise_hex(current or '') or '#7aa2f7'
    with _dialog(f'Colour of {host}') as dialog, ui.card().classes('nf-dlg').mark('dialog-color'):
        _title('palette', f'Colour of {host}')
        note = 'Set here; it wins over the agent’s colour.' if from_dashboard else 'Currently the agent’s colour.'
        ui.label(note).classes('nf-dlg-text')

        swatches = _swatches(lambda value: hexfield.set_value(value))
        with ui.element('div').classes('nf-color-row'):
            preview = ui.element('div').classes('nf-color-preview').style(f'--sw: {start}')
            hexfield = (
                ui.input('Hex colour', value=start, validation=_hex_problem)
                .props('outlined dense dark maxlength=7 spellcheck=false')
                .classes('nf-hex-input')
                .mark('color-hex')
            )
            with ui.element('div').classes('nf-color-name'):
                sample = ui.label(host).classes('nf-color-sample').style(f'color: {start}')
        with ui.element('div').classes('nf-dlg-actions'):
            button(
                'Agent default', 'is-quiet nf-act-left', 'color-reset', lambda: dialog.submit(RESET), icon='restart_alt'
            )
            button('Cancel', 'is-quiet', 'dialog-cancel', lambda: dialog.submit(None))
            apply = button('Apply', 'is-primary', 'dialog-ok')

        def show(value: str | None) -> None:
            apply.set_enabled(value is not None)
            if value is None:  # the field says why (its validation)
                return
            preview.style(f'--sw: {value}')
            sample.style(f'color: {value}')
            for swatch_value, swatch in swatches.items():
                swatch.classes(
                    add='is-on' if swatch_value == value else '', remove='' if swatch_value == value else 'is-on'
                )

        def submit() -> None:
            value = normalise_hex(str(hexfield.value or ''))
            if value is not None:
                dialog.submit(value)
            else:
                hexfield.validate()

        hexfield.on_value_change(lambda e: show(normalise_hex(str(e.value or ''))))
        hexfield.on('keydown.enter', submit)
        apply.on_click(submit)
        show(start)
    return await _answer(dialog)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused host (or the whole request, `host` None): code and message as dispatch gave them."""

    host: str | None
    code: str
    message: str


async def refused(
    action: str, refusals: Sequence[Refusal], *, total: int, can_force: bool, alternative: Alternative | None
) -> str | None:
    """Show why `action` was refused; return `force`, the alternative's op, or None (cancel)."""
    hosts = [r.host for r in refusals if r.host]
    if len(refusals) == 1 and total <= 1:
        title = f'Cannot {action.lower()}' + (f' on {hosts[0]}' if hosts else '')
    else:
        title = f'{action} refused on {len(refusals)} of {total} hosts'
    with _dialog(title) as dialog, ui.card().classes('nf-dlg is-wide').mark('dialog-blocked'):
        _title('block', title, 'is-warn')
        with ui.element('div').classes('nf-refusals'):
            for refusal in refusals[:20]:
                with ui.element('div').classes('nf-refusal'):
                    if refusal.host:
                        ui.label(refusal.host).classes('nf-refusal-host')
                    ui.label(refusal.code).classes('nf-code').mark('blocked-code')
                    ui.label(refusal.message).classes('nf-refusal-msg').mark('blocked-message')
            if len(refusals) > 20:
                ui.label(f'… and {len(refusals) - 20} more').classes('nf-dlg-more')
        if can_force:
            ui.label('Force skips the pre-checks; it never runs two commands on one host.').classes('nf-dlg-note')
        with ui.element('div').classes('nf-dlg-actions'):
            button('Cancel', 'is-quiet', 'dialog-cancel', lambda: dialog.submit(None))
            if alternative is not None:
                button(alternative.label, 'is-primary', 'blocked-alternative', lambda: dialog.submit(alternative.op))
                ui.tooltip(alternative.why)
            if can_force:
                button('Force', 'is-warn', 'blocked-force', lambda: dialog.submit('force'), icon='bolt')
    return await _answer(dialog)  # type: ignore[no-any-return]
