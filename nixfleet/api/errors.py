"""The one place every API error body is built: `{"error": {"code", "message"}}`, its model, status and route class.

Routers raise `ApiError` (answered by `EnvelopeRoute`), middleware and WebSocket denials that answer before a
route use `error_response` / `error_json`; framework refusals on `/api` paths get the same body through
`install_error_envelope`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from nixfleet.models import ErrorCode

#: HTTP status of each refusal code (400 unless listed).
STATUS: dict[str, int] = {
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.TOTP_REQUIRED: 403,
    ErrorCode.TOTP_INVALID: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.UNKNOWN_COMMAND: 404,
    ErrorCode.UNKNOWN_PIPELINE: 404,
    ErrorCode.UNKNOWN_TOKEN: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.COMMAND_PENDING: 409,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.TOKEN_EXISTS: 409,
    ErrorCode.INVALID_REQUEST: 422,
    ErrorCode.RATE_LIMITED: 429,
}


class ErrorDetail(BaseModel):
    """A refusal: a stable code and a message for people."""

    code: str
    message: str


class ErrorBody(BaseModel):
    """The error envelope of every `/api` refusal."""

    error: ErrorDetail


class ApiError(Exception):
    """A refusal answered as the error envelope."""

    def __init__(
        self, code: str, message: str, status: int | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = str(code)
        self.message = message
        self.status = status or STATUS.get(self.code, 400)
        self.headers = headers


def error_content(code: str, message: str) -> dict[str, Any]:
    """The error envelope as a JSON-ready dict."""
    return {'error': {'code': str(code), 'message': message}}


def error_json(code: str, message: str) -> bytes:
    """The error envelope as bytes, for answers written below the framework (raw ASGI, the HTTP parser)."""
    return json.dumps(error_content(code, message)).encode()


def error_response(
    code: str, message: str, status: int | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A JSON refusal in the error envelope (`WWW-Authenticate: Bearer` with every 401 `unauthorized`)."""
    code = str(code)
    extra = {'WWW-Authenticate': 'Bearer'} if code == ErrorCode.UNAUTHORIZED else {}
    return JSONResponse(
        error_content(code, message),
        status_code=status or STATUS.get(code, 400),
        headers={**extra, **(headers or {})} or None,
    )


def validation_message(exc: RequestValidationError) -> str:
    """The first few validation errors of a request in one line (`where: what; …`)."""
    parts = []
    for error in exc.errors()[:5]:
        where = '.'.join(str(p) for p in error.get('loc', ()) if p != 'body') or 'body'
        parts.append(f'{where}: {error.get("msg", "invalid")}')
    return '; '.join(parts) or 'invalid request'


class EnvelopeRoute(APIRoute):
    """A route that answers `ApiError` and validation errors as the error envelope."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def enveloped(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return error_response(exc.code, exc.message, exc.status, exc.headers)
            except RequestValidationError as exc:
                return error_response(ErrorCode.INVALID_REQUEST, validation_message(exc))

        return enveloped


#: Error codes of framework refusals (no route, wrong method, unreadable body) on `/api` paths.
_FRAMEWORK_CODES = {
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
}


def install_error_envelope(app: FastAPI) -> None:
    """Answer refusals on `/api` paths that no route of ours makes (a body that cannot be parsed, …) with the error
    envelope too; other paths keep FastAPI's default answer."""

    async def envelope(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not request.url.path.startswith('/api'):
            return await http_exception_handler(request, exc)
        status = 422 if exc.status_code == 400 else exc.status_code  # 400: FastAPI could not parse the body
        code = _FRAMEWORK_CODES.get(status, ErrorCode.INVALID_REQUEST)
        return JSONResponse(error_content(code, str(exc.detail)), status_code=status, headers=exc.headers)

    app.add_exception_handler(StarletteHTTPException, envelope)
