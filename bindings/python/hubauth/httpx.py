"""``hubauth.httpx.HubAuth``: an ``httpx.Auth`` that sends the hubauth token.

    import httpx, hubauth
    from hubauth.httpx import HubAuth
    client = httpx.Client(auth=HubAuth(hubauth.authenticate(server)))

Requests to the hub's origin (scheme, host and port of the authentication's
server) carry the ``Authorization`` header the library makes for the hub
(``Bearer <token>``, or ``Basic …`` for DHCore user/password credentials;
refreshed by the library before the token expires); requests to any other host get no token, so a client that
also talks to other services never hands them the hub's credential
(``extra_origins=["https://api.example.com"]`` names more origins that get
it). On a 401 from such an origin ``auth.reauthenticate()`` runs once (the
core asks the server whether the token is still good before it refreshes or
logs in again; single-flight: concurrent 401s share one renewal) and the
request is retried once with the new token; a second 401 is returned to the
caller, and so is a 401 from any other host. Works with ``httpx.AsyncClient``
too: on asyncio the header comes from ``authorization_async`` and the
renewal from ``reauthenticate_async``, the library's jobs, so a request never
blocks the loop nor hops to a thread (a fresh token costs no suspension at
all); on trio the blocking calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
from typing import AsyncGenerator, Generator, Iterable, Optional

import httpx as _httpx

from ._api import Authentication
from ._renew import Renewer, origins

__all__ = ["HubAuth"]


class HubAuth(_httpx.Auth):
    # The body is read before the first send so that the retry can resend it.
    requires_request_body = True

    def __init__(self, auth: Optional[Authentication] = None, *,
                 extra_origins: Iterable[str] = ()) -> None:
        """``auth``: the Authentication to use; None uses
        ``hubauth.current_authentication()`` at each request.
        ``extra_origins``: URLs of other origins that get the token too."""
        self._renewer = Renewer(auth)
        self._extra = origins(extra_origins)

    @property
    def authentication(self) -> Authentication:
        return self._renewer.authentication()

    def __repr__(self) -> str:
        return f"HubAuth({self._renewer.auth!r})"

    def auth_flow(self, request: _httpx.Request) -> Generator[_httpx.Request, _httpx.Response, None]:
        if not self._renewer.sends_to(str(request.url), self._extra):
            yield request
            return
        used = self._renewer.header()
        request.headers["Authorization"] = used
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = self._renewer.renew(used)
            yield request

    async def async_auth_flow(
        self, request: _httpx.Request
    ) -> AsyncGenerator[_httpx.Request, _httpx.Response]:
        if self.requires_request_body:
            await request.aread()
        renewer = self._renewer
        if _on_asyncio():
            # sends_to reads the authentication's server: no I/O, no wait.
            ours = renewer.sends_to(str(request.url), self._extra)
            header, renew = renewer.header_async, renewer.renew_async
        else:  # trio: the blocking calls in a worker thread
            import anyio.to_thread  # an httpx dependency; runs on asyncio and trio

            ours = await anyio.to_thread.run_sync(renewer.sends_to, str(request.url), self._extra)

            async def header() -> str:
                return await anyio.to_thread.run_sync(renewer.header)

            async def renew(rejected: str) -> str:
                return await anyio.to_thread.run_sync(renewer.renew, rejected)

        if not ours:
            yield request
            return
        used = await header()
        request.headers["Authorization"] = used
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = await renew(used)
            yield request


def _on_asyncio() -> bool:
    """Whether an asyncio loop runs this coroutine (not trio)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
