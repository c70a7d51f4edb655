"""The library's warnings and notices into Python's ``logging``.

Every options handle this package makes routes its calls' messages here
(``hubauth_options_set_log``), so they reach the logger ``"hubauth"``
instead of the process's raw fd 2, where a Jupyter kernel, a test runner
or a service's log collector cannot see them.

Levels: ``HUBAUTH_LOG_ERROR`` → ``logging.ERROR``, ``_WARN`` → ``WARNING``,
``_INFO`` → ``INFO``, ``_DEBUG`` → ``DEBUG``. ``_NOTICE`` (the login URL and
code: what a person must see now) is logged at ``INFO`` when the logger is
configured to show INFO; otherwise it is written to ``sys.stderr`` as
``hubauth: <message>``, because a login nobody sees the URL of waits for
nothing (logging's default shows WARNING and above only).

Not ``warnings.warn``: the library's warnings are about the run-time
situation (a token file others can read, a refresh the server refused, a
server's clock), which the calling code cannot fix by changing a line; that
is logging's job (the logging HOWTO's "When to use logging"). ``warnings``
would also show each message once per code location only, hiding a repeated
refresh failure in a long-running service, and from a job's thread it would
point at no line of the caller's.

The callback runs on the thread of the C call (a job's runs on the
library's thread); ``logging`` is thread-safe, and ctypes takes the GIL.
"""

from __future__ import annotations

import logging
import sys
from typing import Optional

from . import _lib

#: The logger every library message goes to.
logger = logging.getLogger("hubauth")

_LEVELS = {
    _lib.HUBAUTH_LOG_ERROR: logging.ERROR,
    _lib.HUBAUTH_LOG_WARN: logging.WARNING,
    _lib.HUBAUTH_LOG_NOTICE: logging.INFO,
    _lib.HUBAUTH_LOG_INFO: logging.INFO,
    _lib.HUBAUTH_LOG_DEBUG: logging.DEBUG,
}


def python_level(level: int) -> int:
    """The ``logging`` level of a ``HUBAUTH_LOG_*`` (an unknown one: the
    nearest known, as the header asks)."""
    nearest = min(_LEVELS, key=lambda known: abs(known - level))
    return _LEVELS[nearest]


def emit(level: int, message: str) -> None:
    """Logs one message of the library (already escaped, one line)."""
    if level == _lib.HUBAUTH_LOG_NOTICE and not (
        logger.hasHandlers() and logger.isEnabledFor(logging.INFO)
    ):
        print(f"hubauth: {message}", file=sys.stderr, flush=True)
        return
    logger.log(python_level(level), "%s", message)


def _callback(_userdata, level: int, message: Optional[bytes]) -> None:
    # An exception cannot cross C (ctypes would print it and go on): a
    # failing handler must not break the call that was logging.
    try:
        emit(level, message.decode("utf-8", "replace") if message else "")
    except Exception:  # noqa: BLE001
        pass


# Module-level and never freed: the library may call it for as long as any
# options or authentication made by this package lives (so it needs no
# free_userdata: a NULL one).
_CALLBACK = _lib.LOG_FN(_callback)
_NO_FREE = _lib.FREE_USERDATA_FN()


def install(options_ptr) -> int:
    """Routes the messages of calls made with ``options_ptr`` to ``logger``;
    returns the status of ``hubauth_options_set_log``."""
    return _lib.lib.hubauth_options_set_log(options_ptr, _CALLBACK, None, _NO_FREE)
