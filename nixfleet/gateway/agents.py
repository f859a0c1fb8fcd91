"""The agent endpoint `GET /ws`
(docs/agent-protocol.md#connection-and-authentication, docs/agent-protocol.md#close-codes).

Authentication happens before the upgrade (HTTP 401 otherwise); the host a token may register is checked at the
`register` frame, which names it: a per-host token registers only its own host, and a host that has a per-host
token only with that token (the shared token is refused, close 4403, and the host's live link stays up). Every
refusal goes to the refusal journal (nixfleet.gateway.refusals): counted per source and token kind, journaled and
logged once, then summarised per window, never one line per attempt. Each accepted link reads frames in order and
hands typed messages to the host registry and the listeners (the command lifecycle); nothing one agent sends can
end another agent's link or the server. Oversized frames are refused by the server's frame limit (close 1009).
Keepalive: the server pings periodically without requiring the pong to echo the payload (the Go agent's does
not), and links silent for longer than the idle timeout are closed as dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Protocol

from fastapi import WebSocket

from nixfleet import protocol
from nixfleet.api.errors import error_response
from nixfleet.config import Settings
from nixfleet.events import EventLog
from nixfleet.gateway.link import CLOSE_GOING_AWAY, CLOSE_IDLE, CLOSE_REPLACED, CONTROL_RATE, AgentLink, wait_for_closes
from nixfleet.gateway.refusals import CredentialKind, Refusal, RefusalJournal, RefusalReason
from nixfleet.hosts import HostRegistry
from nixfleet.protocol import CLOSE_FORBIDDEN, CLOSE_POLICY, FrameError, Heartbeat, Register
from nixfleet.security.net import request_facts
from nixfleet.security.tokens import TokenGrant
from nixfleet.streams.live import LiveState
from nixfleet.timeutil import Clock

log = logging.getLogger(__name__)

#: When a host registers on a new link while its previous one is still open, the previous link may still hold
#: frames its agent sent before reconnecting (the `status` of a switch, sent just before the agent restarts): it
#: gets up to REPLACE_WAIT seconds to finish them, unless it sits idle for REPLACE_IDLE (nothing left to read).
REPLACE_WAIT = 5.0
REPLACE_IDLE = 1.0


class AgentListener(Protocol):
    """What the lifecycle (or any other consumer) gets from agent links, in arrival order per host."""

    async def on_register(self, host: str, message: Register) -> None: ...

    async def on_message(self, host: str, message: protocol.AgentMessage) -> None: ...

    async def on_disconnect(self, host: str) -> None: ...


#: Resolve a bearer token to a grant (or None when invalid).
TokenCheck = Callable[[str], Awaitable[TokenGrant | None]]
#: Whether a host has a per-host agent token (then only that token may register it).
HostTokenCheck = Callable[[str], Awaitable[bool]]


async def _no_host_tokens(host: str) -> bool:
    return False


class AgentGateway:
    """Accept agent links, route their frames, and send them commands."""

    def __init__(
        self,
        settings: Settings,
        hosts: HostRegistry,
        live: LiveState,
        events: EventLog,
        check_token: TokenCheck,
        clock: Clock,
        *,
        host_has_token: HostTokenCheck = _no_host_tokens,
    ) -> None:
        self._settings = settings
        self._hosts = hosts
        self._live = live
        self._events = events
        self._check_token = check_token
        self._host_has_token = host_has_token
        self._clock = clock
        #: Refused connections, counted per source and token kind (journaled once, then summarised per window).
        self.refusals = RefusalJournal(events, clock)
        self.links: dict[str, AgentLink] = {}
        self.listeners: list[AgentListener] = []
        self.frames: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()
        self._accepting = True

    # -- public API ----------------------------------------------------------------------------------------------
    def send(self, host: str, frame: str) -> bool:
        """Send a frame to the host's current link; False when the host has no link."""
        link = self.links.get(host)
        return link.send(frame) if link is not None else False

    def is_connected(self, host: str) -> bool:
        """Whether the host has a registered link."""
        return host in self.links

    def close_host(self, host: str, code: int, reason: str) -> None:
        """Close a host's link (e.g. its token was revoked)."""
        if (link := self.links.get(host)) is not None:
            link.close(code, reason)

    @property
    def shutting_down(self) -> bool:
        """Whether `close_all` ran: links that end now end because the dashboard stops."""
        return not self._accepting

    async def close_all(
        self, code: int = CLOSE_GOING_AWAY, reason: str = 'dashboard shutting down', timeout: float = 2.0
    ) -> int:
        """Stop accepting, close every link and wait (bounded) until each is unlinked; return how many were open.

        Hosts whose link ends this way go offline without a `disconnect` event each: the dashboard journals one
        "dashboard stopped" event instead (docs/architecture.md#startup-and-shutdown).
        """
        self._accepting = False
        links = list(self.links.values())
        for link in links:
            link.close(code, reason)
        waits = [asyncio.ensure_future(link.finished.wait()) for link in links]
        if waits:
            await asyncio.wait(waits, timeout=timeout)
            for wait in waits:
                wait.cancel()
        await wait_for_closes(timeout)
        await self.refusals.flush(final=True)  # what the open windows counted, before the store closes
        return len(links)

    def sweep_idle(self, now: float | None = None) -> list[str]:
        """Close links that sent nothing for longer than the idle timeout; return their hosts."""
        now = self._clock() if now is None else now
        limit = self._settings.agent_idle_timeout
        dead = [h for h, link in self.links.items() if now - link.last_frame > limit]
        for host in dead:
            log.warning('agent %s sent nothing for %.0f s; closing its link', host, limit)
            self.links[host].close(CLOSE_IDLE, 'idle timeout')
        return dead

    # -- the endpoint --------------------------------------------------------------------------------------------
    async def endpoint(self, ws: WebSocket) -> None:
        """Serve one agent WebSocket from upgrade to close."""
        peer = f'{ws.client.host}:{ws.client.port}' if ws.client else 'unknown'
        source = request_facts(ws).rate_key
        scheme, _, token = ws.headers.get('authorization', '').partition(' ')
        token = token.strip() if scheme.lower() == 'bearer' else ''
        grant = await self._check_token(token) if token else None
        if grant is None:
            await _deny(ws, 401, 'unauthorized', 'missing or invalid agent token')
            detail = 'bad or missing token' if token else 'no bearer token'
            kind = CredentialKind.of(token)
            await self.refusals.refused(
                Refusal(source=source, kind=kind, reason=RefusalReason.BAD_TOKEN, detail=detail)
            )
            return
        if not self._accepting:
            log.info('agent connection from %s refused: shutting down', peer)
            await _deny(ws, 503, 'unavailable', 'dashboard shutting down')
            return
        await ws.accept()
        link = AgentLink(ws, peer, grant, self._clock, source=source)
        try:
            await self._read(link)
        finally:
            await link.stop()
            await self._unlink(link)
            link.finished.set()

    async def _read(self, link: AgentLink) -> None:
        while True:
            link.idle_since = time.monotonic()
            message = await link.ws.receive()
            link.idle_since = None
            if message['type'] == 'websocket.disconnect':
                code = message.get('code')
                if code == 1009:
                    link.warn_once('too_big', 'sent an oversized frame; link closed with 1009')
                    self.malformed['too_big'] += 1
                return
            raw = message.get('text')
            if raw is None:
                raw = message.get('bytes') or b''
            link.last_frame = self._clock()
            if link.host is not None:
                self._live.touch(link.host, link.last_frame)
            await self._frame(link, raw)
            if link.closing:
                return

    async def _frame(self, link: AgentLink, raw: str | bytes) -> None:
        try:
            msg = protocol.parse_agent_frame(raw)
        except FrameError as exc:
            self.malformed[exc.kind] += 1
            if exc.mtype == 'register' and link.host is None:
                await self.refuse_registration(link, f'unusable register: {exc.detail}')
                return
            link.warn_once(exc.kind, 'ignored a bad frame (%s); further ones are counted, not logged', exc.detail)
            return
        self.frames[msg.type] += 1
        if msg.type != 'output' and not link.bucket.take():
            self.malformed['flood'] += 1
            link.warn_once('flood', 'sends frames faster than %.0f/s; dropping the excess', CONTROL_RATE)
            return
        if isinstance(msg, Register):
            await self._register(link, msg)
            return
        if link.host is None:
            link.warn_once('unregistered', 'sent %s before register; ignored', msg.type)
            return
        try:
            if isinstance(msg, Heartbeat):
                await self._hosts.heartbeat(link.host, msg.payload)
            for listener in self.listeners:
                await listener.on_message(link.host, msg)
        except Exception:
            log.exception('handling %s from %s failed; the link stays up', msg.type, link.host)

    async def _register(self, link: AgentLink, msg: Register) -> None:
        host = msg.payload.hostname
        if link.host is None and not await self._may_register(link, host):
            return
        if link.host is not None and link.host != host:
            link.warn_once('rename', 'tried to re-register as %s; ignored', host)
            return
        previous = self.links.get(host)
        if previous is not None and previous is not link and await self._previous_finishes(previous):
            previous = self.links.get(host)  # normally None now; another link may have registered meanwhile
        if previous is not None and previous is not link:
            log.info('host %s connected again; closing its previous link', host)
            previous.close(CLOSE_REPLACED, 'replaced by a newer connection')
        link.host = host
        self.links[host] = link
        await self._hosts.register(msg.payload)
        link.send(protocol.registered(host))
        for listener in self.listeners:
            try:
                await listener.on_register(host, msg)
            except Exception:
                log.exception('register listener failed for %s', host)
        self._hosts.returns.arrived(host)  # only now: work waiting for the host must not overtake its register

    async def _previous_finishes(self, previous: AgentLink) -> bool:
        """Whether a host's previous link ends by itself after handling what its agent sent on it.

        One host's frames are handled in order even across links: a busy dashboard may not have read the old link
        to its end when the restarted agent registers anew, and replacing the old link at once dropped its unread
        frames, e.g. a switch's `status` (the switch then ended in error). A link that sits idle instead (its agent
        vanished without closing it) is replaced after REPLACE_IDLE seconds.
        """
        deadline = time.monotonic() + REPLACE_WAIT
        while not previous.finished.is_set():
            now, idle = time.monotonic(), previous.idle_since
            if now >= deadline or (idle is not None and now - idle >= REPLACE_IDLE):
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(previous.finished.wait(), 0.05)
        return True

    async def _unlink(self, link: AgentLink) -> None:
        host = link.host
        if host is None or self.links.get(host) is not link:
            return  # never registered, or replaced by a newer link: the host stays as it is
        del self.links[host]
        await self._hosts.disconnected(host, journal=self._accepting)
        for listener in self.listeners:
            try:
                await listener.on_disconnect(host)
            except Exception:
                log.exception('disconnect listener failed for %s', host)

    async def _may_register(self, link: AgentLink, host: str) -> bool:
        """Whether the link's token may register `host`; if not, refuse it (close 4403) and leave the host alone.

        A per-host token registers only its own host; a host with a per-host token only with one of its tokens, so
        the shared token can neither register it nor replace its live link.
        """
        bound = link.grant.hostname
        if bound is not None:
            if bound == host:
                return True
            reason, detail = RefusalReason.WRONG_HOST, f'its agent token is bound to {bound} but registered as {host}'
        else:
            try:
                owned = await self._host_has_token(host)
            except Exception:
                log.exception('could not check whether %s has its own agent token; its registration is refused', host)
                owned = True
            if not owned:
                return True
            reason = RefusalReason.HOST_HAS_TOKEN
            detail = f'the shared token may not register {host}, which has its own agent token'
        link.close(CLOSE_FORBIDDEN, 'token not valid for this host')
        await self.refusals.refused(
            Refusal(source=link.source, kind=_kind(link.grant), reason=reason, detail=detail, host=host)
        )
        return False

    async def refuse_registration(self, link: AgentLink, reason: str) -> None:
        """Close a link whose register frame was unusable (1008); the refusal journal says why."""
        link.close(CLOSE_POLICY, 'invalid register')
        await self.refusals.refused(
            Refusal(source=link.source, kind=_kind(link.grant), reason=RefusalReason.BAD_REGISTER, detail=reason)
        )


def _kind(grant: TokenGrant) -> CredentialKind:
    return CredentialKind.SHARED if grant.hostname is None else CredentialKind.AGENT


async def _deny(ws: WebSocket, status: int, code: str, message: str) -> None:
    """Answer the upgrade request with an HTTP error (no WebSocket): `{"error": {"code", "message"}}`."""
    headers = {'WWW-Authenticate': 'Bearer'} if status == 401 else None
    await ws.send_denial_response(error_response(code, message, status, headers))
