"""The wheel's `hubauth` command: runs the hubauth binary bundled in the
hubauth package (hubauth/bin/hubauth, put there by setup.py).

The console script pip writes calls main(), which replaces this Python
process with the binary (os.execv): the arguments and the environment pass
through unchanged, and signals, exit codes and the terminal are the binary's
own. The CLI itself is the Rust one; nothing is re-implemented here.

A top-level module, not part of the package: importing anything in the
hubauth package runs its __init__, which loads the library (about 0.1 s),
for every `hubauth token` or git credential request.
"""

from __future__ import annotations

import os
import sys

BINARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hubauth", "bin",
                      "hubauth.exe" if os.name == "nt" else "hubauth")


def main() -> None:
    if not os.access(BINARY, os.X_OK):
        sys.exit(
            f"hubauth: this installation has no hubauth command ({BINARY} is missing): "
            "an editable install builds none. Build it with `cargo build --release --bin hubauth` "
            "(target/release/hubauth), or install the wheel"
        )
    if os.name == "nt":  # no exec on Windows: run it and pass its exit code on
        import subprocess

        sys.exit(subprocess.call([BINARY, *sys.argv[1:]]))
    os.execv(BINARY, [sys.argv[0] or "hubauth", *sys.argv[1:]])
