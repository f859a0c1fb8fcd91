"""One command's log in a dialog (History's "View the log" and a failed row's cause): its cause on top, the lines,
Download, and a way to the live host tab."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from nicegui import ui

from nixfleet.causes import cause
from nixfleet.ops.logs import parse_log
from nixfleet.ui.downloads import download_command_log
from nixfleet.ui.output_panel import OutputView
from nixfleet.ui.toasts import toast
from nixfleet.viewmodels.output_buffer import TAB_CAP, output_line, status_tone


class LogReader(Protocol):
    """Reads a command's whole log (the op engine)."""

    async def read_output(self, command_id: str) -> str: ...


def download_log(row: Mapping[str, Any]) -> None:
    """Save a command's whole log."""
    download_command_log(str(row['id']), row.get('host_id'), row.get('op'))


async def show_command_log(ops: LogReader, row: Mapping[str, Any], follow_host: Callable[[str], Any]) -> None:
    """Show the log of the command `row` (a journal row) in a dialog; `follow_host` opens a host's output tab."""
    cid = str(row['id'])
    try:
        text = await ops.read_output(cid)
    except Exception as exc:
        toast(f'Cannot read the log: {exc}', 'warning')
        return
    entries = parse_log(text)
    lines = [output_line(e) for e in entries[-TAB_CAP:]]
    earlier = max(0, len(entries) - TAB_CAP)
    host = row.get('host_id')
    tone = status_tone(row.get('status'))
    title = f'{row.get("op")} on {host or "fleet"}'
    with ui.dialog().props(f'aria-label="Log of {title}"') as dialog, ui.element('div').classes('nf-ldialog'):
        with ui.element('div').classes('nf-ldialog-head'):
            ui.label(title).classes('nf-ldialog-title')
            ui.label(str(row.get('status') or '').lower()).classes(f'nf-sbadge t-{tone}')
            ui.element('div').classes('nf-spacer')
            ui.button(icon='close', on_click=dialog.close).props('flat dense round aria-label="Close"').classes(
                'nf-output-tool'
            )
        if tone in ('fail', 'partial') and (why := cause(row)):
            ui.label(why).classes(f'nf-ldialog-why t-{tone}').mark('history-log-why')
        initial = {'lines': lines, 'earlier': earlier}
        log = OutputView(active=cid, font=13, collapsed=False, height=420, initial=initial, variant='dialog')
        log.mark('history-log')
        with ui.element('div').classes('nf-ldialog-foot'):
            ui.label(f'{len(entries):,} lines · {cid}').classes('nf-card-sub')
            ui.element('div').classes('nf-spacer')
            if host:

                def follow() -> None:
                    dialog.delete()
                    follow_host(str(host))

                ui.button('Follow in the output panel', icon='terminal', on_click=follow).props(
                    'flat dense no-caps'
                ).classes('nf-vbtn').mark('history-log-follow')
            ui.button('Download', icon='download', on_click=lambda: download_log(row)).props(
                'flat dense no-caps'
            ).classes('nf-vbtn is-primary').mark('history-log-download')
    dialog.on('hide', dialog.delete)
    dialog.open()
