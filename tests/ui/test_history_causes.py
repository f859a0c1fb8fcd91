"""History says why a command failed: its code, exit code and the last error line of its output, next to its status."""

from __future__ import annotations

from nicegui import ElementFilter, ui
from nicegui.testing.user import User

from tests.support import eventually, expect_command, send_output, send_status
from tests.ui.conftest import UiServer


def status_cell(user: User, command_id: str) -> tuple[str, str, list[str]] | None:
    """The status badge's accessible label and title, and the texts beside it, of one History row (None: no row)."""
    with user:
        rows = [
            e for e in ElementFilter(kind=ui.element, local_scope=False) if e.props.get('data-command') == command_id
        ]
    if not rows:
        return None
    badge = next(e for e in rows[0].descendants() if 'nf-sbadge' in e.classes)
    beside = [e.text for e in rows[0].descendants() if 'nf-hwhy' in e.classes]
    return str(badge.props.get('aria-label')), str(badge.props.get('title')), beside


async def test_a_failed_command_row_shows_its_cause(ui_server: UiServer) -> None:
    agent = await ui_server.agent('web-01', heartbeat={})
    [result] = await ui_server.dashboard.ops.dispatch('switch', ['web-01'])
    assert await expect_command(agent) == 'switch'
    await send_output(agent, "error: builder for '/nix/store/x.drv' failed with exit code 1", stream='stderr')
    await send_output(agent, 'cleaning up')
    await send_status(agent, 'switch', 'error', exit_code=1, message='command failed')  # all the Go agent says
    await ui_server.until(lambda: ui_server.commands('switch', 'web-01')[0]['terminal'])

    user = await ui_server.user()
    await user.open('/history')
    label, title, beside = await eventually(lambda: status_cell(user, str(result.command_id)))
    why = "exit 1 — error: builder for '/nix/store/x.drv' failed with exit code 1"
    assert label == f'error: {why}' and title == why
    assert beside == ['exit 1']
