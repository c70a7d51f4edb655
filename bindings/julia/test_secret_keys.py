"""The Julia binding zeroes exactly the options the library keeps secret
(static: Julia cannot run here).

    python3 -m unittest discover -s bindings/julia -p 'test_*.py'

api.jl wraps the values of `_SECRET_KEYS` in a `Secret` (zeroed once the
options are built, never echoed in an error). Which keys are secret is the
library's rule: the option table in src/options.rs declares each one with
the type `Secret`. This test keeps the two from drifting apart.
"""

from __future__ import annotations

import re
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
API = HERE / "HubAuth" / "src" / "api.jl"
OPTIONS = REPO / "src" / "options.rs"

#: A row of the option table: `"key" => field: Type = default, parser,`.
ROW = re.compile(r'^\s*"(\w+)"\s*=>\s*\w+\s*:\s*([^=]+?)\s*=', re.M)


def library_secret_keys() -> set:
    rows = ROW.findall(OPTIONS.read_text())
    assert len(rows) >= 20, f"src/options.rs: only {len(rows)} option rows found"
    return {key for key, kind in rows if re.search(r"\bSecret\b", kind)}


def julia_secret_keys() -> set:
    m = re.search(r"^const _SECRET_KEYS = \(([^)]*)\)", API.read_text(), re.M)
    assert m, "api.jl has no `const _SECRET_KEYS = (...)`"
    return set(re.findall(r'"(\w+)"', m.group(1)))


class SecretKeys(unittest.TestCase):
    def test_the_julia_binding_zeroes_every_secret_option(self) -> None:
        library = library_secret_keys()
        self.assertIn("client_secret", library)  # the parser sees the table
        self.assertEqual(julia_secret_keys(), library)


if __name__ == "__main__":
    unittest.main()
