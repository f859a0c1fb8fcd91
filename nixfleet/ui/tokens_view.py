"""The Tokens view: agent and API tokens — who may connect, what they may do, when they last did.

The list shows the shared agent token (configured, not stored: it can only be rotated in the environment), per-host
agent tokens and API tokens with their scope, creation and last use. Creating one shows its value once, in the
dialog, with a copy button: only its hash is stored, so neither a reload nor another tab can show it again.
Revoking one (after a confirmation) refuses it from then on and closes the live links that used it. Both re-check
the admin session on the server first. Token changes made in this process (another tab, the API) and links opening
or closing appear here within a second; changes made by `nixfleet token` from another process and last-used times
are re-read every `REFRESH` seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nicegui import ui
from reactivex.abc import DisposableBase

from nixfleet.models import ErrorCode
from nixfleet.security.sessions import LoginError, SessionSigner, login_redirect
from nixfleet.security.tokens import TokenError, TokenKind, TokenScope
from nixfleet.streams.state import FleetState
from nixfleet.timeutil import iso
from nixfleet.ui.dialogs import confirm
from nixfleet.ui.history_time import LocalTime
from nixfleet.ui.layout import table_cells
from nixfleet.ui.theme import host_color_style
from nixfleet.ui.toasts import toast
from nixfleet.ui.token_dialog import SCOPE_HELP, CreateDialog
from nixfleet.viewmodels.lifetime import bind_to_client
from nixfleet.viewmodels.token_rows import TokenRow, token_rows

if TYPE_CHECKING:
    from nixfleet.security.service import TokenService

log = logging.getLogger(__name__)

#: Seconds between re-reads of the list (last-used times move without any event).
REFRESH = 15.0


class TokensView:
    """The Tokens card: the list, "New API token", "New agent token", "Show revoked" and each row's Revoke."""

    def __init__(self, tokens: TokenService, sessions: SessionSigner, state: FleetState, *, shared_token: bool) -> None:
        self._tokens = tokens
        self._sessions = sessions
        self._shared_token = shared_token
        self._load_due = False
        self._client = ui.context.client
        self._rows: list[TokenRow] | None = None
        self._hosts = state.hosts
        self._connected: frozenset[str] = frozenset()
        self._stale = True
        self._loading = False
        with ui.element('section').classes('nf-card nf-tokens').mark('tokens') as self._card:
            with ui.element('div').classes('nf-card-head nf-tokens-head'):
                ui.label('Tokens').classes('nf-card-title')
                self._summary = ui.label('').classes('nf-card-sub').mark('tokens-summary')
                ui.element('div').classes('nf-spacer')
                self._revoked = (
                    ui.switch('Show revoked', on_change=lambda: self._mark_stale())
                    .props('dense dark color=primary')
                    .classes('nf-tokens-switch')
                    .mark('tokens-show-revoked')
                )
                ui.button('New agent token', icon='dns', on_click=lambda: self.create(TokenKind.AGENT)).props(
                    'flat dense no-caps'
                ).classes('nf-vbtn').mark('tokens-new-agent')
                ui.button('New API token', icon='add', on_click=lambda: self.create(TokenKind.API)).props(
                    'flat dense no-caps'
                ).classes('nf-vbtn is-primary').mark('tokens-new-api')
            ui.html(
                '<p class="nf-tokens-note"><b>Agents</b> connect with the shared token or a per-host token bound to '
                'one hostname. <b>API tokens</b> are for scripts, CI and Prometheus: <code>read</code> sees the '
                'fleet, <code>operate</code> also runs ops. A token is shown once, when it is created; only its hash '
                'is stored.</p>',
                sanitize=False,
            )
            with ui.element('div').props('role=table aria-label="Tokens"'):
                with ui.element('div').classes('nf-hrow nf-hhead is-tokens').props('role=row'):
                    for title in ('Kind', 'Host / name', 'Scope', 'Token', 'Created', 'Last used', ''):
                        ui.label(title).classes('nf-hth').props('role=columnheader')
                self._list = ui.element('div').classes('nf-hrows').props('role=rowgroup').mark('tokens-rows')
        ui.timer(0, self.load, once=True)  # timers start once the browser is connected
        ui.timer(REFRESH, self._mark_stale)  # what no event announces: last-used times, `nixfleet token` elsewhere
        bind_to_client(self._client, self._follow_changes)

    def _follow_changes(self) -> DisposableBase:
        return self._tokens.changed.subscribe(
            lambda _: self._mark_stale(), lambda exc: log.error('token changes stream failed: %r', exc)
        )

    # -- data ----------------------------------------------------------------------------------------------------
    def show(self, state: FleetState) -> None:
        """Note agents coming and going (their links count on their token's row): the list re-reads within a second."""
        if state.hosts is not self._hosts:
            self._hosts = state.hosts
            connected = frozenset(h for h, view in state.hosts.items() if view.get('connection') != 'offline')
            if connected != self._connected:
                self._connected = connected
                self._mark_stale()

    def _mark_stale(self) -> None:
        """The list may have changed: re-read it now (once, however many changes arrive meanwhile)."""
        self._stale = True
        if self._load_due:
            return
        self._load_due = True
        with self._card:
            ui.timer(0, self._reload, once=True)

    async def _reload(self) -> None:
        self._load_due = False
        if self._stale:
            await self.load()

    async def load(self) -> None:
        """Read the tokens and show them (only what changed is re-rendered)."""
        if self._loading:
            return
        self._loading = True
        self._stale = False
        try:
            service = self._tokens
            records = await service.records(include_revoked=bool(self._revoked.value))
        finally:
            self._loading = False
        if self._stale:  # changed while it was read
            self._mark_stale()
        used = service.shared_last_used
        rows = token_rows(
            records,
            links=lambda r: service.live_links(r.kind, r.id),
            shared=self._shared_token,
            shared_links=service.shared_links(),
            shared_used=iso(used) if used is not None else None,
        )
        if rows != self._rows:
            self._rows = rows
            self._render(rows)

    # -- rendering -----------------------------------------------------------------------------------------------
    def _render(self, rows: list[TokenRow]) -> None:
        active = [r for r in rows if r.revoked_at is None]
        live = sum(r.links for r in active)
        self._summary.set_text(f'{len(active)} active · {live} live link{"" if live == 1 else "s"}')
        hosts = self._hosts
        self._list.clear()
        with self._list:
            for row in rows:
                self._row(row, hosts)
            if not rows:
                with ui.element('div').classes('nf-empty nf-tokens-empty').props('role=row'):
                    ui.html('<i class="material-icons" aria-hidden="true">key</i>', sanitize=False)
                    ui.label('No tokens yet').classes('nf-empty-title')
                    ui.label('Create an API token for scripts, or a per-host token for an agent.').classes(
                        'nf-empty-sub'
                    )
        table_cells(self._list.default_slot.children)

    def _row(self, row: TokenRow, hosts: Mapping[str, Mapping[str, Any]]) -> None:
        revoked = ' is-revoked' if row.revoked_at else ''
        with ui.element('div').classes(f'nf-hrow is-tokens{revoked}').props(f'role=row data-token="{row.key}"'):
            with ui.element('div').classes('nf-htd'):
                ui.label(row.kind_label).classes(f'nf-tkind k-{row.kind}')
            fleet = ' is-fleet' if row.kind == 'shared' else ''  # the shared token: any host, like a fleet-wide row
            subject = ui.label(row.subject).classes(f'nf-htd nf-hhost nf-tsubject k-{row.kind}{fleet}')
            color = (hosts.get(row.subject) or {}).get('theme_color') if row.kind == 'agent' else None
            host_color_style(subject, '--hc', color)  # validated again; CSS lightens a colour too dark to read
            with ui.element('div').classes('nf-htd'):
                if row.kind == 'api':
                    ui.label(row.scope).classes(f'nf-sbadge nf-tscope s-{row.scope}').props(
                        f'title="{SCOPE_HELP[TokenScope(row.scope)]}"'
                    )
                else:
                    ui.label('register' if row.kind == 'agent' else 'register any').classes(
                        'nf-sbadge nf-tscope s-agent'
                    )
            ui.label(row.prefix).classes('nf-htd nf-tprefix')
            with ui.element('div').classes('nf-htd nf-tcreated'):
                if row.created_at:
                    LocalTime(row.created_at, 'datetime')
                    if row.created_by:
                        ui.label(f'by {row.created_by}').classes('nf-tby')
                else:
                    ui.label('environment').classes('nf-tby')
            with ui.element('div').classes('nf-htd nf-tused'):
                LocalTime(row.last_used_at, 'ago').props('empty=never')
                if row.links:
                    ui.label(f'{row.links} live').classes('nf-tlive').props(
                        f'title="{row.links} open connection{"" if row.links == 1 else "s"} use this token"'
                    )
            with ui.element('div').classes('nf-htd nf-hacts'):
                self._row_action(row)

    def _row_action(self, row: TokenRow) -> None:
        if row.revoked_at:
            with ui.element('span').classes('nf-trevoked'):
                ui.label('revoked')
                LocalTime(row.revoked_at, 'ago')
            return
        if row.kind == 'shared':
            ui.label('in env').classes('nf-tby').props(
                'title="Set in the environment: change NIXFLEET_AGENT_TOKEN and restart the dashboard to rotate it"'
            )
            return
        action = ui.button('Revoke', icon='key_off', on_click=lambda: self.revoke(row)).props('flat dense no-caps')
        action.classes('nf-vbtn is-danger').mark(f'token-revoke-{row.key}')

    # -- actions -------------------------------------------------------------------------------------------------
    def _session_ok(self) -> bool:
        """Re-check the admin session on the server; send the tab to the login page when it has ended."""
        if self._sessions.of(self._client.request) is not None:
            return True
        ui.navigate.to(login_redirect(LoginError.EXPIRED, '/tokens'))
        return False

    async def create(self, kind: TokenKind) -> None:
        """Ask for a name and scope (API) or a host (agent), create the token and show its value once."""
        if not self._session_ok():
            return
        created = await CreateDialog(kind, sorted(self._hosts), self._create).run()
        if created:
            await self.load()

    async def _create(self, kind: TokenKind, subject: str, scope: TokenScope | None) -> str:
        if not self._session_ok():
            raise TokenError(ErrorCode.UNAUTHORIZED, 'your session has ended: log in again')
        made = await self._tokens.create(kind, subject, actor='user', via='ui', scope=scope)
        return made.secret

    async def revoke(self, row: TokenRow) -> None:
        """Confirm, then revoke the token and close its live links."""
        record = row.record
        if record is None or not self._session_ok():
            return
        links = self._tokens.live_links(record.kind, record.id)
        who = f'{record.subject}' if record.kind is TokenKind.AGENT else f'“{record.subject}”'
        effect = (
            f'The agent of {record.subject} can no longer connect with it'
            if record.kind is TokenKind.AGENT
            else 'Scripts using it get 401 from now on'
        )
        closing = f', and its {links} live link{"" if links == 1 else "s"} will be closed' if links else ''
        ok = await confirm(
            f'Revoke the {record.kind.label} of {who}?' if record.kind is TokenKind.AGENT else f'Revoke {who}?',
            f'{effect}{closing}. This cannot be undone.',
            'Revoke',
            icon='key_off',
            danger=True,
            details=[f'{record.prefix}…'],
        )
        if not ok or not self._session_ok():
            return
        await self._tokens.revoke(record.kind, record.id, actor='user', via='ui')
        toast(
            f'Revoked {record.describe}' + (f'; {links} live link(s) closed' if links else ''),
            'ok',
            where=self._client.layout,
        )
        await self.load()
