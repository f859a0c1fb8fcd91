"""The HTTP credential check: who is behind a request or WebSocket (an API token or the admin session)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from starlette.requests import HTTPConnection

from nixfleet.security.service import TokenService
from nixfleet.security.sessions import COOKIE_NAME, SessionSigner
from nixfleet.security.tokens import Credential, TokenScope


class CredentialCheck:
    """Resolve a request's `Authorization: Bearer` API token, or else its session cookie, into a `Credential`.

    `memory_tokens` are extra API tokens held in memory only, by name (tests and the demo); they may operate and are
    checked before the token store. The mapping is read at every check, so tokens added later count.
    """

    def __init__(self, tokens: TokenService, sessions: SessionSigner, memory_tokens: Mapping[str, str]) -> None:
        self._tokens = tokens
        self._sessions = sessions
        self._memory_tokens = memory_tokens

    async def actor(self, conn: HTTPConnection) -> str | None:
        """Return the actor behind a request or WebSocket (`user` with a session, `api:<name>` with a token)."""
        credential = await self.credential(conn)
        return credential.actor if credential is not None else None

    async def credential(self, conn: HTTPConnection) -> Credential | None:
        """Who is behind a request or WebSocket and what it may do: the session, or an API token and its scope."""
        scheme, _, token = conn.headers.get('authorization', '').partition(' ')
        if scheme.lower() == 'bearer' and token.strip():
            for name, value in self._memory_tokens.items():
                if hmac.compare_digest(token.strip().encode(), value.encode()):
                    return Credential(actor=f'api:{name}', scope=TokenScope.OPERATE)
            stored = await self._tokens.check_api_token(token.strip())
            if stored is None or stored.scope is None:
                return None
            return Credential(actor=f'api:{stored.subject}', scope=stored.scope, token_id=stored.id)
        if self._sessions.verify(conn.cookies.get(COOKIE_NAME)) is None:
            return None
        return Credential(actor='user', scope=TokenScope.OPERATE, session=True)
