"""Dashboard settings: one pydantic model read from `NIXFLEET_*` environment variables
(docs/architecture.md#configuration).

Every variable the Go dashboard accepts keeps its name and meaning, so an existing env file works unchanged.
Durations accept Go syntax (`24h`, `1m30s`, `500ms`) or plain seconds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_DURATION_PART = re.compile(r'(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)')
_UNIT_SECONDS = {'ns': 1e-9, 'us': 1e-6, 'µs': 1e-6, 'ms': 1e-3, 's': 1.0, 'm': 60.0, 'h': 3600.0}


def parse_duration(value: Any) -> float:
    """Return seconds from a Go duration string (`1h30m`), a number of seconds, or a numeric string."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts or ''.join(n + u for n, u in parts) != text:
        raise ValueError(f'not a duration: {text!r} (use e.g. 30s, 5m, 24h)')
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


_SIZE = re.compile(r'(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?')
_SIZE_UNITS = {'B': 1, 'KiB': 1024, 'MiB': 1024**2, 'GiB': 1024**3}


def parse_size(value: Any) -> int:
    """Return bytes from a size (`64KiB`, `16MiB`, `1.5GiB`, `512B`) or a plain number of bytes."""
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f'not a size: {text!r} (use bytes or e.g. 64KiB, 16MiB)')
    return int(float(match[1]) * _SIZE_UNITS[match[2] or 'B'])


def format_size(size: int) -> str:
    """A size as `parse_size` reads it, in the largest unit that divides it (`65536` → `64KiB`)."""
    for unit in ('GiB', 'MiB', 'KiB'):
        if size and size % _SIZE_UNITS[unit] == 0:
            return f'{size // _SIZE_UNITS[unit]}{unit}'
    return f'{size}B'


def _split_csv(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value or '').split(',') if part.strip()]


Seconds = Annotated[float, BeforeValidator(parse_duration)]
Bytes = Annotated[int, BeforeValidator(parse_size)]
CsvList = Annotated[list[str], NoDecode, BeforeValidator(_split_csv)]

#: A host whose link is open but sent no heartbeat for this many intervals is stale
#: (docs/architecture.md#hosts-and-liveness).
STALE_FACTOR = 3

#: Secrets without which `nixfleet serve` refuses to start (the demo generates its own).
REQUIRED_SECRETS = ('password_hash', 'session_secret', 'agent_token')


