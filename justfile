# NixFleet tasks. From a fresh clone use ./nf <recipe>: it creates .venv first, then runs these with its `just`.

set shell := ["bash", "-euo", "pipefail", "-c"]
set positional-arguments

# Recipes use the project's venv even when `just` itself comes from elsewhere.
export PATH := justfile_directory() / ".venv/bin" + ":" + env("PATH")
# Browser tests drive Debian's chromium; Playwright must never fetch its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := "1"
export SE_OFFLINE := "true"

# Hard limit for the whole suite: a stuck uvicorn ignores SIGTERM (docs/architecture.md#stuck-uvicorn), so it gets SIGKILL.
test_timeout := env("NIXFLEET_TEST_TIMEOUT", "2400")
# Test processes (pytest-xdist workers; each test file runs whole in one of them). 0: one process, no xdist.
test_workers := env("NIXFLEET_TEST_WORKERS", "4")
image := env("NIXFLEET_IMAGE", "nixfleet:latest")

[private]
default:
    @just --justfile {{ quote(justfile()) }} --list --unsorted

# Run the demo: dashboard + 6 simulated agents on http://localhost:8000, prints the login
run *args:
    @exec nixfleet demo "$@"

# Run the whole test suite (args go to pytest); installs Debian chromium when missing
test *args: _chromium
    @# bytecode first: with PYTHONDONTWRITEBYTECODE=1 (these machines set it) each process a test starts would compile
    @# the sources again; imports still read .pyc files that exist
    @python -m compileall -q -j 0 nixfleet tests bench >/dev/null
    {{ if os() == "linux" { "timeout -s KILL " + test_timeout } else { "" } }} python -m pytest -ra -n {{ test_workers }} --dist loadfile --no-loadscope-reorder "$@"

# Check lint, formatting and types: ruff check, ruff format --check, mypy
lint:
    ruff check .
    ruff format --check .
    mypy

# Format the code and apply safe lint fixes: ruff format, ruff check --fix
fmt:
    ruff format .
    ruff check --fix .

# Run a benchmark scenario on a fresh local dashboard (no args: list them)
bench *args:
    python bench/run.py "$@"

# Regenerate the README configuration table from nixfleet/config.py
readme:
    python scripts/settings_table.py --write README.md

# Build the container image $NIXFLEET_IMAGE (default nixfleet:latest)
build-image base="python:3.11-slim":
    docker build --build-arg BASE_IMAGE={{ quote(base) }} -t {{ quote(image) }} .

# Build the image and (re)start the dashboard with docker compose
deploy:
    docker compose up -d --build

[private]
_chromium:
    @scripts/ensure-chromium
