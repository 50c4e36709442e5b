"""Settings precedence: defaults < config.toml < CARELEDGER_* < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from careledger.config import Home, Settings, load_settings, write_config
from careledger.errors import ConfigError


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home")


def test_defaults_without_a_file(home: Home) -> None:
    settings = load_settings(home)
    assert settings.chain == "anvil"
    assert settings.db_url(home) == f"sqlite:///{home.db_file}"


def test_file_then_env_then_flags(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(home, Settings(chain="memory", anvil_chain_id=5, anvil_state_interval=9))
    assert load_settings(home).anvil_chain_id == 5
    monkeypatch.setenv("CARELEDGER_ANVIL_CHAIN_ID", "7")
    settings = load_settings(home)
    assert (settings.chain, settings.anvil_chain_id, settings.anvil_state_interval) == ("memory", 7, 9)
    assert load_settings(home, anvil_chain_id=11, chain=None).anvil_chain_id == 11
    assert load_settings(home, chain=None).chain == "memory"  # an absent flag overrides nothing


def test_other_careledger_variables_are_not_settings(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARELEDGER_PASSPHRASE", "secret")
    monkeypatch.setenv("CARELEDGER_HOME", str(home.path))
    assert load_settings(home).chain == "anvil"


def test_written_config_holds_only_what_differs(home: Home) -> None:
    write_config(home, Settings(chain="memory"))
    text = home.config_file.read_text()
    assert 'chain = "memory"' in text
    assert "anvil_chain_id" not in text
    assert text.startswith("# CareLedger node settings.")


def test_unknown_key_and_bad_values_are_config_errors(home: Home) -> None:
    home.path.mkdir()
    home.config_file.write_text('chian = "memory"\n')
    with pytest.raises(ConfigError, match="chian"):
        load_settings(home)
    home.config_file.write_text('anvil_chain_id = "many"\n')
    with pytest.raises(ConfigError, match="anvil_chain_id"):
        load_settings(home)
    home.config_file.write_text("chain = \n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(home)


def test_home_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARELEDGER_HOME", str(tmp_path / "from-env"))
    assert Home.resolve().path == tmp_path / "from-env"
    assert Home.resolve(tmp_path / "flag").path == tmp_path / "flag"
    monkeypatch.delenv("CARELEDGER_HOME")
    assert Home.resolve().path == Path.home() / ".careledger"


def test_uninitialised_home_says_how_to_fix(home: Home) -> None:
    with pytest.raises(ConfigError, match="run `careledger init`"):
        home.require()
