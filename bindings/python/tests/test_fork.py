"""Fork safety: a child created by fork() after the library did network work
can still authenticate and refresh. A multiprocessing pool with the "fork"
start method is the common case (the parent's runtime threads and pooled
connections do not exist in the child; hubauth must notice and start anew)."""
from __future__ import annotations

import multiprocessing
import os
import time

import hubauth
from conftest import toml_string


def _in_child(args):
    url, token_path = args
    # The authentication inherited from the parent: its token is due, so this
    # refreshes in the child (one child refreshes, the others find its token).
    inherited = hubauth.current_authentication()
    token = inherited.token.reveal()
    # A new authentication in the child, with a network check.
    fresh = hubauth.authenticate(url, token_path=token_path, interactive=False)
    return os.getpid(), token, fresh.check(), fresh.token.reveal() == token


def test_fork_pool_children_authenticate_and_refresh(server, token_path):
    server.configure(token_ttl_s=3600)  # what refreshes hand out
    first = server.issue(ttl_s=4)  # due for refresh after ~2 s (half its lifetime)
    token_path.parent.mkdir(parents=True, exist_ok=True)
    token_path.write_text(first)
    # Network work in the parent: /api/v1 starts the runtime and pools a connection.
    parent = hubauth.authenticate(server.url, token_path=token_path, interactive=False)
    assert parent.check() is True
    assert server.stats()["refreshes"] == 0
    time.sleep(2.2)

    with multiprocessing.get_context("fork").Pool(4) as pool:
        results = pool.map(_in_child, [(server.url, str(token_path))] * 8)

    pids = {pid for pid, *_ in results}
    assert len(pids) >= 2, "the work ran in several forked children"
    assert all(valid for _, _, valid, _ in results), "every child's token works"
    assert all(same for *_, same in results), "children share the one refreshed token"
    tokens = {token for _, token, _, _ in results}
    assert tokens == {toml_string(token_path.read_text(), "id_token")}
    assert tokens != {toml_string(first, "id_token")}
    stats = server.stats()
    assert stats["refreshes"] == 1, "one refresh across all children"
    assert stats["refresh_reuse_detected"] == 0
    # The parent picks up the children's token without refreshing again.
    assert parent.token.reveal() in tokens
    assert server.stats()["refreshes"] == 1
    parent.close()
