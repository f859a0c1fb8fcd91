"""The output panel's tools: open a host, text size, copy, clear, download, and collapse or expand the panel."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nicegui import ui

if TYPE_CHECKING:
    from nixfleet.ui.output_panel import OutputPanel


class OutputTools:
    """The tool buttons on the panel's bar; each calls the panel."""

    def __init__(self, panel: OutputPanel, *, font: int) -> None:
        with ui.element('div').classes('nf-output-tools'):
            self.picker = (
                ui.select({}, with_input=True, on_change=panel.on_pick)
                .props('dense borderless options-dense hide-dropdown-icon placeholder="Open host…"')
                .props('aria-label="Open the output of a host" popup-content-class=nf-output-menu')
                .classes('nf-output-pick')
                .mark('output-open-host')
            )
            _tool('text_decrease', 'Smaller text', panel.smaller, 'output-font-down')
            self.font_label = ui.label(f'{font}px').classes('nf-output-font').mark('output-font')
            _tool('text_increase', 'Larger text', panel.larger, 'output-font-up')
            ui.element('span').classes('nf-output-sep')
            _tool('content_copy', 'Copy this tab', panel.copy, 'output-copy')
            _tool('playlist_remove', 'Clear this view (the logs stay)', panel.clear, 'output-clear')
            _tool('download', 'Download the log', panel.download, 'output-download')
            self._toggle = (
                ui.button(on_click=lambda _: panel.toggle())
                .props('flat dense round size=sm')
                .classes('nf-output-tool nf-output-toggle')
                .mark('output-toggle')
            )
            with self._toggle:
                self._toggle_tip = ui.tooltip('')

    def show_collapsed(self, collapsed: bool) -> None:
        """Show the toggle for a collapsed (expand) or open (collapse) panel."""
        label = 'Expand the panel' if collapsed else 'Collapse the panel'
        self._toggle.props['icon'] = 'expand_less' if collapsed else 'expand_more'
        self._toggle.props['aria-label'] = label
        self._toggle_tip.set_text(label)


def _tool(icon: str, label: str, action: Callable[[], Any], marker: str) -> ui.button:
    return (
        ui.button(icon=icon, on_click=lambda _: action())
        .props(f'flat dense round size=sm aria-label="{label}"')
        .classes('nf-output-tool')
        .tooltip(label)
        .mark(marker)
    )
