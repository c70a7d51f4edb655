"""The Julia binding renders the options a library message names (static:
Julia cannot run here).

    python3 -m unittest discover -s bindings/julia -p 'test_*.py'

The library writes every option it names as `key` or `key=value`
(src/error.rs). api.jl must pass every library message through
`_render_options`, whose pattern must be the one the Python binding uses
(both read the same convention), and its keywords must be the option keys
(nothing to rename).
"""

from __future__ import annotations

import importlib.util
import re
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
API = HERE / "HubAuth" / "src" / "api.jl"

# The module by its path: importing the package would load the library.
_spec = importlib.util.spec_from_file_location(
    "hubauth_keywords", REPO / "bindings" / "python" / "hubauth" / "_keywords.py"
)
_keywords = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _keywords
_spec.loader.exec_module(_keywords)


def julia_pattern(source: str) -> str:
    m = re.search(r'^const _OPTION_IN_MESSAGE = r"(.*)"$', source, re.M)
    assert m, "api.jl has no _OPTION_IN_MESSAGE"
    return m.group(1).replace("\\\\", "\\")


class ErrorMessages(unittest.TestCase):
    def setUp(self) -> None:
        self.source = API.read_text()

    def test_the_pattern_is_the_python_bindings(self) -> None:
        self.assertEqual(julia_pattern(self.source), _keywords._OPTION.pattern)

    def test_every_library_message_is_rendered(self) -> None:
        # The one place a hubauth_error's message becomes a Julia exception.
        raising = re.search(r"function _raise_if_error\(.*?\nend\n", self.source, re.S)
        self.assertIsNotNone(raising)
        self.assertIn("_autherror(status, _render_options(message))", raising.group(0))
        # No other call builds an exception from a library message.
        others = [
            line for line in self.source.splitlines()
            if "_autherror(" in line and "_error_message" in line
        ]
        self.assertEqual(others, [])

    def test_keywords_are_the_option_keys(self) -> None:
        pushed = re.search(r"function _push_kwargs!\(.*?\nend\n", self.source, re.S)
        self.assertIsNotNone(pushed)
        self.assertIn("key = string(k)", pushed.group(0))


if __name__ == "__main__":
    unittest.main()
