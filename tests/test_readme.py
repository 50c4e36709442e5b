"""The README's "Running a node" block, run as written in a fresh home: the README cannot drift."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from careledger.api import free_port

pytestmark = pytest.mark.anvil

README = Path(__file__).resolve().parents[1] / "README.md"


def running_a_node_block() -> str:
    """The first ```sh block under "## Running a node"."""
    text = README.read_text()
    section = text[text.index("## Running a node") :]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found, "the README's Running a node section has no ```sh block"
    return found.group(1)


def test_the_block_keeps_the_steps_the_readme_promises() -> None:
    block = running_a_node_block()
    for step in (
        "careledger init",
        "chain up --detach",
        "identity register node",
        "testdata patients",
        "record verify $LAB",
        "consent submit consent.json",
        "record import",
        "claim submit --encounter $EARLIER",
        "chain down",
    ):
        assert step in block, step


def test_the_readme_runs_as_written(tmp_path: Path) -> None:
    # A fresh machine's view: an empty HOME (so ~/.careledger is new), the checkout's .venv beside
    # the commands, a free port in place of 8080. Light key derivation keeps the wallets' scrypt
    # from dominating the run; it is a setting (CARELEDGER_LIGHT_KDF), not an edit of the block.
    port = free_port()
    script = running_a_node_block().replace("8080", str(port))
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "CARELEDGER_LIGHT_KDF": "true",
        "COLUMNS": "200",
    }
    env.pop("CARELEDGER_HOME", None)
    env.pop("CARELEDGER_PASSPHRASE", None)
    (tmp_path / "home").mkdir()
    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert ran.returncode == 0, f"stdout:\n{ran.stdout[-3000:]}\nstderr:\n{ran.stderr[-3000:]}"
    assert "refused (exit 5), and audited" in ran.stdout
    assert "denied (exit 11)" in ran.stdout
    assert re.search(r"claim 0x[0-9a-f]{64}: paid", ran.stdout), ran.stdout
    assert "chain stopped" in ran.stdout
