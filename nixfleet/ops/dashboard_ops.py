"""Ops the dashboard runs itself: set-color, remove, refresh-git, merge-pr. Each does its real work or fails."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from nixfleet.models import CommandStatus, ErrorCode
from nixfleet.ops.commands import Command
from nixfleet.ops.lifecycle import Lifecycle
from nixfleet.ops.registry import OpDef
from nixfleet.ops.remote import RemoteResult, RemoteState
from nixfleet.ops.validation import RESET_COLOR, Blocked


@runtime_checkable
class FollowsMerges(Protocol):
    """A remote that can tell when a merge has reached version.json (the integrations; test doubles need not)."""

    @property
    def publish_timeout(self) -> float:
        """Longest `wait_published` takes (seconds)."""
        ...

    async def wait_published(self) -> RemoteResult:
        """Wait until version.json shows the last merge."""
        ...


class DashboardOps:
    """Execute dashboard ops as commands of the lifecycle."""

    def __init__(self, lifecycle: Lifecycle, remote: RemoteState) -> None:
        self.lc = lifecycle
        self.remote = remote

    def validate_fleet(self, op: OpDef) -> Blocked | None:
        """Pre-checks of fleet-wide ops (they depend on the integrations, not on a host)."""
        if op.id == 'refresh-git' and not self.remote.version_configured():
            return Blocked(ErrorCode.NOT_CONFIGURED, 'version tracking is not configured (set NIXFLEET_VERSION_URL)')
        if op.id == 'merge-pr' and self.remote.mergeable_pr() is None:
            return Blocked(ErrorCode.NO_MERGEABLE_PR, 'there is no mergeable flake-update pull request')
        return None

    async def run(self, op: OpDef, cmd: Command, args: Mapping[str, Any]) -> None:
        """Do the op's work within its hard timeout and finish the command accordingly."""
        try:
            result = await asyncio.wait_for(self._work(op, cmd, args), op.hard_timeout)
            if (
                result.ok
                and op.id == 'merge-pr'
                and cmd.pipeline_id is not None
                and isinstance(self.remote, FollowsMerges)
            ):
                result = await self._await_published(op, cmd, result, self.remote)
        except TimeoutError:
            await self.lc.finish(cmd, CommandStatus.TIMEOUT, error=f'{op.id} did not finish in {op.hard_timeout:g} s')
            return
        except Exception as exc:
            await self.lc.finish(cmd, CommandStatus.ERROR, error=f'{op.id} failed: {exc}')
            return
        self._line(cmd, result.message)
        status = CommandStatus.SUCCESS if result.ok else CommandStatus.ERROR
        await self.lc.finish(
            cmd,
            status,
            exit_code=0 if result.ok else 1,
            message=result.message if result.ok else None,
            error=None if result.ok else result.message,
        )

    async def _await_published(
        self, op: OpDef, cmd: Command, merged: RemoteResult, remote: FollowsMerges
    ) -> RemoteResult:
        """merge-deploy: the merge stage ends only once version.json shows the merge commit (bounded).

        The deploy stages that follow compare hosts with version.json (pull is refused as `already_current` and its
        post-check fails while version.json still names the old commit), so they must not start before it moved.
        A merge-pr run on its own does not wait: the GitHub service follows the merge in the background.
        """
        wait = remote.publish_timeout
        self._line(cmd, merged.message)
        self._line(cmd, f'waiting up to {wait / 60:g} min for version.json to show the merge commit')
        cmd.hard_at = self.lc.clock() + wait + op.hard_timeout  # the TimeoutWatch deadline covers the wait
        await self.lc.update(cmd)
        # Wait for the publication or for the command to end otherwise (Cancel tracking, the TimeoutWatch).
        published = asyncio.ensure_future(remote.wait_published())
        ended = asyncio.ensure_future(self.lc.wait_terminal(cmd.id))
        await asyncio.wait({published, ended}, return_when=asyncio.FIRST_COMPLETED)
        for task in (published, ended):
            task.cancel()  # the remote keeps following the merge in the background either way
        await asyncio.gather(published, ended, return_exceptions=True)
        if published.cancelled():
            return RemoteResult(False, f'{merged.message}; stopped waiting for version.json')
        result = published.result()
        return RemoteResult(result.ok, f'{merged.message}; {result.message}')

    def _line(self, cmd: Command, text: str) -> None:
        if cmd.output_file is not None:
            self.lc.logs.append(cmd.id, cmd.host, self.lc.logs.path_for(cmd.host, cmd.id), 'stdout', text)

    async def _work(self, op: OpDef, cmd: Command, args: Mapping[str, Any]) -> RemoteResult:
        if op.id == 'refresh-git':
            return await self.remote.refresh()
        if op.id == 'merge-pr':
            return await self.remote.merge_pr()
        assert cmd.host is not None
        if op.id == 'set-color':
            return await self._set_color(cmd.host, args.get('color'))
        if op.id == 'remove':
            return await self._remove(cmd)
        return RemoteResult(False, f'{op.id} has no dashboard implementation')

    async def _set_color(self, host: str, color: Any) -> RemoteResult:
        value = None if color is None or str(color).lower() in RESET_COLOR else str(color).lower()
        await self.lc.hosts.set_color_override(host, value)
        return RemoteResult(
            True,
            f'theme colour of {host} set to {value}' if value else f'theme colour of {host} reset to the agent default',
        )

    async def _remove(self, cmd: Command) -> RemoteResult:
        host = cmd.host
        assert host is not None

        def delete(db: Any) -> int:
            cursor = db.execute('DELETE FROM commands WHERE host_id = ? AND id != ?', [host, cmd.id])
            return int(cursor.rowcount or 0)

        removed = await self.lc.store.write(delete)
        host_dir = self.lc.logs.host_dir(host)
        await asyncio.to_thread(shutil.rmtree, host_dir, True)
        await self.lc.hosts.remove(host)
        self.lc.forget_host(host)
        return RemoteResult(True, f'removed {host}: {removed} commands and their logs deleted (events kept)')
