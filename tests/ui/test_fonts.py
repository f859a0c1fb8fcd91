"""The bundled fonts: every face fonts.css declares is a file the dashboard serves itself (no font from elsewhere), the
text font is preloaded on every page, each font ships with its licence, and the UI's font stack names them first."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from nixfleet.ui import theme
from tests.ui.conftest import UiServer

UI_DIR = Path(theme.__file__).parent
FONTS_CSS = (UI_DIR / 'fonts.css').read_text()
FACES = re.findall(r"url\('([^']+)'\)", FONTS_CSS)


def test_every_face_is_a_bundled_file_with_its_licence() -> None:
    assert len(FACES) >= 3  # the text font (Latin, Latin Extended) and the emoji in parts
    for url in FACES:
        assert url.startswith(f'{theme.STATIC_URL}/fonts/'), url  # served here: nothing is fetched from elsewhere
        assert (theme.STATIC_DIR / url.removeprefix(f'{theme.STATIC_URL}/')).is_file(), url
    families = set(re.findall(r"font-family: '([^']+)'", FONTS_CSS))
    assert families == {'NixFleet Mono', 'NixFleet Emoji'}
    for licence in ('OFL-JetBrainsMono.txt', 'OFL-NotoEmoji.txt'):
        assert 'SIL Open Font License' in (theme.STATIC_DIR / 'fonts' / licence).read_text()


def test_the_font_stack_puts_the_bundled_text_font_first_and_the_emoji_before_the_generic_fallback() -> None:
    stack = re.search(r'--nf-font:([^;]+);', (UI_DIR / 'base.css').read_text(), re.S)
    assert stack is not None
    names = [name.strip().strip("'") for name in stack.group(1).split(',')]
    assert names[0] == 'NixFleet Mono'
    assert names[-2:] == ['NixFleet Emoji', 'monospace']


async def test_the_dashboard_serves_the_fonts_and_preloads_the_text_font(ui_server: UiServer) -> None:
    async with httpx.AsyncClient(base_url=ui_server.http) as http:
        page = (await http.get('/login')).text
        assert f'<link rel="preload" href="{theme.STATIC_URL}/{theme.MONO_FONT}" as="font"' in page
        for url in FACES:
            response = await http.get(url)
            assert response.status_code == 200, url
            assert response.content[:4] == b'wOF2', url  # a WOFF2 font
