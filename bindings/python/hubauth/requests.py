"""``hubauth.requests.HubAuth``: a ``requests`` auth that sends the hubauth token.

    import requests, hubauth
    from hubauth.requests import HubAuth
    session = requests.Session()
    session.auth = HubAuth(hubauth.authenticate(server))

Every request carries the ``Authorization`` header the library makes for the
hub (``Bearer <token>``, or ``Basic …`` for DHCore user/password credentials),
refreshed by the library before the token expires. On a 401 the token is dropped,
``auth.reauthenticate(force=True)`` runs once (single-flight: concurrent 401s
share one renewal) and the request is retried once with the new token; the
401 goes into ``response.history``, and a second 401 is returned as is. A
request whose body is a stream that cannot be rewound is not retried.
"""

from __future__ import annotations

from typing import Any, Optional

import requests as _requests
from requests.auth import AuthBase
from requests.cookies import extract_cookies_to_jar

from ._api import Authentication
from ._renew import Renewer

__all__ = ["HubAuth"]

_RETRIED = "_hubauth_retried"


class HubAuth(AuthBase):
    def __init__(self, auth: Optional[Authentication] = None) -> None:
        """``auth``: the Authentication to use; None uses
        ``hubauth.current_authentication()`` at each request."""
        self._renewer = Renewer(auth)

    @property
    def authentication(self) -> Authentication:
        return self._renewer.authentication()

    def __repr__(self) -> str:
        return f"HubAuth({self._renewer.auth!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HubAuth) and other._renewer.auth is self._renewer.auth

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = object.__hash__

    def __call__(self, r: _requests.PreparedRequest) -> _requests.PreparedRequest:
        r.headers["Authorization"] = self._renewer.header()
        position = None
        tell = getattr(r.body, "tell", None)
        if tell is not None:
            try:
                position = tell()
            except OSError:
                position = None
        r.register_hook("response", _RetryOn401(self._renewer, position))
        return r


class _RetryOn401:
    """The response hook: one renewal and one retry on a 401."""

    def __init__(self, renewer: Renewer, body_position: Optional[int]) -> None:
        self._renewer = renewer
        self._position = body_position

    def __call__(self, response: _requests.Response, **kwargs: Any) -> _requests.Response:
        request = response.request
        if response.status_code != 401 or getattr(request, _RETRIED, False):
            return response
        body = request.body
        if body is not None and not isinstance(body, (bytes, str)):
            seek = getattr(body, "seek", None)
            if seek is None or self._position is None:
                return response  # a one-shot stream: cannot send it again
            seek(self._position)
        renewed = self._renewer.renew(request.headers.get("Authorization"))
        # Free the connection of the 401 before sending the retry on it.
        response.content  # noqa: B018
        response.close()
        retry = request.copy()
        setattr(retry, _RETRIED, True)
        if retry._cookies is not None:  # what requests' own HTTPDigestAuth does
            extract_cookies_to_jar(retry._cookies, request, response.raw)
            retry.prepare_cookies(retry._cookies)
        retry.headers["Authorization"] = renewed
        second = response.connection.send(retry, **kwargs)
        second.history.append(response)
        second.request = retry
        return second
