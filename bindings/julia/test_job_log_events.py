"""The Julia binding shows a job's LOG events through Julia's logging
(static: Julia cannot run here; runtests.jl checks `_log_event` itself).

    python3 -m unittest discover -s bindings/julia -p 'test_*.py'

The library's log lines during a job reach Julia as HUBAUTH_JOB_EVENT_LOG
events (Julia code may not run on the library's thread). Every loop that
polls a job must hand them to `_log_event`, and `_log_event` must place
every HUBAUTH_LOG_* level the header defines.
"""

from __future__ import annotations

import re
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
API = HERE / "HubAuth" / "src" / "api.jl"
HEADER = REPO / "include" / "hubauth.h"


def function(source: str, name: str) -> str:
    m = re.search(rf"^function {re.escape(name)}\(.*?^end\n", source, re.S | re.M)
    assert m, f"api.jl has no function {name}"
    return m.group(0)


class JobLogEvents(unittest.TestCase):
    def setUp(self) -> None:
        self.source = API.read_text()

    def test_every_polling_loop_shows_log_events(self) -> None:
        polls = re.findall(r"^function (\w+)\(.*?^end\n", self.source, re.S | re.M)
        loops = [name for name in polls if "= _poll(job" in function(self.source, name)]
        self.assertEqual(sorted(loops), ["_drain", "_run_job"])
        for name in loops:
            body = function(self.source, name)
            self.assertRegex(
                body,
                r"elseif e\.kind == L\.HUBAUTH_JOB_EVENT_LOG\n\s+_log_event\(e\)",
                name,
            )

    def test_every_header_level_has_a_place(self) -> None:
        levels = dict(
            (name, int(value))
            for name, value in re.findall(r"#define (HUBAUTH_LOG_\w+) (\d+)", HEADER.read_text())
        )
        self.assertIn("HUBAUTH_LOG_WARN", levels)
        body = function(self.source, "_log_event")
        bounds = [levels[n] for n in re.findall(r"e\.status <= L\.(HUBAUTH_LOG_\w+)", body)]
        self.assertEqual(bounds, sorted(bounds), "the branches go from worst to mildest")
        # Every level falls in a branch: the last is a catch-all `else`.
        self.assertIn("else\n        @debug message", body)
        for macro in ("@error", "@warn", "@info", "@debug"):
            self.assertIn(f"{macro} message", body)


if __name__ == "__main__":
    unittest.main()
