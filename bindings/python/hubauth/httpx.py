"""``hubauth.httpx.HubAuth``: an ``httpx.Auth`` that sends the hubauth token.

    import httpx, hubauth
    from hubauth.httpx import HubAuth
    client = httpx.Client(auth=HubAuth(hubauth.authenticate(server)))

Every request carries the ``Authorization`` header the library makes for the
hub (``Bearer <token>``, or ``Basic …`` for DHCore user/password credentials),
refreshed by the library before the token expires. On a 401 the token is dropped,
``auth.reauthenticate(force=True)`` runs once (single-flight: concurrent 401s
share one renewal) and the request is retried once with the new token; a
second 401 is returned to the caller. Works with ``httpx.AsyncClient`` too
(the blocking library calls run in a worker thread).
"""

from __future__ import annotations

from typing import AsyncGenerator, Generator, Optional

import httpx as _httpx

from ._api import Authentication
from ._renew import Renewer

__all__ = ["HubAuth"]


class HubAuth(_httpx.Auth):
    # The body is read before the first send so that the retry can resend it.
    requires_request_body = True

    def __init__(self, auth: Optional[Authentication] = None) -> None:
        """``auth``: the Authentication to use; None uses
        ``hubauth.current_authentication()`` at each request."""
        self._renewer = Renewer(auth)

    @property
    def authentication(self) -> Authentication:
        return self._renewer.authentication()

    def __repr__(self) -> str:
        return f"HubAuth({self._renewer.auth!r})"

    def auth_flow(self, request: _httpx.Request) -> Generator[_httpx.Request, _httpx.Response, None]:
        used = self._renewer.header()
        request.headers["Authorization"] = used
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = self._renewer.renew(used)
            yield request

    async def async_auth_flow(
        self, request: _httpx.Request
    ) -> AsyncGenerator[_httpx.Request, _httpx.Response]:
        import anyio.to_thread  # an httpx dependency; runs on asyncio and trio

        if self.requires_request_body:
            await request.aread()
        used = await anyio.to_thread.run_sync(self._renewer.header)
        request.headers["Authorization"] = used
        response = yield request
        if response.status_code == 401:
            renewed = await anyio.to_thread.run_sync(self._renewer.renew, used)
            request.headers["Authorization"] = renewed
            yield request
