"""The output panel's preferences, kept per browser (`app.storage.user`): collapsed, height, font, open tabs."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from nicegui import app

from nixfleet.viewmodels.output_buffer import LOG_TAB

FONT_MIN, FONT_MAX, FONT_DEFAULT = 9, 20, 13
HEIGHT_MIN, HEIGHT_MAX, HEIGHT_DEFAULT = 120, 2000, 180
#: Key of the panel's preferences in `app.storage.user`.
PREFS_KEY = 'output_panel'


def clamp(value: Any, low: int, high: int, default: int) -> int:
    """`value` as an int within [low, high]; `default` when it is not a number."""
    try:
        return max(low, min(high, int(value)))
    except (TypeError, ValueError):
        return default


def _browser_store() -> MutableMapping[str, Any]:
    try:
        return app.storage.user
    except (RuntimeError, AssertionError, KeyError):  # no storage secret or no request: nothing is remembered
        return {}


class PanelPrefs:
    """What this browser chose for the panel, read once when the page is built and saved on every change."""

    def __init__(self) -> None:
        self._store = _browser_store()
        prefs = dict(self._store.get(PREFS_KEY) or {})
        #: Whether this browser ever collapsed or expanded the panel itself (else a phone starts it collapsed).
        self.chosen = isinstance(prefs.get('collapsed'), bool)
        self.collapsed = bool(prefs.get('collapsed', False))
        self.height = clamp(prefs.get('height'), HEIGHT_MIN, HEIGHT_MAX, HEIGHT_DEFAULT)
        self.font = clamp(prefs.get('font'), FONT_MIN, FONT_MAX, FONT_DEFAULT)
        #: The host tabs that were open, and the tab that was shown.
        self.tabs = [h for h in prefs.get('tabs') or [] if isinstance(h, str) and h and not h.startswith(':')]
        self.active = prefs.get('active') if isinstance(prefs.get('active'), str) else LOG_TAB

    def save(self, *, collapsed: bool, height: int, font: int, tabs: list[str], active: str) -> None:
        """Remember the panel's state (only when it changed)."""
        prefs = {
            'collapsed': collapsed if self.chosen else None,
            'height': height,
            'font': font,
            'tabs': [k for k in tabs if k != LOG_TAB],
            'active': active,
        }
        if self._store.get(PREFS_KEY) != prefs:
            self._store[PREFS_KEY] = prefs
