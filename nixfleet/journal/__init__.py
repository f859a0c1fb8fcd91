"""The read model of the journal: commands, events and pipeline runs, filtered and paged, for API, CLI and UI.

Writes stay with their owners (`ops.commands`, `events`, `ops.pipeline_store`); every read of these tables is here.
"""

from nixfleet.journal.fields import COMMAND_FIELDS
from nixfleet.journal.filters import CommandFilter, EventFilter
from nixfleet.journal.model import Journal
from nixfleet.journal.query import Page

__all__ = ['COMMAND_FIELDS', 'CommandFilter', 'EventFilter', 'Journal', 'Page']
