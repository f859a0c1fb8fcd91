"""Tie live subscriptions to a browser client's life: every subscription has an owner.

A page must not subscribe in its body: a `GET /` that never opens a socket (crawlers, prefetches, health checks)
still creates a client that lives about a minute. `bind_to_client` subscribes only while the
client's socket is attached and disposes on disconnect and on deletion.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from reactivex.abc import DisposableBase
from reactivex.disposable import Disposable

log = logging.getLogger(__name__)


class ClientHooks(Protocol):
    """The part of `nicegui.Client` this module needs (so it can be tested without NiceGUI)."""

    @property
    def has_socket_connection(self) -> bool: ...

    def on_connect(self, handler: Callable[..., Any]) -> None: ...

    def on_disconnect(self, handler: Callable[..., Any]) -> None: ...

    def on_delete(self, handler: Callable[..., Any]) -> None: ...


def bind_to_client(client: ClientHooks, attach: Callable[[], DisposableBase]) -> DisposableBase:
    """Call `attach` each time the client's socket connects and dispose its result when the socket goes.

    `attach` runs at most once per connection (reconnects call it again after the previous one was disposed); the
    returned disposable ends the binding for good, as the client's deletion does.
    """
    current: list[DisposableBase] = []
    ended = False

    def detach() -> None:
        while current:
            try:
                current.pop().dispose()
            except Exception:
                log.exception('disposing a client subscription failed')

    def on_connect() -> None:
        if not ended and not current:
            current.append(attach())

    def on_disconnect() -> None:
        if not client.has_socket_connection:  # another socket of the same client may still be attached
            detach()

    def end() -> None:
        nonlocal ended
        ended = True
        detach()

    client.on_connect(on_connect)
    client.on_disconnect(on_disconnect)
    client.on_delete(end)
    if client.has_socket_connection:
        on_connect()
    return Disposable(end)
