"""`/api/tokens`: list, create and revoke agent and API tokens.

Every route needs the admin's session or an API token with the `operate` scope (`CredentialCheck`) and answers
JSON only: 401 without credentials (never a redirect), 403 for a `read` token (it could otherwise mint itself an
`operate` one), and `{"error": {"code", "message"}}` for every refusal, validation errors included. A token's value
appears once, in the answer to its creation.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, model_validator

from nixfleet.api.errors import EnvelopeRoute, ErrorBody, error_response
from nixfleet.models import ErrorCode
from nixfleet.security.credentials import CredentialCheck
from nixfleet.security.service import TokenService
from nixfleet.security.tokens import TokenError, TokenKind, TokenScope


class TokenOut(BaseModel):
    """A stored token (never its value or its hash)."""

    id: str
    kind: TokenKind
    hostname: str | None = Field(None, description='Host an agent token is bound to.')
    name: str | None = Field(None, description='Name of an API token (the actor `api:<name>` in the audit trail).')
    scope: TokenScope | None = Field(None, description='What an API token may do: `read` or `operate` (+dispatch).')
    prefix: str = Field(description='First characters of the token, to tell tokens apart.')
    active: bool
    created_at: str
    created_by: str | None = None
    last_used_at: str | None = None
    revoked_at: str | None = None
    revoked_by: str | None = None


class TokenCreated(TokenOut):
    """A token just created, with its value: shown this once, store it now."""

    token: str


class TokenList(BaseModel):
    """Tokens, agent tokens first, oldest first."""

    tokens: list[TokenOut]


class TokenCreate(BaseModel):
    """Create an agent token bound to `hostname`, or an API token called `name`."""

    model_config = ConfigDict(extra='forbid')

    kind: TokenKind
    hostname: str | None = Field(None, max_length=64, description='For `kind=agent`: the host it may register as.')
    name: str | None = Field(None, max_length=64, description='For `kind=api`: a unique name among active tokens.')
    scope: TokenScope | None = Field(
        None,
        description='For `kind=api`: `read` (hosts, commands, events, metrics, sync) or `operate` (also '
        'dispatch and every change); default `operate`.',
    )

    @model_validator(mode='after')
    def _subject_matches_kind(self) -> TokenCreate:
        if self.kind is TokenKind.AGENT and (not self.hostname or self.name is not None or self.scope is not None):
            raise ValueError('an agent token needs `hostname` (and no `name` or `scope`)')
        if self.kind is TokenKind.API and (not self.name or self.hostname is not None):
            raise ValueError('an API token needs `name` (and no `hostname`)')
        return self

    @property
    def subject(self) -> str:
        """The hostname or the name."""
        return (self.hostname if self.kind is TokenKind.AGENT else self.name) or ''


def guarded_route(credentials: CredentialCheck) -> type[APIRoute]:
    """A route class that authenticates first (actor in `request.state.actor`), refuses `read` tokens, and answers
    refusals (token errors included) as envelopes."""

    class GuardedRoute(EnvelopeRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                credential = await credentials.credential(request)
                if credential is None:
                    return error_response(ErrorCode.UNAUTHORIZED, 'log in or send an API token (Bearer)')
                if not credential.scope.may_change:
                    return error_response(ErrorCode.FORBIDDEN, READ_REFUSED)
                request.state.actor = credential.actor
                try:
                    return await handler(request)
                except TokenError as exc:
                    return error_response(exc.code, exc.message)

            return guarded

    return GuardedRoute


#: Why a `read` token may not manage tokens.
READ_REFUSED = 'managing tokens needs the admin session or an API token with the operate scope'

_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {'model': ErrorBody, 'description': 'No valid session or API token'},
    403: {'model': ErrorBody, 'description': 'A `read` API token (`forbidden`)'},
    422: {'model': ErrorBody, 'description': 'Invalid request'},
}


def tokens_router(service: TokenService, credentials: CredentialCheck) -> APIRouter:
    """Routes under `/api/tokens`: the tokens of `service`, for requests `credentials` accepts with `operate`."""
    router = APIRouter(prefix='/api/tokens', tags=['tokens'], route_class=guarded_route(credentials))

    @router.get('', response_model=TokenList, responses=_REFUSALS)
    async def list_tokens(
        kind: Annotated[TokenKind | None, Query(description='Only this kind.')] = None,
        include_revoked: Annotated[bool, Query(description='Also list revoked tokens.')] = False,
    ) -> dict[str, Any]:
        """List tokens (values are never shown again)."""
        records = await service.records(kind, include_revoked=include_revoked)
        return {'tokens': [r.to_wire() for r in records]}

    @router.post(
        '',
        status_code=201,
        response_model=TokenCreated,
        responses={**_REFUSALS, 409: {'model': ErrorBody, 'description': 'Name already in use'}},
    )
    async def create_token(body: TokenCreate, request: Request) -> dict[str, Any]:
        """Create a token; the answer holds its value, which is not stored and cannot be shown again."""
        created = await service.create(body.kind, body.subject, actor=request.state.actor, via='api', scope=body.scope)
        return created.to_wire()

    @router.get(
        '/{kind}/{token_id}',
        response_model=TokenOut,
        responses={**_REFUSALS, 404: {'model': ErrorBody, 'description': 'No such token'}},
    )
    async def get_token(kind: TokenKind, token_id: str) -> dict[str, Any]:
        """One token."""
        record = await service.get(kind, token_id)
        if record is not None:
            return record.to_wire()
        raise TokenError(ErrorCode.UNKNOWN_TOKEN, f'no {kind.label} with id {token_id!r}')

    @router.delete(
        '/{kind}/{token_id}',
        response_model=TokenOut,
        responses={**_REFUSALS, 404: {'model': ErrorBody, 'description': 'No such token'}},
    )
    async def revoke_token(kind: TokenKind, token_id: str, request: Request) -> dict[str, Any]:
        """Revoke a token (idempotent): it is refused from now on and agent links using it are closed."""
        record = await service.revoke(kind, token_id, actor=request.state.actor, via='api')
        return record.to_wire()

    return router
