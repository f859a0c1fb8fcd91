"""The Tokens view (issue 15 item 9): agent and API tokens — who may connect, what they may do, when they last did.

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
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nicegui import ui
from reactivex.abc import DisposableBase

from nixfleet.api.auth import LoginError, login_redirect, session_from_request
from nixfleet.models import ErrorCode
from nixfleet.security.tokens import TokenError, TokenKind, TokenRecord, TokenScope
from nixfleet.streams.state import FleetState
from nixfleet.timeutil import iso
from nixfleet.ui.dialogs_ import _dialog, _title, button, confirm
from nixfleet.ui.history_time_ import LocalTime
from nixfleet.ui.lifetime import bind_to_client

if TYPE_CHECKING:
    from nixfleet.app import Dashboard

log = logging.getLogger(__name__)

#: Seconds between re-reads of the list (last-used times move without any event).
REFRESH = 15.0
#: What each scope lets an API token do (shown in the create dialog).
SCOPE_HELP = {
    TokenScope.READ: 'Reads hosts, commands, events, /metrics and /api/sync. Cannot run or change anything.',
    TokenScope.OPERATE: 'Everything read does, plus dispatch: ops, pipelines, cancel, kill, colours, host removal.',
}
#: Copies the new token from its field: the clipboard API where the page is a secure context, else a selection copy.
COPY_JS = """async () => {
  const field = document.querySelector('.nf-secret-value input');
  let ok = false;
  try {
    if (navigator.clipboard && window.isSecureContext) { await navigator.clipboard.writeText(field.value); ok = true; }
  } catch (e) { ok = false; }
  if (!ok) { field.select(); ok = document.execCommand('copy'); }
  emit(ok);
}"""


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRow:
    """One line of the list."""

    key: str
    kind: str  #: `shared`, `agent` or `api`
    subject: str
    scope: str
    prefix: str
    created_at: str | None = None
    created_by: str | None = None
    last_used_at: str | None = None
    revoked_at: str | None = None
    links: int = 0
    record: TokenRecord | None = None

    @property
    def kind_label(self) -> str:
        """`Agent · shared`, `Agent · host` or `API`."""
        return {'shared': 'Agent · shared', 'agent': 'Agent · host'}.get(self.kind, 'API')


def token_rows(
    records: Iterable[TokenRecord],
    *,
    links: Callable[[TokenRecord], int],
    shared: bool,
    shared_links: int = 0,
    shared_used: str | None = None,
) -> list[TokenRow]:
    """The rows of the list: the shared agent token (when configured), then agent tokens, then API tokens."""
    rows = []
    if shared:
        rows.append(
            TokenRow(
                key='shared',
                kind='shared',
                subject='every host without its own token',
                scope='agent',
                prefix='NIXFLEET_AGENT_TOKEN',
                last_used_at=shared_used,
                links=shared_links,
            )
        )
    for record in records:
        rows.append(
            TokenRow(
                key=f'{record.kind.value}-{record.id}',
                kind=record.kind.value,
                subject=record.subject,
                scope=record.scope.value if record.scope is not None else 'agent',
                prefix=record.prefix + '…',
                created_at=record.created_at,
                created_by=record.created_by,
                last_used_at=record.last_used_at,
                revoked_at=record.revoked_at,
                links=links(record) if record.active else 0,
                record=record,
            )
        )
    return rows


class TokensView:
    """The Tokens card: the list, "New API token", "New agent token", "Show revoked" and each row's Revoke."""

    def __init__(self, dashboard: Dashboard, state: FleetState, toast: Callable[..., None]) -> None:
        self.dashboard = dashboard
        self._toast = toast
        self._client = ui.context.client
        self._rows: list[TokenRow] | None = None
        self._hosts = state.hosts
        self._connected: frozenset[str] = frozenset()
        self._stale = True
        self._loaded_at = 0.0
        self._loading = False
        with ui.element('section').classes('nf-card nf-tokens').mark('tokens'):
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
            with ui.element('div').classes('nf-hrow nf-hhead is-tokens').props('role=row'):
                for title in ('Kind', 'Host / name', 'Scope', 'Token', 'Created', 'Last used', ''):
                    ui.label(title).classes('nf-hth').props('role=columnheader')
            self._list = ui.element('div').classes('nf-hrows').props('role=rowgroup').mark('tokens-rows')
        ui.timer(0, self.load, once=True)  # timers start once the browser is connected
        ui.timer(1.0, self._refresh)
        bind_to_client(self._client, self._follow_changes)

    def _follow_changes(self) -> DisposableBase:
        return self.dashboard.tokens.changed.subscribe(
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
                self._stale = True

    def _mark_stale(self) -> None:
        self._stale = True

    async def _refresh(self) -> None:
        if self._stale or time.monotonic() - self._loaded_at >= REFRESH:
            await self.load()

    async def load(self) -> None:
        """Read the tokens and show them (only what changed is re-rendered)."""
        if self._loading:
            return
        self._loading = True
        self._stale = False
        try:
            service = self.dashboard.tokens
            records = await service.records(include_revoked=bool(self._revoked.value))
        finally:
            self._loading = False
            self._loaded_at = time.monotonic()
        used = service.shared_last_used
        rows = token_rows(
            records,
            links=lambda r: service.live_links(r.kind, r.id),
            shared=self.dashboard.settings.agent_token is not None,
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
        hosts = self.dashboard.stream.value.hosts
        self._list.clear()
        with self._list:
            for row in rows:
                self._row(row, hosts)
            if not rows:
                with ui.element('div').classes('nf-empty nf-tokens-empty'):
                    ui.html('<i class="material-icons" aria-hidden="true">key</i>', sanitize=False)
                    ui.label('No tokens yet').classes('nf-empty-title')
                    ui.label('Create an API token for scripts, or a per-host token for an agent.').classes(
                        'nf-empty-sub'
                    )

    def _row(self, row: TokenRow, hosts: Mapping[str, Mapping[str, Any]]) -> None:
        revoked = ' is-revoked' if row.revoked_at else ''
        with ui.element('div').classes(f'nf-hrow is-tokens{revoked}').props(f'role=row data-token="{row.key}"'):
            with ui.element('div').classes('nf-htd'):
                ui.label(row.kind_label).classes(f'nf-tkind k-{row.kind}')
            fleet = ' is-fleet' if row.kind == 'shared' else ''  # the shared token: any host, like a fleet-wide row
            subject = ui.label(row.subject).classes(f'nf-htd nf-hhost nf-tsubject k-{row.kind}{fleet}')
            color = (hosts.get(row.subject) or {}).get('theme_color') if row.kind == 'agent' else None
            if color:
                subject.style(f'color: {color}')  # a validated #rgb/#rrggbb (HostRegistry.color)
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
        if session_from_request(self._client.request) is not None:
            return True
        ui.navigate.to(login_redirect(LoginError.EXPIRED, '/tokens'))
        return False

    async def create(self, kind: TokenKind) -> None:
        """Ask for a name and scope (API) or a host (agent), create the token and show its value once."""
        if not self._session_ok():
            return
        created = await CreateDialog(kind, sorted(self.dashboard.stream.value.hosts), self._create).run()
        if created:
            await self.load()

    async def _create(self, kind: TokenKind, subject: str, scope: TokenScope | None) -> str:
        if not self._session_ok():
            raise TokenError(ErrorCode.UNAUTHORIZED, 'your session has ended: log in again')
        made = await self.dashboard.tokens.create(kind, subject, actor='user', via='ui', scope=scope)
        return made.secret

    async def revoke(self, row: TokenRow) -> None:
        """Confirm, then revoke the token and close its live links."""
        record = row.record
        if record is None or not self._session_ok():
            return
        links = self.dashboard.tokens.live_links(record.kind, record.id)
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
        await self.dashboard.tokens.revoke(record.kind, record.id, actor='user', via='ui')
        self._toast(f'Revoked {record.describe}' + (f'; {links} live link(s) closed' if links else ''), 'ok')
        await self.load()


#: Creates a token and returns its value (raises `TokenError` when refused).
Creator = Callable[[TokenKind, str, TokenScope | None], Any]


class CreateDialog:
    """The create dialog: the form, then the new token once with a copy button."""

    def __init__(self, kind: TokenKind, hosts: list[str], creator: Creator) -> None:
        self.kind = kind
        self._hosts = hosts
        self._creator = creator
        self.created = False

    async def run(self) -> bool:
        """Show the dialog until it is closed; True when a token was created."""
        api = self.kind is TokenKind.API
        title = 'New API token' if api else 'New agent token'
        self.dialog = _dialog(title)
        with self.dialog, ui.card().classes('nf-dlg is-wide nf-token-dlg').mark('dialog-token') as self.card:
            _title('key', title)
            if api:
                ui.label('For scripts, CI and Prometheus: send it as Authorization: Bearer <token>.').classes(
                    'nf-dlg-text'
                )
                self.subject = self._field('Name', 'e.g. grafana or ci-deploy', 'token-name')
                ui.label('Scope').classes('nf-token-label')
                self.scope = (
                    ui.toggle({s.value: s.value for s in TokenScope}, value=TokenScope.READ.value)
                    .props('dense no-caps unelevated toggle-color=primary')
                    .classes('nf-seg nf-token-scope')
                    .mark('token-scope')
                )
                help_text = ui.label(SCOPE_HELP[TokenScope.READ]).classes('nf-dlg-note nf-token-help')
                self.scope.on_value_change(lambda e: help_text.set_text(SCOPE_HELP[TokenScope(e.value)]))
            else:
                ui.label(
                    'Binds one host: its agent may register only as that hostname, and the shared token no longer can.'
                ).classes('nf-dlg-text')
                self.subject = self._field('Host', 'hostname', 'token-host', autocomplete=self._hosts)
            self.error = ui.label('').classes('nf-dlg-error').props('role=alert').mark('token-error')
            self.error.set_visibility(False)
            with ui.element('div').classes('nf-dlg-actions'):
                button('Cancel', 'is-quiet', 'dialog-cancel', lambda: self.dialog.submit(None))
                self.ok = button('Create', 'is-primary', 'token-create', self._submit, icon='key')
            self.subject.on('keydown.enter', self._submit)
        self.dialog.open()
        try:
            await self.dialog
        finally:
            if not self.dialog.is_deleted:
                self.dialog.delete()  # the token's value leaves the page with it
        return self.created

    def _field(self, label: str, placeholder: str, marker: str, autocomplete: list[str] | None = None) -> ui.input:
        return (
            ui.input(label, placeholder=placeholder, autocomplete=autocomplete)
            .props('outlined dense dark autofocus maxlength=64 spellcheck=false autocomplete=off')
            .classes('nf-token-input')
            .mark(marker)
        )

    async def _submit(self) -> None:
        if self.created:
            return
        subject = (self.subject.value or '').strip()
        if not subject:
            self._refuse('Give a name.' if self.kind is TokenKind.API else 'Give the hostname.')
            return
        scope = TokenScope(self.scope.value) if self.kind is TokenKind.API else None
        self.ok.disable()
        try:
            secret = await self._creator(self.kind, subject, scope)
        except TokenError as exc:
            self.ok.enable()
            self._refuse(exc.message[:1].upper() + exc.message[1:] + '.')
            return
        self.created = True
        self._show_secret(subject, scope, secret)

    def _refuse(self, message: str) -> None:
        self.error.set_text(message)
        self.error.set_visibility(True)

    def _show_secret(self, subject: str, scope: TokenScope | None, secret: str) -> None:
        self.card.clear()
        with self.card:
            what = f'API token “{subject}” · {scope.value}' if scope is not None else f'Agent token for {subject}'
            _title('check_circle', what, 'is-ok')
            ui.label('Copy it now. It is shown only this once: the dashboard keeps just its hash.').classes(
                'nf-dlg-text'
            )
            with ui.element('div').classes('nf-secret'):
                ui.input(value=secret).props('readonly outlined dense dark spellcheck=false').classes(
                    'nf-secret-value'
                ).mark('token-secret')
                copy = ui.button('Copy', icon='content_copy').props('unelevated no-caps').classes('nf-act is-primary')
                copy.mark('token-copy')
                copy.on('click', lambda e: self._copied(copy, bool(e.args)), js_handler=COPY_JS)
            usage = (
                'Use it as NIXFLEET_API_TOKEN for the nixfleet CLI, or as a Bearer token (Prometheus: '
                'authorization.credentials).'
                if scope is not None
                else f'Give it to the agent of {subject} as its token (NIXFLEET_AGENT_TOKEN / token file).'
            )
            ui.label(usage).classes('nf-dlg-note')
            with ui.element('div').classes('nf-dlg-actions'):
                button('Done', 'is-primary', 'token-done', lambda: self.dialog.submit(None))

    @staticmethod
    def _copied(copy: ui.button, ok: bool) -> None:
        copy.set_text('Copied' if ok else 'Select and copy')
        copy.props(f'icon={"check" if ok else "warning"}')
