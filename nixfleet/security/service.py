"""The dashboard's token service: check presented tokens, create and revoke them with audit events, enforce revocation.

Tokens are looked up in SQLite when a connection is made (each agent upgrade, each API request), so a token created
or revoked by `nixfleet token` on the same database takes effect on the next connection. Open links — agents, and
`/api/sync` clients holding an API token (`hold_link`) — are re-checked by `maintain` every `check_interval` seconds,
so a link whose token was revoked is closed (1008) — at once when revoked through this service, within
`check_interval` when revoked by the CLI from another process. Likewise a host that gets its own agent token stops
being served by the shared token: its shared-token link is closed (4403) at once, or within `check_interval` when
the token was created by the CLI. Which hosts have an active agent token is kept in memory (`has_agent_token`,
asked at every agent register): updated by this service's creates and revokes, reloaded by `maintain`.
Last-used times are kept in memory and written by `maintain` in one batch, at most once a minute per token, never
once per request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from reactivex.subject import Subject
from sqlite_utils import Database

from nixfleet.events import EventLog
from nixfleet.models import EventCategory, EventLevel
from nixfleet.protocol import CLOSE_FORBIDDEN, CLOSE_POLICY
from nixfleet.security.tokens import (
    TOKEN_CREATE,
    TOKEN_REVOKE,
    CreatedToken,
    Credential,
    TokenGrant,
    TokenKind,
    TokenRecord,
    TokenScope,
    active_ids,
    agent_token_hosts,
    audit_details,
    audit_message,
    create_token,
    find_token,
    get_token,
    kind_of,
    list_tokens,
    revoke_token,
    revoked_among,
    touch_tokens,
)
from nixfleet.store import Store
from nixfleet.timeutil import Clock, iso

log = logging.getLogger(__name__)

#: Seconds between checks of open agent links against revocations (and last-used flushes).
CHECK_INTERVAL = 5.0
#: A token's last-used time is written at most this often (seconds).
TOUCH_INTERVAL = 60.0
#: Grant name of agents connected with the shared token (`NIXFLEET_AGENT_TOKEN`).
SHARED = 'shared'

_Key = tuple[TokenKind, str]
#: Close a link with a code and a reason.
Close = Callable[[int, str], Awaitable[None]]


class GrantedLink(Protocol):
    """An open agent link and the grant it was admitted with."""

    @property
    def grant(self) -> TokenGrant: ...


class AgentLinks(Protocol):
    """The open agent links, by host, and how to close one (the agent gateway)."""

    @property
    def links(self) -> Mapping[str, GrantedLink]: ...

    def close_host(self, host: str, code: int, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class HostTokenGrant(TokenGrant):
    """A grant from a per-host token; it keeps the token id so a revocation finds the links using it."""

    token_id: str = ''


class TokenService:
    """Agent and API tokens as the running dashboard sees them."""

    def __init__(
        self,
        store: Store,
        events: EventLog,
        gateway: AgentLinks,
        clock: Clock,
        *,
        check_interval: float = CHECK_INTERVAL,
    ) -> None:
        self._store = store
        self._events = events
        self._gateway = gateway
        self._clock = clock
        #: Seconds between `maintain` runs (read when the dashboard starts).
        self.check_interval = check_interval
        self._used: dict[_Key, float] = {}
        self._written: dict[_Key, float] = {}
        #: Open `/api/sync` links by the id of the stored API token they authenticated with: how to close each.
        self._api_links: dict[str, dict[int, Close]] = {}
        #: When the shared agent token was last accepted or seen on a live link (epoch seconds; memory only).
        self.shared_last_used: float | None = None
        #: Emits the token id after a token was created or revoked, or a link using it opened or ended (on the loop).
        self.changed: Subject[str] = Subject()
        #: Hosts with an active per-host agent token (only such a token may register them).
        self._token_hosts: set[str] = set()

    def load(self, db: Database) -> None:
        """Read which hosts have an active agent token (at startup, the store open)."""
        self._token_hosts = agent_token_hosts(db)

    def has_agent_token(self, host: str) -> bool:
        """Whether a host has an active per-host agent token (from memory; see the module docstring)."""
        return host in self._token_hosts

    # -- checking presented tokens -------------------------------------------------------------------------------
    async def check_agent(self, token: str) -> HostTokenGrant | None:
        """The grant of an active per-host agent token, or None (unknown, revoked, or not a per-host token)."""
        record = await self._find(TokenKind.AGENT, token)
        if record is None:
            return None
        return HostTokenGrant(name=record.prefix, hostname=record.subject, token_id=record.id)

    async def check_api_token(self, token: str) -> TokenRecord | None:
        """The record (name, scope, id) of an active API token, or None."""
        return await self._find(TokenKind.API, token)

    async def _find(self, kind: TokenKind, token: str) -> TokenRecord | None:
        if kind_of(token) is not kind or not self._store.is_open:
            return None
        record = await self._store.read(lambda db: find_token(db, kind, token))
        if record is None or not record.active:
            return None
        self._used[(kind, record.id)] = self._clock()
        return record

    # -- administration ------------------------------------------------------------------------------------------
    async def create(
        self, kind: TokenKind, subject: str, *, actor: str, via: str = 'api', scope: TokenScope | None = None
    ) -> CreatedToken:
        """Create a token (raises `TokenError`); the returned secret is the only copy that will ever exist."""
        created = await self._store.write(
            lambda db: create_token(db, kind, subject, actor=actor, now=iso(self._clock()), scope=scope)
        )
        await self._audit(TOKEN_CREATE, created.record, actor=actor, via=via)
        log.info('%s created by %s', created.record.describe, actor)
        if kind is TokenKind.AGENT:
            self._token_hosts.add(subject)
            await self._close_shared_links({subject})
        self._changed(created.record.id)
        return created

    async def records(self, kind: TokenKind | None = None, *, include_revoked: bool = False) -> list[TokenRecord]:
        """Stored tokens with their freshest last-used times (including those not yet written)."""
        records = await self._store.read(lambda db: list_tokens(db, kind, include_revoked=include_revoked))
        return [self._fresh(record) for record in records]

    async def get(self, kind: TokenKind, token_id: str) -> TokenRecord | None:
        """One stored token by id, or None."""
        record = await self._store.read(lambda db: get_token(db, kind, token_id))
        return self._fresh(record) if record is not None else None

    def _fresh(self, record: TokenRecord) -> TokenRecord:
        used = self._used.get((record.kind, record.id))
        if used is None or (record.last_used_at or '') >= iso(used):
            return record
        return replace(record, last_used_at=iso(used))

    async def revoke(self, kind: TokenKind, token_id: str, *, actor: str, via: str = 'api') -> TokenRecord:
        """Revoke a token (idempotent; raises `TokenError` for an unknown id) and close the links using it."""

        def write(db: Database) -> tuple[TokenRecord, bool]:
            return revoke_token(db, kind, token_id, actor=actor, now=iso(self._clock()))

        record, changed = await self._store.write(write)
        if changed:
            await self._audit(TOKEN_REVOKE, record, actor=actor, via=via)
            log.info('%s revoked by %s', record.describe, actor)
            if kind is TokenKind.AGENT:
                await self._forget_host_unless_tokened(record.subject)
                await self._close_links({record.id})
            else:
                await self._close_api_links({record.id})
            self._changed(record.id)
        return self._fresh(record)

    async def _forget_host_unless_tokened(self, host: str) -> None:
        """After a revocation: drop `host` from the hosts with an agent token unless it still has another one."""
        if not await self._store.read(lambda db: bool(active_ids(db, TokenKind.AGENT, host))):
            self._token_hosts.discard(host)

    def hold_link(self, credential: Credential, close: Close) -> Callable[[], None]:
        """Keep an open link (an `/api/sync` socket) that used a stored API token, so revoking it closes the link;
        return the release to call when the link ends."""
        token_id = credential.token_id
        if token_id is None:  # a session or an in-memory token: nothing to revoke here
            return lambda: None
        links = self._api_links.setdefault(token_id, {})
        key = id(close)
        links[key] = close
        self._changed(token_id)

        def release() -> None:
            held = self._api_links.get(token_id)
            if held is not None and held.pop(key, None) is not None:
                if not held:
                    del self._api_links[token_id]
                self._changed(token_id)

        return release

    def _changed(self, token_id: str) -> None:
        try:
            self.changed.on_next(token_id)
        except Exception:  # a view's failure is its own
            log.exception('a token change listener failed')

    def live_links(self, kind: TokenKind, token_id: str) -> int:
        """How many open links (agent sockets, `/api/sync` sockets) use this token now."""
        if kind is TokenKind.AGENT:
            return len(self._links_by_token().get(token_id, ()))
        return len(self._api_links.get(token_id, ()))

    def shared_links(self) -> int:
        """How many agents are connected with the shared token (`NIXFLEET_AGENT_TOKEN`)."""
        return len(self._shared_hosts())

    def note_shared_use(self) -> None:
        """Remember that the shared agent token was just accepted (kept in memory: it has no row to write)."""
        self.shared_last_used = self._clock()

    async def _close_api_links(self, revoked: set[str]) -> None:
        for token_id in revoked & self._api_links.keys():
            closers = list(self._api_links.pop(token_id).values())
            log.warning('closing %d sync link(s) of API token %s: it was revoked', len(closers), token_id)
            for close in closers:
                try:
                    await close(CLOSE_POLICY, 'token revoked')
                except Exception as exc:  # already closing: nothing left to end
                    log.info('sync link of API token %s was already closed (%r)', token_id, exc)

    async def _audit(self, action: str, record: TokenRecord, *, actor: str, via: str) -> None:
        await self._events.record(
            action,
            audit_message(action, record),
            category=EventCategory.AUDIT,
            level=EventLevel.INFO,
            actor=actor,
            host=record.subject if record.kind is TokenKind.AGENT else None,
            details=audit_details(record, via=via),
        )

    # -- enforcement and bookkeeping -----------------------------------------------------------------------------
    def _links_by_token(self) -> dict[str, list[str]]:
        hosts: dict[str, list[str]] = {}
        for host, link in self._gateway.links.items():
            if isinstance(link.grant, HostTokenGrant):
                hosts.setdefault(link.grant.token_id, []).append(host)
        return hosts

    async def _close_links(self, revoked: set[str]) -> None:
        for token_id, hosts in self._links_by_token().items():
            if token_id in revoked:
                for host in hosts:
                    await self._close_host(host, CLOSE_POLICY, 'token revoked', 'its agent token was revoked', token_id)

    async def _close_shared_links(self, owned: set[str]) -> None:
        """Close the shared-token links of hosts that now have their own agent token (only it may serve them)."""
        for host in sorted(owned & self._shared_hosts()):
            why = 'the host has its own agent token now, the shared token no longer serves it'
            await self._close_host(host, CLOSE_FORBIDDEN, 'host has its own token', why)

    async def _close_host(self, host: str, code: int, reason: str, why: str, token_id: str | None = None) -> None:
        """Close a host's link with `code` and `reason`; log and journal `why`."""
        log.warning('closing the link of %s: %s', host, why)
        self._gateway.close_host(host, code, reason)
        await self._events.record(
            'disconnect',
            f'link of {host} closed: {why}',
            level=EventLevel.WARN,
            host=host,
            details={'token_id': token_id} if token_id is not None else None,
        )

    def _shared_hosts(self) -> set[str]:
        return {host for host, link in self._gateway.links.items() if link.grant.name == SHARED}

    async def maintain(self) -> None:
        """Close open links whose token was revoked meanwhile (or whose host got its own token), mark the others
        used, flush last-used times."""
        if not self._store.is_open:
            return
        self._token_hosts = await self._store.read(agent_token_hosts)  # tokens the CLI created or revoked meanwhile
        shared = self._shared_hosts()
        if shared:
            self.note_shared_use()
            owned = shared & self._token_hosts
            if owned:
                await self._close_shared_links(owned)
        live = self._links_by_token()
        if live:
            revoked = await self._store.read(lambda db: revoked_among(db, TokenKind.AGENT, live))
            if revoked:
                await self._close_links(revoked)
            now = self._clock()
            for token_id in live.keys() - revoked:
                self._used[(TokenKind.AGENT, token_id)] = now
        if self._api_links:
            held = set(self._api_links)
            gone = await self._store.read(lambda db: revoked_among(db, TokenKind.API, held))
            if gone:
                await self._close_api_links(gone)
            now = self._clock()
            for token_id in held - gone:
                self._used[(TokenKind.API, token_id)] = now
        await self.flush()

    async def flush(self, *, force: bool = False) -> None:
        """Write last-used times that are due (all of them with `force`) in one transaction."""
        due = self._due(force=force)
        if due:
            await self._store.write(lambda db: self._touch(db, due))
            self._mark_written(due)

    def flush_sync(self) -> None:
        """Write every pending last-used time (shutdown; the store must still be open)."""
        due = self._due(force=True)
        if due and self._store.is_open:
            self._store.write_sync(lambda db: self._touch(db, due))
            self._mark_written(due)

    def _due(self, *, force: bool) -> dict[_Key, float]:
        now = self._clock()
        return {
            key: used
            for key, used in self._used.items()
            if force or now - self._written.get(key, float('-inf')) >= TOUCH_INTERVAL
        }

    @staticmethod
    def _touch(db: Database, due: dict[_Key, float]) -> None:
        for kind in TokenKind:
            used = {token_id: iso(at) for (k, token_id), at in due.items() if k is kind}
            if used:
                touch_tokens(db, kind, used)

    def _mark_written(self, due: dict[_Key, float]) -> None:
        now = self._clock()
        for key, used in due.items():
            self._written[key] = now
            if self._used.get(key) == used:
                del self._used[key]
