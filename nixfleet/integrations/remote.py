"""The op engine's view of the integrations (`nixfleet.ops.remote.RemoteState`): version.json, GitHub to follow."""

from __future__ import annotations

from nixfleet.integrations.compartment_service import CompartmentService
from nixfleet.ops.remote import NotConfiguredRemote, RemoteResult, RemoteState


class IntegrationsRemote:
    """`refresh-git` fetches version.json through the compartment service; PR ops go to `github` (if any)."""

    def __init__(self, compartments: CompartmentService, github: RemoteState | None = None) -> None:
        self._compartments = compartments
        self._github: RemoteState = github or NotConfiguredRemote()

    def version_configured(self) -> bool:
        """Whether NIXFLEET_VERSION_URL is set."""
        return self._compartments.fetcher is not None

    async def refresh(self) -> RemoteResult:
        """Fetch version.json now; fails with the fetch error, succeeds naming the remote commit."""
        state = await self._compartments.refresh_remote()
        if state is None:
            return RemoteResult(False, 'version tracking is not configured (set NIXFLEET_VERSION_URL)')
        if state.error:
            return RemoteResult(False, f'version.json fetch failing: {state.error}')
        version = state.version
        commit = (version.git_commit or '?')[:7] if version else '?'
        branch = f' on {version.branch}' if version and version.branch else ''
        problems = '; '.join(version.problems.values()) if version else ''
        return RemoteResult(True, f'remote desired state: {commit}{branch}' + (f' ({problems})' if problems else ''))

    def mergeable_pr(self) -> str | None:
        """The pending mergeable flake-update PR (GitHub integration)."""
        return self._github.mergeable_pr()

    async def merge_pr(self) -> RemoteResult:
        """Merge the pending flake-update PR (GitHub integration)."""
        return await self._github.merge_pr()
