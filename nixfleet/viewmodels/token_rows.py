"""The Tokens list as data, NiceGUI-free: one row per token (the shared agent token first), with its live links."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from nixfleet.security.tokens import TokenRecord


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
