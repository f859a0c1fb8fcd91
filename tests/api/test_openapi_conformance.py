"""The served OpenAPI schema tells the truth: schemathesis fuzzes every operation of a real dashboard.

A dashboard with three simulated agents runs in a process of its own for this module (serve_fleet.py): hypothesis
fails a draw when the global `random` changes meanwhile, and keepalive pings of a server in this process use it.
Every operation gets a bounded number of generated requests with a valid API token; each response must be
documented (status code, content type, body schema) and none may be a 5xx (a request that is not valid HTTP gets
the documented 400 envelope, see nixfleet/server.py). Generated ids never
match the simulated hosts' commands or runs, so destructive routes only meet refusals here; their successes are
tested in test_api_routes.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
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
from tests.api.live_fleet import API_TOKEN
from tests.support import AGENT_TOKEN, PASSWORD_HASH, SESSION_SECRET

#: Generated requests per operation (each is a real HTTP round trip of a few milliseconds).
MAX_EXAMPLES = 12


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a dashboard with three simulated agents, served by another process (isolation: this module)."""
    data_dir: Path = tmp_path_factory.mktemp('conformance') / 'data'
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')])}
    server = subprocess.Popen(
        [sys.executable, '-m', 'tests.api.serve_fleet', str(data_dir)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        url = server.stdout.readline().strip()
        assert url.startswith('http://'), f'the fleet did not start (exit {server.poll()})'
        yield url
    finally:
        server.stdin.close()  # it stops its agents and the dashboard, then exits
        server.wait(30)
        server.stdout.close()


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


def test_the_fuzzed_schema_is_the_served_one(live_api: str) -> None:
    assert httpx.get(f'{live_api}/openapi.json').json() == SCHEMA


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES, deadline=3000, suppress_health_check=list(HealthCheck), database=None, derandomize=True
)
def test_responses_conform_to_the_served_schema(case: schemathesis.Case, live_api: str) -> None:
    # Schema-valid ids of hosts, commands and runs that do not exist are rightly refused (404/409), so the
    # "valid data is accepted" check does not apply; and Starlette answers a wrong method per route, so the
    # `Allow` of a 405 names that route's methods, not all of its path's. Everything else is checked.
    # A case whose headers were made schema-invalid (the bearer token's format) is sent as generated: replacing its
    # Authorization with a valid token would make the request valid while the negative-data check still expects a
    # refusal (schemathesis then flags e.g. `?op=null`, a valid string once serialized). It must get a 401.
    header = case.meta.components.get(ParameterLocation.HEADER) if case.meta is not None else None
    negated = header is not None and header.mode is GenerationMode.NEGATIVE
    case.call_and_validate(
        base_url=live_api,
        headers=None if negated else {'Authorization': f'Bearer {API_TOKEN}'},
        timeout=10,
        excluded_checks=[positive_data_acceptance, allow_header_conformance],
    )
