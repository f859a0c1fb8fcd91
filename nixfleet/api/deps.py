"""Shared API plumbing: the auth dependency and the `{"error": {"code", "message"}}` envelope (SPEC §13)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from nixfleet.models import ErrorCode
from nixfleet.security.context import note_actor

#: HTTP status of each refusal code (400 unless listed).
STATUS: dict[str, int] = {
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.TOTP_REQUIRED: 403,
    ErrorCode.TOTP_INVALID: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.UNKNOWN_COMMAND: 404,
    ErrorCode.UNKNOWN_PIPELINE: 404,
    ErrorCode.COMMAND_PENDING: 409,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.INVALID_REQUEST: 422,
    ErrorCode.RATE_LIMITED: 429,
}


class ApiError(Exception):
    """A refusal answered as the error envelope."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = str(code)
        self.message = message
        self.status = status or STATUS.get(self.code, 400)


def error_response(code: str, message: str, status: int | None = None) -> JSONResponse:
    """A JSON refusal in the `/api` error envelope."""
    code = str(code)
    return JSONResponse(
        {'error': {'code': code, 'message': message}},
        status_code=status or STATUS.get(code, 400),
        headers={'WWW-Authenticate': 'Bearer'} if code == ErrorCode.UNAUTHORIZED else None,
    )


async def require_api_auth(request: Request) -> str:
    """Dependency: the actor of a request with a valid session or API token (`user`, `api:<name>`); else 401."""
    dashboard = request.app.state.dashboard
    actor = await dashboard.authenticate(request)
    if actor is None:
        raise ApiError(ErrorCode.UNAUTHORIZED, 'log in or send an API token (Authorization: Bearer)')
    request.state.actor = actor
    note_actor(str(actor))  # for audits made deeper down without the request (e.g. a refused TOTP code)
    return str(actor)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = '.'.join(str(p) for p in error.get('loc', ()) if p != 'body') or 'body'
        parts.append(f'{where}: {error.get("msg", "invalid")}')
    return '; '.join(parts) or 'invalid request'


class EnvelopeRoute(APIRoute):
    """A route that answers ApiError, validation errors and errors carrying `code`/`message` as envelopes."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def enveloped(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return error_response(exc.code, exc.message, exc.status)
            except RequestValidationError as exc:
                return error_response(ErrorCode.INVALID_REQUEST, _validation_message(exc))

        return enveloped
