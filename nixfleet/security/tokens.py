"""The token store: per-host agent tokens and named API tokens, kept only as SHA-256 digests.

A token is `nfagent_` or `nfapi_` followed by 32 random bytes (base64url); it is shown once, when created, and only
its SHA-256 digest is stored. A salted slow hash (bcrypt) is what protects low-entropy secrets such as passwords from
guessing; a 256-bit random token cannot be guessed, so its plain SHA-256 is just as safe to store, and it lets the
dashboard find a presented token by an indexed lookup of its digest instead of running a slow hash against every
row. The stored digest is then compared with the presented one in constant time. The `prefix` (kind plus the first
six random characters) is kept so people can tell tokens apart; it is not enough to use or guess the token.

API tokens carry a scope (`TokenScope`): `read` sees hosts, commands, events, metrics and the sync stream; `operate`
may also dispatch and change things (every mutating `/api` route). Tokens made before scopes existed are `operate`
(migration m006), so nothing that worked stops working; a new token's scope is chosen when it is created.

These functions take a sqlite-utils `Database` and run inside the caller's transaction: the dashboard calls them on
its store thread (`nixfleet.security.service.TokenService`), the `nixfleet token` CLI on the database file directly.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlite_utils import Database

from nixfleet.models import ErrorCode, EventCategory, EventLevel
from nixfleet.protocol import HOSTNAME_RE

#: API token names: they appear as `api:<name>` in the audit trail.
NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z')
#: Random characters of a token kept in its display prefix.
PREFIX_CHARS = 6

#: Event-log actions of token changes.
TOKEN_CREATE = 'token:create'
TOKEN_REVOKE = 'token:revoke'


class TokenKind(StrEnum):
    """The two kinds of token: an agent token bound to one host, or a named API token."""

    AGENT = 'agent'
    API = 'api'

    @property
    def table(self) -> str:
        """Table holding tokens of this kind."""
        return 'host_tokens' if self is TokenKind.AGENT else 'api_tokens'

    @property
    def subject_column(self) -> str:
        """Column naming what the token is for (a hostname or a token name)."""
        return 'hostname' if self is TokenKind.AGENT else 'name'

    @property
    def marker(self) -> str:
        """How every token of this kind begins."""
        return 'nfagent_' if self is TokenKind.AGENT else 'nfapi_'

    @property
    def label(self) -> str:
        """Human name of the kind."""
        return 'agent token' if self is TokenKind.AGENT else 'API token'


class TokenScope(StrEnum):
    """What an API token may do: `read` (hosts, commands, events, metrics, sync) or `operate` (also dispatch)."""

    READ = 'read'
    OPERATE = 'operate'

    @property
    def may_change(self) -> bool:
        """Whether the scope allows dispatch and other changes (every mutating API route)."""
        return self is TokenScope.OPERATE


#: Scope of API tokens created without one (and of every token made before scopes existed: migration m006).
DEFAULT_SCOPE = TokenScope.OPERATE


@dataclass(frozen=True, slots=True, kw_only=True)
class Credential:
    """Who is behind a request or socket: the actor, what it may do, and the stored token it used (if any)."""

    actor: str
    scope: TokenScope
    #: Id of the stored API token used (None for a session or an in-memory token).
    token_id: str | None = None
    #: Whether this is the admin's browser session (not a token).
    session: bool = False


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """A valid agent token; `hostname` binds it to one host (None for the shared token)."""

    name: str
    hostname: str | None = None


class TokenError(Exception):
    """A token request was refused; `code` is the stable error code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRecord:
    """A stored token as everyone may see it: never the token itself, never its digest."""

    id: str
    kind: TokenKind
    subject: str
    prefix: str
    created_at: str
    created_by: str | None = None
    last_used_at: str | None = None
    revoked_at: str | None = None
    revoked_by: str | None = None
    #: What an API token may do (None for agent tokens).
    scope: TokenScope | None = None

    @property
    def active(self) -> bool:
        """Whether the token is still accepted."""
        return self.revoked_at is None

    @property
    def describe(self) -> str:
        """One phrase naming the token for messages (`agent token nfagent_Ab12Cd… for host web1`)."""
        owner = f'for host {self.subject}' if self.kind is TokenKind.AGENT else f'{self.subject!r}'
        return f'{self.kind.label} {owner} ({self.prefix}…, id {self.id})'

    def to_wire(self) -> dict[str, Any]:
        """The JSON form used by the API and `--json`."""
        return {
            'id': self.id,
            'kind': self.kind.value,
            'hostname': self.subject if self.kind is TokenKind.AGENT else None,
            'name': self.subject if self.kind is TokenKind.API else None,
            'scope': self.scope.value if self.scope is not None else None,
            'prefix': self.prefix,
            'active': self.active,
            'created_at': self.created_at,
            'created_by': self.created_by,
            'last_used_at': self.last_used_at,
            'revoked_at': self.revoked_at,
            'revoked_by': self.revoked_by,
        }


