"""A confirmation stays open while the list it was opened from re-renders (the Tokens list, when another token is
created meanwhile): the dialog belongs to the page, not to the row whose button opened it."""

from __future__ import annotations

from nixfleet.security.tokens import TokenKind
from tests.ui.conftest import UiServer


async def test_a_revoke_confirmation_survives_the_list_re_rendering_under_it(ui_server: UiServer) -> None:
    tokens = ui_server.dashboard.tokens
    made = await tokens.create(TokenKind.API, 'grafana', actor='test')
    user = await ui_server.user()
    await user.open('/tokens')
    key = f'api-{made.record.id}'
    await user.should_see(marker=f'token-revoke-{key}')
    user.find(marker=f'token-revoke-{key}').click()
    await user.should_see('Revoke “grafana”?')

    await tokens.create(TokenKind.API, 'backup', actor='test')  # elsewhere (the API, the CLI): the list re-renders
    await user.should_see('backup')
    await user.should_see('Revoke “grafana”?')

    user.find(marker='dialog-ok').click()
    await ui_server.until(lambda: tokens_revoked(ui_server, made.record.id))


async def tokens_revoked(ui_server: UiServer, token_id: str) -> bool:
    record = await ui_server.dashboard.tokens.get(TokenKind.API, token_id)
    return record is not None and record.revoked_at is not None
