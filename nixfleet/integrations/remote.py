"""The op engine's view of the integrations (`nixfleet.ops.remote.RemoteState`): version.json and GitHub PRs."""

from __future__ import annotations

import asyncio

from nixfleet.compartments.service import CompartmentService
from nixfleet.integrations.github import GitHubService
from nixfleet.ops.remote import NotConfiguredRemote, RemoteResult


class IntegrationsRemote:
    """`refresh-git` fetches version.json (and re-reads GitHub PRs); PR ops go to the GitHub service (if any)."""

    def __init__(self, compartments: CompartmentService, github: GitHubService | None = None) -> None:
        self._compartments = compartments
        self._github = github if github is not None and github.configured else None

    def version_configured(self) -> bool:
        """Whether NIXFLEET_VERSION_URL is set."""
        return self._compartments.fetcher is not None

    async def refresh(self) -> RemoteResult:
        """Fetch version.json now (and poll GitHub PRs alongside); fails with the fetch error, else names the commit."""
        poll = asyncio.ensure_future(self._github.poll()) if self._github is not None else None
        state = await self._compartments.refresh_remote()
        pr_note = ''
        if poll is not None:
            pending = await poll
            error = self._github.error if self._github is not None else None
            pr_note = f'; GitHub: {error}' if error else (f'; pending PR {pending.describe()}' if pending else '')
        if state is None:
            return RemoteResult(False, 'version tracking is not configured (set NIXFLEET_VERSION_URL)' + pr_note)
        if state.error:
            return RemoteResult(False, f'version.json fetch failing: {state.error}' + pr_note)
        version = state.version
        commit = (version.git_commit or '?')[:7] if version else '?'
        branch = f' on {version.branch}' if version and version.branch else ''
        problems = '; '.join(version.problems.values()) if version else ''
        return RemoteResult(
            True, f'remote desired state: {commit}{branch}' + (f' ({problems})' if problems else '') + pr_note
        )

    def mergeable_pr(self) -> str | None:
        """The pending mergeable flake-update PR (GitHub integration)."""
        return self._github.mergeable_pr() if self._github is not None else None

    async def merge_pr(self) -> RemoteResult:
        """Merge the pending flake-update PR (GitHub integration)."""
        if self._github is None:
            return await NotConfiguredRemote().merge_pr()
        return await self._github.merge_pr()

    @property
    def publish_timeout(self) -> float:
        """How long `wait_published` may take (seconds)."""
        return self._github.publish_timeout if self._github is not None else 0.0

    async def wait_published(self) -> RemoteResult:
        """Wait until version.json shows the last merge, so hosts can pull it (the merge-deploy pipeline)."""
        if self._github is None:
            return RemoteResult(False, 'GitHub is not configured: nothing was merged')
        return await self._github.wait_published()
