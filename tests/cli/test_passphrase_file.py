"""The node wallet's passphrase from a file (`CARELEDGER_PASSPHRASE_FILE`, or systemd's credential
`careledger-passphrase` in `$CREDENTIALS_DIRECTORY`), so that it is not left readable in /proc/PID/environ; the
variable `CARELEDGER_PASSPHRASE` still works."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from careledger.api import free_port
from careledger.cli._context import PASSPHRASE_CREDENTIAL
from careledger.errors import AccessDenied
from careledger.identity import WalletStore
from tests.cli.conftest import Cli

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def bare_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI with no passphrase in the environment and no terminal to ask in."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    return Cli(tmp_path / "home", capsys)


def _unlocks(cli: Cli, passphrase: str) -> bool:
    """Whether the node wallet `init` made opens with `passphrase`."""
    try:
        WalletStore(cli.home / "keystore", light_kdf=True).unlock("node", passphrase)
    except AccessDenied:
        return False
    return True


def _secret(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_passphrase_file_is_read_with_its_newline_dropped(
    bare_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARELEDGER_PASSPHRASE_FILE", str(_secret(tmp_path / "passphrase", PASSPHRASE + "\n")))
    assert bare_cli("init", "--light-kdf").code == 0
    assert _unlocks(bare_cli, PASSPHRASE)


def test_systemds_credential_is_read(bare_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o500)
    _secret(credentials / PASSPHRASE_CREDENTIAL, PASSPHRASE, 0o400)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    assert bare_cli("init", "--light-kdf").code == 0
    assert _unlocks(bare_cli, PASSPHRASE)


def test_the_variable_still_works_and_comes_first(
    bare_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARELEDGER_PASSPHRASE", "from the variable")
    monkeypatch.setenv("CARELEDGER_PASSPHRASE_FILE", str(_secret(tmp_path / "passphrase", PASSPHRASE)))
    assert bare_cli("init", "--light-kdf").code == 0
    assert _unlocks(bare_cli, "from the variable")


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("missing", "CARELEDGER_PASSPHRASE_FILE names {path}, which cannot be read: No such file or directory"),
        ("readable by others", "the passphrase file {path} can be read by other users (mode 644): chmod 600 {path}"),
        ("empty", "the passphrase file {path} is empty"),
    ],
)
def test_a_passphrase_file_that_cannot_be_used_is_one_line_and_exit_3(
    bare_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: str, message: str
) -> None:
    path = tmp_path / "passphrase"
    if problem == "readable by others":
        _secret(path, PASSPHRASE, 0o644)
    elif problem == "empty":
        _secret(path, "\n")
    monkeypatch.setenv("CARELEDGER_PASSPHRASE_FILE", str(path))
    refused = bare_cli("init", "--light-kdf")
    assert refused.code == 3, refused.err
    assert refused.err.strip() == "error: " + message.format(path=path)
    assert not (bare_cli.home / "config.toml").exists()


def test_without_any_passphrase_the_error_names_the_file_setting(bare_cli: Cli) -> None:
    refused = bare_cli("init", "--light-kdf")
    assert refused.code == 5
    assert "set CARELEDGER_PASSPHRASE_FILE (or CARELEDGER_PASSPHRASE) or run in a terminal" in refused.err


def test_serve_unlocks_from_the_file_and_its_environment_never_holds_the_passphrase(tmp_path: Path) -> None:
    passphrase_file = _secret(tmp_path / "passphrase", PASSPHRASE + "\n")
    env = {**os.environ, "CARELEDGER_PASSPHRASE_FILE": str(passphrase_file), "COLUMNS": "200"}
    env.pop("CARELEDGER_PASSPHRASE", None)
    home = ["--home", str(tmp_path / "home"), "--chain", "memory"]
    command = [sys.executable, "-m", "careledger", *home]
    subprocess.run([*command, "init", "--light-kdf"], env=env, check=True, capture_output=True, timeout=120)
    port = free_port()
    server = subprocess.Popen(
        [*command, "serve", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,  # no terminal: a passphrase not read from the file would be exit 5
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[0]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not answer"
            time.sleep(0.2)
        environ = Path(f"/proc/{server.pid}/environ").read_bytes()
        assert b"CARELEDGER_PASSPHRASE_FILE=" in environ
        assert PASSPHRASE.encode() not in environ
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)
