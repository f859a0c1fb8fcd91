"""The dialog that creates an agent or API token and then shows its value once, with a copy button."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui

from nixfleet.security.tokens import TokenError, TokenKind, TokenScope
from nixfleet.ui.dialogs import _dialog, _title, button

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
                    .props('dense no-caps unelevated toggle-color=nf toggle-text-color=nf')  # colours: .nf-seg
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
                ui.input(value=secret).props(
                    'readonly outlined dense dark spellcheck=false aria-label="The new token"'
                ).classes('nf-secret-value').mark('token-secret')
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
