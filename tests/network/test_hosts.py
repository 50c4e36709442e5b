"""The hosts' set-up: a run's leftovers are removed, and where namespaces cannot be made it says why."""

from __future__ import annotations

import secrets
import subprocess
import sys

import pytest

from tests.network._hosts import remove_stale, unavailable
from tests.network.conftest import ROOT

_WHY_NOT = unavailable()
pytestmark = pytest.mark.skipif(_WHY_NOT is not None, reason=f"network namespaces: {_WHY_NOT}")


def _namespaces() -> list[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split(" ", 1)[0] for line in listed.splitlines()]


def _dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    return ended.pid


def test_a_dead_runs_namespace_goes_with_what_runs_in_it_and_a_live_runs_stays() -> None:
    tag = secrets.token_hex(3)  # parallel runs of this test make namespaces of their own
    stale, live = f"careledger-net-{_dead_pid()}-{tag}-a", f"careledger-net-1-{tag}-a"  # pid 1 never ends
    for name in (stale, live):
        subprocess.run(["ip", "netns", "add", name], check=True)
    left = subprocess.Popen(["ip", "netns", "exec", stale, "sleep", "600"])
    try:
        remove_stale()
        assert left.wait(10) == -9
        assert stale not in _namespaces()
        assert live in _namespaces()
    finally:
        left.kill()
        for name in (stale, live):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def test_a_user_without_root_is_told_why_there_are_no_hosts() -> None:
    told = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
         "from tests.network._hosts import unavailable; print(unavailable())"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    assert told.stdout.strip() == "`ip netns add` needs root (CI runs as root)"
