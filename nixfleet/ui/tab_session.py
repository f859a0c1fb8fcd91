"""Tie each dashboard tab to the admin session that opened it.

When the session ends — logged out in this tab or another, logged out everywhere, expired — every tab of it is sent
to the login page and its NiceGUI client deleted once the browser has the navigation (at most `DROP_WAIT` seconds
later): its state subscriptions end with it, and events from it reach no handler. Until then, and for a tab that
missed the news (disconnected at the time), `session_alive` is the server-side re-check every action of a tab makes
before it does anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from nicegui import Client, background_tasks
from reactivex.abc import DisposableBase

from nixfleet.security.links import EndReason, SessionLinks
from nixfleet.security.sessions import Session, login_redirect

log = logging.getLogger(__name__)

#: Seconds an ended tab is given to confirm it received the navigation to the login page before it is deleted.
DROP_WAIT = 1.0


@dataclass(slots=True, kw_only=True)
class TabSession:
    """The session a tab was opened with, the page to return to after logging in again, and its registration."""

    session: Session
    links: SessionLinks
    path: str
    link: DisposableBase | None = None


#: The live tabs by NiceGUI client id; a tab leaves when it is ended or its client is deleted.
_tabs: dict[str, TabSession] = {}


def bind_session(client: Client, session: Session, links: SessionLinks, path: str) -> None:
    """Register the tab `client` (showing `path`) as a live connection of `session` until the client is deleted."""
    tab = _tabs[client.id] = TabSession(session=session, links=links, path=path)
    tab.link = links.attach(session, lambda reason: end_tab(client, reason), f'tab {client.id} ({path})')
    client.on_delete(lambda: _forget(client.id))
    client.on_connect(lambda: _reconnected(client))


def _reconnected(client: Client) -> None:
    """A tab offline when its session ended learns it now (its navigation was queued): drop it as if it had been on."""
    if client.id in _tabs:
        session_alive(client)
    elif not client.is_deleted:
        background_tasks.create(_drop(client), name=f'end tab {client.id}')


def session_alive(client: Client) -> bool:
    """Re-check on the server that the tab's session is still valid; if not, send the tab to the login page."""
    tab = _tabs.get(client.id)
    if tab is None:
        return False  # ended already (its navigation to the login page is on its way), or never bound
    if tab.links.alive(tab.session):
        return True
    reason = EndReason.EXPIRED if tab.links.expired(tab.session) else EndReason.LOGGED_OUT
    log.warning('refused an action of tab %s: %s', client.id, reason.value)
    end_tab(client, reason)
    return False


def end_tab(client: Client, reason: EndReason) -> None:
    """Send the tab to the login page (saying why) and delete its client once the browser has that (once per tab)."""
    tab = _forget(client.id)
    if tab is None or client.is_deleted:
        return
    path = tab.path if reason is EndReason.EXPIRED else None  # after a logout: start afresh
    client.open(login_redirect(reason.login_error, path))
    background_tasks.create(_drop(client), name=f'end tab {client.id}')


def _forget(client_id: str) -> TabSession | None:
    tab = _tabs.pop(client_id, None)
    if tab is not None and tab.link is not None:
        tab.link.dispose()
    return tab


async def _drop(client: Client) -> None:
    """Delete the client after its browser acknowledged a script sent after the navigation (or `DROP_WAIT` passed).

    A client without a socket now is left to NiceGUI, which deletes it after its reconnect timeout (deleting it here
    too would race that); should it reconnect first, it gets the queued navigation and is dropped then.
    """
    if not client.has_socket_connection:
        return

    async def acknowledged() -> None:
        await client.run_javascript('true', timeout=DROP_WAIT)  # the outbox sends in order: after the navigation

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(acknowledged(), DROP_WAIT + 0.5)  # the bound of a client that disconnects meanwhile
    if client.has_socket_connection and not client.is_deleted:
        client.delete()