class Settings(BaseSettings):
    """NixFleet dashboard configuration; each field maps to `NIXFLEET_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix='NIXFLEET_', extra='ignore', validate_default=True)

    listen: str = Field(':8000', description='Address to serve on, `host:port`; an empty host means all interfaces.')
    data_dir: Path = Field(Path('./data'), description='Directory for the database, command logs and UI storage.')
    db_path: Path | None = Field(None, description='SQLite database file; default `$NIXFLEET_DATA_DIR/nixfleet.db`.')
    base_url: str = Field('http://localhost:8000', description='Public URL of the dashboard (used in links).')

    password_hash: SecretStr | None = Field(None, description='bcrypt hash of the admin password (required).')
    session_secret: SecretStr | None = Field(
        None, description='Key(s) signing session cookies, comma-separated for rotation; first signs (required).'
    )
    session_secrets: SecretStr | None = Field(None, description='Alias of `SESSION_SECRET` accepted for rotation.')
    session_duration: Seconds = Field(24 * 3600.0, description='Session lifetime (Go duration, e.g. `24h`).')
    totp_secret: SecretStr | None = Field(None, description='Base32 TOTP secret; when set, login and reboot need it.')
    agent_token: SecretStr | None = Field(None, description='Shared bearer token agents use when no per-host token.')
    rate_limit: int = Field(5, ge=1, description='Login attempts allowed per client IP per window.')
    rate_window: Seconds = Field(60.0, description='Login rate-limit window (Go duration).')
    trusted_proxies: CsvList = Field([], description='Comma-separated proxy IPs/CIDRs whose X-Forwarded-For is used.')
    allowed_origins: CsvList = Field([], description='Comma-separated extra origins allowed for browser WebSockets.')

    version_url: str = Field('', description='URL of the config repo `version.json` (Git/Lock desired state).')
    version_fetch_ttl: Seconds = Field(30.0, description='How often version.json is fetched (Go duration).')
    github_token: SecretStr | None = Field(None, description='GitHub token (repo scope) for flake-update PRs.')
    github_repo: str = Field('', description='`owner/repo` of the config repository on GitHub.')
    github_api_url: str = Field('https://api.github.com', description='GitHub API base URL (Enterprise, tests).')
    github_poll_ttl: Seconds = Field(3600.0, description='How often open flake-update PRs are polled.')
    nixcfg_path: Path | None = Field(None, description='Config repo clone path (accepted for compatibility).')
    color_commit_mode: str = Field('push', description='Accepted for compatibility with the Go dashboard.')

    heartbeat_interval: Seconds = Field(5.0, description='Expected agent heartbeat interval when none is reported.')
    stale_multiplier: float = Field(
        120.0,
        gt=0,
        description="Go compatibility: an offline host's unfinished command is given up after this "
        'many heartbeat intervals (and at least `STALE_MINIMUM`).',
    )
    stale_minimum: Seconds = Field(300.0, ge=0, description='Lower bound of that give-up threshold (Go duration).')
    stale_cleanup_interval: Seconds = Field(
        60.0,
        gt=0,
        description="Go compatibility: how often offline hosts' unfinished commands are checked against that "
        'give-up threshold (Go duration).',
    )
    tick_interval: Seconds = Field(
        1.0,
        gt=0,
        description='How often liveness, command deadlines and the kill escalation are evaluated (no Go equivalent).',
    )
    ws_ping_interval: Seconds = Field(20.0, gt=0, description='Dashboard WebSocket keepalive ping period.')
    agent_idle_timeout: Seconds = Field(
        90.0, gt=0, description='Close an agent link that sent no frame for this long (dead TCP peers).'
    )
    max_frame_bytes: int = Field(512 * 1024, ge=64 * 1024, description='Largest accepted WebSocket frame (bytes).')
    output_rate: Bytes = Field(
        64 * 1024,
        ge=1024,
        description='Command output an agent may send per second (`64KiB`, `1MiB`); beyond it (and its burst) '
        'output is skipped, marked in the log, while the command keeps running.',
    )
    output_burst: Bytes = Field(
        512 * 1024, ge=64 * 1024, description='Command output an agent may send at once above that rate.'
    )
    output_limit: Bytes = Field(
        16 * 1024 * 1024,
        ge=64 * 1024,
        description="Command output one command's log keeps; the rest is dropped, marked in the log, while the "
        'command keeps running.',
    )
    live_flush_interval: Seconds = Field(1.0, gt=0, description='How often heartbeat-only data is written to SQLite.')

    sync_beacon_interval: Seconds = Field(30.0, gt=0, description='Period of the `sync` version beacon to clients.')
    init_event_limit: int = Field(100, ge=0, description='Events included in a client `init` state.')
    state_finished_commands: int = Field(
        1000,
        ge=0,
        description='Finished commands the live state (and every `init`) keeps at most: the newest of the last '
        'hour; older ones are in History and the API.',
    )
    state_finished_pipelines: int = Field(
        50, ge=0, description='Finished pipeline runs the live state keeps at most (the newest of the last hour).'
    )
    cmd_retention_days: int = Field(30, ge=1, description='Days finished commands and pipelines are kept.')
    log_retention_days: int = Field(7, ge=1, description='Days event-log entries are kept.')
    expected_agent_version: str = Field(
        '',
        description='Agent version the fleet should run (`3.1.5`, or `go=3.1.5,python=0.2.0`); default '
        'version.json `agentVersion`, else the versions this dashboard ships with.',
    )
    log_level: str = Field('info', description='Log level: debug, info, warning or error.')

    @field_validator('log_level')
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.lower().replace('warn', 'warning').replace('warninging', 'warning')
        if level not in {'debug', 'info', 'warning', 'error'}:
            raise ValueError('must be one of debug, info, warning, error')
        return level

    @field_validator('listen')
    @classmethod
    def _host_port(cls, value: str) -> str:
        _, sep, port = value.rpartition(':')
        if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError('must be host:port, e.g. :8000 or 127.0.0.1:8000')
        return value

    @property
    def host(self) -> str:
        """Interface to bind (all interfaces when the listen host is empty)."""
        host = self.listen.rpartition(':')[0].strip('[]')
        return host or '0.0.0.0'

    @property
    def port(self) -> int:
        """TCP port to bind."""
        return int(self.listen.rpartition(':')[2])

    @property
    def database_path(self) -> Path:
        """Resolved SQLite file path."""
        return self.db_path or self.data_dir / 'nixfleet.db'

    @property
    def logs_dir(self) -> Path:
        """Directory of per-command output logs."""
        return self.data_dir / 'logs'

    @property
    def session_keys(self) -> list[str]:
        """Session signing keys, newest first."""
        raw = self.session_secret or self.session_secrets
        return _split_csv(raw.get_secret_value()) if raw else []

    def stale_after(self, interval: float | None) -> float:
        """Seconds without a heartbeat after which a host with this interval is stale
        (docs/architecture.md#hosts-and-liveness: 3 intervals)."""
        return (interval or self.heartbeat_interval) * STALE_FACTOR

    def missing_secrets(self) -> list[str]:
        """Names of required secrets that are not configured."""
        missing = []
        for name in REQUIRED_SECRETS:
            value = getattr(self, name)
            if name == 'session_secret':
                value = value or self.session_secrets
            if value is None or not value.get_secret_value().strip():
                missing.append(f'NIXFLEET_{name.upper()}')
        return missing

    def secret_values(self) -> list[str]:
        """Every configured secret (for log scrubbing)."""
        values = [*self.session_keys]
        for name in ('password_hash', 'totp_secret', 'agent_token', 'github_token'):
            secret = getattr(self, name)
            if secret is not None and secret.get_secret_value():
                values.append(secret.get_secret_value())
        return values


class ConfigError(Exception):
    """Settings are invalid or incomplete; the message names every problem."""


def load_settings(*, require_secrets: bool = True, **overrides: Any) -> Settings:
    """Build settings from the environment (plus overrides), raising ConfigError with readable reasons."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = [f'NIXFLEET_{".".join(str(p) for p in e["loc"]).upper()}: {e["msg"]}' for e in exc.errors()]
        raise ConfigError('invalid configuration:\n  ' + '\n  '.join(problems)) from None
    if require_secrets and (missing := settings.missing_secrets()):
        raise ConfigError('missing required secrets: ' + ', '.join(missing))
    return settings
