"""The one query builder of the journal: filter clauses, newest-first order, and paging by offset or by cursor.

A page is read in one store call: the number of matching rows, then one row more than asked for, so the caller
learns whether another page follows and the sort key to continue after (`Page.next_key`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database


@dataclass(frozen=True, slots=True)
class Listing:
    """A journal table listed newest first: its name, the columns read and the sort key (each descending)."""

    table: str
    columns: Sequence[str] | None  #: None: every column
    order: tuple[str, ...]

    def select(self) -> str:
        """The `SELECT … FROM` part."""
        return f'SELECT {", ".join(self.columns) if self.columns else "*"} FROM {self.table}'


@dataclass(slots=True)
class Where:
    """The filter of a query: clauses joined with AND, and their parameters in order."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *params: Any) -> Where:
        """Require `clause` (with `?` placeholders for `params`)."""
        self.clauses.append(clause)
        self.params.extend(params)
        return self

    def equals(self, column: str, value: Any) -> Where:
        """Require `column = value`, unless `value` is None."""
        return self if value is None else self.add(f'{column} = ?', value)

    def among(self, column: str, values: Sequence[Any]) -> Where:
        """Require `column` to be one of `values`, unless there are none."""
        return self.add(f'{column} IN ({", ".join("?" for _ in values)})', *values) if values else self

    def between(self, column: str, since: str | None, until: str | None) -> Where:
        """Require `since <= column < until` (either bound may be None)."""
        if since is not None:
            self.add(f'{column} >= ?', since)
        if until is not None:
            self.add(f'{column} < ?', until)
        return self

    def copy(self) -> Where:
        """An independent copy (to add paging clauses to)."""
        return Where(list(self.clauses), list(self.params))

    def sql(self) -> str:
        """The ` WHERE …` clause, or nothing when unfiltered."""
        return f' WHERE {" AND ".join(self.clauses)}' if self.clauses else ''


@dataclass(slots=True)
class Page:
    """One page of rows, the number of rows all pages hold, and the sort key to continue after (None: last page)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    next_key: tuple[Any, ...] | None = None


def _after(order: Sequence[str], key: Sequence[Any], where: Where) -> None:
    """Require rows to sort after `key` in the descending `order` (keyset paging)."""
    *head, last = order
    clause, params = f'{last} < ?', [key[-1]]
    for column, value in zip(reversed(head), reversed(key[: len(head)]), strict=True):
        clause = f'({column} < ? OR ({column} = ? AND {clause}))'
        params = [value, value, *params]
    where.add(clause, *params)


def read_rows(
    db: Database, listing: Listing, where: Where, *, limit: int, offset: int = 0, after: Sequence[Any] | None = None
) -> list[dict[str, Any]]:
    """Up to `limit` rows matching `where`, newest first, skipping `offset` rows or starting after the key `after`."""
    paged = where.copy()
    if after is not None:
        _after(listing.order, after, paged)
    order = ', '.join(f'{column} DESC' for column in listing.order)
    sql = f'{listing.select()}{paged.sql()} ORDER BY {order} LIMIT ? OFFSET ?'
    return db.execute_returning_dicts(sql, [*paged.params, limit, offset])


def count(db: Database, listing: Listing, where: Where) -> int:
    """How many rows match `where`."""
    return int(db.execute(f'SELECT COUNT(*) FROM {listing.table}{where.sql()}', where.params).fetchone()[0])


def read_page(
    db: Database, listing: Listing, where: Where, *, limit: int, offset: int = 0, after: Sequence[Any] | None = None
) -> Page:
    """One page of rows matching `where`, with the total and the key the next page starts after."""
    total = count(db, listing, where)
    rows = read_rows(db, listing, where, limit=limit + 1, offset=offset, after=after)
    more, rows = len(rows) > limit, rows[:limit]
    next_key = tuple(rows[-1][column] for column in listing.order) if more and rows else None
    return Page(rows, total, next_key)
