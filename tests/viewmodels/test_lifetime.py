"""Subscriptions live exactly as long as a browser client's socket (docs/architecture.md#subscriptions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reactivex.disposable import Disposable

from nixfleet.viewmodels.lifetime import bind_to_client


class FakeClient:
    """Plays nicegui.Client's lifecycle hooks."""

    def __init__(self) -> None:
        self.has_socket_connection = False
        self.hooks: dict[str, list[Callable[[], Any]]] = {'connect': [], 'disconnect': [], 'delete': []}

    def on_connect(self, handler: Callable[[], Any]) -> None:
        self.hooks['connect'].append(handler)

    def on_disconnect(self, handler: Callable[[], Any]) -> None:
        self.hooks['disconnect'].append(handler)

    def on_delete(self, handler: Callable[[], Any]) -> None:
        self.hooks['delete'].append(handler)

    def fire(self, hook: str, *, socket: bool) -> None:
        self.has_socket_connection = socket
        for handler in self.hooks[hook]:
            handler()


class Counter:
    def __init__(self) -> None:
        self.attached = 0
        self.disposed = 0

    def attach(self) -> Disposable:
        self.attached += 1
        return Disposable(self.dispose)

    def dispose(self) -> None:
        self.disposed += 1

    @property
    def live(self) -> int:
        return self.attached - self.disposed


def test_page_load_without_a_socket_never_subscribes() -> None:
    client, counter = FakeClient(), Counter()
    bind_to_client(client, counter.attach)
    client.fire('delete', socket=False)
    assert counter.attached == 0


def test_subscribed_only_while_connected_across_reconnects() -> None:
    client, counter = FakeClient(), Counter()
    bind_to_client(client, counter.attach)
    client.fire('connect', socket=True)
    client.fire('connect', socket=True)  # a second handshake of the same connection does not double-subscribe
    assert counter.live == 1
    client.fire('disconnect', socket=False)
    assert counter.live == 0
    client.fire('connect', socket=True)
    assert (counter.attached, counter.live) == (2, 1)
    client.fire('disconnect', socket=True)  # another socket of the client is still attached
    assert counter.live == 1
    client.fire('disconnect', socket=False)
    client.fire('delete', socket=False)
    assert counter.live == 0
    client.fire('connect', socket=True)  # nothing after deletion
    assert counter.attached == 2


def test_binding_after_connect_subscribes_at_once_and_can_be_ended() -> None:
    client, counter = FakeClient(), Counter()
    client.has_socket_connection = True
    binding = bind_to_client(client, counter.attach)
    assert counter.live == 1
    binding.dispose()
    assert counter.live == 0
    client.fire('connect', socket=True)
    assert counter.live == 0
