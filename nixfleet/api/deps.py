"""Shared API plumbing: the auth dependency of every `/api` route and the catch-all for unmatched `/api` paths."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request, Response
from starlette.routing import BaseRoute, Match

from nixfleet.api.errors import ApiError, EnvelopeRoute
from nixfleet.models import ErrorCode
from nixfleet.security.context import note_actor
from nixfleet.security.credentials import CredentialCheck
from nixfleet.security.tokens import Credential

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


class ApiAuth:
    """Dependency: the actor of a request with a valid session or API token (`user`, `api:<name>`); else 401.

    A `read` token may only read (403 for every other method). Routes take it as `actor: str = Depends(auth)`.
    """

    def __init__(self, credentials: CredentialCheck) -> None:
        self._credentials = credentials

    async def __call__(self, request: Request) -> str:
        credential = await self._credentials.credential(request)
        if credential is None:
            raise ApiError(ErrorCode.UNAUTHORIZED, 'log in or send an API token (Authorization: Bearer)')
        check_scope(request, credential)
        actor = credential.actor
        request.state.actor = actor
        note_actor(str(actor))  # for audits made deeper down without the request (e.g. a refused TOTP code)
        return str(actor)


#: Methods the catch-all `/api` routes take (every method a client may send to the API).
_METHODS = ('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS')


def _allowed_methods(request: Request, routes: list[BaseRoute]) -> list[str]:
    """Methods for which one of `routes` takes the request's path."""
    return [m for m in _METHODS if any(r.matches({**request.scope, 'method': m})[0] is Match.FULL for r in routes)]


def install_unmatched(app: FastAPI, auth: ApiAuth) -> None:
    """Add the last `/api` routes: a path or method no earlier route takes is refused with the envelope.

    Without them such a request falls through to the UI mounted at `/` and gets its HTML 404 page. Like every
    `/api` route they answer 401 without credentials (an anonymous caller learns nothing about which paths
    exist); with credentials, a path served for other methods is 405 (with `Allow`), any other 404.
    """
    earlier = list(app.router.routes)

    async def unmatched(request: Request, _: str = Depends(auth)) -> Response:
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
