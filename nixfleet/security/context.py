"""The request being served, for code that audits without a request in hand (e.g. the TOTP guard)."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(slots=True)
class RequestContext:
    """Who is behind the current request: its client address, and its actor once authenticated."""

    client: str
    actor: str | None = None


#: Set by the security middleware for every HTTP request and WebSocket; the API auth dependency fills `actor`.
current_request: ContextVar[RequestContext | None] = ContextVar('nixfleet_request', default=None)


def note_actor(actor: str) -> None:
    """Remember the authenticated actor of the current request (no-op outside a request)."""
    context = current_request.get()
    if context is not None:
        context.actor = actor
