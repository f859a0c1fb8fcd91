"""Shared API plumbing: the auth dependency and the `{"error": {"code", "message"}}` envelope (SPEC §13)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match

from nixfleet.models import ErrorCode
from nixfleet.security.context import note_actor
from nixfleet.security.tokens import Credential

#: HTTP status of each refusal code (400 unless listed).
STATUS: dict[str, int] = {
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.TOTP_REQUIRED: 403,
    ErrorCode.TOTP_INVALID: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.UNKNOWN_COMMAND: 404,
    ErrorCode.UNKNOWN_PIPELINE: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.COMMAND_PENDING: 409,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.INVALID_REQUEST: 422,
    ErrorCode.RATE_LIMITED: 429,
}


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


def error_response(
    code: str, message: str, status: int | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A JSON refusal in the `/api` error envelope."""
    code = str(code)
    extra = {'WWW-Authenticate': 'Bearer'} if code == ErrorCode.UNAUTHORIZED else {}
    return JSONResponse(
        {'error': {'code': code, 'message': message}},
        status_code=status or STATUS.get(code, 400),
        headers={**extra, **(headers or {})} or None,
    )


#: Methods that only read: every other method changes something and needs a scope that may (`operate`).
READ_METHODS = frozenset({'GET', 'HEAD', 'OPTIONS'})


def check_scope(request: Request, credential: Credential) -> None:
    """Refuse (403 `forbidden`) a changing request (dispatch, cancel, remove, …) made with a `read` token."""
    if request.method not in READ_METHODS and not credential.scope.may_change:
        raise ApiError(
            ErrorCode.FORBIDDEN,
            f'the API token of {credential.actor} has the {credential.scope.value} scope: '
            f'{request.method} {request.url.path} needs a token with the operate scope',
        )


async def require_api_auth(request: Request) -> str:
    """Dependency: the actor of a request with a valid session or API token (`user`, `api:<name>`); else 401.

    A `read` token may only read (403 for every other method)."""
    dashboard = request.app.state.dashboard
    credential: Credential | None = await dashboard.credential(request)
    if credential is None:
        raise ApiError(ErrorCode.UNAUTHORIZED, 'log in or send an API token (Authorization: Bearer)')
    check_scope(request, credential)
    actor = credential.actor
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
                return error_response(exc.code, exc.message, exc.status, exc.headers)
            except RequestValidationError as exc:
                return error_response(ErrorCode.INVALID_REQUEST, _validation_message(exc))

        return enveloped


#: Methods the catch-all `/api` routes take (every method a client may send to the API).
_METHODS = ('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS')


def _allowed_methods(request: Request, routes: list[BaseRoute]) -> list[str]:
    """Methods for which one of `routes` takes the request's path."""
    return [m for m in _METHODS if any(r.matches({**request.scope, 'method': m})[0] is Match.FULL for r in routes)]


def install_unmatched(app: FastAPI) -> None:
    """Add the last `/api` routes: a path or method no earlier route takes is refused with the envelope.

    Without them such a request falls through to the UI mounted at `/` and gets its HTML 404 page. Like every
    `/api` route they answer 401 without credentials (an anonymous caller learns nothing about which paths
    exist); with credentials, a path served for other methods is 405 (with `Allow`), any other 404.
    """
    earlier = list(app.router.routes)

    async def unmatched(request: Request, _: Annotated[str, Depends(require_api_auth)]) -> Response:
        if allowed := _allowed_methods(request, earlier):
            raise ApiError(
                ErrorCode.METHOD_NOT_ALLOWED,
                f'{request.method} is not allowed on {request.url.path}',
                headers={'Allow': ', '.join(allowed)},
            )
        raise ApiError(ErrorCode.NOT_FOUND, f'no API route {request.url.path}')

    for path in ('/api', '/api/{path:path}'):
        app.router.add_api_route(
            path, unmatched, methods=list(_METHODS), include_in_schema=False, route_class_override=EnvelopeRoute
        )
