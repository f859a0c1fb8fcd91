"""The UI's stylesheets: each beside its component in nixfleet/ui, at most 400 lines, listed once in
`theme.STYLESHEETS` (the cascade order) and linked and served on every dashboard page, so a forgotten file fails
here; the plain login page links its own three (nixfleet.ui.login_page)."""

from __future__ import annotations

import re
from pathlib import Path

from nixfleet.ui import theme
from nixfleet.ui.login_page import LOGIN_STYLESHEETS
from tests.ui.conftest import UiServer

UI_DIR = Path(theme.__file__).parent
MAX_LINES = 400


def test_every_stylesheet_is_listed_once_and_exists() -> None:
    on_disk = sorted(path.relative_to(UI_DIR).as_posix() for path in UI_DIR.rglob('*.css'))
    assert sorted(theme.STYLESHEETS) == on_disk
    assert len(set(theme.STYLESHEETS)) == len(theme.STYLESHEETS)


def test_every_stylesheet_is_at_most_400_lines() -> None:
    lengths = {name: len((UI_DIR / name).read_text().splitlines()) for name in theme.STYLESHEETS}
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}


def test_every_stylesheet_is_balanced() -> None:
    """A brace or comment left open by an edit silently drops the rules after it (and the files after it)."""
    for name in theme.STYLESHEETS:
        text = re.sub(r'/\*.*?\*/', '', (UI_DIR / name).read_text(), flags=re.S)
        assert '/*' not in text and '*/' not in text, name
        depth = 0
        for char in text:
            depth += {'{': 1, '}': -1}.get(char, 0)
            assert depth >= 0, name
        assert depth == 0, name


def test_the_head_links_every_stylesheet_in_cascade_order() -> None:
    linked = re.findall(r'<link rel="stylesheet" href="([^"]+)">', theme.head_html())
    assert [url.split('?')[0] for url in linked] == [f'{theme.CSS_URL}/{name}' for name in theme.STYLESHEETS]


async def test_pages_link_and_the_server_serves_every_stylesheet(ui_server: UiServer) -> None:
    await ui_server.user()  # logged in: its client's cookie opens the dashboard
    http = ui_server.clients[-1]
    page = (await http.get('/')).text
    linked = re.findall(r'<link rel="stylesheet" href="(/nixfleet-css/[^"]+)">', page)
    assert [url.split('?')[0].rsplit('/', 1)[1] for url in linked] == list(theme.STYLESHEETS)
    for url, name in zip(linked, theme.STYLESHEETS, strict=True):
        response = await http.get(url)
        assert response.status_code == 200, url
        assert response.headers['content-type'].startswith('text/css')
        assert response.text == (UI_DIR / name).read_text()
    # only the listed files: nixfleet/ui also holds the Python modules
    for other in ('theme.py', '__init__.py', 'host_table.js', '..%2Fconfig.py'):
        assert (await http.get(f'{theme.CSS_URL}/{other}')).status_code == 404, other


async def test_the_login_page_is_one_plain_document_with_its_own_stylesheets(ui_server: UiServer) -> None:
    """No toolkit on the login page: no script at all, and the three stylesheets it uses, served."""
    async with ui_server.client() as http:
        response = await http.get('/login?next=/history')
        page = response.text
        assert response.status_code == 200 and response.headers['content-type'].startswith('text/html')
        assert '<script' not in page and '_nicegui' not in page
        linked = re.findall(r'<link rel="stylesheet" href="(/nixfleet-css/[^"]+)">', page)
        assert [url.split('?')[0].rsplit('/', 1)[1] for url in linked] == list(LOGIN_STYLESHEETS)
        assert [name for name in theme.STYLESHEETS if name in LOGIN_STYLESHEETS] == list(LOGIN_STYLESHEETS)  # order
        for url in linked:
            assert (await http.get(url)).status_code == 200, url
        assert '<input type="hidden" name="next" value="/history">' in page
        assert 'autofocus' in page  # the password field has the focus without a script
