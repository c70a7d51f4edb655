"""``hubauth.requests.HubAuth``: a ``requests`` auth that sends the hubauth token.

    import requests, hubauth
    from hubauth.requests import HubAuth
    session = requests.Session()
    session.auth = HubAuth(hubauth.authenticate(server))

Requests to the hub's origin (scheme, host and port of the authentication's
server) carry the ``Authorization`` header the library makes for the hub
(``Bearer <token>``, or ``Basic …`` for DHCore user/password credentials;
refreshed by the library before the token expires); requests to any other host get no token
(``extra_origins=["https://api.example.com"]`` names more origins that get
it). On a 401 from such an origin ``auth.reauthenticate()`` runs once (the
core asks the server whether the token is still good before it refreshes or
logs in again; single-flight: concurrent 401s share one renewal) and the
request is retried once with the new token; the 401 goes into
``response.history``, and a second 401, or a 401 from any other host, is
returned as is. A request whose body is a stream that cannot be rewound is
not retried.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Tuple

import requests as _requests
from requests.auth import AuthBase
from requests.cookies import extract_cookies_to_jar

from ._api import Authentication
from ._renew import Renewer, origins

__all__ = ["HubAuth"]

_RETRIED = "_hubauth_retried"


class HubAuth(AuthBase):
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

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HubAuth) and other._renewer.auth is self._renewer.auth

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = object.__hash__

    def __call__(self, r: _requests.PreparedRequest) -> _requests.PreparedRequest:
        if not self._renewer.sends_to(r.url or "", self._extra):
            return r
        r.headers["Authorization"] = self._renewer.header()
        position = None
        tell = getattr(r.body, "tell", None)
        if tell is not None:
            try:
                position = tell()
            except OSError:
                position = None
        r.register_hook("response", _RetryOn401(self._renewer, position, self._extra))
        return r


class _RetryOn401:
    """The response hook: one renewal and one retry on a 401 from an origin
    that gets the token."""

    def __init__(self, renewer: Renewer, body_position: Optional[int],
                 extra: Tuple[Tuple[str, str, int], ...] = ()) -> None:
        self._renewer = renewer
        self._position = body_position
        self._extra = extra

    def __call__(self, response: _requests.Response, **kwargs: Any) -> _requests.Response:
        request = response.request
        if response.status_code != 401 or getattr(request, _RETRIED, False):
            return response
        # A redirect may have led elsewhere: only the hub's 401 renegotiates.
        if not self._renewer.sends_to(request.url or "", self._extra):
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
