"""The login page: one plain HTML document (no NiceGUI client, no script), whose form posts to `POST /login`.

Nothing on it is live, so it needs none of the toolkit: it loads three small stylesheets and the logo instead of
Vue, Quasar and a socket, the browser stores the HttpOnly session cookie itself, and a visitor who is not logged in
costs the dashboard no client object.
"""

from __future__ import annotations

import html

from nixfleet import __version__
from nixfleet.security.sessions import LOGIN_PATH, LoginError
from nixfleet.ui.theme import MONO_FONT, PALETTE, STATIC_URL, asset, stylesheet

#: The stylesheets of the login page (a subset of theme.STYLESHEETS, in the same cascade order).
LOGIN_STYLESHEETS = ('fonts.css', 'base.css', 'login.css')

_ERRORS = {
    LoginError.CREDENTIALS: 'Wrong password.',
    LoginError.CODE_USED: 'This TOTP code was already used. Wait for the next one and log in with it.',
    LoginError.EXPIRED: 'Your session has expired. Please log in again.',
    LoginError.LOGGED_OUT: 'You have been logged out.',
}

#: A circled exclamation mark, drawn in the text's colour (the page loads no icon font).
_ALERT_ICON = (
    '<svg class="nf-login-icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false">'
    '<circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="2"/>'
    '<path d="M12 7v6" stroke="currentColor" stroke-width="2" stroke-linecap="round"/>'
    '<circle cx="12" cy="16.5" r="1.2" fill="currentColor"/></svg>'
)


def login_message(error: str | None, *, totp: bool) -> str | None:
    """What the page says for `/login?error=<code>` (None: nothing, also for an unknown code)."""
    message = _ERRORS.get(error or '')
    if message and error == LoginError.CREDENTIALS and totp:
        return 'Wrong password or TOTP code.'
    return message


def login_form(error: str | None, next_path: str, *, totp: bool) -> str:
    """The form: password (and TOTP code when configured), the page to go back to, and the error of the last try."""
    message = login_message(error, totp=totp)
    alert = f'<div class="nf-login-error" role="alert">{_ALERT_ICON}{html.escape(message)}</div>' if message else ''
    totp_html = (
        '<label for="nf-totp">TOTP code</label>'
        '<input id="nf-totp" name="totp" inputmode="numeric" pattern="[0-9 ]*" maxlength="7" '
        'autocomplete="one-time-code" placeholder="6 digits" required>'
        if totp
        else ''
    )
    return (
        f'<form class="nf-login" method="post" action="{LOGIN_PATH}">'
        f'<div class="nf-login-logo"><img src="{asset("logo.svg")}" alt="">'
        '<h1 class="nf-login-title">Nix<b>Fleet</b></h1>'
        '<div class="nf-login-sub">Fleet Management Dashboard</div></div>'
        f'{alert}'
        '<label for="nf-password">Password</label>'
        '<input id="nf-password" name="password" type="password" autocomplete="current-password" required autofocus>'
        f'{totp_html}'
        f'<input type="hidden" name="next" value="{html.escape(next_path, quote=True)}">'
        '<button type="submit">Log in</button>'
        f'<div class="nf-login-foot">NixFleet {html.escape(__version__)}</div>'
        '</form>'
    )


def login_document(error: str | None, next_path: str, *, totp: bool) -> str:
    """The whole page."""
    links = ''.join(f'<link rel="stylesheet" href="{stylesheet(name)}">' for name in LOGIN_STYLESHEETS)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>Log in · NixFleet</title>'
        f'<link rel="icon" type="image/svg+xml" href="{asset("logo.svg")}">'
        f'<link rel="preload" href="{STATIC_URL}/{MONO_FONT}" as="font" type="font/woff2" crossorigin>'
        f'{links}<meta name="theme-color" content="{PALETTE["bg_dark"]}"></head>'
        '<body class="nf-login-page"><main class="nf-login-wrap">'
        f'{login_form(error, next_path, totp=totp)}'
        '</main></body></html>'
    )
