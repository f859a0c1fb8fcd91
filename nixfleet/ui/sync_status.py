"""How a tab stays live across drops (no user ever needs to reload), and the footer's "Resynced" badge.

A dropped socket keeps its tab on the server for `RECONNECT_TIMEOUT` (NiceGUI's default, 3 s, reloads the page after
any longer drop): the tab reattaches, catches up from the version it rendered and shows the current state at once.
In the browser, socket.io's back-off (up to 5 s ± 50 % between attempts) is capped at 1 s and a reconnect is tried
the moment the browser is online again, so the catch-up starts right after the network is back.
"""

from __future__ import annotations

from nicegui import ui

#: Seconds the server keeps a tab whose socket dropped; the page reloads (fresh state) after longer drops.
RECONNECT_TIMEOUT = 30.0
#: Seconds the "Resynced" badge stays visible (its CSS animation).
BADGE_SECONDS = 4

_RECONNECT_JS = """
<script>
(() => {
  // NixFleet: reconnect promptly (see nixfleet/ui/sync_status.py).
  const tune = setInterval(() => {
    const manager = window.socket && window.socket.io;
    if (!manager) return;
    clearInterval(tune);
    manager.reconnectionDelay(250);
    manager.reconnectionDelayMax(1000);
  }, 50);
  window.addEventListener("online", () => {
    const socket = window.socket;
    if (!socket || socket.connected || !window.did_handshake) return;
    const manager = socket.io;
    if (manager.opts.query) manager.opts.query.next_message_id = window.nextMessageId; // as on reconnect_attempt
    manager.disconnect(); // drop the pending back-off timer ...
    manager.open(); // ... and try now; a failure falls back to socket.io's own reconnection
  });
})();
</script>
"""

_BADGE_CSS = f"""
.nf-resynced {{ color: var(--nf-cyan, #7dcfff); opacity: 0; pointer-events: none; }}
.nf-resynced.is-a {{ animation: nf-resynced-a {BADGE_SECONDS}s ease-in forwards; pointer-events: auto; }}
.nf-resynced.is-b {{ animation: nf-resynced-b {BADGE_SECONDS}s ease-in forwards; pointer-events: auto; }}
@keyframes nf-resynced-a {{ 0%, 70% {{ opacity: 1; }} 100% {{ opacity: 0; }} }}
@keyframes nf-resynced-b {{ 0%, 70% {{ opacity: 1; }} 100% {{ opacity: 0; }} }}
"""


def install_fast_reconnect() -> None:
    """Add the reconnect tuning to the page being built."""
    ui.add_body_html(_RECONNECT_JS)


class ResyncBadge:
    """ "Resynced", shown for a few seconds after the tab was re-rendered or caught up; the counts in its tooltip.

    The DOM carries `data-resyncs` (full re-renders: a gap, a beacon mismatch, an overflow, a request by the browser)
    and `data-catchups` (catch-ups after the socket came back).
    """

    def __init__(self) -> None:
        ui.add_css(_BADGE_CSS)
        self.resyncs = 0
        self.catch_ups = 0
        self._flip = False
        self.element = ui.label('Resynced').classes('nf-resynced')
        self.element.props('data-nf-resynced data-resyncs=0 data-catchups=0 aria-live=polite')

    def show(self, kind: str, reason: str) -> None:
        """Flash the badge for a `resync` (full re-render) or a `catch_up` (reconnect)."""
        if kind == 'resync':
            self.resyncs += 1
        else:
            self.catch_ups += 1
        self._flip = not self._flip  # a different animation name restarts the animation
        self.element.classes(add='is-a' if self._flip else 'is-b', remove='is-b' if self._flip else 'is-a')
        props = self.element.props
        props['data-resyncs'] = str(self.resyncs)
        props['data-catchups'] = str(self.catch_ups)
        props['title'] = (
            f'Last: {reason}. Since this page opened: '
            f'{self.resyncs} full re-render(s) (gap, beacon mismatch or overflow), '
            f'{self.catch_ups} catch-up(s) after a reconnect.'
        )
