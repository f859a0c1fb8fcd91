"""Where op validation reads a host's five compartment statuses: the `CompartmentSource` protocol, and the default
that reads them from the host view."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from nixfleet.compartments.model import NAMES


class CompartmentSource(Protocol):
    """Where validation reads a host's five compartment statuses from."""

    def statuses(self, view: Mapping[str, Any], *, idle: bool = False) -> dict[str, str]:
        """Return `{agent, git, lock, system, tests}` → `ok | outdated | error | working | unknown`.

        `idle`: as if the host had no active command (a post-check judges the state the command left behind, not
        the `working` its own run shows).
        """
        ...


class ViewCompartments:
    """Read the `compartments` field of a host view (`{name: {status, message}}` or `{name: status}`)."""

    def statuses(self, view: Mapping[str, Any], *, idle: bool = False) -> dict[str, str]:
        """Statuses found in the view; `unknown` for every missing one (the view is read as it is, even `idle`)."""
        found = view.get('compartments') or {}
        result = {}
        for name in NAMES:
            value = found.get(name) if isinstance(found, Mapping) else None
            if isinstance(value, Mapping):
                value = value.get('status')
            elif value is not None and hasattr(value, 'status'):  # a model.Compartment
                value = value.status
            result[name] = str(value) if isinstance(value, str) and value else 'unknown'
        return result
