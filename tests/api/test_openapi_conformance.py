"""The served OpenAPI schema tells the truth: schemathesis fuzzes every operation of a real dashboard.

A dashboard with three simulated agents runs on its own event-loop thread for this module (schemathesis calls the
API synchronously). Every operation gets a bounded number of generated requests with a valid API token; each
response must be documented (status code, content type, body schema) and none may be a 5xx. Generated ids never
match the simulated hosts' commands or runs, so destructive routes only meet refusals here; their successes are
tested in test_api_routes.py.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import allow_header_conformance, positive_data_acceptance

from nixfleet.app import Dashboard, build_app
from nixfleet.config import Settings
from tests.api.live_fleet import API_TOKEN, LiveFleet, live_fleet
from tests.support import AGENT_TOKEN, PASSWORD_HASH, SESSION_SECRET

#: Generated requests per operation (each is a real HTTP round trip of a few milliseconds).
MAX_EXAMPLES = 12


@pytest.fixture(scope='module')
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveFleet]:
    """A dashboard with three simulated agents served from a background event loop (isolation: this module)."""
    data_dir: Path = tmp_path_factory.mktemp('conformance') / 'data'
    config = Settings(
        data_dir=data_dir,
        agent_token=AGENT_TOKEN,
        password_hash=PASSWORD_HASH,
        session_secret=SESSION_SECRET,
        listen='127.0.0.1:0',
        log_level='warning',
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name='conformance-server', daemon=True)
    thread.start()
    running = live_fleet(config)
    try:
        yield asyncio.run_coroutine_threadsafe(running.__aenter__(), loop).result(30)
    finally:
        asyncio.run_coroutine_threadsafe(running.__aexit__(None, None, None), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _served_schema() -> dict[str, Any]:
    """The schema a dashboard serves, built without serving (schemathesis parametrizes tests at collection)."""
    unused = Settings(
        data_dir=Path(tempfile.gettempdir()) / 'nixfleet-schema-unused',
        agent_token=AGENT_TOKEN,
        password_hash=PASSWORD_HASH,
        session_secret=SESSION_SECRET,
    )
    return build_app(Dashboard(unused)).openapi()


SCHEMA = _served_schema()
schema = schemathesis.openapi.from_dict(SCHEMA)


def test_the_fuzzed_schema_is_the_served_one(live_api: LiveFleet) -> None:
    assert httpx.get(f'{live_api.url}/openapi.json').json() == SCHEMA


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=3000, suppress_health_check=list(HealthCheck), database=None)
def test_responses_conform_to_the_served_schema(case: schemathesis.Case, live_api: LiveFleet) -> None:
    # Schema-valid ids of hosts, commands and runs that do not exist are rightly refused (404/409), so the
    # "valid data is accepted" check does not apply; and Starlette answers a wrong method per route, so the
    # `Allow` of a 405 names that route's methods, not all of its path's. Everything else is checked.
    # A case whose headers were made schema-invalid (the bearer token's format) is sent as generated: replacing its
    # Authorization with a valid token would make the request valid while the negative-data check still expects a
    # refusal (schemathesis then flags e.g. `?op=null`, a valid string once serialized). It must get a 401.
    header = case.meta.components.get(ParameterLocation.HEADER) if case.meta is not None else None
    negated = header is not None and header.mode is GenerationMode.NEGATIVE
    case.call_and_validate(
        base_url=live_api.url,
        headers=None if negated else {'Authorization': f'Bearer {API_TOKEN}'},
        timeout=10,
        excluded_checks=[positive_data_acceptance, allow_header_conformance],
    )
