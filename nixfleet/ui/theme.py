"""Tokyo Night look: the palette, the static assets (CSS, JS, logo) and their cache-busted URLs."""

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping
from functools import cache
from pathlib import Path
from typing import Protocol

from nicegui import app, ui

from nixfleet.models import is_color

STATIC_DIR = Path(__file__).parent / 'static'
STATIC_URL = '/nixfleet-static'

#: Tokyo Night (the previous dashboard's palette).
PALETTE = {
    'bg': '#1a1b26',
    'bg_dark': '#16161e',
    'bg_highlight': '#292e42',
    'bg_float': '#24283b',
    'border': '#3b4261',
    'fg': '#c0caf5',
    'fg_dark': '#565f89',
    'blue': '#7aa2f7',
    'cyan': '#7dcfff',
    'green': '#9ece6a',
    'yellow': '#e0af68',
    'orange': '#ff9e64',
    'red': '#f7768e',
    'purple': '#bb9af7',
}


@cache
def asset(name: str) -> str:
    """URL of a static asset, with a content hash so browsers never keep a stale copy."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]
    return f'{STATIC_URL}/{name}?v={digest}'


def install_theme() -> None:
    """Serve the assets and add the stylesheet and helpers to every page (call once, before serving)."""
    app.add_static_files(STATIC_URL, STATIC_DIR)
    ui.add_head_html(
        f'<link rel="stylesheet" href="{asset("nixfleet.css")}">'
        f'<script defer src="{asset("nixfleet.js")}"></script>'
        f'<meta name="theme-color" content="{PALETTE["bg_dark"]}">',
        shared=True,
    )
    apply_colors()


def apply_colors() -> None:
    """Quasar brand colours for every page (buttons, focus rings, notifications)."""
    app.colors(
        primary=PALETTE['blue'],
        secondary=PALETTE['purple'],
        accent=PALETTE['cyan'],
        positive=PALETTE['green'],
        negative=PALETTE['red'],
        warning=PALETTE['yellow'],
        info=PALETTE['cyan'],
        dark=PALETTE['bg_float'],
        dark_page=PALETTE['bg'],
    )


class _Styled(Protocol):
    @property
    def style(self) -> MutableMapping[str, str]: ...


def host_color_style(element: _Styled, prop: str, color: object) -> None:
    """Set one CSS property (`color`, `--hc`) of `element` to a host's theme colour; remove it when `color` is not
    `#rgb`/`#rrggbb`.

    NiceGUI joins an element's style properties into one `style` attribute (`name:value;`), so a value holding `;`
    would add declarations of its own (a full-screen overlay from an agent's colour): only a validated colour goes in,
    whatever the caller passes (views are validated too, nixfleet.hosts.HostRegistry.color; this is the last gate).
    """
    if is_color(color):
        element.style[prop] = str(color)
    else:
        element.style.pop(prop, None)