@dataclass(frozen=True, slots=True)
class CreatedToken:
    """A token just created: the only moment its secret value exists outside the holder."""

    record: TokenRecord
    secret: str

    def to_wire(self) -> dict[str, Any]:
        """The record plus the token, for the one answer that shows it."""
        return {**self.record.to_wire(), 'token': self.secret}


def digest(token: str) -> str:
    """SHA-256 hex digest of a token (what is stored and looked up)."""
    return hashlib.sha256(token.encode('utf-8', 'surrogatepass')).hexdigest()


def kind_of(token: str) -> TokenKind | None:
    """The kind a token was issued as, from its marker; None for other strings (e.g. the shared agent token)."""
    for kind in TokenKind:
        if token.startswith(kind.marker):
            return kind
    return None


def validate_subject(kind: TokenKind, subject: str) -> str:
    """Return the hostname / token name, or raise `TokenError(invalid_request)` when it is not acceptable."""
    subject = (subject or '').strip()
    if kind is TokenKind.AGENT and not HOSTNAME_RE.match(subject):
        raise TokenError(ErrorCode.INVALID_REQUEST, 'hostname must be an RFC 1123 label (letters, digits, - and _)')
    if kind is TokenKind.API and not NAME_RE.match(subject):
        raise TokenError(
            ErrorCode.INVALID_REQUEST, 'token name must be 1-64 letters, digits, . _ @ or -, starting alphanumeric'
        )
    return subject


def _record(kind: TokenKind, row: Mapping[str, Any]) -> TokenRecord:
    return TokenRecord(
        id=row['id'],
        kind=kind,
        subject=row[kind.subject_column],
        prefix=row['prefix'],
        created_at=row['created_at'],
        created_by=row.get('created_by'),
        last_used_at=row.get('last_used_at'),
        revoked_at=row.get('revoked_at'),
        revoked_by=row.get('revoked_by'),
        scope=_scope(row.get('scope')) if kind is TokenKind.API else None,
    )


def _scope(value: object) -> TokenScope:
    """The scope stored in a row; anything unknown counts as the narrowest (never widens what a token may do)."""
    try:
        return TokenScope(str(value))
    except ValueError:
        return TokenScope.READ


def _rows(db: Database, kind: TokenKind, where: str, params: Iterable[Any]) -> list[TokenRecord]:
    cursor = db.execute(f'SELECT * FROM {kind.table} WHERE {where} ORDER BY created_at, id', list(params))
    names = [d[0] for d in cursor.description]
    return [_record(kind, dict(zip(names, row, strict=True))) for row in cursor.fetchall()]


def create_token(
    db: Database,
    kind: TokenKind,
    subject: str,
    *,
    actor: str,
    now: str,
    scope: TokenScope | None = None,
) -> CreatedToken:
    """Create a token for a hostname (agent) or name (API, with `scope`, default `operate`); raise `TokenError` when
    refused."""
    if kind is TokenKind.AGENT and scope is not None:
        raise TokenError(ErrorCode.INVALID_REQUEST, 'agent tokens have no scope (a scope is for API tokens)')
    subject = validate_subject(kind, subject)
    if kind is TokenKind.API and _rows(db, kind, 'name = ? AND revoked_at IS NULL', [subject]):
        raise TokenError(ErrorCode.TOKEN_EXISTS, f'an active API token named {subject!r} exists; revoke it first')
    body = secrets.token_urlsafe(32)
    secret = kind.marker + body
    row = {
        'id': secrets.token_hex(6),
        kind.subject_column: subject,
        'token_hash': digest(secret),
        'prefix': kind.marker + body[:PREFIX_CHARS],
        'created_at': now,
        'created_by': actor,
        'last_used_at': None,
        'revoked_at': None,
        'revoked_by': None,
    }
    if kind is TokenKind.API:
        row['scope'] = (scope or DEFAULT_SCOPE).value
    db.table(kind.table).insert(row)
    return CreatedToken(_record(kind, row), secret)


