"""The login form says a TOTP code was already used (issue 15 item 8), through the real form, route and page."""

from __future__ import annotations

import httpx
import pyotp
import pytest

from tests.support import PASSWORD
from tests.ui.conftest import TOTP_SECRET, UiServer


@pytest.fixture
def ui(ui_with_totp: UiServer) -> UiServer:
    return ui_with_totp


async def test_a_used_code_is_said_to_be_used_and_a_wrong_one_is_not(ui: UiServer) -> None:
    code = pyotp.TOTP(TOTP_SECRET).at(ui.dashboard.clock())
    async with httpx.AsyncClient(base_url=ui.http, follow_redirects=True) as browser:
        first = await browser.post('/login', data={'password': PASSWORD, 'totp': code})
        assert first.url.path == '/'
        browser.cookies.clear()
        again = await browser.post('/login', data={'password': PASSWORD, 'totp': code})
        assert again.url.path == '/login'
        assert 'This TOTP code was already used. Wait for the next one and log in with it.' in again.text
        assert 'Wrong password' not in again.text
        guess = await browser.post('/login', data={'password': 'a guess', 'totp': code})
        assert 'Wrong password or TOTP code.' in guess.text and 'already used' not in guess.text
