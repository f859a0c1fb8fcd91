"""Tokyo Night look: the palette, the stylesheets beside the components, the static assets (JS, logo) and their
cache-busted URLs."""

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping
from functools import cache
from pathlib import Path
from typing import Protocol

from fastapi import HTTPException
from fastapi.responses import FileResponse
from nicegui import app, ui

from nixfleet.models import is_color

STATIC_DIR = Path(__file__).parent / 'static'
STATIC_URL = '/nixfleet-static'
UI_DIR = Path(__file__).parent
CSS_URL = '/nixfleet-css'
#: The text font every page needs at once (fonts.css names it and the rest, fetched as characters need them).
MONO_FONT = 'fonts/jetbrains-mono-latin-wght-normal.woff2'

#: Every stylesheet of the UI, each beside its component in nixfleet/ui, in cascade order: for rules of equal
#: specificity the later file wins, so this order is part of the look (one list, linked on every page).
STYLESHEETS = (
    'fonts.css',
    'base.css',
    'header.css',
    'layout.css',
    'login.css',
    'host_table.css',
    'host_table_cells.css',
    'host_table_menu.css',
    'context_bar.css',
    'dialogs.css',
    'toasts.css',
    'host_table_cards.css',
    'host_table_view.css',
    'output_panel.css',
    'output_panel_lines.css',
    'output_panel_narrow.css',
    'run_card.css',
    'pipelines_view.css',
    'history_view.css',
    'tokens_view.css',
    'host_detail.css',
    'host_sparklines.css',
    'sync_status.css',
)

#: Tokyo Night (the previous dashboard's palette), its secondary text lightened to AA contrast (base.css).
PALETTE = {
    'bg': '#1a1b26',
    'bg_dark': '#16161e',
    'bg_highlight': '#292e42',
    'bg_float': '#24283b',
    'border': '#3b4261',
    'fg': '#c0caf5',
    'fg_dark': '#8f97c1',  # lighter than Tokyo Night's #565f89: secondary text reaches 4.5:1 (WCAG AA)
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


@cache
def stylesheet(name: str) -> str:
    """URL of one of `STYLESHEETS`, with a content hash so browsers never keep a stale copy."""
    digest = hashlib.sha256((UI_DIR / name).read_bytes()).hexdigest()[:10]
    return f'{CSS_URL}/{name}?v={digest}'


def _serve_stylesheet(name: str) -> FileResponse:
    if name not in STYLESHEETS:  # only the listed files: nixfleet/ui also holds the Python modules
        raise HTTPException(status_code=404)
    return FileResponse(UI_DIR / name, media_type='text/css', headers={'Cache-Control': 'public, max-age=3600'})


def head_html() -> str:
    """What every page's head gets: the stylesheets (in `STYLESHEETS` order), the helpers and the theme colour."""
    links = ''.join(f'<link rel="stylesheet" href="{stylesheet(name)}">' for name in STYLESHEETS)
    preload = f'<link rel="preload" href="{STATIC_URL}/{MONO_FONT}" as="font" type="font/woff2" crossorigin>'
    return (
        f'{preload}{links}<script defer src="{asset("nixfleet.js")}"></script>'
        f'<meta name="theme-color" content="{PALETTE["bg_dark"]}">'
    )


def install_theme() -> None:
    """Serve the assets and add the stylesheets and helpers to every page (call once, before serving)."""
    app.add_static_files(STATIC_URL, STATIC_DIR)
    app.get(CSS_URL + '/{name}', include_in_schema=False)(_serve_stylesheet)
    ui.add_head_html(head_html(), shared=True)
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