def find_token(db: Database, kind: TokenKind, token: str) -> TokenRecord | None:
    """The stored token (active or revoked) matching a presented token, or None."""
    wanted = digest(token)
    row = db.execute(f'SELECT id, token_hash FROM {kind.table} WHERE token_hash = ?', [wanted]).fetchone()
    if row is None or not hmac.compare_digest(row[1], wanted):
        return None
    return get_token(db, kind, row[0])


def get_token(db: Database, kind: TokenKind, token_id: str) -> TokenRecord | None:
    """The token with this id, or None."""
    found = _rows(db, kind, 'id = ?', [token_id])
    return found[0] if found else None


def list_tokens(db: Database, kind: TokenKind | None = None, *, include_revoked: bool = False) -> list[TokenRecord]:
    """Tokens of one kind or both (agent tokens first), oldest first; revoked ones only when asked."""
    where = '1 = 1' if include_revoked else 'revoked_at IS NULL'
    kinds = [kind] if kind is not None else list(TokenKind)
    return [record for k in kinds for record in _rows(db, k, where, [])]


def active_ids(db: Database, kind: TokenKind, subject: str) -> list[str]:
    """Ids of the active tokens of a hostname (agent) or name (API)."""
    return [r.id for r in _rows(db, kind, f'{kind.subject_column} = ? AND revoked_at IS NULL', [subject])]


def revoke_token(db: Database, kind: TokenKind, token_id: str, *, actor: str, now: str) -> tuple[TokenRecord, bool]:
    """Revoke a token; return it and whether this call revoked it (False when it already was)."""
    record = get_token(db, kind, token_id)
    if record is None:
        raise TokenError(ErrorCode.UNKNOWN_TOKEN, f'no {kind.label} with id {token_id!r}')
    if not record.active:
        return record, False
    db.execute(
        f'UPDATE {kind.table} SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL',
        [now, actor, token_id],
    )
    return get_token(db, kind, token_id) or record, True


def agent_token_hosts(db: Database) -> set[str]:
    """The hostnames that have an active per-host agent token."""
    kind = TokenKind.AGENT
    rows = db.execute(f'SELECT DISTINCT {kind.subject_column} FROM {kind.table} WHERE revoked_at IS NULL')
    return {row[0] for row in rows.fetchall()}


def revoked_among(db: Database, kind: TokenKind, ids: Iterable[str]) -> set[str]:
    """Which of these token ids are revoked (or no longer exist)."""
    wanted = set(ids)
    if not wanted:
        return set()
    marks = ', '.join('?' for _ in wanted)
    active = db.execute(f'SELECT id FROM {kind.table} WHERE id IN ({marks}) AND revoked_at IS NULL', list(wanted))
    return wanted - {row[0] for row in active.fetchall()}


def touch_tokens(db: Database, kind: TokenKind, used: Mapping[str, str]) -> None:
    """Record last-used times (ISO) for token ids; a time never moves backwards."""
    db.conn.executemany(
        f'UPDATE {kind.table} SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)',
        [(when, token_id, when) for token_id, when in used.items()],
    )


def audit_message(action: str, record: TokenRecord) -> str:
    """The event-log message of a token change (`token:create` / `token:revoke`); never contains the token."""
    verb = 'created' if action == TOKEN_CREATE else 'revoked'
    scope = f' with scope {record.scope.value}' if record.scope is not None and action == TOKEN_CREATE else ''
    return f'{record.describe} {verb}{scope}'


def audit_event(action: str, record: TokenRecord, *, actor: str, now: str, via: str) -> dict[str, Any]:
    """An `event_log` row for a token change, for writers outside the dashboard (the CLI)."""
    return {
        'timestamp': now,
        'category': EventCategory.AUDIT.value,
        'level': EventLevel.INFO.value,
        'actor': actor,
        'host_id': record.subject if record.kind is TokenKind.AGENT else None,
        'action': action,
        'message': audit_message(action, record),
        'details': json.dumps(audit_details(record, via=via)),
    }


def audit_details(record: TokenRecord, *, via: str) -> dict[str, Any]:
    """Event details of a token change."""
    details: dict[str, Any] = {'kind': record.kind.value, 'token_id': record.id, 'prefix': record.prefix, 'via': via}
    if record.scope is not None:
        details['scope'] = record.scope.value
    return details
