"""Agent settings: the Go agent's environment variables (docs/agent-protocol.md#agent-configuration), validated with
pydantic."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from nixfleet.protocol import HOSTNAME_RE

ENV_PREFIX = 'NIXFLEET_'


class ConfigError(ValueError):
    """The agent's environment is incomplete or invalid; the message names the variable."""


def default_hostname() -> str:
    """Return this machine's short hostname like the Go agent (macOS: `scutil --get LocalHostName`)."""
    if sys.platform == 'darwin':
        try:
            name = subprocess.run(
                ['scutil', '--get', 'LocalHostName'], capture_output=True, text=True, timeout=5, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            name = ''
        if name:
            return name
    return socket.gethostname().split('.', 1)[0]


def default_repo_dir() -> str:
    """Return the isolated-mode clone directory the Go agent uses."""
    if sys.platform == 'darwin':
        return str(Path.home() / '.local/state/nixfleet-agent/repo')
    return '/var/lib/nixfleet-agent/repo'


class AgentConfig(BaseModel):
    """Settings of one agent; build from the environment with `from_env()` or directly for simulated agents."""

    model_config = ConfigDict(frozen=True, extra='forbid')

    url: str = Field(description='NIXFLEET_URL: dashboard agent endpoint, ws:// or wss://, path included (e.g. /ws).')
    token: SecretStr = Field(description='NIXFLEET_TOKEN: sent as `Authorization: Bearer <token>`; never logged.')
    hostname: str = Field(
        default_factory=default_hostname,
        description='NIXFLEET_HOSTNAME: host id on the dashboard; default the machine hostname up to the first dot.',
    )
    interval: int = Field(default=5, ge=1, le=3600, description='NIXFLEET_INTERVAL: heartbeat interval in seconds.')
    repo_dir: str = Field(
        default='',
        description='NIXFLEET_REPO_DIR: the flake checkout (legacy NIXFLEET_NIXCFG); defaults to the agent state dir '
        'when NIXFLEET_REPO_URL is set.',
    )
    repo_url: str = Field(
        default='', description='NIXFLEET_REPO_URL: isolated mode: auto-clone, pull = fetch + reset --hard.'
    )
    branch: str = Field(default='main', description='NIXFLEET_BRANCH: branch pulled in isolated mode.')
    ssh_key: str = Field(default='', description='NIXFLEET_SSH_KEY: private key used for git over SSH.')
    location: str = Field(default='home', description='NIXFLEET_LOCATION: free text shown on the dashboard.')
    device_type: str = Field(default='desktop', description='NIXFLEET_DEVICE_TYPE: desktop, laptop, server, ...')
    theme_color: str = Field(default='', description='NIXFLEET_THEME_COLOR: the host colour, e.g. #7aa2f7.')
    nixpkgs_version: str = Field(
        default='', description='NIXFLEET_NIXPKGS_VERSION: overrides /run/current-system/nixos-version.'
    )
    log_level: Literal['debug', 'info', 'warning', 'error'] = Field(
        default='info', description='NIXFLEET_LOG_LEVEL: debug, info, warn or error.'
    )

    @field_validator('url')
    @classmethod
    def _websocket_url(cls, value: str) -> str:
        if not value.startswith(('ws://', 'wss://')):
            raise ValueError('must start with ws:// or wss://')
        return value

    @field_validator('token')
    @classmethod
    def _non_empty_token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError('must not be empty')
        return value

    @field_validator('hostname')
    @classmethod
    def _valid_hostname(cls, value: str) -> str:
        if not HOSTNAME_RE.match(value):
            raise ValueError('must be a hostname label (letters, digits, - and _)')
        return value

    @field_validator('log_level', mode='before')
    @classmethod
    def _log_level_alias(cls, value: object) -> object:
        return 'warning' if isinstance(value, str) and value.lower() == 'warn' else value

    @model_validator(mode='after')
    def _repo_dir_for_isolated_mode(self) -> AgentConfig:
        if self.repo_url and not self.repo_dir:
            object.__setattr__(self, 'repo_dir', default_repo_dir())
        return self

    @property
    def isolated(self) -> bool:
        """Whether the agent owns its clone (NIXFLEET_REPO_URL set)."""
        return bool(self.repo_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> AgentConfig:
        """Build the settings from NIXFLEET_* variables; `overrides` (e.g. CLI flags) win; raise ConfigError."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for name in cls.model_fields:
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is not None and raw != '':
                values[name] = raw.lower() if name == 'log_level' else raw
        if 'repo_dir' not in values and env.get('NIXFLEET_NIXCFG'):
            values['repo_dir'] = env['NIXFLEET_NIXCFG']
        values.update({key: value for key, value in overrides.items() if value is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    """Turn a ValidationError into one line per bad variable, never echoing the token."""
    problems = []
    for error in exc.errors():
        field = str(error['loc'][0]) if error['loc'] else '?'
        problems.append(f'{ENV_PREFIX}{field.upper()}: {error["msg"]}')
    return 'invalid agent configuration: ' + '; '.join(problems)
