"""The library's option keys as this binding's keywords, both ways.

Most keywords are the library's option keys as they are (``token_path=...``);
the ones in ``RENAMED`` differ and convert their value. ``_api._settings``
turns keywords into options with this table, and ``render`` turns the
options a library message names back into keywords: the library writes
every option it names as `key` or `key=value` (see src/error.rs), and a
Python user reads `force=True`, `timeout=2.5`.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, NamedTuple


class Renamed(NamedTuple):
    key: str  # the library's option key
    to_option: Callable[[float], str]  # the keyword's value as the option's text
    from_option: Callable[[str], str]  # the option's text as the keyword's value


def _seconds_to_ms(seconds: float) -> str:
    if seconds <= 0:
        raise ValueError("timeout must be positive (seconds)")
    return str(max(1, int(round(seconds * 1000))))


def _ms_to_seconds(ms: str) -> str:
    return repr(int(ms) / 1000) if ms.isdigit() else ms


#: Keywords that are not the library's key: keyword -> how it maps.
RENAMED: Dict[str, Renamed] = {
    "timeout": Renamed("timeout_ms", _seconds_to_ms, _ms_to_seconds),
}

_KEYWORD_OF = {r.key: (keyword, r) for keyword, r in RENAMED.items()}

# A backquoted option: `key` or `key=value` (one lower-case word).
_OPTION = re.compile(r"`([a-z][a-z0-9_]*)(?:=([^`\s]*))?`")


def _python_value(text: str) -> str:
    """An option's text as Python literal: the inverse of ``_api._to_value``."""
    if text in ("true", "false"):
        return "True" if text == "true" else "False"
    if re.fullmatch(r"-?[0-9]+", text):
        return text
    return repr(text)


def _as_keyword(match: "re.Match[str]") -> str:
    key, value = match.group(1), match.group(2)
    keyword, renamed = _KEYWORD_OF.get(key, (key, None))
    if value is None:
        return f"`{keyword}`"
    shown = renamed.from_option(value) if renamed else _python_value(value)
    return f"`{keyword}={shown}`"


def render(message: str) -> str:
    """``message`` with every option it names written as a Python keyword."""
    return _OPTION.sub(_as_keyword, message)
