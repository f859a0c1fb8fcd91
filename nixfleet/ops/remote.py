"""The desired-state integrations dashboard ops use: version.json and GitHub flake-update PRs
(docs/architecture.md#integrations).

The real implementations come with the integrations; the op engine only needs this narrow interface. The default
reports "not configured", so `refresh-git` and `merge-pr` are refused with `not_configured` / `no_mergeable_pr`
instead of pretending to succeed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RemoteResult:
    """Outcome of a remote action: `ok`, and a human sentence (the PR number, the fetched commit, the error)."""

    ok: bool
    message: str


class RemoteState(Protocol):
    """version.json and GitHub, as the op engine sees them."""

    def version_configured(self) -> bool:
        """Whether version tracking (NIXFLEET_VERSION_URL) is set up."""
        ...

    def mergeable_pr(self) -> str | None:
        """A short description of the pending mergeable flake-update PR, or None."""
        ...

    async def refresh(self) -> RemoteResult:
        """Re-fetch version.json now."""
        ...

    async def merge_pr(self) -> RemoteResult:
        """Merge the pending flake-update PR."""
        ...


class NotConfiguredRemote:
    """The default: neither version tracking nor GitHub is configured."""

    def version_configured(self) -> bool:
        """Never configured."""
        return False

    def mergeable_pr(self) -> str | None:
        """Never a PR."""
        return None

    async def refresh(self) -> RemoteResult:
        """Refuse: there is nothing to fetch."""
        return RemoteResult(False, 'version tracking is not configured (set NIXFLEET_VERSION_URL)')

    async def merge_pr(self) -> RemoteResult:
        """Refuse: there is no GitHub integration."""
        return RemoteResult(False, 'GitHub is not configured (set NIXFLEET_GITHUB_TOKEN and NIXFLEET_GITHUB_REPO)')
