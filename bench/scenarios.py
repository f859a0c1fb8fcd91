"""The scenarios other than `fleet`: each module adds its own subcommands."""

from __future__ import annotations

from typing import Any

import browser
import browser_latency
import ops_scenarios
import report
import soak
import store_scenarios
import storm


def add_parsers(sub: Any) -> None:
    """Add every scenario's subcommand."""
    ops_scenarios.add_parsers(sub)
    browser.add_parser(sub)
    browser_latency.add_parser(sub)
    report.add_parser(sub)
    store_scenarios.add_parsers(sub)
    soak.add_parser(sub)
    storm.add_parser(sub)
